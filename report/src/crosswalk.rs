//! The crosswalk: each update-related requirement of a regime, the airlock behaviour that
//! meets it, and the test that proves it (kept next to the code it cites; each evidence names
//! a test in this repository, checked by the test below).

use serde::Serialize;

use crate::verdict::Condition;

/// The jurisdictions a report can select: one, or `all`.
pub const JURISDICTIONS: [&str; 6] = ["uk", "au", "us", "sg", "eu", "all"];

/// One requirement of a regime, the behaviour that meets it, and the test that proves it.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    pub jurisdiction: &'static str,
    pub reference: &'static str,
    pub requirement: &'static str,
    pub airlock: &'static str,
    pub evidence: &'static str,
    /// What the row needs of the signed support record to count as met ([`crate::verdict`]).
    #[serde(skip)]
    pub condition: Condition,
}

/// The crosswalk (kept next to the code it cites; each evidence names a test in this repo).
pub const CROSSWALK: &[Requirement] = &[
    Requirement { jurisdiction: "eu", reference: "CRA Art. 13(8)", requirement: "support period of at least 5 years or the expected time of use, with a rationale", airlock: "the signer and server refuse a shorter security window without a rationale stored in the signed record", evidence: "core support::tests::five_years_or_a_rationale; tests/public.rs", condition: Condition::PeriodOrRationale },
    Requirement { jurisdiction: "eu", reference: "CRA Art. 13(9)", requirement: "each security update stays available for 10 years", airlock: "withdrawing a security release inside its retention period is refused unless forced with a reason, recorded and audited", evidence: "core verify::tests::security_releases_are_retained_unless_a_forced_withdrawal_is_recorded; tests/support.rs", condition: Condition::NoForcedWithdrawal },
    Requirement { jurisdiction: "eu", reference: "CRA Art. 13(19), Annex II", requirement: "the end date of support shown to users", airlock: "public support page and JSON, end-of-support answer with the signed statement", evidence: "tests/public.rs; tests/story.rs; client-sim/tests/lifecycle.rs (one_product_from_launch_to_sunset)", condition: Condition::SignedRecord },
    Requirement { jurisdiction: "eu", reference: "CRA Annex I", requirement: "automatic security updates by default with an opt-out; security separate from feature updates", airlock: "device policy: automatic by default, bounded postponement, opt-out, feature updates declinable without losing security updates", evidence: "core decision::policy_tests; tests/policy.rs", condition: Condition::Updatable },
    Requirement { jurisdiction: "uk", reference: "PSTI Sch. 1 para 3", requirement: "minimum security update period published, clear, accessible without a login", airlock: "GET /products/{id} and /v1/products/{id}/support without login, generated from the signed record", evidence: "tests/public.rs; client-sim/tests/lifecycle.rs (one_product_from_launch_to_sunset)", condition: Condition::SignedRecord },
    Requirement { jurisdiction: "uk", reference: "PSTI Sch. 1 para 2", requirement: "a point of contact for reporting security issues", airlock: "security contact and disclosure policy in the signed record; /.well-known/security.txt (RFC 9116)", evidence: "tests/public.rs", condition: Condition::SecurityContact },
    Requirement { jurisdiction: "uk", reference: "PSTI Regulations 2023 Sch. 4", requirement: "a statement of compliance (product, manufacturer, support period, declarations, signatory, place and date) accompanies the product", airlock: "`airlock compliance statement --regime uk` renders it from the signed record, signed like the report", evidence: "tests/compliance.rs (pdf_report_statements_of_compliance_and_test_evidence)", condition: Condition::StatementBacked },
    Requirement { jurisdiction: "au", reference: "Smart Devices Rules 2025", requirement: "defined support period disclosed and maintained; extensions recorded", airlock: "support never shortened, extensions with date and reason in an append-only signed history", evidence: "core support::tests::support_end_never_earlier, history_is_append_only; tests/support.rs; client-sim/tests/lifecycle.rs (one_product_from_launch_to_sunset)", condition: Condition::SignedRecord },
    Requirement { jurisdiction: "au", reference: "Cyber Security Act 2024 Pt 2, Smart Devices Rules 2025", requirement: "a statement of compliance for the product, kept for 5 years", airlock: "`airlock compliance statement --regime au` renders it from the signed record with a detached signature that can be verified for as long as it is kept", evidence: "tests/compliance.rs (pdf_report_statements_of_compliance_and_test_evidence)", condition: Condition::StatementBacked },
    Requirement { jurisdiction: "us", reference: "Cyber Trust Mark (NIST IR 8425)", requirement: "a secure software update capability; support period disclosed", airlock: "TUF-verified updates (root/targets thresholds, per-product roles), the public support statement", evidence: "tests/story.rs; tests/rotation.rs; docs/conformance.md (113/113)", condition: Condition::Updatable },
    Requirement { jurisdiction: "sg", reference: "CLS level 1 (ETSI EN 303 645 5.3)", requirement: "software kept updated, updates verified before install", airlock: "devices verify every image (length, sha256) and every offer against signed metadata; attack drills all refused", evidence: "tests/attack.rs; docs/attacks.md", condition: Condition::Updatable },
    Requirement { jurisdiction: "all", reference: "ETSI EN 303 645 5.3-7, RFC 9124", requirement: "updates integrity-protected; anti-rollback", airlock: "security_version counter and floor checked by server and device; TUF rollback protection", evidence: "core decision::tests (proptest server_offer_and_device_check_agree); tests/attack.rs (rollback drills)", condition: Condition::Updatable },
    Requirement { jurisdiction: "all", reference: "ETSI EN 303 645 5.3-13", requirement: "the support period published", airlock: "public support statement", evidence: "tests/public.rs; client-sim/tests/lifecycle.rs (one_product_from_launch_to_sunset)", condition: Condition::SignedRecord },
    Requirement { jurisdiction: "all", reference: "ETSI EN 303 645 5.3-15/16", requirement: "products that cannot be updated are declared", airlock: "`updatable: false` in the signed record and on the public page", evidence: "tests/public.rs", condition: Condition::SignedRecord },
    Requirement { jurisdiction: "all", reference: "RFC 9124 (SUIT)", requirement: "end-of-life notice; last firmware must not expire on the device", airlock: "end_of_support answers from the signed record; the server renews snapshot/timestamp for products past support", evidence: "tests/story.rs; server/tests/renewal.rs; client-sim/tests/lifecycle.rs (one_product_from_launch_to_sunset)", condition: Condition::SignedRecord },
];

/// The rows a report for `jurisdiction` holds: its own and those for all jurisdictions.
pub fn rows(jurisdiction: &str) -> Vec<Requirement> {
    CROSSWALK
        .iter()
        .filter(|r| {
            jurisdiction == "all" || r.jurisdiction == jurisdiction || r.jurisdiction == "all"
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every crosswalk row cites files that exist, and every test named in it (a snake_case
    /// name with two or more underscores) is a `fn` or `mod` in the cited file: a renamed or
    /// deleted test fails here instead of leaving the report pointing at nothing.
    /// Where the crosswalk's cited test files may live: the end-to-end crate, the server's
    /// integration tests and the simulator's.
    const TEST_DIRS: [&str; 3] = ["tests/tests/", "server/tests/", "client-sim/tests/"];

    #[test]
    fn every_crosswalk_row_cites_tests_that_exist() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        for row in CROSSWALK {
            assert!(!row.evidence.trim().is_empty(), "{}", row.reference);
            for part in row.evidence.split(';').map(str::trim) {
                let words: Vec<&str> = part
                    .split(|c: char| !(c.is_ascii_alphanumeric() || "_/.:-".contains(c)))
                    .filter(|w| !w.is_empty())
                    .collect();
                let file = if let Some(module) = part.strip_prefix("core ") {
                    let module = module.split("::").next().unwrap();
                    format!("core/src/{module}.rs")
                } else if let Some(path) = words.iter().find(|w| w.ends_with(".rs")) {
                    // `tests/x.rs` is the end-to-end crate (tests/tests/); other crates' test
                    // files are cited by their path from the workspace root.
                    let file = match path.strip_prefix("tests/") {
                        Some(name) => format!("tests/tests/{name}"),
                        None => path.to_string(),
                    };
                    assert!(
                        TEST_DIRS.iter().any(|dir| file.starts_with(dir)),
                        "{}: {path} is not in {TEST_DIRS:?}",
                        row.reference
                    );
                    file
                } else if let Some(doc) = words.iter().find(|w| w.ends_with(".md")) {
                    doc.to_string()
                } else {
                    panic!("{}: cannot tell which file {part:?} cites", row.reference);
                };
                let source = std::fs::read_to_string(root.join(&file))
                    .unwrap_or_else(|e| panic!("{}: {file}: {e}", row.reference));
                for word in &words {
                    let name = word.rsplit("::").next().unwrap();
                    if name.matches('_').count() >= 2 && !name.contains('.') {
                        assert!(
                            source.contains(&format!("fn {name}("))
                                || source.contains(&format!("mod {name}")),
                            "{}: {name} is not in {file}",
                            row.reference
                        );
                    }
                }
            }
        }
    }
}
