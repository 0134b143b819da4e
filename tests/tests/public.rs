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
        tag.contains("&lt;script&gt;") && !tag.contains("<script>"),
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
