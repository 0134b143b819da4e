//! `airlock-sim attack`: every drill ends as expected in the lab; against a running server, the
//! drills it can prepare run and pass, the others are reported as not run (never as passed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

const ALL: [&str; 23] = [
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
    "delta-altered",
    "delta-other-source",
    "delta-other-image",
    "delta-endless",
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
            n if n.starts_with("delta-") => "delta refused",
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

    // the delta drills: each phase refused the delta, then installed the signed full image or,
    // where the full image was spoiled too, nothing
    let altered = reason("delta-altered");
    assert!(altered.contains("delta altered:"), "{altered}");
    assert!(altered.contains("hash mismatch"), "{altered}");
    assert!(
        altered.contains("the signed full image acme-plug/acme-plug-fw-1.2.0.bin installed"),
        "{altered}"
    );
    assert!(
        altered.contains("the spoiled full image refused") && altered.contains("still runs 1.1.0"),
        "{altered}"
    );
    assert!(
        reason("delta-other-source").contains("not to the installed one"),
        "{}",
        reason("delta-other-source")
    );
    assert!(
        reason("delta-other-image").contains("not the offered acme-plug/acme-plug-fw-1.2.0.bin"),
        "{}",
        reason("delta-other-image")
    );
    let endless = reason("delta-endless");
    for phase in [
        "endless delta:",
        "decompression bomb:",
        "endless delta and full image:",
    ] {
        assert!(endless.contains(phase), "{endless}");
    }
    assert!(endless.contains("exceeds the maximum size"), "{endless}");

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

/// The product's fleet figures as the compliance report reads them, without what changes with
/// the clock alone (when they were computed, the instants of the history).
fn fleet(dir: &Path, server: &Server, product: &str) -> Value {
    let admin = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    let mut figures: Value = reqwest::blocking::Client::new()
        .get(format!("{}/v1/admin/products/{product}/fleet", server.url))
        .bearer_auth(admin.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let figures_map = figures.as_object_mut().unwrap();
    figures_map.remove("generated_at");
    let history = figures_map.remove("history").unwrap_or_default();
    let counts: Vec<Value> = history
        .as_array()
        .map(|points| points.iter().map(|p| p["versions"].clone()).collect())
        .unwrap_or_default();
    figures_map.insert("history_counts".into(), Value::from(counts));
    figures
}

/// POST /v1/admin/enrolment-tokens with the admin token; the token.
fn enrolment_token(dir: &Path, server: &Server, body: &str) -> String {
    let admin = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    let token: Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/admin/enrolment-tokens", server.url))
        .bearer_auth(admin.trim())
        .body(body.to_string())
        .send()
        .unwrap()
        .json()
        .unwrap();
    token["token"].as_str().unwrap().to_string()
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

    // issue 14: the drill devices (made drill devices with the admin token, on a server with
    // --device-auth open) are nowhere in the fleet figures
    for product in ["acme-cam", "acme-old"] {
        let figures = fleet(dir, &server, product);
        assert_eq!(figures["devices"], 0, "{figures:#}");
        assert_eq!(figures["versions"], serde_json::json!([]), "{figures:#}");
    }
}

#[test]
fn drills_against_a_server_that_requires_device_authentication() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start_with(dir, &["--device-auth", "required"]);
    publish(dir, &server);
    // as docs/attacks.md makes it: the first line of `airlock enrolment-token create --drill`
    let created = ok(
        dir,
        "airlock",
        &[
            "enrolment-token",
            "create",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "--product",
            "acme-cam",
            "--uses",
            "25",
            "--expires-in",
            "1h",
            "--drill",
        ],
    );
    assert!(created.contains("drill token"), "{created}");
    let drill_token = created.lines().next().unwrap().to_string();
    let attack = |token: &str| {
        run(
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
                token,
                "--json",
            ],
        )
    };
    // an ordinary token would make the drill devices count in the fleet: refused before any
    // drill runs
    let ordinary = enrolment_token(dir, &server, r#"{"product": "acme-cam", "uses": 5}"#);
    let out = attack(&ordinary);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not a drill token"), "{err}");
    assert!(err.contains("enrolment-token create --drill"), "{err}");
    // twice: drill devices get fresh ids each run, so enrolments never collide
    for _ in 0..2 {
        let out = attack(&drill_token);
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

/// The lines of the first `sh` block in `doc` that form the command containing `needle`
/// (continuation lines joined), as written there.
fn documented_command(doc: &str, needle: &str) -> String {
    let text = std::fs::read_to_string(workspace_root().join(doc)).unwrap();
    let mut command = String::new();
    for line in text.lines().map(str::trim) {
        if command.is_empty() && !line.contains(needle) {
            continue;
        }
        command.push_str(line.trim_end_matches('\\'));
        command.push(' ');
        if !line.ends_with('\\') {
            return command;
        }
    }
    panic!("{doc} has no command with {needle:?}");
}

/// Issue 14: the drill command docs/compliance.md gives for evidence from a server runs as
/// written against a server that requires device authentication (the default): every drill
/// that can run there passes (none ends in 401), and the fleet figures the compliance report
/// shows do not change.
#[test]
fn the_documented_server_drill_command_passes_and_leaves_the_fleet_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start_with(dir, &["--device-auth", "required"]);
    publish(dir, &server);
    // one real device, so the figures are not empty: it enrols and installs 1.2.0
    let token = enrolment_token(dir, &server, r#"{"product": "acme-cam", "uses": 1}"#);
    ok(
        dir,
        "airlock-sim",
        &[
            "device",
            "--server",
            &server.url,
            "--trusted-root",
            "repo/metadata/1.root.json",
            "--state",
            "cam-1",
            "--id",
            "cam-1",
            "--product",
            "acme-cam",
            "--version",
            "1.0.0",
            "--security-version",
            "2",
            "--enrol-token",
            &token,
        ],
    );
    let before = fleet(dir, &server, "acme-cam");
    assert_eq!(before["devices"], 1, "{before:#}");

    let command = documented_command("docs/compliance.md", "attack --all --json --server $URL");
    std::fs::create_dir_all(dir.join("evidence")).unwrap();
    let bin_dir = bin("airlock-sim").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &command])
        .env("URL", &server.url)
        .env("PATH", path)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("evidence/server-attacks.json")).unwrap())
            .unwrap();
    assert_eq!(summary["mode"], "server");
    let drills = drills_of(&summary);
    assert_eq!(drills.len(), ALL.len());
    for d in &drills {
        assert!(!d["reason"].as_str().unwrap().contains("401"), "{d:#}");
        if d["ran"] == true {
            assert_eq!(d["passed"], true, "{d:#}");
        }
    }
    assert_eq!(summary["failed"], 0, "{summary:#}");
    // the drills this server has the preconditions for: each enrols, checks in and refreshes
    // (each ended in 401 when the documented command gave no credential)
    for name in [
        "arbitrary-software",
        "rollback-timestamp",
        "rollback-snapshot",
        "indefinite-freeze",
        "endless-data",
        "wrong-signature",
        "below-threshold",
    ] {
        assert_eq!(
            by_name(&drills, name)["passed"],
            true,
            "{name}: {summary:#}"
        );
    }
    assert_eq!(fleet(dir, &server, "acme-cam"), before);
}
