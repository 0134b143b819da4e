//! `airlock incident`: the CRA Art. 14 reporting clock, driven on a simulated clock (`--now`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

fn incident(dir: &Path, args: &[&str], now: &str) -> std::process::Output {
    let mut all = vec!["incident"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--repo", "repo", "--now", now, "--json"]);
    run(dir, "airlock", &all)
}

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn due(s: &Value, stage: &str) -> Value {
    s["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["stage"] == stage)
        .unwrap()["due"]
        .clone()
}

#[test]
fn the_art_14_clock_runs_warns_and_drafts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);

    let opened = json(&incident(
        dir,
        &[
            "open",
            "acme-cam",
            "--cve",
            "CVE-2026-1111",
            "--aware-at",
            "2026-09-20T08:00:00Z",
            "--actively-exploited",
        ],
        "2026-09-20T09:00:00Z",
    ));
    assert_eq!(opened["trigger"], "actively_exploited");
    assert_eq!(due(&opened, "early-warning"), "2026-09-21T08:00:00Z");
    assert_eq!(due(&opened, "notification"), "2026-09-23T08:00:00Z");
    // no release names the CVE yet: the final report's clock has not started
    assert_eq!(due(&opened, "final-report"), Value::Null);
    assert!(dir
        .join("repo/incidents/acme-cam/CVE-2026-1111.json")
        .exists());

    // 22 hours before the early warning is due: nothing to do yet
    let calm = incident(dir, &["status", "--check"], "2026-09-20T10:00:00Z");
    assert_eq!(calm.status.code(), Some(0));
    // 12 hours before: --check exits 2 and names it
    let soon = incident(dir, &["status", "--check"], "2026-09-20T20:00:00Z");
    assert_eq!(soon.status.code(), Some(2));
    let body: Value = serde_json::from_slice(&soon.stdout).unwrap();
    assert_eq!(
        body["due_within_12h"],
        serde_json::json!(["acme-cam CVE-2026-1111 early-warning"])
    );
    // overdue counts too
    let late = incident(dir, &["status", "--check"], "2026-09-22T00:00:00Z");
    assert_eq!(late.status.code(), Some(2));
    // the text form says how long is left
    let text = ok(
        dir,
        "airlock",
        &[
            "incident",
            "status",
            "--repo",
            "repo",
            "--now",
            "2026-09-20T20:00:00Z",
        ],
    );
    assert!(
        text.contains("early-warning due 2026-09-21T08:00:00Z (in 12h)"),
        "{text}"
    );

    // the early warning, drafted with the fields of Art. 14(2)(a)
    let draft = ok(
        dir,
        "airlock",
        &[
            "incident",
            "draft",
            "acme-cam",
            "--cve",
            "CVE-2026-1111",
            "--stage",
            "early-warning",
            "--repo",
            "repo",
        ],
    );
    for needle in [
        "# DRAFT early-warning: acme-cam CVE-2026-1111",
        "CRA Art. 14(2)(a)",
        "| Member States where the product has been made available | [to be completed by the manufacturer] |",
        "| Manufacturer became aware | 2026-09-20T08:00:00Z |",
        "single reporting platform",
    ] {
        assert!(draft.contains(needle), "{needle:?} not in:\n{draft}");
    }

    // sent: no longer due; the notification is 59 hours away
    json(&incident(
        dir,
        &[
            "submitted",
            "acme-cam",
            "--cve",
            "CVE-2026-1111",
            "--stage",
            "early-warning",
            "--at",
            "2026-09-20T21:00:00Z",
        ],
        "2026-09-20T21:00:00Z",
    ));
    let after = incident(dir, &["status", "--check"], "2026-09-20T21:00:00Z");
    assert_eq!(after.status.code(), Some(0));

    // the fix: a signed release naming the CVE starts the final report's 14 days, and the
    // notification draft names it as the corrective measure
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
            "4",
            "--kind",
            "security",
            "--released",
            "2026-09-22T12:00:00Z",
            "--advisory",
            "CVE-2026-1111:high:RTSP parser overflow",
        ],
    );
    let status = json(&incident(dir, &["status"], "2026-09-22T13:00:00Z"));
    let fixed = &status["incidents"][0];
    assert_eq!(fixed["fixed_in"], "1.3.0");
    assert_eq!(due(fixed, "final-report"), "2026-10-06T12:00:00Z");
    let notification: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "incident",
            "draft",
            "acme-cam",
            "--cve",
            "CVE-2026-1111",
            "--stage",
            "notification",
            "--repo",
            "repo",
            "--json",
        ],
    ))
    .unwrap();
    let field = |name: &str| {
        notification["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f[0] == name)
            .map(|f| f[1].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{name} not in {notification}"))
    };
    assert_eq!(
        notification["provision"],
        "CRA Art. 14(2)(b): vulnerability notification"
    );
    assert_eq!(
        field("General nature of the exploit and of the vulnerability"),
        "CVE-2026-1111 (high): RTSP parser overflow"
    );
    assert!(field("Corrective or mitigating measures taken").starts_with("release 1.3.0"));
    assert!(field("Corrective or mitigating measures users can take").contains("1.3.0"));
    assert_eq!(
        field("How sensitive the manufacturer deems the information"),
        "[to be completed by the manufacturer]"
    );

    // a severe incident: its final report runs a month from the notification
    let severe = json(&incident(
        dir,
        &[
            "open",
            "acme-cam",
            "--cve",
            "CVE-2026-2222",
            "--aware-at",
            "2026-09-20T08:00:00Z",
            "--severe-incident",
        ],
        "2026-09-20T09:00:00Z",
    ));
    assert_eq!(due(&severe, "final-report"), "2026-10-23T08:00:00Z");

    // refusals: the same CVE twice, a malformed id, a time in the future, an unknown product,
    // both triggers at once
    let again = incident(
        dir,
        &[
            "open",
            "acme-cam",
            "--cve",
            "CVE-2026-1111",
            "--aware-at",
            "2026-09-20T08:00:00Z",
        ],
        "2026-09-20T09:00:00Z",
    );
    assert_eq!(again.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already open"));
    let bad = incident(
        dir,
        &[
            "open",
            "acme-cam",
            "--cve",
            "cve-1",
            "--aware-at",
            "2026-09-20T08:00:00Z",
        ],
        "2026-09-20T09:00:00Z",
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a CVE id"));
    let future = incident(
        dir,
        &[
            "open",
            "acme-cam",
            "--cve",
            "CVE-2026-3333",
            "--aware-at",
            "2026-09-21T08:00:00Z",
        ],
        "2026-09-20T09:00:00Z",
    );
    assert_eq!(future.status.code(), Some(2));
    let unknown = incident(
        dir,
        &[
            "open",
            "acme-cmm",
            "--cve",
            "CVE-2026-3333",
            "--aware-at",
            "2026-09-20T08:00:00Z",
        ],
        "2026-09-20T09:00:00Z",
    );
    assert_eq!(unknown.status.code(), Some(5));
    let both = incident(
        dir,
        &[
            "open",
            "acme-cam",
            "--cve",
            "CVE-2026-3333",
            "--aware-at",
            "2026-09-20T08:00:00Z",
            "--actively-exploited",
            "--severe-incident",
        ],
        "2026-09-20T09:00:00Z",
    );
    assert_eq!(both.status.code(), Some(2));
}
