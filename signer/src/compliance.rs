//! `airlock compliance report PRODUCT`: evidence for regulators, from the signed repository
//! and, on request, a server's fleet figures ([`fleet`]) and test verdicts ([`evidence`]).
//! `airlock compliance statement` renders the UK and Australian statements of compliance
//! ([`statement`]). What the report and statements say, and their Markdown, HTML and PDF
//! forms, are the `airlock-report` crate's; this module reads the repository for it and signs
//! every form (detached Ed25519 signature by a targets key) so it can be verified later.

use anyhow::{bail, Context, Result};

pub use airlock_report::crosswalk::{Requirement, CROSSWALK, JURISDICTIONS};
pub use airlock_report::report::LedgerEntry;
pub use airlock_report::verdict;

use crate::repo::Repo;
use crate::status;

pub mod document;
pub mod evidence;
pub mod fleet;
pub mod pdf;
pub mod statement;

use fleet::FleetFigures;

/// The compliance report, with the repository's roles as `airlock status` lists them.
pub type Report = airlock_report::Report<status::RoleStatus>;

impl airlock_report::report::MechanismRole for status::RoleStatus {
    fn role(&self) -> &str {
        &self.role
    }
    fn version(&self) -> Option<u64> {
        self.version
    }
    fn threshold(&self) -> u64 {
        self.threshold
    }
    fn key_count(&self) -> usize {
        self.key_ids.len()
    }
    fn expires(&self) -> Option<jiff::Timestamp> {
        self.expires
    }
}

/// What the report is made from besides the repository.
#[derive(Debug, Clone)]
pub struct Sources {
    pub jurisdiction: String,
    pub fleet: FleetFigures,
    pub evidence: Option<Vec<evidence::Verdict>>,
    pub now: jiff::Timestamp,
}

pub fn check_jurisdiction(jurisdiction: &str) -> Result<()> {
    Ok(airlock_report::report::check_jurisdiction(jurisdiction)?)
}

/// The report of `product`: its support record, releases and roles read from `repo`.
pub fn build(repo: &Repo, product: &str, sources: Sources) -> Result<Report> {
    check_jurisdiction(&sources.jurisdiction)?;
    let s = status::status(repo)?;
    let p = s.product(product)?;
    sources.fleet.check_product(product)?;
    let targets = repo.load_targets()?.signed;
    let role = targets
        .delegations
        .as_ref()
        .and_then(|d| d.roles.iter().find(|r| r.name == product))
        .with_context(|| format!("no delegation for {product}"))?;
    // the SBOM targets, bound to their images (status lists the releases alone)
    let sboms =
        airlock_core::verify::read_product_targets(product, &repo.load_role(product)?.signed)?
            .sboms;
    Ok(Report::build(airlock_report::report::Facts {
        product,
        jurisdiction: &sources.jurisdiction,
        support: &p.support,
        releases: &p.releases,
        sboms: &sboms,
        mechanism: s.roles.clone(),
        product_role_threshold: role.threshold.get(),
        product_role_keys: role.keyids.len(),
        product_role_version: p.role_version,
        product_role_expires: p.expires,
        fleet: sources.fleet,
        evidence: sources.evidence,
        now: sources.now,
        airlock_version: env!("CARGO_PKG_VERSION"),
    })?)
}

/// Markdown form.
pub fn markdown(r: &Report) -> String {
    airlock_report::markdown(&r.document())
}

/// HTML form.
pub fn html(r: &Report) -> String {
    airlock_report::html(&r.document())
}

/// PDF form.
pub fn pdf(r: &Report) -> Result<Vec<u8>> {
    pdf::render(&r.document(), &r.pdf_footer(), r.generated_at)
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
