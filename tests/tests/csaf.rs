//! `airlock advisory csaf` and the server's CSAF provider (`/.well-known/csaf/`): CSAF 2.0
//! documents from the signed advisories (with CVSS and CWE) and the signed VEX "not affected"
//! statements (`airlock advisory not-affected`), validated by the BSI's
//! @secvisogram/csaf-validator-lib (schema and mandatory tests), provider-metadata.json checked
//! against the provider metadata schema's rules, index.txt / changes.csv / .sha256 consistent
//! with the documents, and the server's bytes equal to the signer's. Needs Node.js and
//! `tests/interop/node_modules` (made by scripts/test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn validator_present(test: &str) -> bool {
    let validator =
        workspace_root().join("tests/interop/node_modules/@secvisogram/csaf-validator-lib");
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok || !validator.is_dir() {
        skip(
            test,
            "no Node.js or @secvisogram/csaf-validator-lib (run scripts/test)",
        );
        return false;
    }
    true
}

/// Runs tests/interop/csaf_validate.mjs on `args`; asserts every file is valid.
fn validate(args: &[&Path], provider_metadata: bool) {
    let mut command = Command::new("node");
    command.arg(workspace_root().join("tests/interop/csaf_validate.mjs"));
    if provider_metadata {
        command.arg("--provider-metadata");
    }
    let out = command.args(args).output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the CSAF validator refused:\n{lines}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lines.matches("\"isValid\":true").count(),
        args.len(),
        "{lines}"
    );
}

/// The 1.3.0 release fixing two advisories, one with CVSS and CWE.
fn release_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
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
    ];
    args.extend_from_slice(extra);
    args
}

const VECTOR: &str = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H";

#[test]
fn csaf_advisories_pass_the_validator() {
    if !validator_present("csaf_advisories_pass_the_validator") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(5, 100)).unwrap();

    // bad CVSS and CWE input is refused, naming the fix, and nothing is signed
    let role_before = std::fs::read(dir.join("repo/metadata/acme-cam.json")).ok();
    for (extra, expected) in [
        (
            vec![
                "--cvss",
                "CVE-2026-1111:CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H",
            ],
            "base metric A is missing",
        ),
        (
            vec![
                "--cvss",
                "CVE-2026-1111:CVSS:3.1/AV:Q/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
            ],
            "is not a base metric of CVSS v3",
        ),
        (
            vec![
                "--cvss",
                "CVE-2026-1111:CVSS:2.0/AV:N/AC:L/Au:N/C:C/I:C/A:C",
            ],
            "must start with CVSS:3.1/",
        ),
        (
            vec!["--cvss", &*format!("CVE-2026-1111:9.8:{VECTOR}")],
            "is 9.8 but its base score is 7.8",
        ),
        (
            vec![
                "--cvss",
                "CVE-2026-1111:CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            ],
            "CVSS base score 9.8 is critical but the advisory says high",
        ),
        (
            vec!["--cvss", &*format!("CVE-2026-9999:{VECTOR}")],
            "not given with --advisory",
        ),
        (
            vec!["--cwe", "CVE-2026-1111:787:Out-of-bounds Write"],
            "expected CWE-NUMBER:NAME",
        ),
        (
            vec!["--cwe", "CVE-2026-1111:CWE-787"],
            "expected CWE-NUMBER:NAME",
        ),
    ] {
        let e = fails(dir, "airlock", &release_args(&extra));
        assert!(e.contains(expected), "{extra:?}: {e}");
    }
    assert_eq!(
        std::fs::read(dir.join("repo/metadata/acme-cam.json")).ok(),
        role_before,
        "a refused release add changed the product role"
    );

    let cvss_arg = format!("CVE-2026-1111:7.8:{VECTOR}");
    ok(
        dir,
        "airlock",
        &release_args(&[
            "--cvss",
            &cvss_arg,
            "--cwe",
            "CVE-2026-1111:CWE-787:Out-of-bounds Write",
        ]),
    );

    // VEX: bad statements are refused
    let not_affected = |extra: &[&str]| {
        let mut args = vec!["advisory", "not-affected", "repo", "acme-cam"];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let refused = |extra: &[&str], expected: &str| {
        let args = not_affected(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = fails(dir, "airlock", &refs);
        assert!(e.contains(expected), "{extra:?}: {e}");
    };
    refused(
        &["--cve", "CVE-2026-2222", "--justification", "not_a_reason"],
        "unknown justification \"not_a_reason\": expected component_not_present",
    );
    refused(
        &[
            "--cve",
            "CVE-26-2222",
            "--justification",
            "component_not_present",
        ],
        "vulnerability id \"CVE-26-2222\" is invalid",
    );
    refused(
        &[
            "--cve",
            "CVE-2026-2222",
            "--justification",
            "component_not_present",
            "--versions",
            "around 1.2",
        ],
        "is not a version requirement",
    );
    // 1.3.0 fixes CVE-2026-1111: it cannot be "not affected"
    refused(
        &[
            "--cve",
            "CVE-2026-1111",
            "--justification",
            "vulnerable_code_not_present",
        ],
        "1.3.0 fixes CVE-2026-1111",
    );
    refused(
        &[
            "--cve",
            "CVE-2026-2222",
            "--justification",
            "component_not_present",
        ]
        .iter()
        .chain(&["--impact", " "])
        .copied()
        .collect::<Vec<_>>(),
        "impact statement must be 1-1000 characters",
    );

    // VEX: one statement for a vulnerability only a statement names (its own csaf_vex
    // document), one narrowing the advisory's affected releases
    let recorded = ok(
        dir,
        "airlock",
        &not_affected(&[
            "--cve",
            "CVE-2026-2222",
            "--justification",
            "vulnerable_code_not_present",
            "--impact",
            "The MQTT library named by CVE-2026-2222 is not built into acme-cam firmware.",
            "--at",
            "2026-10-01T08:00:00Z",
            "--json",
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    let recorded: Value = serde_json::from_str(&recorded).unwrap();
    assert_eq!(
        recorded["not_affected"]["justification"],
        "vulnerable_code_not_present"
    );
    ok(
        dir,
        "airlock",
        &not_affected(&[
            "--cve",
            "CVE-2026-1111",
            "--justification",
            "vulnerable_code_not_in_execute_path",
            "--versions",
            "=1.2.0",
            "--at",
            "2026-10-02T08:00:00Z",
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    refused(
        &[
            "--cve",
            "CVE-2026-2222",
            "--justification",
            "component_not_present",
        ],
        "already has a signed not-affected statement for CVE-2026-2222",
    );
    // signed into the support record
    let support = ok(
        dir,
        "airlock",
        &["support", "show", "repo", "acme-cam", "--json"],
    );
    assert!(support.contains("CVE-2026-2222"), "{support}");

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
        metadata["canonical_url"],
        "https://updates.acme.example/.well-known/csaf/provider-metadata.json"
    );
    assert_eq!(
        metadata["distributions"][0]["directory_url"],
        "https://updates.acme.example/.well-known/csaf/white/"
    );
    // the newest document's date, not the time of the run: the same signed data, the same bytes
    assert_eq!(metadata["last_updated"], "2026-10-02T08:00:00Z");
    let index = std::fs::read_to_string(csaf.join("white/index.txt")).unwrap();
    assert_eq!(
        index,
        "2026/acme-cam-acme-2026-7.json\n2026/acme-cam-cve-2026-1111.json\n2026/acme-cam-cve-2026-2222.json\n"
    );

    let read_doc = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(csaf.join("white/2026").join(name)).unwrap()).unwrap()
    };
    // the advisory with CVSS, CWE and the not-affected statement
    let doc = read_doc("acme-cam-cve-2026-1111.json");
    assert_eq!(doc["document"]["category"], "csaf_security_advisory");
    let v = &doc["vulnerabilities"][0];
    assert_eq!(v["cve"], "CVE-2026-1111");
    assert_eq!(
        v["cwe"],
        json!({"id": "CWE-787", "name": "Out-of-bounds Write"})
    );
    let cvss = &v["scores"][0]["cvss_v3"];
    assert_eq!(cvss["vectorString"], VECTOR);
    assert_eq!(cvss["baseScore"], 7.8);
    assert_eq!(cvss["baseSeverity"], "HIGH");
    assert_eq!(cvss["version"], "3.1");
    // 1.2.0 is not affected (statement), 1.3.0 fixes it: nothing is left known_affected
    assert_eq!(v["product_status"]["fixed"], json!(["acme-cam-1.3.0"]));
    assert_eq!(
        v["product_status"]["known_not_affected"],
        json!(["acme-cam-1.2.0"])
    );
    assert!(v["product_status"].get("known_affected").is_none(), "{v}");
    assert_eq!(
        v["flags"],
        json!([{"label": "vulnerable_code_not_in_execute_path", "date": "2026-10-02T08:00:00Z", "product_ids": ["acme-cam-1.2.0"]}])
    );
    assert_eq!(doc["document"]["tracking"]["version"], "2");
    assert_eq!(
        doc["document"]["tracking"]["current_release_date"],
        "2026-10-02T08:00:00Z"
    );
    // the advisory without a statement: 1.2.0 affected, with the vendor fix
    let doc = read_doc("acme-cam-acme-2026-7.json");
    let v = &doc["vulnerabilities"][0];
    assert_eq!(
        v["product_status"]["known_affected"],
        json!(["acme-cam-1.2.0"])
    );
    assert!(v["remediations"][0]["details"]
        .as_str()
        .unwrap()
        .contains("Update acme-cam to 1.3.0"));
    assert!(v.get("scores").is_none() && v.get("cwe").is_none());
    // the VEX document
    let doc = read_doc("acme-cam-cve-2026-2222.json");
    assert_eq!(doc["document"]["category"], "csaf_vex");
    let v = &doc["vulnerabilities"][0];
    assert_eq!(v["cve"], "CVE-2026-2222");
    assert_eq!(
        v["product_status"],
        // (in release-time order: the story's 1.2.0 is released today, after 1.3.0's date)
        json!({"known_not_affected": ["acme-cam-1.3.0", "acme-cam-1.2.0"]})
    );
    assert_eq!(v["flags"][0]["label"], "vulnerable_code_not_present");
    assert_eq!(v["threats"][0]["category"], "impact");
    assert_eq!(
        v["threats"][0]["details"],
        "The MQTT library named by CVE-2026-2222 is not built into acme-cam firmware."
    );

    // the same from the server, rendered from the verified metadata: byte for byte
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
    let server = Server::start_with(
        dir,
        &[
            "--csaf-publisher",
            "Acme Devices Ltd",
            "--csaf-namespace",
            "https://acme.example",
            "--csaf-base-url",
            "https://updates.acme.example",
        ],
    );
    publish(dir, &server);
    let served = dir.join("served");
    let fetch = |path: &str| -> Vec<u8> {
        let resp = server.get(&format!("/.well-known/csaf/{path}"));
        assert_eq!(resp.status(), 200, "{path}");
        let bytes = resp.bytes().unwrap().to_vec();
        let file = served.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &bytes).unwrap();
        bytes
    };
    let served_metadata = fetch("provider-metadata.json");
    assert_eq!(
        served_metadata,
        std::fs::read(csaf.join("provider-metadata.json")).unwrap()
    );
    let served_index = String::from_utf8(fetch("white/index.txt")).unwrap();
    assert_eq!(served_index, index);
    let changes = String::from_utf8(fetch("white/changes.csv")).unwrap();
    assert_eq!(
        changes,
        std::fs::read_to_string(csaf.join("white/changes.csv")).unwrap()
    );
    // index.txt, changes.csv and .sha256 agree with the documents
    use sha2::Digest;
    let mut documents = Vec::new();
    let mut dates = Vec::new();
    for line in served_index.lines() {
        let bytes = fetch(&format!("white/{line}"));
        assert_eq!(
            bytes,
            std::fs::read(csaf.join("white").join(line)).unwrap(),
            "{line}: the server's document differs from the signer's"
        );
        let name = line.rsplit('/').next().unwrap();
        let sha = String::from_utf8(fetch(&format!("white/{line}.sha256"))).unwrap();
        assert_eq!(
            sha,
            format!("{}  {name}\n", hex::encode(sha2::Sha256::digest(&bytes)))
        );
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        let tracking = &doc["document"]["tracking"];
        // the year folder is the initial release's year; the name follows CSAF 5.1
        assert!(line.starts_with(
            &tracking["initial_release_date"].as_str().unwrap()[..5].replace('-', "/")
        ));
        assert_eq!(
            name,
            format!("{}.json", tracking["id"].as_str().unwrap().to_lowercase())
        );
        dates.push((
            tracking["current_release_date"]
                .as_str()
                .unwrap()
                .to_string(),
            line.to_string(),
        ));
        documents.push(served.join("white").join(line));
    }
    // changes.csv: every document once, with its current release date, newest first
    dates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let expected: String = dates
        .iter()
        .map(|(date, line)| format!("\"{line}\",\"{date}\"\n"))
        .collect();
    assert_eq!(changes, expected);
    assert_eq!(documents.len(), 3);
    let paths: Vec<&Path> = documents.iter().map(|p| p.as_path()).collect();
    validate(&paths, false);
    validate(&[&served.join("provider-metadata.json")], true);

    // unknown documents and malformed names: JSON 404s
    for path in [
        "white/2026/nothing.json",
        "white/20x6/acme-cam-acme-2026-7.json",
        "white/2026/ACME.json",
        "white/2026/acme-cam-acme-2026-7.txt",
    ] {
        let resp = server.get(&format!("/.well-known/csaf/{path}"));
        assert_eq!(resp.status(), 404, "{path}");
        let body: Value = resp.json().unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }

    // security.txt names the provider once (the server's and the signed record's are the same)
    let txt = server.get("/.well-known/security.txt").text().unwrap();
    assert_eq!(
        txt.matches("CSAF: https://updates.acme.example/.well-known/csaf/provider-metadata.json\n")
            .count(),
        1,
        "{txt}"
    );
    assert!(txt.contains("\nCSAF: "), "{txt}");

    // the routes are in the OpenAPI document
    let openapi: Value = server.get("/openapi.json").json().unwrap();
    for path in [
        "/.well-known/csaf/provider-metadata.json",
        "/.well-known/csaf/white/index.txt",
        "/.well-known/csaf/white/changes.csv",
        "/.well-known/csaf/white/{year}/{document}",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "{path} not documented"
        );
    }
}

#[test]
fn a_server_without_a_csaf_publisher_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    let resp = server.get("/.well-known/csaf/provider-metadata.json");
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["error"], "csaf_not_configured");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("--csaf-publisher"),
        "{body}"
    );
    // a base URL without TLS is refused at start
    let out = Command::new(bin("airlock-server"))
        .current_dir(dir)
        .args([
            "serve",
            "--data",
            "srv",
            "--admin-token-file",
            "admin.token",
            "--listen",
            "127.0.0.1:0",
            "--csaf-publisher",
            "Acme",
            "--csaf-namespace",
            "https://acme.example",
            "--csaf-base-url",
            "http://updates.acme.example",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must be an https:// URL"), "{stderr}");
}
