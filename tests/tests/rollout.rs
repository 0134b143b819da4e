//! Staged rollouts with the real binaries: publish --hold, waves by stable device buckets, the
//! health rule pausing by itself, operator pause/resume/abort, a new rollout reshuffling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

fn rollout_cli(dir: &Path, server: &Server, args: &[&str]) -> Value {
    let mut full = vec![
        "rollout",
        args[0],
        "--server",
        &server.url,
        "--admin-token-file",
        "admin.token",
        "--json",
    ];
    full.extend_from_slice(&args[1..]);
    serde_json::from_str(&ok(dir, "airlock", &full)).unwrap()
}

fn check_in(server: &Server, device: &str, version: &str, sv: u64) -> Value {
    let (status, answer) = server.post_json(
        &format!("/v1/devices/{device}/check-in"),
        &format!(r#"{{"product": "acme-cam", "version": "{version}", "security_version": {sv}}}"#),
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

fn offered(answer: &Value) -> Option<String> {
    (answer["decision"] == "update")
        .then(|| answer["target"]["version"].as_str().unwrap().to_string())
}

#[test]
fn staged_rollout_waves_health_rule_and_operator_actions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);

    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(9, 4096)).unwrap();
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
    let out: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "--hold",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(out["held"], serde_json::json!(["acme-cam/fw-1.3.0.bin"]));

    // held: nobody gets 1.3.0; a device on 1.0.0 still gets 1.2.0
    assert_eq!(offered(&check_in(&server, "x", "1.2.0", 3)), None);
    assert_eq!(
        offered(&check_in(&server, "x", "1.0.0", 2)).as_deref(),
        Some("1.2.0")
    );
    let s = rollout_cli(dir, &server, &["status", "acme-cam", "1.3.0"]);
    assert_eq!(s["state"], "held");

    let s = rollout_cli(
        dir,
        &server,
        &[
            "start",
            "acme-cam",
            "1.3.0",
            "--waves",
            "20%@0h,100%@1000h",
            "--pause-if",
            "failures>=50% after 10 reports",
        ],
    );
    assert_eq!(s["state"], "active");
    assert_eq!(s["reached_percent"], 20.0);
    let first_id = s["id"].as_str().unwrap().to_string();

    // about 20% of the fleet, always the same devices
    let devices: Vec<String> = (0..300).map(|i| format!("cam-{i}")).collect();
    let in_wave: Vec<&String> = devices
        .iter()
        .filter(|d| offered(&check_in(&server, d, "1.2.0", 3)).as_deref() == Some("1.3.0"))
        .collect();
    assert!(
        (30..=95).contains(&in_wave.len()),
        "about 20% of 300: {}",
        in_wave.len()
    );
    for d in devices.iter().take(50) {
        let again = offered(&check_in(&server, d, "1.2.0", 3)).as_deref() == Some("1.3.0");
        assert_eq!(again, in_wave.contains(&d), "{d} flipped between waves");
    }
    // a device outside the wave on an old version gets the previous release
    let outside = devices.iter().find(|d| !in_wave.contains(d)).unwrap();
    assert_eq!(
        offered(&check_in(&server, outside, "1.0.0", 2)).as_deref(),
        Some("1.2.0")
    );

    // failures reported by wave devices: the health rule pauses the rollout by itself
    for (i, d) in in_wave.iter().take(10).enumerate() {
        let status = if i < 6 { "failed" } else { "installed" };
        let (code, _) = server.post_json(
            &format!("/v1/devices/{d}/reports"),
            &format!(r#"{{"status": "{status}", "version": "1.3.0", "code": "boot_loop"}}"#),
        );
        assert_eq!(code, 202);
    }
    let s = rollout_cli(dir, &server, &["status", "acme-cam", "1.3.0"]);
    assert_eq!(s["state"], "paused", "{s}");
    assert!(s["reason"].as_str().unwrap().contains("health rule"), "{s}");
    assert_eq!(
        (s["failed"].as_u64(), s["installed"].as_u64()),
        (Some(6), Some(4))
    );
    // devices not yet updated are offered the previous target again (here: nothing newer)
    assert_eq!(offered(&check_in(&server, in_wave[20], "1.2.0", 3)), None);
    assert_eq!(
        offered(&check_in(&server, in_wave[20], "1.0.0", 2)).as_deref(),
        Some("1.2.0")
    );

    // only an operator resumes; pausing twice is refused
    let e = fails(
        dir,
        "airlock",
        &[
            "rollout",
            "resume",
            "--server",
            &server.url,
            "--admin-token-file",
            "wrong",
            "acme-cam",
            "1.3.0",
        ],
    );
    assert!(e.contains("wrong"), "{e}");
    let s = rollout_cli(
        dir,
        &server,
        &[
            "resume",
            "acme-cam",
            "1.3.0",
            "--reason",
            "fixed the boot config",
        ],
    );
    assert_eq!(s["state"], "active");
    assert_eq!(
        offered(&check_in(&server, in_wave[20], "1.2.0", 3)).as_deref(),
        Some("1.3.0")
    );
    let s = rollout_cli(dir, &server, &["pause", "acme-cam", "1.3.0"]);
    assert_eq!(s["state"], "paused");
    let e = fails(
        dir,
        "airlock",
        &[
            "rollout",
            "pause",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "acme-cam",
            "1.3.0",
        ],
    );
    assert!(e.contains("409") && e.contains("cannot pause"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "rollout",
            "start",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "acme-cam",
            "1.3.0",
        ],
    );
    assert!(e.contains("already paused"), "{e}");

    // abort: nobody gets it; a new rollout reshuffles the buckets
    let s = rollout_cli(dir, &server, &["abort", "acme-cam", "1.3.0"]);
    assert_eq!(s["state"], "aborted");
    assert_eq!(offered(&check_in(&server, in_wave[0], "1.2.0", 3)), None);
    let s = rollout_cli(
        dir,
        &server,
        &["start", "acme-cam", "1.3.0", "--waves", "20%@0h"],
    );
    assert_ne!(s["id"].as_str().unwrap(), first_id);
    let second: Vec<&String> = devices
        .iter()
        .filter(|d| offered(&check_in(&server, d, "1.2.0", 3)).as_deref() == Some("1.3.0"))
        .collect();
    assert_ne!(second, in_wave, "a new rollout picks other devices");

    // bad input
    let e = fails(
        dir,
        "airlock",
        &[
            "rollout",
            "start",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "acme-cam",
            "1.2.0",
            "--waves",
            "50%@1h,10%@2h",
        ],
    );
    assert!(e.contains("invalid waves"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "rollout",
            "start",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "acme-cam",
            "9.9.9",
        ],
    );
    assert!(e.contains("not published"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "rollout",
            "status",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "acme-cam",
            "1.2.0",
        ],
    );
    assert!(e.contains("no rollout"), "{e}");
}

/// A security release may be held back (`--hold`, waves, a pause) for a week after its signed
/// release time, no longer (core/src/hold.rs): the device would install it from its verified
/// metadata anyway, so the server offers it too rather than look like one withholding a fix.
#[test]
fn a_security_release_is_held_back_for_a_week_at_most() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);

    let add = |file: &str, version: &str, sv: &str, released: &str| {
        let seed = 20 + sv.parse::<u8>().unwrap();
        std::fs::write(dir.join(file), firmware(seed, 4096)).unwrap();
        ok(
            dir,
            "airlock",
            &[
                "release",
                "add",
                "repo",
                "acme-cam",
                file,
                "--version",
                version,
                "--security-version",
                sv,
                "--kind",
                "security",
                "--released",
                released,
            ],
        );
    };
    let ago = |days: i64| {
        jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(24 * days))
            .unwrap()
            .to_string()
    };
    let publish_held = || {
        let out = ok(
            dir,
            "airlock",
            &[
                "publish",
                "repo",
                "--server",
                &server.url,
                "--admin-token-file",
                "admin.token",
                "--hold",
                "--json",
            ],
        );
        serde_json::from_str::<Value>(&out).unwrap()
    };
    // signed as released ten days ago, published held: the hold has already run out
    add("fw-1.3.0.bin", "1.3.0", "3", &ago(10));
    assert_eq!(
        publish_held()["held"],
        serde_json::json!(["acme-cam/fw-1.3.0.bin"])
    );
    assert_eq!(
        offered(&check_in(&server, "cam-1", "1.2.0", 3)).as_deref(),
        Some("1.3.0")
    );
    // released today and held: nobody gets it yet
    add("fw-1.4.0.bin", "1.4.0", "4", &ago(0));
    assert_eq!(
        publish_held()["held"],
        serde_json::json!(["acme-cam/fw-1.4.0.bin"])
    );
    assert_eq!(offered(&check_in(&server, "cam-2", "1.3.0", 3)), None);
    assert_eq!(
        offered(&check_in(&server, "cam-3", "1.2.0", 3)).as_deref(),
        Some("1.3.0")
    );
}
