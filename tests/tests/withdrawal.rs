//! A withdrawal as the public and the regulator see it: the reason is required, the public
//! support page names the release, and the compliance report lists withdrawn releases, the
//! advisories with their ids as written, and the product role's version and expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;

fn add(dir: &std::path::Path, version: &str, kind: &str, extra: &[&str]) {
    let file = format!("fw-{version}.bin");
    std::fs::write(dir.join(&file), firmware(version.len() as u8, 2000)).unwrap();
    let mut args = vec![
        "release",
        "add",
        "repo",
        "acme-cam",
        &file,
        "--version",
        version,
        "--security-version",
        "3",
        "--kind",
        kind,
    ];
    args.extend(extra);
    ok(dir, "airlock", &args);
}

#[test]
fn a_withdrawal_needs_a_reason_and_is_named_on_the_public_page_and_in_the_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    add(
        dir,
        "1.3.0",
        "security",
        &["--advisory", "CVE-2026-1111:high:RTSP parser overflow"],
    );
    add(dir, "1.4.0", "feature", &[]);

    let e = fails(
        dir,
        "airlock",
        &["release", "withdraw", "repo", "acme-cam", "1.4.0"],
    );
    assert!(e.contains("--reason"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "release", "withdraw", "repo", "acme-cam", "1.4.0", "--reason", " ",
        ],
    );
    assert!(e.contains("--reason must say why"), "{e}");
    ok(
        dir,
        "airlock",
        &[
            "release",
            "withdraw",
            "repo",
            "acme-cam",
            "1.4.0",
            "--reason",
            "boot loop on rev B boards",
        ],
    );

    // the public page names the release withdrawn, with the reason
    let server = Server::start(dir);
    publish(dir, &server);
    let page = server.get("/products/acme-cam").text().unwrap();
    assert!(
        page.contains("withdraw: withdrew acme-cam/fw-1.4.0.bin (boot loop on rev B boards)"),
        "{page}"
    );
    let shown = ok(dir, "airlock", &["support", "show", "repo", "acme-cam"]);
    assert!(shown.contains("withdrew acme-cam/fw-1.4.0.bin"), "{shown}");

    // the compliance report: withdrawn releases, advisory ids as written, the product role
    let report: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let ledger = report["ledger"].as_array().unwrap();
    let cve = ledger.iter().find(|l| l["version"] == "1.3.0").unwrap();
    assert_eq!(cve["advisories"][0], "CVE-2026-1111 (high)", "{cve}");
    assert!(ledger.iter().all(|l| l["version"] != "1.4.0"));
    assert_eq!(report["withdrawn"][0]["target"], "acme-cam/fw-1.4.0.bin");
    assert_eq!(
        report["withdrawn"][0]["reason"],
        "boot loop on rev B boards"
    );
    let status: Value =
        serde_json::from_str(&ok(dir, "airlock", &["status", "repo", "--json"])).unwrap();
    let cam = status["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == "acme-cam")
        .unwrap();
    assert_eq!(report["product_role_version"], cam["role_version"]);
    assert_eq!(report["product_role_expires"], cam["expires"]);
    let md = ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--format",
            "md",
        ],
    );
    let row = format!(
        "| acme-cam (product role) | {} | 1 | 1 | {} |",
        cam["role_version"],
        cam["expires"].as_str().unwrap()
    );
    assert!(md.contains(&row), "{row} in\n{md}");
    assert!(md.contains("### Withdrawn releases"), "{md}");
    assert!(
        md.contains("| acme-cam/fw-1.4.0.bin |") && md.contains("boot loop on rev B boards"),
        "{md}"
    );
    assert!(md.contains("CVE-2026-1111 (high)"), "{md}");
}
