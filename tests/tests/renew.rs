//! `airlock renew`: what `status --check` finds expiring is re-signed with a new expiry and
//! nothing else, per role or all, only when due with --within; the server takes the result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

fn renew(dir: &Path, args: &[&str]) -> Value {
    let mut full = vec!["renew", "repo", "--json"];
    full.extend_from_slice(args);
    serde_json::from_str(&ok(dir, "airlock", &full)).unwrap()
}

fn roles(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["role"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn renew_re_signs_what_expires_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    // metadata signed for 10 days, then the policy becomes a year (airlock.json)
    ok(
        dir,
        "airlock",
        &[
            "init",
            "repo",
            "--online-key",
            "srv/online.pub",
            "--expiry-days",
            "10",
        ],
    );
    ok(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "acme-cam",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2027-06-30",
            "--security-until",
            "2030-12-31",
        ],
    );
    std::fs::write(dir.join("fw-1.2.0.bin"), firmware(1, 3000)).unwrap();
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw-1.2.0.bin",
            "--version",
            "1.2.0",
            "--security-version",
            "1",
            "--kind",
            "security",
        ],
    );
    let config_path = dir.join("repo/airlock.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["expiry_days"] = serde_json::json!(365);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let server = Server::start(dir);
    publish(dir, &server);
    let before = std::fs::read(dir.join("repo/targets/acme-cam/fw-1.2.0.bin")).unwrap();

    let out = run(dir, "airlock", &["status", "repo", "--check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("renew it with `airlock renew REPO acme-cam`"),
        "{text}"
    );

    // one role by name
    let r = renew(dir, &["targets"]);
    assert_eq!(roles(&r["renewed"]), ["targets"]);
    assert_eq!(r["renewed"][0]["version"], 3, "{r}");
    // what expires within 30 days: root and the product (targets was just renewed)
    let r = renew(dir, &["--within", "30d"]);
    assert_eq!(roles(&r["renewed"]), ["root", "acme-cam"], "{r}");
    assert_eq!(roles(&r["not_due"]), ["targets"], "{r}");
    assert_eq!(r["renewed"][0]["version"], 2);
    assert!(r["renewed"][1]["expires"].as_str().unwrap() > "2027", "{r}");
    // nothing due now: status is clean and a second run renews nothing
    let out = run(dir, "airlock", &["status", "repo", "--check"]);
    assert_eq!(out.status.code(), Some(0));
    let text = ok(dir, "airlock", &["renew", "repo", "--within", "30d"]);
    assert!(text.contains("nothing renewed"), "{text}");

    // nothing but the expiry changed: same release, same keys; the server takes it
    assert_eq!(
        std::fs::read(dir.join("repo/targets/acme-cam/fw-1.2.0.bin")).unwrap(),
        before
    );
    assert!(ok(dir, "airlock", &["verify", "repo"]).contains("OK"));
    let p: Value = serde_json::from_str(&publish(dir, &server)).unwrap();
    assert_eq!(p["root_version"], 2, "{p}");
    let (_, answer) = server.post_json(
        "/v1/devices/d/check-in",
        r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 1}"#,
    );
    assert_eq!(answer["decision"], "update", "{answer}");

    // bad input: a role the server renews, an unknown product, a bad period
    let e = fails(dir, "airlock", &["renew", "repo", "timestamp"]);
    assert!(e.contains("renewed by the server"), "{e}");
    let e = fails(dir, "airlock", &["renew", "repo", "acme-nope"]);
    assert!(e.contains("unknown product"), "{e}");
    let e = fails(dir, "airlock", &["renew", "repo", "--within", "soon"]);
    assert!(e.contains("30d"), "{e}");
    // the targets keys held elsewhere: the error names the way to renew with their holders
    std::fs::rename(
        dir.join("repo/keys/targets.key"),
        dir.join("targets.key.away"),
    )
    .unwrap();
    let e = fails(dir, "airlock", &["renew", "repo", "targets"]);
    assert!(
        e.contains("only 0 of its keys") && e.contains("airlock targets propose"),
        "{e}"
    );
}
