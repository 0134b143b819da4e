//! The public support statement (JSON and page, no login), verifiable against the signed
//! record; security.txt; the five-year rule and its rationale.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;

#[test]
fn public_support_statement_and_security_txt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    // a short-lived product needs a rationale; its statement is escaped on the page
    let e = fails(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "acme-tag",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2026-01-01",
            "--security-until",
            "2027-12-31",
        ],
    );
    assert!(e.contains("shorter than 5 years"), "{e}");
    ok(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "acme-tag",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2026-01-01",
            "--security-until",
            "2027-12-31",
            "--rationale",
            "battery life is three years",
            "--not-updatable",
            "--statement",
            "<script>alert(1)</script> tags are sealed",
        ],
    );
    let server = Server::start(dir);
    publish(dir, &server);

    let s: Value = server.get("/v1/products/acme-cam/support").json().unwrap();
    assert_eq!(s["status"], "supported");
    assert_eq!(s["security_updates_until"], "2030-12-31");
    assert_eq!(s["security_contact"], "mailto:security@acme.example");
    // the JSON can be checked against the signed record that TUF metadata lists
    let signed = server
        .get(s["signed_record"]["url"].as_str().unwrap())
        .bytes()
        .unwrap();
    assert_eq!(
        sha256_hex(&signed),
        s["signed_record"]["sha256"].as_str().unwrap()
    );
    let record: Value = serde_json::from_slice(&signed).unwrap();
    assert_eq!(
        record["security_updates_until"],
        s["security_updates_until"]
    );
    assert_eq!(record["statement"], s["statement"]);
    let role = server
        .get(s["signed_record"]["role_metadata"].as_str().unwrap())
        .text()
        .unwrap();
    assert!(role.contains(s["signed_record"]["sha256"].as_str().unwrap()));

    let old: Value = server.get("/v1/products/acme-old/support").json().unwrap();
    assert_eq!(old["status"], "end_of_support");
    let list: Value = server.get("/v1/products").json().unwrap();
    assert_eq!(list["products"].as_array().unwrap().len(), 3);

    let page = server.get("/products/acme-cam");
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = page.text().unwrap();
    assert!(
        page.contains("<strong>2030-12-31</strong>") && page.contains("Report a vulnerability"),
        "{page}"
    );
    let tag = server.get("/products/acme-tag").text().unwrap();
    assert!(
        tag.contains("&#60;script&#62;") && !tag.contains("<script>"),
        "escaped: {tag}"
    );
    assert!(
        tag.contains("battery life is three years") && tag.contains("cannot be updated"),
        "{tag}"
    );
    let missing = server.get("/products/nope");
    assert_eq!(missing.status(), 404);

    let txt = server.get("/.well-known/security.txt");
    assert_eq!(txt.status(), 200);
    let txt = txt.text().unwrap();
    assert!(
        txt.contains("Contact: mailto:security@acme.example\n"),
        "{txt}"
    );
    assert!(
        txt.contains("Policy: https://acme.example/disclosure\n"),
        "{txt}"
    );
    assert!(txt.lines().any(|l| l.starts_with("Expires: 20")), "{txt}");
}

#[test]
fn advisories_are_signed_served_and_named_in_the_update_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(5, 100)).unwrap();
    std::fs::write(dir.join("fw-1.4.0.bin"), firmware(6, 100)).unwrap();
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
            "--advisory",
            "ACME-2026-7:low:verbose logs",
        ],
    );
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw-1.4.0.bin",
            "--version",
            "1.4.0",
            "--security-version",
            "5",
            "--kind",
            "security",
            "--advisory",
            "CVE-2026-2222:critical:authentication bypass",
        ],
    );
    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw-1.4.0.bin",
            "--name",
            "x.bin",
            "--version",
            "1.5.0",
            "--security-version",
            "5",
            "--kind",
            "security",
            "--advisory",
            "CVE-1:urgent:x",
        ],
    );
    assert!(e.contains("SEVERITY"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw-1.4.0.bin",
            "--name",
            "y.bin",
            "--version",
            "1.6.0",
            "--security-version",
            "5",
            "--kind",
            "feature",
            "--advisory",
            "CVE-2:low:x",
        ],
    );
    assert!(e.contains("feature release"), "{e}");
    let server = Server::start(dir);
    publish(dir, &server);

    let list: Value = server
        .get("/v1/products/acme-cam/advisories")
        .json()
        .unwrap();
    let ids: Vec<&str> = list["advisories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["CVE-2026-2222", "CVE-2026-1111", "ACME-2026-7"]);
    assert_eq!(list["advisories"][0]["fixed_in"], "1.4.0");
    assert_eq!(list["advisories"][0]["severity"], "critical");

    // a device on 1.2.0 is offered 1.4.0 and told about every fix since 1.2.0
    let (_, answer) = server.post_json(
        "/v1/devices/a/check-in",
        r#"{"product": "acme-cam", "version": "1.2.0", "security_version": 3}"#,
    );
    assert_eq!(answer["target"]["version"], "1.4.0");
    let named: Vec<&str> = answer["target"]["advisories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(named.len(), 3, "{answer}");
    // on 1.3.0 only the newer fix
    let (_, answer) = server.post_json(
        "/v1/devices/b/check-in",
        r#"{"product": "acme-cam", "version": "1.3.0", "security_version": 4}"#,
    );
    assert_eq!(answer["target"]["advisories"].as_array().unwrap().len(), 1);
    // the advisories are part of the signed metadata
    let role = server.get("/tuf/metadata/acme-cam.json").text().unwrap();
    assert!(role.contains("CVE-2026-2222"));
}
