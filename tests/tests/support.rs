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
    // (a withdrawal always needs a reason: kept in the signed history and on the public page)
    assert!(e.contains("--reason"), "{e}");
    // ... for 10 years or the rest of the support period, whichever is longer (CRA Art.
    // 13(9)): a signer told the 10 years are over still keeps it while support runs. (The
    // server's own refusal of a repository that drops it unrecorded is tested in core:
    // verify::tests::security_releases_are_retained_unless_a_forced_withdrawal_is_recorded.)
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
            "cleanup",
            "--retention-years",
            "0",
        ],
    );
    assert!(
        e.contains("must stay available until 2031-01-01T00:00:00Z")
            && e.contains("the rest of the support period"),
        "{e}"
    );
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
        &[
            "release", "withdraw", "repo", "acme-cam", "7.0.0", "--reason", "typo",
        ],
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
        &["status", "repo", "--check", "--within", "soon", "--json"],
    );
    // a malformed value is a usage error (exit 2, docs/cli.md), told apart from "expiring" by
    // its JSON error on stderr and nothing on stdout
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let error: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["error"], "usage");
}

/// `airlock product remove`: refused by the signer and again by the server while devices are
/// owed updates or a security release is inside its retention period; a product without
/// releases leaves, and its role, files and keys are kept under removed/.
#[test]
fn products_are_removed_only_when_nothing_is_owed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    // acme-old (security window ended 2024-12-31) got a security release in 2023
    std::fs::write(dir.join("old-2.0.0.bin"), firmware(7, 2048)).unwrap();
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-old",
            "old-2.0.0.bin",
            "--version",
            "2.0.0",
            "--security-version",
            "1",
            "--kind",
            "security",
            "--released",
            "2023-06-01T00:00:00Z",
        ],
    );
    ok(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "acme-lab",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2027-06-30",
            "--security-until",
            "2030-12-31",
        ],
    );
    let server = Server::start(dir);
    publish(dir, &server);
    // a device that keeps its trusted metadata across check-ins
    let device = |dir: &std::path::Path| {
        let out = run(
            dir,
            "airlock-sim",
            &[
                "device",
                "--server",
                &server.url,
                "--trusted-root",
                "repo/metadata/1.root.json",
                "--state",
                "cam-device",
                "--id",
                "cam-device",
                "--product",
                "acme-cam",
                "--version",
                "1.0.0",
                "--security-version",
                "2",
                "--json",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    device(dir);

    // status names where each role's keys are
    let status = json(dir, &["status", "repo"]);
    let root_keys = status["roles"][0]["held"].as_array().unwrap();
    assert_eq!(root_keys.len(), 1);
    assert_eq!(root_keys[0]["kind"], "file");
    assert_eq!(root_keys[0]["listed"], true);
    let cam = status["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == "acme-cam")
        .unwrap();
    assert_eq!(cam["held"][0]["listed"], true);
    assert_eq!(cam["held"][0]["key_id"], cam["key_ids"][0]);
    assert!(ok(dir, "airlock", &["status", "repo"]).contains("KEYS HERE"));

    // acme-cam: security updates owed until 2030, and 1.2.0 is kept ten years
    let before = std::fs::read(dir.join("repo/metadata/targets.json")).unwrap();
    let e = fails(dir, "airlock", &["product", "remove", "repo", "acme-cam"]);
    assert!(
        e.contains("acme-cam cannot be removed") && e.contains("must stay available until"),
        "{e}"
    );
    let e = fails(
        dir,
        "airlock",
        &[
            "product",
            "remove",
            "repo",
            "acme-cam",
            "--retention-years",
            "0",
        ],
    );
    // CRA Art. 13(9): 10 years or the rest of the support period, whichever is longer, so a
    // shorter period given to the signer still keeps 1.2.0 until support ends
    assert!(
        e.contains("acme-cam/fw-1.2.0.bin must stay available until 2031-01-01"),
        "{e}"
    );
    // acme-old: out of support, but its 2023 security release is retained until 2033
    let e = fails(dir, "airlock", &["product", "remove", "repo", "acme-old"]);
    assert!(
        e.contains("acme-old/old-2.0.0.bin") && e.contains("2033-06-01"),
        "{e}"
    );
    assert_eq!(
        std::fs::read(dir.join("repo/metadata/targets.json")).unwrap(),
        before,
        "refusals change nothing"
    );

    // a signer told the retention period is shorter removes it; the server refuses the publish
    let backup = dir.join("repo-backup");
    assert!(std::process::Command::new("cp")
        .arg("-a")
        .arg(dir.join("repo"))
        .arg(&backup)
        .status()
        .unwrap()
        .success());
    let r = json(
        dir,
        &[
            "product",
            "remove",
            "repo",
            "acme-old",
            "--retention-years",
            "0",
        ],
    );
    assert_eq!(r["releases"], 1);
    let archived = dir.join(r["archived"].as_str().unwrap());
    assert!(archived.join("acme-old.json").is_file());
    assert!(archived.join("acme-old.key").is_file());
    assert!(archived.join("targets/old-2.0.0.bin").is_file());
    assert!(!dir.join("repo/keys/acme-old.key").exists());
    ok(dir, "airlock", &["verify", "repo"]);
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
        e.contains("product acme-old cannot be removed") && e.contains("2033-06-01"),
        "{e}"
    );
    assert_eq!(
        server.get("/v1/products/acme-old/support").status(),
        200,
        "the refused publish left acme-old served"
    );
    std::fs::remove_dir_all(dir.join("repo")).unwrap();
    assert!(std::process::Command::new("cp")
        .arg("-a")
        .arg(&backup)
        .arg(dir.join("repo"))
        .status()
        .unwrap()
        .success());

    // staged, the same: `targets apply` checks the removal again with the period given to it
    let r = json(
        dir,
        &[
            "product",
            "remove",
            "repo",
            "acme-old",
            "--stage",
            "--retention-years",
            "0",
        ],
    );
    assert_eq!(r["targets"]["targets"], "staged");
    // (the targets key is in keys/: the proposal comes signed by it)
    let p = json(
        dir,
        &["targets", "propose", "repo", "--out", "removal.json"],
    );
    assert_eq!(p["signed_by"].as_array().unwrap().len(), 1, "{p}");
    let a = json(dir, &["targets", "apply", "repo", "removal.json"]);
    assert_eq!(a["removed"], serde_json::json!(["acme-old"]), "{a}");
    assert!(!dir.join("repo/metadata/acme-old.json").exists());
    ok(dir, "airlock", &["verify", "repo"]);
    std::fs::remove_dir_all(dir.join("repo")).unwrap();
    std::fs::rename(&backup, dir.join("repo")).unwrap();

    // a removal whose files cannot be moved (removed/ is not a directory) says so, and running
    // it again finishes it
    let removed = dir.join("repo/removed");
    let aside = dir.join("removed-aside");
    let had_removed = removed.exists();
    if had_removed {
        std::fs::rename(&removed, &aside).unwrap();
    }
    std::fs::write(&removed, b"not a directory").unwrap();
    let e = fails(dir, "airlock", &["product", "remove", "repo", "acme-lab"]);
    assert!(
        e.contains("could not be moved") && e.contains("again to finish"),
        "{e}"
    );
    assert!(dir.join("repo/metadata/acme-lab.json").is_file());
    std::fs::remove_file(&removed).unwrap();
    if had_removed {
        std::fs::rename(&aside, &removed).unwrap();
    }

    // acme-lab has no releases: it goes, through the signer and the server
    let r = json(dir, &["product", "remove", "repo", "acme-lab"]);
    assert!(!dir.join("repo/metadata/acme-lab.json").exists());
    assert!(dir
        .join(r["archived"].as_str().unwrap())
        .join("acme-lab.json")
        .is_file());
    assert_eq!(r["releases"], 0);
    assert_eq!(r["targets"]["targets"], "signed");
    let status = json(dir, &["status", "repo"]);
    assert!(status["products"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["product"] != "acme-lab"));
    let e = fails(dir, "airlock", &["product", "remove", "repo", "acme-lab"]);
    assert!(e.contains("unknown product"), "{e}");
    publish(dir, &server);
    assert_eq!(server.get("/v1/products/acme-lab/support").status(), 404);
    assert_eq!(server.get("/v1/products/acme-cam/support").status(), 200);
    ok(dir, "airlock", &["verify", "repo"]);
    // a device holding the previous snapshot still updates: snapshot.json still lists the removed
    // role (TUF clients refuse a snapshot that drops one)
    device(dir);
    let snapshot: Value = server.get("/tuf/metadata/snapshot.json").json().unwrap();
    assert_eq!(snapshot["signed"]["meta"]["acme-lab.json"]["version"], 1);

    // added again: its role starts above the version snapshot.json lists
    let r = json(
        dir,
        &[
            "product",
            "add",
            "repo",
            "acme-lab",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2027-06-30",
            "--security-until",
            "2030-12-31",
        ],
    );
    assert_eq!(r["role_version"], 2);
    publish(dir, &server);
    let snapshot: Value = server.get("/tuf/metadata/snapshot.json").json().unwrap();
    assert_eq!(snapshot["signed"]["meta"]["acme-lab.json"]["version"], 2);
    assert_eq!(server.get("/v1/products/acme-lab/support").status(), 200);
    device(dir);
}
