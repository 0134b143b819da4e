//! `airlock compliance report`: the signed evidence report for a product.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;

#[test]
fn signed_compliance_report() {
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
            "4",
            "--kind",
            "security",
            "--advisory",
            "CVE-2026-1111:high:RTSP parser overflow",
        ],
    );
    ok(
        dir,
        "airlock",
        &[
            "support",
            "extend",
            "repo",
            "acme-cam",
            "--security-until",
            "2031-12-31",
            "--reason",
            "longer life",
        ],
    );

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
    assert_eq!(report["support"]["security_updates_until"], "2031-12-31");
    assert_eq!(report["support"]["history"][0]["reason"], "longer life");
    assert_eq!(report["ledger"].as_array().unwrap().len(), 2);
    assert_eq!(report["ledger"][1]["advisories"][0], "cve-2026-1111 (high)");
    assert!(report["ledger"][1]["retained_until"]
        .as_str()
        .unwrap()
        .starts_with("20"));
    assert_eq!(report["mechanism"][0]["role"], "root");
    let refs: Vec<&str> = report["crosswalk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reference"].as_str().unwrap())
        .collect();
    assert!(
        refs.contains(&"CRA Art. 13(9)") && refs.contains(&"PSTI Sch. 1 para 3"),
        "{refs:?}"
    );
    let uk: Value = serde_json::from_str(&ok(
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
            "--jurisdiction",
            "uk",
        ],
    ))
    .unwrap();
    assert!(uk["crosswalk"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["jurisdiction"] == "uk" || c["jurisdiction"] == "all"));

    // markdown, signed: the detached signature verifies with the targets key from root.json
    ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--out",
            "report.md",
        ],
    );
    let text = std::fs::read(dir.join("report.md")).unwrap();
    assert!(String::from_utf8_lossy(&text).contains("| eu | CRA Art. 13(8) |"));
    let sig: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.md.sig")).unwrap()).unwrap();
    let root: Value =
        serde_json::from_slice(&std::fs::read(dir.join("repo/metadata/root.json")).unwrap())
            .unwrap();
    let keyid = sig["keyid"].as_str().unwrap();
    assert!(root["signed"]["roles"]["targets"]["keyids"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == keyid));
    let public = hex::decode(
        root["signed"]["keys"][keyid]["keyval"]["public"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
    let signature =
        ed25519_dalek::Signature::from_slice(&hex::decode(sig["sig"].as_str().unwrap()).unwrap())
            .unwrap();
    assert!(key.verify_strict(&text, &signature).is_ok());
    let mut tampered = text.clone();
    tampered[10] ^= 1;
    assert!(key.verify_strict(&tampered, &signature).is_err());

    let e = fails(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--format",
            "pdf",
        ],
    );
    assert!(e.contains("unsupported format"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &["compliance", "report", "nope", "--repo", "repo"],
    );
    assert!(e.contains("unknown product"), "{e}");
}
