//! `airlock verify`: checks a repository the way a device would and lists every problem.
//!
//! - a published repository (a URL of airlock-server, or a directory written by
//!   `publish --out`, or any TUF repository, e.g. one made by tuftool): loaded with tough's
//!   client from a trusted root, then each product's delegation, releases and support record,
//!   and every target (those of the top-level targets role too) downloaded and hashed;
//! - the signer's own repository: the checks the server makes on publish, and every target file
//!   against its signed length and sha256.

use anyhow::{Context, Result};
use serde::Serialize;

use airlock_core::names;
use airlock_core::support::SupportRecord;
use airlock_core::verify::{
    check_product_rules, read_product_targets, verify_submission, Published, Submission,
};

use crate::publish::build_request;
use crate::repo::Repo;
use crate::transport::HttpTransport;

#[derive(Debug, Clone, Serialize)]
pub struct ProductCheck {
    pub product: String,
    pub releases: usize,
    pub security_updates_until: Option<jiff::civil::Date>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub source: String,
    pub root_version: Option<u64>,
    pub timestamp_version: Option<u64>,
    pub products: Vec<ProductCheck>,
    pub targets_checked: usize,
    /// Every problem found; empty means the repository verifies.
    pub problems: Vec<String>,
}

use airlock_core::error_chain as chain;

/// Verifies a published repository at `base` (whose `metadata/` and `targets/` are below it).
pub async fn verify_url(base: &url::Url, trusted_root: &[u8]) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        source: base.to_string(),
        root_version: None,
        timestamp_version: None,
        products: Vec::new(),
        targets_checked: 0,
        problems: Vec::new(),
    };
    let metadata = base
        .join("metadata/")
        .context("building the metadata URL")?;
    let targets = base.join("targets/").context("building the targets URL")?;
    let datastore = tempfile::tempdir().context("creating a temporary datastore")?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .context("creating the HTTP client")?;
    let root = trusted_root.to_vec();
    let repo = match tough::RepositoryLoader::new(&root, metadata, targets)
        .transport(HttpTransport::new(client))
        .datastore(datastore.path())
        .load()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            report
                .problems
                .push(format!("TUF verification failed: {}", chain(&e)));
            return Ok(report);
        }
    };
    report.root_version = Some(repo.root().signed.version.get());
    report.timestamp_version = Some(repo.timestamp().signed.version.get());
    // Targets listed by the top-level targets role itself (airlock lists none; a repository
    // made by tuftool or python-tuf may list all of them there): each is downloaded, and tough
    // checks its length and hashes (TUF 5.7.3).
    let mut top_level: Vec<String> = repo
        .targets()
        .signed
        .targets
        .keys()
        .map(|n| n.raw().to_string())
        .collect();
    top_level.sort();
    for name in top_level {
        match fetch_target(&repo, &name).await {
            Ok(_) => report.targets_checked += 1,
            Err(e) => report.problems.push(format!("{name}: {e}")),
        }
    }
    let delegations = match repo.targets().signed.delegations.as_ref() {
        Some(d) if !d.roles.is_empty() => d,
        // A plain TUF repository: no products to check.
        _ if report.targets_checked > 0 => return Ok(report),
        _ => {
            report
                .problems
                .push("targets metadata lists no target and delegates to no product".into());
            return Ok(report);
        }
    };
    for role in &delegations.roles {
        let product = role.name.clone();
        let expected = names::product_path_pattern(&product);
        match &role.paths {
            tough::schema::PathSet::Paths(p) if p.len() == 1 && p[0].value() == expected => {}
            _ => report
                .problems
                .push(format!("{product}: delegation is not exactly {expected}")),
        }
        let Some(signed) = &role.targets else {
            report
                .problems
                .push(format!("{product}: role metadata not loaded"));
            continue;
        };
        let listed = match read_product_targets(&product, &signed.signed) {
            Ok(t) => t,
            Err(e) => {
                report.problems.push(format!("{product}: {e}"));
                continue;
            }
        };
        let mut support: Option<SupportRecord> = None;
        let mut names_to_fetch: Vec<String> =
            listed.releases.iter().map(|r| r.name.clone()).collect();
        names_to_fetch.push(names::support_target_name(&product));
        for name in names_to_fetch {
            match fetch_target(&repo, &name).await {
                Ok(bytes) => {
                    report.targets_checked += 1;
                    if name.ends_with(&format!("/{}", names::SUPPORT_FILE)) {
                        match serde_json::from_slice::<SupportRecord>(&bytes) {
                            Ok(r) => {
                                if let Err(e) = r.validate() {
                                    report.problems.push(format!("{name}: {e}"));
                                }
                                support = Some(r);
                            }
                            Err(e) => report
                                .problems
                                .push(format!("{name}: not a support record: {e}")),
                        }
                    }
                }
                Err(e) => report.problems.push(format!("{name}: {e}")),
            }
        }
        report.products.push(ProductCheck {
            product,
            releases: listed.releases.len(),
            security_updates_until: support.map(|s| s.security_updates_until),
        });
    }
    Ok(report)
}

/// Downloads one target through the TUF client, which checks its length and hashes.
async fn fetch_target(repo: &tough::Repository, name: &str) -> Result<Vec<u8>, String> {
    let target = tough::TargetName::new(name.to_string()).map_err(|e| e.to_string())?;
    match repo.read_target(&target).await {
        Ok(Some(stream)) => tough::IntoVec::into_vec(stream)
            .await
            .map_err(|e| chain(&e)),
        Ok(None) => Err("not listed".to_string()),
        Err(e) => Err(chain(&e)),
    }
}

/// Verifies the signer's own repository (before any publish).
pub fn verify_local(repo: &Repo) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        source: repo.dir.display().to_string(),
        root_version: None,
        timestamp_version: None,
        products: Vec::new(),
        targets_checked: 0,
        problems: Vec::new(),
    };
    let config = repo.config()?;
    let online = airlock_core::keys::key_id_hex(&config.online_key)?;
    let (request, blobs) = build_request(repo)?;
    let submission = Submission::from(&request);
    let now = jiff::Timestamp::now();
    match verify_submission(&Published::default(), &submission, &online, now) {
        Ok(v) => {
            report.root_version = Some(v.root.version());
            for (product, p) in &v.products {
                match repo.load_support(product) {
                    Ok(record) => {
                        if let Err(e) =
                            check_product_rules(product, None, &record, &p.releases, now)
                        {
                            report.problems.push(format!("{product}: {e}"));
                        }
                        report.products.push(ProductCheck {
                            product: product.clone(),
                            releases: p.releases.len(),
                            security_updates_until: Some(record.security_updates_until),
                        });
                    }
                    Err(e) => report.problems.push(format!("{product}: {e:#}")),
                }
            }
        }
        Err(e) => report.problems.push(e.to_string()),
    }
    for b in blobs {
        match crate::fsutil::sha256_file(&b.path) {
            Ok((sha, len)) if sha == b.sha256 && len == b.length => report.targets_checked += 1,
            Ok((sha, len)) => report.problems.push(format!(
                "{}: the file has {len} bytes and sha256 {sha}, the signed metadata says {} bytes and {}",
                b.name, b.length, b.sha256
            )),
            Err(e) => report.problems.push(format!("{}: {e:#}", b.name)),
        }
    }
    Ok(report)
}

/// Human-readable form.
pub fn render(r: &VerifyReport) -> String {
    let mut out = format!(
        "{}: root v{}, timestamp {}, {} product(s), {} target(s) checked\n",
        r.source,
        r.root_version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "?".into()),
        r.timestamp_version
            .map(|v| format!("v{v}"))
            .unwrap_or_else(|| "-".into()),
        r.products.len(),
        r.targets_checked
    );
    for p in &r.problems {
        out += &format!("  problem: {p}\n");
    }
    out += if r.problems.is_empty() {
        "OK\n"
    } else {
        "FAILED\n"
    };
    out
}
