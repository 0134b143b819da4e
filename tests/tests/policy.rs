//! Device policy: automatic security updates by default; postponing them (bounded), opting
//! out, declining feature updates without losing security updates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;

#[test]
fn device_policies_are_honoured_and_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(5, 100)).unwrap();
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
    let server = Server::start(dir);
    publish(dir, &server);
    let check_in = |version: &str, sv: u64, policy: &str| {
        server.post_json(
            "/v1/devices/p1/check-in",
            &format!(r#"{{"product": "acme-cam", "version": "{version}", "security_version": {sv}, "policy": {policy}}}"#),
        )
    };
    // defaults: everything
    let (s, a) = check_in("1.2.0", 3, "{}");
    assert_eq!((s, a["target"]["version"].as_str()), (200, Some("1.3.0")));
    // features declined: up to date, the feature release reported as deferred
    let (_, a) = check_in("1.2.0", 3, r#"{"feature_updates": false}"#);
    assert_eq!(a["decision"], "up_to_date");
    assert_eq!(a["deferred"]["version"], "1.3.0");
    assert_eq!(a["deferred"]["reason"], "feature updates declined");
    // ... but security updates keep coming
    let (_, a) = check_in("1.0.0", 2, r#"{"feature_updates": false}"#);
    assert_eq!(a["target"]["version"], "1.2.0");
    assert_eq!(a["target"]["kind"], "security");
    // postponed security updates (bounded by the server, 30 days by default)
    let soon = (std::time::SystemTime::now() + std::time::Duration::from_secs(10 * 86_400))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let day = civil(soon);
    let (_, a) = check_in(
        "1.0.0",
        2,
        &format!(
            r#"{{"security_updates": "postponed", "postpone_until": "{day}", "feature_updates": false}}"#
        ),
    );
    assert_eq!(a["decision"], "up_to_date", "{a}");
    assert!(a["deferred"]["reason"].as_str().unwrap().contains(&day));
    let far = civil(soon + 40 * 86_400);
    let (s, a) = check_in(
        "1.0.0",
        2,
        &format!(r#"{{"security_updates": "postponed", "postpone_until": "{far}"}}"#),
    );
    assert_eq!((s, a["error"].as_str().unwrap()), (400, "bad_request"));
    assert!(a["message"].as_str().unwrap().contains("at most 30 days"));
    let (s, _) = check_in("1.0.0", 2, r#"{"security_updates": "postponed"}"#);
    assert_eq!(s, 400);
    // opted out
    let (_, a) = check_in(
        "1.0.0",
        2,
        r#"{"security_updates": "opt_out", "feature_updates": false}"#,
    );
    assert_eq!(a["decision"], "up_to_date");
    assert_eq!(
        a["deferred"]["reason"],
        "automatic security updates turned off"
    );
    let (s, _) = check_in("1.0.0", 2, r#"{"security_updates": "sometimes"}"#);
    assert_eq!(s, 400);
}

/// `YYYY-MM-DD` of Unix seconds (UTC).
fn civil(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
