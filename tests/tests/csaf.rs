//! `airlock advisory csaf`: CSAF 2.0 documents from the signed advisories, in a provider
//! directory, validated by the BSI's @secvisogram/csaf-validator-lib (schema and mandatory
//! tests). Needs Node.js and `tests/interop/node_modules` (made by scripts/test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::process::Command;

#[test]
fn csaf_advisories_pass_the_validator() {
    let validator =
        workspace_root().join("tests/interop/node_modules/@secvisogram/csaf-validator-lib");
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok || !validator.is_dir() {
        skip(
            "csaf_advisories_pass_the_validator",
            "no Node.js or @secvisogram/csaf-validator-lib (run scripts/test)",
        );
        return;
    }
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
            "--released",
            "2026-09-22T12:00:00Z",
            "--advisory",
            "CVE-2026-1111:high:RTSP parser overflow",
            "--advisory",
            "ACME-2026-7:low:verbose logging of the Wi-Fi passphrase",
        ],
    );
    ok(
        dir,
        "airlock",
        &[
            "advisory",
            "csaf",
            "--repo",
            "repo",
            "--publisher",
            "Acme Devices Ltd",
            "--namespace",
            "https://acme.example",
            "--base-url",
            "https://updates.acme.example",
            "--out",
            "site",
        ],
    );
    let csaf = dir.join("site/.well-known/csaf");
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(csaf.join("provider-metadata.json")).unwrap())
            .unwrap();
    assert_eq!(metadata["role"], "csaf_provider");
    assert_eq!(
        metadata["distributions"][0]["directory_url"],
        "https://updates.acme.example/.well-known/csaf/white/"
    );
    let index = std::fs::read_to_string(csaf.join("white/index.txt")).unwrap();
    assert_eq!(
        index,
        "2026/acme-cam-acme-2026-7.json\n2026/acme-cam-cve-2026-1111.json\n"
    );
    let changes = std::fs::read_to_string(csaf.join("white/changes.csv")).unwrap();
    assert!(
        changes.contains("\"2026/acme-cam-cve-2026-1111.json\",\"2026-09-22T12:00:00Z\""),
        "{changes}"
    );
    let doc_path = csaf.join("white/2026/acme-cam-cve-2026-1111.json");
    let bytes = std::fs::read(&doc_path).unwrap();
    let sha = std::fs::read_to_string(csaf.join("white/2026/acme-cam-cve-2026-1111.json.sha256"))
        .unwrap();
    use sha2::Digest;
    assert_eq!(
        sha,
        format!(
            "{}  acme-cam-cve-2026-1111.json\n",
            hex::encode(sha2::Sha256::digest(&bytes))
        )
    );
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let v = &doc["vulnerabilities"][0];
    assert_eq!(v["cve"], "CVE-2026-1111");
    // 1.2.0 (security version 3) is affected, 1.3.0 fixes it
    assert_eq!(
        v["product_status"]["known_affected"],
        serde_json::json!(["acme-cam-1.2.0"])
    );
    assert_eq!(
        v["product_status"]["fixed"],
        serde_json::json!(["acme-cam-1.3.0"])
    );

    let out = Command::new("node")
        .arg(workspace_root().join("tests/interop/csaf_validate.mjs"))
        .arg(&doc_path)
        .arg(csaf.join("white/2026/acme-cam-acme-2026-7.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the CSAF validator refused:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout);
    assert_eq!(lines.matches("\"isValid\":true").count(), 2, "{lines}");

    // the provider metadata's URL, signed into the support record, is security.txt's CSAF line
    let e = fails(
        dir,
        "airlock",
        &[
            "product",
            "set",
            "repo",
            "acme-cam",
            "--csaf-provider-metadata",
            "http://x",
        ],
    );
    assert!(e.contains("must be an https:// URL"), "{e}");
    ok(
        dir,
        "airlock",
        &[
            "product",
            "set",
            "repo",
            "acme-cam",
            "--csaf-provider-metadata",
            "https://updates.acme.example/.well-known/csaf/provider-metadata.json",
        ],
    );
    let server = Server::start(dir);
    publish(dir, &server);
    let txt = server.get("/.well-known/security.txt").text().unwrap();
    assert!(
        txt.contains(
            "\nCSAF: https://updates.acme.example/.well-known/csaf/provider-metadata.json\n"
        ),
        "{txt}"
    );
}
