//! `airlock-sim attack`: every drill ends as expected in the lab; against a running server, the
//! drills it can prepare run and pass, the others are reported as not run (never as passed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

const ALL: [&str; 19] = [
    "arbitrary-software",
    "rollback-timestamp",
    "rollback-snapshot",
    "rollback-targets",
    "rollback-product-role",
    "indefinite-freeze",
    "endless-data",
    "mix-and-match",
    "wrong-signature",
    "below-threshold",
    "revoked-key",
    "wrong-product-image",
    "downgrade",
    "below-floor",
    "feature-after-window",
    "sunset-only-after-support",
    "hidden-end-of-support",
    "requires-skipped",
    "withheld-security-release",
];

fn drills_of(summary: &Value) -> Vec<Value> {
    summary["drills"].as_array().unwrap().clone()
}

fn by_name<'a>(drills: &'a [Value], name: &str) -> &'a Value {
    drills
        .iter()
        .find(|d| d["attack"] == name)
        .unwrap_or_else(|| panic!("no drill {name} in {drills:?}"))
}

#[test]
fn every_drill_ends_as_expected_in_the_lab() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(tmp.path(), "airlock-sim", &["attack", "--all", "--json"]);
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["mode"], "lab");
    let drills = drills_of(&summary);
    let names: Vec<&str> = drills
        .iter()
        .map(|d| d["attack"].as_str().unwrap())
        .collect();
    assert_eq!(names, ALL);
    for d in &drills {
        assert_eq!(d["observed"], d["expected"], "{d:#}");
        assert_eq!(d["passed"], true, "{d:#}");
        assert_eq!(d["ran"], true, "{d:#}");
        let expected = match d["attack"].as_str().unwrap() {
            "hidden-end-of-support" => "notice shown",
            "withheld-security-release" => "installed withheld",
            _ => "refused",
        };
        assert_eq!(d["expected"], expected, "{d:#}");
        assert!(!d["reason"].as_str().unwrap().is_empty(), "{d:#}");
    }
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["not_run"], 0);
    // specific reasons, not just any refusal
    let reason = |name: &str| {
        by_name(&drills, name)["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reason("arbitrary-software")
        .to_lowercase()
        .contains("hash mismatch"));
    assert!(reason("rollback-timestamp").contains("previously fetched"));
    assert!(reason("endless-data").contains("Maximum size 1048576"));
    assert!(reason("below-floor").contains("below the product's floor"));
    assert!(reason("hidden-end-of-support").contains("security updates ended"));
    // the one security release the server withheld, from the device's verified metadata
    assert!(
        reason("withheld-security-release")
            .contains("installed 1.2.0 (acme-cam/acme-cam-fw-1.2.0.bin)"),
        "{}",
        reason("withheld-security-release")
    );

    // the text table, for one drill by name
    let table = ok(tmp.path(), "airlock-sim", &["attack", "downgrade"]);
    assert!(table.contains("downgrade"), "{table}");
    assert!(
        table.contains("1 drills: 1 as expected, 0 failed"),
        "{table}"
    );
    // unknown drills are refused before anything runs
    let err = fails(tmp.path(), "airlock-sim", &["attack", "no-such-drill"]);
    assert!(err.contains("unknown drill"), "{err}");
}

fn attack_server(dir: &Path, server: &Server, device: [&str; 3], names: &[&str]) -> Value {
    let mut args = vec![
        "attack",
        "--server",
        &server.url,
        "--trusted-root",
        "repo/metadata/1.root.json",
        "--product",
        device[0],
        "--version",
        device[1],
        "--security-version",
        device[2],
        "--admin-token-file",
        "admin.token",
        "--json",
    ];
    args.extend_from_slice(names);
    let out = run(dir, "airlock-sim", &args);
    assert!(
        out.status.success(),
        "attack failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn drills_against_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);

    let summary = attack_server(
        dir,
        &server,
        ["acme-cam", "1.0.0", "2"],
        &[
            "arbitrary-software",
            "rollback-timestamp",
            "rollback-snapshot",
            "wrong-signature",
            "below-threshold",
            "indefinite-freeze",
            "endless-data",
            "rollback-targets",
            "revoked-key",
            "downgrade",
        ],
    );
    assert_eq!(summary["mode"], "server");
    let drills = drills_of(&summary);
    assert_eq!(drills.len(), 10);
    for name in [
        "arbitrary-software",
        // one publish = timestamp v1 only: the command re-signed with the admin token
        "rollback-timestamp",
        "rollback-snapshot",
        "wrong-signature",
        "below-threshold",
        "indefinite-freeze",
        "endless-data",
    ] {
        let d = by_name(&drills, name);
        assert_eq!(d["observed"], "refused", "{d:#}");
        assert_eq!(d["passed"], true, "{d:#}");
    }
    // preconditions this server lacks: not run, and not counted as passed
    for name in ["rollback-targets", "revoked-key", "downgrade"] {
        let d = by_name(&drills, name);
        assert_eq!(d["observed"], "not run", "{d:#}");
        assert_eq!(d["ran"], false, "{d:#}");
        assert_eq!(d["passed"], false, "{d:#}");
    }
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["not_run"], 3);
    assert_eq!(summary["passed"], 7);
    // the server now has a second timestamp version, as the rollback drill needed
    assert_eq!(server.get("/tuf/metadata/2.timestamp.json").status(), 200);

    // a product past its security window: the notice comes from the signed record
    let summary = attack_server(
        dir,
        &server,
        ["acme-old", "1.0.0", "0"],
        &["hidden-end-of-support"],
    );
    let d = by_name(&drills_of(&summary), "hidden-end-of-support").clone();
    assert_eq!(d["observed"], "notice shown", "{d:#}");
    assert_eq!(d["passed"], true, "{d:#}");
}

#[test]
fn drills_against_a_server_that_requires_device_authentication() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start_with(dir, &["--device-auth", "required"]);
    publish(dir, &server);
    let admin = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    let token: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/admin/enrolment-tokens", server.url))
        .bearer_auth(admin.trim())
        .body(r#"{"product": "acme-cam"}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    // twice: drill devices get fresh ids each run, so enrolments never collide
    for _ in 0..2 {
        let out = run(
            dir,
            "airlock-sim",
            &[
                "attack",
                "arbitrary-software",
                "wrong-signature",
                "--server",
                &server.url,
                "--trusted-root",
                "repo/metadata/1.root.json",
                "--product",
                "acme-cam",
                "--version",
                "1.0.0",
                "--security-version",
                "2",
                "--enrol-token",
                &token,
                "--json",
            ],
        );
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = summary.to_string();
        assert!(
            text.contains("arbitrary-software") && text.contains("wrong-signature"),
            "{text}"
        );
    }
}
