//! `airlock compliance report PRODUCT`: evidence for regulators, from the signed repository:
//! the support statement and its history, the update mechanism (roles, thresholds, keys,
//! anti-rollback), the release ledger with advisories, retention and rollout outcomes, fleet
//! figures from a server ([`fleet`]), automated test verdicts ([`evidence`]), and a crosswalk
//! from each update-related requirement to the airlock behaviour and the test that proves it.
//! `airlock compliance statement` renders the UK and Australian statements of compliance
//! ([`statement`]). Every form (Markdown, HTML, JSON, PDF: [`document`], [`pdf`]) is signed
//! (detached Ed25519 signature by a targets key) so it can be verified later.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use airlock_core::api::FleetRelease;
use airlock_core::release::{Release, ReleaseKind};
use airlock_core::support::SupportRecord;

use crate::repo::Repo;
use crate::status;

pub mod chart;
pub mod document;
pub mod evidence;
pub mod fleet;
pub mod pdf;
pub mod statement;
pub mod verdict;

use document::Document;
use fleet::FleetFigures;
use verdict::{Condition, JurisdictionVerdict};

/// One requirement of a regime, the behaviour that meets it, and the test that proves it.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    pub jurisdiction: &'static str,
    pub reference: &'static str,
    pub requirement: &'static str,
    pub airlock: &'static str,
    pub evidence: &'static str,
    /// What the row needs of the signed support record to count as met ([`verdict`]).
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

#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    pub version: String,
    pub kind: ReleaseKind,
    pub security_version: u64,
    pub released: jiff::Timestamp,
    pub target: String,
    pub sha256: String,
    pub advisories: Vec<String>,
    /// End of the retention period for security releases (CRA Art. 13(9)).
    pub retained_until: Option<jiff::Timestamp>,
    /// Where its rollout stands, in words (`not requested` without fleet figures).
    pub rollout_outcome: String,
    /// The server's figures for this release, when fleet figures were fetched.
    pub fleet: Option<FleetRelease>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub product: String,
    pub generated_at: jiff::Timestamp,
    /// uk, au, us, sg, eu or all: which crosswalk rows the report holds.
    pub jurisdiction: String,
    pub support: SupportRecord,
    pub mechanism: Vec<status::RoleStatus>,
    pub product_role_threshold: u64,
    pub product_role_keys: usize,
    pub ledger: Vec<LedgerEntry>,
    /// Fleet figures from a server, or that they were not requested.
    pub fleet: FleetFigures,
    /// Verdicts of the automated test runs given with `--evidence`; `None` when none were.
    pub automated_tests: Option<Vec<evidence::Verdict>>,
    pub crosswalk: Vec<Requirement>,
    /// One verdict per selected jurisdiction, from the crosswalk rows and the signed record.
    pub verdicts: Vec<JurisdictionVerdict>,
}

/// What the report is made from besides the repository.
#[derive(Debug, Clone)]
pub struct Sources {
    pub jurisdiction: String,
    pub fleet: FleetFigures,
    pub evidence: Option<Vec<evidence::Verdict>>,
    pub now: jiff::Timestamp,
}

pub const JURISDICTIONS: [&str; 6] = ["uk", "au", "us", "sg", "eu", "all"];

pub fn check_jurisdiction(jurisdiction: &str) -> Result<()> {
    if !JURISDICTIONS.contains(&jurisdiction) {
        bail!("unknown jurisdiction {jurisdiction:?} (uk, au, us, sg, eu or all)");
    }
    Ok(())
}

pub fn build(repo: &Repo, product: &str, sources: Sources) -> Result<Report> {
    let jurisdiction = sources.jurisdiction.as_str();
    check_jurisdiction(jurisdiction)?;
    let s = status::status(repo)?;
    let p = s
        .products
        .iter()
        .find(|p| p.product == product)
        .with_context(|| format!("unknown product {product:?}"))?;
    if let Some(f) = sources.fleet.figures() {
        if f.product != product {
            bail!(
                "the server answered with figures for {:?}, not {product:?}",
                f.product
            );
        }
    }
    let targets = repo.load_targets()?.signed;
    let role = targets
        .delegations
        .as_ref()
        .and_then(|d| d.roles.iter().find(|r| r.name == product))
        .with_context(|| format!("no delegation for {product}"))?;
    let ledger = p
        .releases
        .iter()
        .map(|r: &Release| {
            let version = r.info.version.to_string();
            LedgerEntry {
                rollout_outcome: fleet::outcome_text(&sources.fleet, &version),
                fleet: sources.fleet.release(&version).cloned(),
                version,
                kind: r.info.kind,
                security_version: r.info.security_version,
                released: r.info.released,
                target: r.name.clone(),
                sha256: r.sha256.clone(),
                advisories: r
                    .info
                    .advisories
                    .iter()
                    .map(|a| format!("{} ({:?})", a.id, a.severity).to_lowercase())
                    .collect(),
                retained_until: r.retained_until(airlock_core::verify::DEFAULT_RETENTION_YEARS),
            }
        })
        .collect();
    let verdicts = verdict::verdicts(
        CROSSWALK,
        jurisdiction,
        &p.support,
        airlock_core::support::utc_date(sources.now),
    );
    Ok(Report {
        verdicts,
        product: product.to_string(),
        generated_at: airlock_core::whole_seconds(sources.now),
        jurisdiction: jurisdiction.to_string(),
        support: p.support.clone(),
        mechanism: s.roles.clone(),
        product_role_threshold: role.threshold.get(),
        product_role_keys: role.keyids.len(),
        ledger,
        fleet: sources.fleet,
        automated_tests: sources.evidence,
        crosswalk: CROSSWALK
            .iter()
            .filter(|r| {
                jurisdiction == "all" || r.jurisdiction == jurisdiction || r.jurisdiction == "all"
            })
            .cloned()
            .collect(),
    })
}

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

fn support_section(d: &mut Document, s: &SupportRecord) {
    d.heading(2, "Support statement");
    d.quote(s.statement.clone());
    d.key_values(vec![
        (
            "Support period",
            format!("{} to {}", s.support_start, s.security_updates_until),
        ),
        ("Feature updates until", s.feature_updates_until.to_string()),
        (
            "Security updates until",
            s.security_updates_until.to_string(),
        ),
        ("Security floor", s.min_security_version.to_string()),
        (
            "Updatable",
            if s.updatable {
                "yes (signed over-the-air updates)".into()
            } else {
                "no".into()
            },
        ),
        ("Security contact", or_dash(s.security_contact.as_deref())),
        ("Disclosure policy", or_dash(s.disclosure_policy.as_deref())),
        ("Successor", or_dash(s.successor.as_deref())),
        ("Notice", or_dash(s.notice_url.as_deref())),
        (
            "Rationale for the period",
            or_dash(s.support_period_rationale.as_deref()),
        ),
    ]);
    if !s.history.is_empty() {
        d.heading(3, "History");
        d.list(
            s.history
                .iter()
                .map(|c| format!("{} {}: {}", c.at, c.action, c.reason))
                .collect(),
        );
    }
}

fn mechanism_section(d: &mut Document, r: &Report) {
    d.heading(2, "Update mechanism");
    d.paragraph("TUF (The Update Framework): offline root and targets keys with thresholds, one delegated role per product, online snapshot/timestamp renewed by the server; anti-rollback by TUF versions and the `security_version` counter with a floor; every image verified by length and sha256 on the device.");
    let mut rows: Vec<Vec<String>> = r
        .mechanism
        .iter()
        .map(|m| {
            vec![
                m.role.clone(),
                m.version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "online".into()),
                m.threshold.to_string(),
                m.key_ids.len().to_string(),
                m.expires
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "renewed by the server".into()),
            ]
        })
        .collect();
    rows.push(vec![
        format!("{} (product role)", r.product),
        String::new(),
        r.product_role_threshold.to_string(),
        r.product_role_keys.to_string(),
        String::new(),
    ]);
    d.table(&["role", "version", "threshold", "keys", "expires"], rows);
}

fn ledger_section(d: &mut Document, r: &Report) {
    d.heading(2, "Release ledger");
    d.table(
        &[
            "version",
            "kind",
            "security version",
            "released",
            "advisories",
            "retained until",
            "rollout outcome",
        ],
        r.ledger
            .iter()
            .map(|l| {
                vec![
                    l.version.clone(),
                    l.kind.to_string(),
                    l.security_version.to_string(),
                    l.released.to_string(),
                    l.advisories.join(", "),
                    l.retained_until.map(|t| t.to_string()).unwrap_or_default(),
                    l.rollout_outcome.clone(),
                ]
            })
            .collect(),
    );
}

fn fleet_section(d: &mut Document, fleet: &FleetFigures) {
    d.heading(2, "Fleet");
    let (server, f) = match fleet {
        FleetFigures::NotRequested => {
            d.paragraph("Fleet figures were not requested: this report was made from the signed repository alone, so it states no device counts, install times or rollout outcomes (none are estimated). Run `airlock compliance report` with `--server URL --admin-token-file FILE` (a token with the read scope) to include them.");
            return;
        }
        FleetFigures::FromServer { server, figures } => (server, figures),
    };
    d.paragraph(format!(
        "From the airlock server at {server}, computed {} (server clock). Each device counts once, by its last check-in; a device is on a supported security version when the security version it reported is at or above the signed floor. Time to install runs from a release's signed release time to each device's first `installed` report.",
        f.generated_at
    ));
    let newest_installed = f
        .releases
        .iter()
        .rev()
        .find_map(|r| r.median_seconds_to_install.map(|m| (r, m)));
    d.key_values(vec![
        ("Devices known", f.devices.to_string()),
        (
            "Security floor (signed)",
            f.min_security_version.to_string(),
        ),
        (
            "On a supported security version",
            if f.devices == 0 {
                "no device has checked in".into()
            } else {
                fleet::share(f.devices_supported, f.devices)
            },
        ),
        (
            "Median time from release to install",
            match newest_installed {
                Some((r, m)) => format!(
                    "{} (newest release installed by a device: {}, {} devices)",
                    fleet::human_duration(m),
                    r.version,
                    r.devices_installed
                ),
                None => "no device has reported an install".into(),
            },
        ),
    ]);
    d.heading(3, "Fleet versions");
    if f.versions.is_empty() {
        d.paragraph("No device has checked in.");
    } else {
        d.table(
            &[
                "version",
                "security version",
                "devices",
                "share",
                "supported",
            ],
            f.versions
                .iter()
                .map(|v| {
                    vec![
                        v.version.clone(),
                        v.security_version.to_string(),
                        v.devices.to_string(),
                        format!("{:.1}%", v.devices as f64 * 100.0 / f.devices.max(1) as f64),
                        if v.supported {
                            "yes".into()
                        } else {
                            "no (below the floor)".into()
                        },
                    ]
                })
                .collect(),
        );
    }
    if f.history.len() >= 2 {
        d.heading(3, "Fleet versions over time");
        d.paragraph(format!(
            "Devices by installed version at {} evenly spaced instants from the first `installed` report to the time above: each device counts once, on the version of its latest `installed` report at or before the instant. Devices that never reported an install are not counted here.",
            f.history.len()
        ));
        d.chart(fleet::history_chart(&f.history));
    }
    d.heading(3, "Releases taken up");
    d.table(
        &[
            "version",
            "kind",
            "devices installed",
            "devices failed",
            "median time to install",
        ],
        f.releases
            .iter()
            .map(|r| {
                vec![
                    r.version.clone(),
                    r.kind.to_string(),
                    r.devices_installed.to_string(),
                    r.devices_failed.to_string(),
                    r.median_seconds_to_install
                        .map(fleet::human_duration)
                        .unwrap_or_default(),
                ]
            })
            .collect(),
    );
}

fn tests_section(d: &mut Document, verdicts: Option<&[evidence::Verdict]>) {
    d.heading(2, "Automated tests");
    let Some(verdicts) = verdicts else {
        d.paragraph("Automated test verdicts were not supplied, so none are claimed here; the crosswalk below names the tests that prove each behaviour. To include them: `airlock-sim attack --all --json > DIR/attacks.json`, `scripts/conformance | tee DIR/conformance.txt`, then `--evidence DIR`.");
        return;
    };
    d.paragraph("Results of test runs given with --evidence: attack drills (a simulated device behind a tampering proxy; every attack must be refused or end as expected) and the TUF conformance suite run against airlock's TUF client.");
    d.table(
        &[
            "suite", "file", "recorded", "passed", "failed", "other", "verdict",
        ],
        verdicts
            .iter()
            .map(|v| {
                let (suite, passed, failed, other) = match &v.suite {
                    evidence::Suite::AttackDrills {
                        mode,
                        passed,
                        failed,
                        not_run,
                        ..
                    } => (
                        format!("attack drills ({mode})"),
                        *passed,
                        *failed,
                        format!("{not_run} not run"),
                    ),
                    evidence::Suite::TufConformance(c) => (
                        "TUF conformance".to_string(),
                        c.passed,
                        c.failed,
                        format!("{} xfailed, {} skipped", c.xfailed, c.skipped),
                    ),
                };
                vec![
                    suite,
                    v.file.clone(),
                    v.recorded.map(|t| t.to_string()).unwrap_or_default(),
                    passed.to_string(),
                    failed.to_string(),
                    other,
                    v.verdict.to_uppercase(),
                ]
            })
            .collect(),
    );
    for v in verdicts {
        if let evidence::Suite::AttackDrills { drills, .. } = &v.suite {
            d.heading(3, format!("Attack drills: {}", v.file));
            d.table(
                &["drill", "simulates", "expected", "observed", "result"],
                drills
                    .iter()
                    .map(|x| {
                        vec![
                            x.attack.clone(),
                            x.simulates.clone(),
                            x.expected.clone(),
                            x.observed.clone(),
                            if !x.ran {
                                "not run".into()
                            } else if x.passed {
                                "pass".into()
                            } else {
                                "FAIL".into()
                            },
                        ]
                    })
                    .collect(),
            );
        }
    }
}

/// The report as a document (rendered as Markdown, HTML or PDF).
pub fn document(r: &Report) -> Document {
    let mut d = Document::new(format!(
        "Update and support compliance report: {}",
        r.product
    ));
    d.paragraph(format!(
        "Generated {} from the signed airlock repository{}; requirements shown: {}. The detached signature (FILE.sig) is an Ed25519 signature over these exact bytes by a targets key listed in the repository's root.json.",
        r.generated_at,
        match &r.fleet {
            FleetFigures::FromServer { server, .. } => format!(" and the fleet figures of {server}"),
            FleetFigures::NotRequested => String::new(),
        },
        if r.jurisdiction == "all" {
            "every jurisdiction".to_string()
        } else {
            r.jurisdiction.clone()
        }
    ));
    support_section(&mut d, &r.support);
    mechanism_section(&mut d, r);
    ledger_section(&mut d, r);
    fleet_section(&mut d, &r.fleet);
    tests_section(&mut d, r.automated_tests.as_deref());
    d.heading(2, "Crosswalk");
    d.paragraph("Each update-related requirement, the airlock behaviour that meets it, and the tests that fail if that behaviour breaks.");
    d.table(
        &[
            "jurisdiction",
            "reference",
            "requirement",
            "airlock",
            "evidence (tests)",
        ],
        r.crosswalk
            .iter()
            .map(|c| {
                vec![
                    c.jurisdiction.to_string(),
                    c.reference.to_string(),
                    c.requirement.to_string(),
                    c.airlock.to_string(),
                    c.evidence.to_string(),
                ]
            })
            .collect(),
    );
    d.heading(2, "Verdict per jurisdiction");
    d.paragraph("A jurisdiction is met when every crosswalk row for it, and every row for all jurisdictions, is backed by the signed support record as of the report's date; otherwise each gap is named.");
    d.table(
        &["jurisdiction", "verdict"],
        r.verdicts
            .iter()
            .map(|v| vec![v.jurisdiction.clone(), v.verdict.clone()])
            .collect(),
    );
    d
}

/// Markdown form.
pub fn markdown(r: &Report) -> String {
    document::markdown(&document(r))
}

/// HTML form.
pub fn html(r: &Report) -> String {
    document::html(&document(r))
}

/// PDF form.
pub fn pdf(r: &Report) -> Result<Vec<u8>> {
    pdf::render(
        &document(r),
        &format!(
            "{}: update and support compliance report, {}",
            r.product, r.generated_at
        ),
        r.generated_at,
    )
}

/// The output formats of `compliance report` and `compliance statement`.
pub const FORMATS: &str = "md, html, json or pdf";

/// A detached Ed25519 signature over `bytes` by the first targets key, as JSON
/// (`{"keyid", "sig"}`, hex), verifiable with the key listed in root.json.
pub fn sign(repo: &Repo, bytes: &[u8]) -> Result<String> {
    let keys = repo.role_keys("targets")?;
    let key = keys.first().context("no targets key")?;
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "keyid": key.key_id()?,
        "sig": hex::encode(key.sign(bytes)?),
        "scheme": "ed25519",
    }))? + "\n")
}

/// Checks a detached signature made by [`sign`]: `signature_json` must name a key that
/// `root_json` (a root.json, signed or not) lists for the targets role, and hold a valid
/// Ed25519 signature by it over `bytes`. Returns the key id.
pub fn verify(root_json: &[u8], bytes: &[u8], signature_json: &[u8]) -> Result<String> {
    let sig: serde_json::Value =
        serde_json::from_slice(signature_json).context("the signature file is not JSON")?;
    let root: serde_json::Value =
        serde_json::from_slice(root_json).context("the root file is not JSON")?;
    let root = root.get("signed").unwrap_or(&root);
    let keyid = sig["keyid"]
        .as_str()
        .context("the signature file has no keyid")?;
    let listed = root["roles"]["targets"]["keyids"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|k| k == keyid));
    if !listed {
        bail!("key {keyid} is not a targets key of this root");
    }
    let key = &root["keys"][keyid];
    if key["keytype"] != "ed25519" {
        bail!("key {keyid} is not an ed25519 key");
    }
    let public = hex::decode(key["keyval"]["public"].as_str().unwrap_or(""))
        .with_context(|| format!("the public key of {keyid} is not hex"))?;
    let signature =
        hex::decode(sig["sig"].as_str().unwrap_or("")).context("the signature is not hex")?;
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &public)
        .verify(bytes, &signature)
        .map_err(|_| anyhow::anyhow!("the signature by {keyid} does not match the file"))?;
    Ok(keyid.to_string())
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
