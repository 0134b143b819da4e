//! A product's support record over its life: extend, raise the floor, withdraw a release;
//! the rules refused by the signer and again by the server; expiry checks for cron.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;

fn json(dir: &std::path::Path, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.push("--json");
    serde_json::from_str(&ok(dir, "airlock", &full)).unwrap()
}

#[test]
fn support_rules_are_enforced_by_signer_and_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);

    let r = json(
        dir,
        &[
            "support",
            "extend",
            "repo",
            "acme-cam",
            "--security-until",
            "2032-12-31",
            "--reason",
            "customer demand",
        ],
    );
    assert_eq!(r["security_updates_until"], "2032-12-31");
    assert_eq!(r["history"][0]["action"], "extend");
    assert_eq!(r["history"][0]["reason"], "customer demand");
    let e = fails(
        dir,
        "airlock",
        &[
            "support",
            "extend",
            "repo",
            "acme-cam",
            "--security-until",
            "2031-01-01",
            "--reason",
            "cost",
        ],
    );
    assert!(e.contains("never shortened"), "{e}");
    let r = json(dir, &["support", "set-floor", "repo", "acme-cam", "3"]);
    assert_eq!(r["min_security_version"], 3);
    let e = fails(
        dir,
        "airlock",
        &["support", "set-floor", "repo", "acme-cam", "1"],
    );
    assert!(e.contains("never decreases"), "{e}");
    let r = json(dir, &["support", "show", "repo", "acme-cam"]);
    assert_eq!(r["history"].as_array().unwrap().len(), 2);
    let text = ok(dir, "airlock", &["support", "show", "repo", "acme-cam"]);
    assert!(
        text.contains("customer demand") && text.contains("floor 3"),
        "{text}"
    );

    let out: Value = serde_json::from_str(&publish(dir, &server)).unwrap();
    assert_eq!(out["timestamp_version"], 2);
    // the floor reached devices: 1.2.0 (sv 3) is the floor now, a device on sv 2 is urgent
    let (_, answer) = server.post_json(
        "/v1/devices/d/check-in",
        r#"{"product": "acme-cam", "version": "1.1.0", "security_version": 2}"#,
    );
    assert_eq!(answer["urgent"], true);
    let (_, answer) = server.post_json(
        "/v1/devices/e/check-in",
        r#"{"product": "acme-old", "version": "1.0.0", "security_version": 1}"#,
    );
    assert_eq!(answer["decision"], "end_of_support");

    // a record shortened behind the signer's back: the server refuses it on publish
    let path = dir.join("repo/targets/acme-cam/support.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    record["security_updates_until"] = "2031-06-30".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    ok(
        dir,
        "airlock",
        &[
            "support",
            "set-floor",
            "repo",
            "acme-cam",
            "3",
            "--reason",
            "re-sign",
        ],
    );
    let ts = server.get("/tuf/metadata/timestamp.json").bytes().unwrap();
    let e = fails(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
        ],
    );
    assert!(
        e.contains("support_rule") && e.contains("never shortened"),
        "{e}"
    );
    assert_eq!(
        server.get("/tuf/metadata/timestamp.json").bytes().unwrap(),
        ts
    );
}

#[test]
fn withdrawn_release_is_no_longer_offered_and_history_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    let (_, answer) = server.post_json(
        "/v1/devices/d/check-in",
        r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#,
    );
    assert_eq!(answer["decision"], "update");

    // a security release stays available for its retention period (CRA Art. 13(9))...
    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "withdraw",
            "repo",
            "acme-cam",
            "1.2.0",
            "--reason",
            "bricks some units",
        ],
    );
    assert!(e.contains("must stay available until"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "release", "withdraw", "repo", "acme-cam", "1.2.0", "--force",
        ],
    );
    assert!(e.contains("--force needs --reason"), "{e}");
    // ... and the server refuses a repository that drops it without a forced, reasoned record
    // (here the signer was told the retention period is over)
    let backup = dir.join("repo-backup");
    assert!(std::process::Command::new("cp")
        .arg("-a")
        .arg(dir.join("repo"))
        .arg(&backup)
        .status()
        .unwrap()
        .success());
    ok(
        dir,
        "airlock",
        &[
            "release",
            "withdraw",
            "repo",
            "acme-cam",
            "1.2.0",
            "--reason",
            "cleanup",
            "--retention-years",
            "0",
        ],
    );
    let e = fails(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
        ],
    );
    assert!(e.contains("must stay available until"), "{e}");
    std::fs::remove_dir_all(dir.join("repo")).unwrap();
    std::fs::rename(&backup, dir.join("repo")).unwrap();
    let r = json(
        dir,
        &[
            "release",
            "withdraw",
            "repo",
            "acme-cam",
            "1.2.0",
            "--force",
            "--reason",
            "bricks some units",
        ],
    );
    assert_eq!(r["withdrawn"], "acme-cam/fw-1.2.0.bin");
    let e = fails(
        dir,
        "airlock",
        &["release", "withdraw", "repo", "acme-cam", "7.0.0"],
    );
    assert!(e.contains("no release 7.0.0"), "{e}");
    publish(dir, &server);
    let (_, answer) = server.post_json(
        "/v1/devices/d/check-in",
        r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#,
    );
    assert_eq!(answer["decision"], "up_to_date");
    let r = json(dir, &["support", "show", "repo", "acme-cam"]);
    assert_eq!(r["history"][0]["action"], "withdraw");
    assert_eq!(r["history"][0]["withdrawn"], "acme-cam/fw-1.2.0.bin");
    assert_eq!(r["history"][0]["reason"], "bricks some units");
    assert_eq!(r["history"][0]["forced"], true);
    let status = json(dir, &["status", "repo"]);
    let cam = status["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == "acme-cam")
        .unwrap();
    assert!(cam["releases"].as_array().unwrap().is_empty());
}

#[test]
fn status_check_exits_2_when_metadata_expires_soon() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let out = run(
        dir,
        "airlock",
        &["status", "repo", "--check", "--within", "30d"],
    );
    assert_eq!(out.status.code(), Some(0));
    let out = run(
        dir,
        "airlock",
        &["status", "repo", "--check", "--within", "400d", "--json"],
    );
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let roles: Vec<&str> = report["expiring"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["role"].as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"root") && roles.contains(&"targets") && roles.contains(&"acme-cam"),
        "{roles:?}"
    );
    let out = run(
        dir,
        "airlock",
        &["status", "repo", "--check", "--within", "soon"],
    );
    assert_eq!(out.status.code(), Some(1));
}
