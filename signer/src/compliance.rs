//! `airlock compliance report PRODUCT`: evidence for regulators, from the signed repository:
//! the support statement and its history, the update mechanism (roles, thresholds, keys,
//! anti-rollback), the release ledger with advisories and retention, and a crosswalk from each
//! update-related requirement to the airlock behaviour and the test that proves it. The report
//! is signed (detached Ed25519 signature by a targets key) so it can be verified later.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use airlock_core::release::{Release, ReleaseKind};
use airlock_core::support::SupportRecord;

use crate::repo::Repo;
use crate::status;

/// One requirement of a regime, the behaviour that meets it, and the test that proves it.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    pub jurisdiction: &'static str,
    pub reference: &'static str,
    pub requirement: &'static str,
    pub airlock: &'static str,
    pub evidence: &'static str,
}

/// The crosswalk (kept next to the code it cites; each evidence names a test in this repo).
pub const CROSSWALK: &[Requirement] = &[
    Requirement { jurisdiction: "eu", reference: "CRA Art. 13(8)", requirement: "support period of at least 5 years or the expected time of use, with a rationale", airlock: "the signer and server refuse a shorter security window without a rationale stored in the signed record", evidence: "core support::tests::five_years_or_a_rationale; tests/public.rs" },
    Requirement { jurisdiction: "eu", reference: "CRA Art. 13(9)", requirement: "each security update stays available for 10 years", airlock: "withdrawing a security release inside its retention period is refused unless forced with a reason, recorded and audited", evidence: "core verify::tests::security_releases_are_retained_unless_a_forced_withdrawal_is_recorded; tests/support.rs" },
    Requirement { jurisdiction: "eu", reference: "CRA Art. 13(19), Annex II", requirement: "the end date of support shown to users", airlock: "public support page and JSON, end-of-support answer with the signed statement", evidence: "tests/public.rs; tests/story.rs" },
    Requirement { jurisdiction: "eu", reference: "CRA Annex I", requirement: "automatic security updates by default with an opt-out; security separate from feature updates", airlock: "device policy: automatic by default, bounded postponement, opt-out, feature updates declinable without losing security updates", evidence: "core decision::policy_tests; tests/policy.rs" },
    Requirement { jurisdiction: "uk", reference: "PSTI Sch. 1 para 3", requirement: "minimum security update period published, clear, accessible without a login", airlock: "GET /products/{id} and /v1/products/{id}/support without login, generated from the signed record", evidence: "tests/public.rs" },
    Requirement { jurisdiction: "uk", reference: "PSTI Sch. 1 para 2", requirement: "a point of contact for reporting security issues", airlock: "security contact and disclosure policy in the signed record; /.well-known/security.txt (RFC 9116)", evidence: "tests/public.rs" },
    Requirement { jurisdiction: "au", reference: "Smart Devices Rules 2025", requirement: "defined support period disclosed and maintained; extensions recorded", airlock: "support never shortened, extensions with date and reason in an append-only signed history", evidence: "core support::tests::support_end_never_earlier, history_is_append_only; tests/support.rs" },
    Requirement { jurisdiction: "us", reference: "Cyber Trust Mark (NIST IR 8425)", requirement: "a secure software update capability; support period disclosed", airlock: "TUF-verified updates (root/targets thresholds, per-product roles), the public support statement", evidence: "tests/story.rs; tests/rotation.rs; docs/conformance.md (113/113)" },
    Requirement { jurisdiction: "sg", reference: "CLS level 1 (ETSI EN 303 645 5.3)", requirement: "software kept updated, updates verified before install", airlock: "devices verify every image (length, sha256) and every offer against signed metadata; attack drills all refused", evidence: "tests/attack.rs; docs/attacks.md" },
    Requirement { jurisdiction: "all", reference: "ETSI EN 303 645 5.3-7, RFC 9124", requirement: "updates integrity-protected; anti-rollback", airlock: "security_version counter and floor checked by server and device; TUF rollback protection", evidence: "core decision::tests (proptest server_offer_and_device_check_agree); tests/attack.rs (rollback drills)" },
    Requirement { jurisdiction: "all", reference: "ETSI EN 303 645 5.3-13", requirement: "the support period published", airlock: "public support statement", evidence: "tests/public.rs" },
    Requirement { jurisdiction: "all", reference: "ETSI EN 303 645 5.3-15/16", requirement: "products that cannot be updated are declared", airlock: "`updatable: false` in the signed record and on the public page", evidence: "tests/public.rs" },
    Requirement { jurisdiction: "all", reference: "RFC 9124 (SUIT)", requirement: "end-of-life notice; last firmware must not expire on the device", airlock: "end_of_support answers from the signed record; the server renews snapshot/timestamp for products past support", evidence: "tests/story.rs; server tests/renewal.rs" },
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub product: String,
    pub generated_at: jiff::Timestamp,
    pub support: SupportRecord,
    pub mechanism: Vec<status::RoleStatus>,
    pub product_role_threshold: u64,
    pub product_role_keys: usize,
    pub ledger: Vec<LedgerEntry>,
    pub crosswalk: Vec<Requirement>,
}

pub fn build(repo: &Repo, product: &str, jurisdiction: &str) -> Result<Report> {
    let known = ["uk", "au", "us", "sg", "eu", "all"];
    if !known.contains(&jurisdiction) {
        bail!("unknown jurisdiction {jurisdiction:?} (uk, au, us, sg, eu or all)");
    }
    let s = status::status(repo)?;
    let p = s
        .products
        .iter()
        .find(|p| p.product == product)
        .with_context(|| format!("unknown product {product:?}"))?;
    let targets = repo.load_targets()?.signed;
    let role = targets
        .delegations
        .as_ref()
        .and_then(|d| d.roles.iter().find(|r| r.name == product))
        .with_context(|| format!("no delegation for {product}"))?;
    let ledger = p
        .releases
        .iter()
        .map(|r: &Release| LedgerEntry {
            version: r.info.version.to_string(),
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
        })
        .collect();
    Ok(Report {
        product: product.to_string(),
        generated_at: airlock_core::whole_seconds(jiff::Timestamp::now()),
        support: p.support.clone(),
        mechanism: s.roles.clone(),
        product_role_threshold: role.threshold.get(),
        product_role_keys: role.keyids.len(),
        ledger,
        crosswalk: CROSSWALK
            .iter()
            .filter(|r| {
                jurisdiction == "all" || r.jurisdiction == jurisdiction || r.jurisdiction == "all"
            })
            .cloned()
            .collect(),
    })
}

/// Markdown form.
pub fn markdown(r: &Report) -> String {
    let s = &r.support;
    let mut out = format!(
        "# Update and support compliance report: {}\n\nGenerated {} from the signed airlock repository.\n\n## Support statement\n\n> {}\n\n| | |\n|---|---|\n| Support period | {} to {} |\n| Feature updates until | {} |\n| Security updates until | **{}** |\n| Security floor | {} |\n| Updatable | {} |\n| Security contact | {} |\n| Disclosure policy | {} |\n| Rationale for the period | {} |\n",
        r.product, r.generated_at, s.statement, s.support_start, s.security_updates_until,
        s.feature_updates_until, s.security_updates_until, s.min_security_version,
        if s.updatable { "yes (signed over-the-air updates)" } else { "no" },
        s.security_contact.as_deref().unwrap_or("-"),
        s.disclosure_policy.as_deref().unwrap_or("-"),
        s.support_period_rationale.as_deref().unwrap_or("-"),
    );
    if !s.history.is_empty() {
        out += "\n### History\n\n";
        for c in &s.history {
            out += &format!("- {} {}: {}\n", c.at, c.action, c.reason);
        }
    }
    out += "\n## Update mechanism\n\nTUF (The Update Framework): offline root and targets keys with thresholds, one delegated role per product, online snapshot/timestamp renewed by the server; anti-rollback by TUF versions and the `security_version` counter with a floor; every image verified by length and sha256 on the device.\n\n| role | version | threshold | keys | expires |\n|---|---|---|---|---|\n";
    for m in &r.mechanism {
        out += &format!(
            "| {} | {} | {} | {} | {} |\n",
            m.role,
            m.version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "online".into()),
            m.threshold,
            m.key_ids.len(),
            m.expires
                .map(|e| e.to_string())
                .unwrap_or_else(|| "renewed by the server".into())
        );
    }
    out += &format!(
        "| {} (product role) | | {} | {} | |\n",
        r.product, r.product_role_threshold, r.product_role_keys
    );
    out += "\n## Release ledger\n\n| version | kind | security version | released | advisories | retained until |\n|---|---|---|---|---|---|\n";
    for l in &r.ledger {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            l.version,
            l.kind,
            l.security_version,
            l.released,
            if l.advisories.is_empty() {
                "-".to_string()
            } else {
                l.advisories.join(", ")
            },
            l.retained_until
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into())
        );
    }
    out += "\n## Crosswalk\n\n| jurisdiction | reference | requirement | airlock | evidence (tests) |\n|---|---|---|---|---|\n";
    for c in &r.crosswalk {
        out += &format!(
            "| {} | {} | {} | {} | {} |\n",
            c.jurisdiction, c.reference, c.requirement, c.airlock, c.evidence
        );
    }
    out
}

/// HTML form (the Markdown tables as a page).
pub fn html(r: &Report) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}: compliance report</title></head><body><pre>{}</pre></body></html>\n",
        esc(&r.product),
        esc(&markdown(r))
    )
}

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
