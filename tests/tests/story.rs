//! The user story of issue #3 with the real binaries: sign, serve, publish, check in, and a
//! simulated device that verifies and installs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::*;
use serde_json::Value;

fn sim_device(
    dir: &std::path::Path,
    server: &Server,
    state: &str,
    product: &str,
    version: &str,
    sv: &str,
) -> (bool, Value) {
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
            state,
            "--id",
            state,
            "--product",
            product,
            "--version",
            version,
            "--security-version",
            sv,
            "--json",
        ],
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "device printed no JSON: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), json)
}

#[test]
fn story_from_signing_to_a_verified_install() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);

    // keys are private and never under metadata/
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(dir.join("repo/keys")).unwrap() {
            let mode = entry.unwrap().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mode = std::fs::metadata(dir.join("srv/online.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let status: Value =
        serde_json::from_str(&ok(dir, "airlock", &["status", "repo", "--json"])).unwrap();
    assert_eq!(status["roles"][0]["role"], "root");
    assert_eq!(status["roles"][0]["version"], 1);
    let cam = status["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == "acme-cam")
        .unwrap();
    assert_eq!(cam["releases"][0]["version"], "1.2.0");
    assert_eq!(cam["support"]["min_security_version"], 2);
    let text = ok(dir, "airlock", &["status", "repo"]);
    assert!(text.contains("acme-cam") && text.contains("1.2.0") && text.contains("2030-12-31"));

    let server = Server::start(dir);
    let published: Value = serde_json::from_str(&publish(dir, &server)).unwrap();
    assert_eq!(published["timestamp_version"], 1);
    assert_eq!(
        published["products"],
        serde_json::json!(["acme-cam", "acme-old"])
    );

    // check-in answers
    let fw = firmware(1, 300_000);
    let sha = sha256_hex(&fw);
    let (status, answer) = server.post_json(
        "/v1/devices/cam-1/check-in",
        r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 1}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(answer["decision"], "update");
    assert_eq!(answer["urgent"], true, "below the floor (2) is urgent");
    assert_eq!(answer["target"]["name"], "acme-cam/fw-1.2.0.bin");
    assert_eq!(answer["target"]["version"], "1.2.0");
    assert_eq!(answer["target"]["security_version"], 3);
    assert_eq!(answer["target"]["kind"], "security");
    assert_eq!(answer["target"]["length"], 300_000);
    assert_eq!(answer["target"]["hashes"]["sha256"], sha.as_str());
    let url = answer["target"]["url"].as_str().unwrap();
    assert_eq!(url, format!("/tuf/targets/acme-cam/{sha}.fw-1.2.0.bin"));
    let body = server.get(url).bytes().unwrap();
    assert_eq!(&body[..], &fw[..]);
    let head = reqwest::blocking::Client::new()
        .head(format!("{}{url}", server.url))
        .send()
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "300000");

    let (_, answer) = server.post_json(
        "/v1/devices/cam-2/check-in",
        r#"{"product": "acme-cam", "version": "1.2.0", "security_version": 3}"#,
    );
    assert_eq!(answer, serde_json::json!({"decision": "up_to_date"}));
    let (_, answer) = server.post_json(
        "/v1/devices/old-1/check-in",
        r#"{"product": "acme-old", "version": "1.0.0", "security_version": 1}"#,
    );
    assert_eq!(answer["decision"], "end_of_support");
    assert_eq!(answer["statement"], "acme-old is no longer supported.");
    assert_eq!(answer["successor"], "acme-cam");
    assert_eq!(answer["security_updates_until"], "2024-12-31");
    assert!(answer.get("notice_url").is_some());

    let (status, answer) = server.post_json(
        "/v1/devices/cam-1/reports",
        r#"{"status": "installed", "version": "1.2.0"}"#,
    );
    assert_eq!(
        (status, answer["accepted"].clone()),
        (202, Value::Bool(true))
    );

    // a simulated device: verifies, installs, reports
    let (success, run) = sim_device(dir, &server, "dev1", "acme-cam", "1.0.0", "1");
    assert!(success, "{run}");
    assert_eq!(run["outcome"], "installed");
    assert_eq!(run["to"], "1.2.0");
    assert_eq!(
        std::fs::read(dir.join("dev1/firmware/fw-1.2.0.bin")).unwrap(),
        fw
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join("dev1/device.json")).unwrap()).unwrap();
    assert_eq!(state["version"], "1.2.0");
    assert_eq!(state["security_version"], 3);
    // the device persisted its trusted metadata
    assert!(dir.join("dev1/tuf/timestamp.json").is_file());
    // next cycle: up to date
    let (success, run) = sim_device(dir, &server, "dev1", "acme-cam", "1.0.0", "1");
    assert!(success);
    assert_eq!(run["outcome"], "up_to_date");
    // a device past its product's security window gets the signed notice
    let (success, run) = sim_device(dir, &server, "old1", "acme-old", "1.0.0", "1");
    assert!(success, "{run}");
    assert_eq!(run["outcome"], "end_of_support");
    assert_eq!(run["statement"], "acme-old is no longer supported.");

    // publishing again without changes changes nothing
    let again: Value = serde_json::from_str(&publish(dir, &server)).unwrap();
    assert_eq!(again["timestamp_version"], 1);
    assert_eq!(again["changed"], serde_json::json!([]));

    // a new release reaches the device that already updated
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(2, 1000)).unwrap();
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw-1.3.0.bin",
            "--version",
            "1.3.0",
            "--security-version",
            "3",
            "--kind",
            "feature",
        ],
    );
    let third: Value = serde_json::from_str(&publish(dir, &server)).unwrap();
    assert_eq!(third["timestamp_version"], 2);
    let (success, run) = sim_device(dir, &server, "dev1", "acme-cam", "1.0.0", "1");
    assert!(success, "{run}");
    assert_eq!(run["outcome"], "installed");
    assert_eq!(run["from"], "1.2.0");
    assert_eq!(run["to"], "1.3.0");

    // restart: the server serves the same repository from its state store
    let ts_before = server.get("/tuf/metadata/timestamp.json").bytes().unwrap();
    drop(server);
    let server = Server::start(dir);
    assert_eq!(
        server.get("/tuf/metadata/timestamp.json").bytes().unwrap(),
        ts_before
    );
    assert_eq!(server.get("/tuf/metadata/1.root.json").status(), 200);
    assert_eq!(server.get("/tuf/metadata/2.root.json").status(), 404);
    let health: Value = server.get("/healthz").json().unwrap();
    assert_eq!(health["status"], "ok");
}

#[test]
fn demo_runs_on_the_embedded_default() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        tmp.path(),
        "airlock-sim",
        &["demo", "--devices", "30", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    // the fleet mix: 20% past support, 50% behind, 30% current
    assert_eq!(s["devices"], 30);
    assert_eq!(s["updated"], 15);
    assert_eq!(s["up_to_date"], 9);
    assert_eq!(s["end_of_support"], 6);
    assert_eq!(s["refused"], 2, "both drills refused");
    assert_eq!(s["installed_tampered"], 0);
    for drill in s["drills"].as_array().unwrap() {
        assert_eq!(drill["observed"], "refused", "{drill}");
    }
}
