//! The support statement stays true: `support extend` rewrites the generated statement with
//! the new dates and refuses to keep a vendor's statement that names the old end;
//! `product set` changes the statement, security contact and disclosure policy after
//! `product add`, signed like every change; `compliance statement` names that command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

fn record(dir: &Path, product: &str) -> Value {
    serde_json::from_str(&ok(
        dir,
        "airlock",
        &["support", "show", "repo", product, "--json"],
    ))
    .unwrap()
}

fn extend<'a>(product: &'a str, until: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "support",
        "extend",
        "repo",
        product,
        "--security-until",
        until,
        "--reason",
        "customer demand",
    ];
    args.extend(extra);
    args
}

#[test]
fn the_statement_follows_extensions_and_product_set_changes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);

    // the generated statement follows the new end of support
    ok(dir, "airlock", &extend("acme-cam", "2031-06-30", &[]));
    let r = record(dir, "acme-cam");
    assert_eq!(
        r["statement"],
        "acme-cam receives security updates until 2031-06-30 and feature updates until 2027-06-30."
    );

    // a vendor's own statement that names the old end is refused, a new one accepted
    ok(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "acme-pro",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2027-06-30",
            "--security-until",
            "2030-12-31",
            "--statement",
            "Acme Pro gets security fixes until 2030-12-31.",
        ],
    );
    let e = fails(dir, "airlock", &extend("acme-pro", "2031-06-30", &[]));
    assert!(
        e.contains("names 2030-12-31") && e.contains("--statement"),
        "{e}"
    );
    assert_eq!(
        record(dir, "acme-pro")["security_updates_until"],
        "2030-12-31"
    );
    ok(
        dir,
        "airlock",
        &extend(
            "acme-pro",
            "2031-06-30",
            &[
                "--statement",
                "Acme Pro gets security fixes until 2031-06-30.",
            ],
        ),
    );
    assert_eq!(
        record(dir, "acme-pro")["statement"],
        "Acme Pro gets security fixes until 2031-06-30."
    );
    // a statement that contradicts the dates from the start is refused too
    let e = fails(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "acme-max",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2027-06-30",
            "--security-until",
            "2030-12-31",
            "--statement",
            "Updates until 2029-12-31.",
        ],
    );
    assert!(e.contains("names 2029-12-31"), "{e}");

    // product set: statement, contact and policy, signed and recorded
    let e = fails(dir, "airlock", &["product", "set", "repo", "acme-cam"]);
    assert!(e.contains("nothing to set"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "product",
            "set",
            "repo",
            "acme-cam",
            "--statement",
            "Supported until 2030-12-31.",
        ],
    );
    assert!(e.contains("names 2030-12-31"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "product",
            "set",
            "repo",
            "acme-cam",
            "--security-contact",
            "psirt at acme",
        ],
    );
    assert!(e.contains("security_contact"), "{e}");
    let out = ok(
        dir,
        "airlock",
        &[
            "product",
            "set",
            "repo",
            "acme-cam",
            "--statement",
            "The Acme Cam gets security updates until 2031-06-30.",
            "--security-contact",
            "https://acme.example/psirt",
            "--disclosure-policy",
            "https://acme.example/cvd",
        ],
    );
    assert!(out.contains("publish"), "{out}");
    let r = record(dir, "acme-cam");
    assert_eq!(r["security_contact"], "https://acme.example/psirt");
    assert_eq!(r["disclosure_policy"], "https://acme.example/cvd");
    let last = r["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "set");
    assert_eq!(
        last["reason"],
        "statement, security contact, disclosure policy changed"
    );
    assert!(ok(dir, "airlock", &["verify", "repo"]).contains("OK"));

    // what the server publishes: one end of support, the new contact
    let server = Server::start(dir);
    publish(dir, &server);
    let json: Value = server.get("/v1/products/acme-cam/support").json().unwrap();
    let text = json.to_string();
    assert!(!text.contains("2030-12-31"), "{text}");
    assert!(text.contains("https://acme.example/psirt"), "{text}");
    let page = server.get("/products/acme-cam").text().unwrap();
    assert!(
        page.contains("The Acme Cam gets security updates until 2031-06-30.")
            && !page.contains("2030-12-31"),
        "{page}"
    );

    // compliance statement names the real command for a missing contact
    let md = ok(
        dir,
        "airlock",
        &[
            "compliance",
            "statement",
            "acme-old",
            "--repo",
            "repo",
            "--regime",
            "uk",
            "--manufacturer",
            "Acme Ltd",
            "--address",
            "1 Road, Town",
            "--signatory",
            "A. Person",
            "--signatory-function",
            "Head of Product Security",
            "--place",
            "Town",
        ],
    );
    assert!(
        md.contains("airlock product set REPO PRODUCT --security-contact URI"),
        "{md}"
    );
}
