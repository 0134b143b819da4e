//! `airlock verify`: checks a repository the way a device would and lists every problem.
//!
//! - a published repository (a URL of airlock-server, or a directory written by
//!   `publish --out`, or any TUF repository, e.g. one made by tuftool): loaded with tough's
//!   client from a trusted root, then each product's delegation, releases and support record,
//!   and every target (those of the top-level targets role too) downloaded and hashed;
//! - the signer's own repository: the checks the server makes on publish, and every target file
//!   against its signed length and sha256.

use anyhow::{Context, Result};
use futures::StreamExt;
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
    /// SBOM targets checked: bound to their image, signed hash and length, and a valid SBOM.
    pub sboms: usize,
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
    /// What does not stop it verifying but needs a hand (e.g. files an interrupted `release
    /// add` left), each with its fix.
    pub warnings: Vec<String>,
    /// Files `--clean` removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cleaned: Vec<std::path::PathBuf>,
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
        warnings: Vec::new(),
        cleaned: Vec::new(),
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
        match fetch_target(&repo, &name, false).await {
            Ok(_) => report.targets_checked += 1,
            Err(e) => report.problems.push(format!("{name}: {e}")),
        }
    }
    // A repository in a local directory with consistent snapshots (what `publish --out` writes)
    // has its images checked in place; anything else is downloaded through tough.
    let local_dir = match base.scheme() {
        "file" if repo.root().signed.consistent_snapshot => base.to_file_path().ok(),
        _ => None,
    };
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
        report.problems.extend(empty_images(&listed.releases));
        let support_name = names::support_target_name(&product);
        let record = if let Some(dir) = local_dir.as_deref() {
            // A directory: every image checked in place under both consistent-snapshot names,
            // on every core (the metadata above was loaded and verified by tough).
            let (checked, problems, record) = check_local_targets(dir, &product, &listed);
            report.targets_checked += checked;
            report.problems.extend(problems);
            record
        } else {
            let mut names_to_fetch: Vec<String> =
                listed.releases.iter().map(|r| r.name.clone()).collect();
            names_to_fetch.push(support_name.clone());
            names_to_fetch.extend(listed.sboms.iter().map(|s| s.name.clone()));
            // Several downloads at once (tough reads files and sockets on tokio's blocking
            // pool); results in name order.
            let fetched: Vec<(String, Result<Vec<u8>, String>)> =
                futures::stream::iter(names_to_fetch)
                    .map(|name| {
                        let repo = &repo;
                        let keep =
                            name == support_name || listed.sboms.iter().any(|s| s.name == name);
                        async move {
                            let r = fetch_target(repo, &name, keep).await;
                            (name, r)
                        }
                    })
                    .buffered(FETCHES_AT_ONCE)
                    .collect()
                    .await;
            let mut record = None;
            for (name, fetched) in fetched {
                match fetched {
                    Ok(bytes) => {
                        report.targets_checked += 1;
                        if name == support_name {
                            record = Some(bytes);
                        } else if let Some(s) = listed.sboms.iter().find(|s| s.name == name) {
                            report.problems.extend(sbom_problem(s, &bytes));
                        }
                    }
                    Err(e) => report.problems.push(format!("{name}: {e}")),
                }
            }
            record
        };
        let support =
            record.and_then(
                |bytes| match serde_json::from_slice::<SupportRecord>(&bytes) {
                    Ok(r) => {
                        if let Err(e) = r.validate() {
                            report.problems.push(format!("{support_name}: {e}"));
                        }
                        Some(r)
                    }
                    Err(e) => {
                        report
                            .problems
                            .push(format!("{support_name}: not a support record: {e}"));
                        None
                    }
                },
            );
        report.products.push(ProductCheck {
            product,
            releases: listed.releases.len(),
            sboms: listed.sboms.len(),
            security_updates_until: support.map(|s| s.security_updates_until),
        });
    }
    Ok(report)
}

/// Checks a product's images in a local static repository: each under both consistent-snapshot
/// names (`<product>/<sha256>.<file>` and `<sha256>.<product>/<file>`) with its signed length
/// and sha256. Returns the files checked, the problems, and the support record's bytes.
fn check_local_targets(
    dir: &std::path::Path,
    product: &str,
    listed: &airlock_core::verify::ProductTargets,
) -> (usize, Vec<String>, Option<Vec<u8>>) {
    use rayon::prelude::*;
    let mut expected: Vec<(String, String, u64)> = listed
        .releases
        .iter()
        .map(|r| (r.name.clone(), r.sha256.clone(), r.length))
        .collect();
    let support_name = names::support_target_name(product);
    if let Some((sha256, length)) = &listed.support {
        expected.push((support_name.clone(), sha256.clone(), *length));
    }
    expected.extend(
        listed
            .sboms
            .iter()
            .map(|s| (s.name.clone(), s.sha256.clone(), s.length)),
    );
    let targets = dir.join("targets");
    let results: Vec<Result<(), String>> = expected
        .par_iter()
        .map(|(name, sha256, length)| {
            let (p, file) = names::split_target_name(name).map_err(|e| format!("{name}: {e}"))?;
            let spellings = [
                targets.join(p).join(format!("{sha256}.{file}")),
                targets.join(format!("{sha256}.{p}")).join(file),
            ];
            for path in &spellings {
                match crate::digest::sha256_file(path) {
                    Ok((sha, len)) if sha == *sha256 && len == *length => {}
                    Ok((sha, len)) => {
                        return Err(format!(
                            "{name}: {} has {len} bytes with sha256 {sha}, signed {length} bytes with sha256 {sha256}",
                            path.display()
                        ))
                    }
                    Err(e) => return Err(format!("{name}: {e:#}")),
                }
            }
            Ok(())
        })
        .collect();
    let checked = results.iter().filter(|r| r.is_ok()).count();
    let mut problems: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    let record = listed.support.as_ref().and_then(|(sha256, _)| {
        std::fs::read(
            targets
                .join(product)
                .join(format!("{sha256}.{}", names::SUPPORT_FILE)),
        )
        .ok()
    });
    if listed.support.is_none() {
        problems.push(format!("{product}: no support record listed"));
    }
    // each SBOM's content (its bytes matched the signed hash above, or a problem says not)
    for s in &listed.sboms {
        let Ok((p, file)) = names::split_target_name(&s.name) else {
            continue;
        };
        if let Ok(bytes) = std::fs::read(targets.join(p).join(format!("{}.{file}", s.sha256))) {
            problems.extend(sbom_problem(s, &bytes));
        }
    }
    (checked, problems, record)
}

/// A problem with an SBOM target's bytes (already checked against its signed hash): not a
/// valid SBOM, or of another format or version than its signed fields say.
fn sbom_problem(s: &airlock_core::verify::SbomTarget, bytes: &[u8]) -> Option<String> {
    match airlock_core::sbom::validate(bytes) {
        Ok(summary)
            if summary.format == s.info.format && summary.spec_version == s.info.spec_version =>
        {
            None
        }
        Ok(summary) => Some(format!(
            "{}: the SBOM is {} {}, its signed fields say {} {}",
            s.name, summary.format, summary.spec_version, s.info.format, s.info.spec_version
        )),
        Err(e) => Some(format!("{}: not a valid SBOM: {e}", s.name)),
    }
}

/// The releases whose image is empty (0 bytes): no device can install them, whenever they were
/// published ([`VerifyError::EmptyImage`]; the server refuses new ones).
pub(crate) fn empty_images(releases: &[airlock_core::release::Release]) -> Vec<String> {
    releases
        .iter()
        .filter(|r| r.length == 0)
        .map(|r| {
            airlock_core::verify::VerifyError::EmptyImage {
                name: r.name.clone(),
            }
            .to_string()
        })
        .collect()
}

/// Target downloads in flight at once while verifying a repository.
const FETCHES_AT_ONCE: usize = 16;

/// Downloads one target through the TUF client, which checks its length and hashes as the
/// bytes stream by. Only the support record is kept (`keep`); images are dropped chunk by
/// chunk, so memory stays flat whatever their size.
async fn fetch_target(repo: &tough::Repository, name: &str, keep: bool) -> Result<Vec<u8>, String> {
    let target = tough::TargetName::new(name.to_string()).map_err(|e| e.to_string())?;
    let mut stream = match repo.read_target(&target).await {
        Ok(Some(stream)) => stream,
        Ok(None) => return Err("not listed".to_string()),
        Err(e) => return Err(chain(&e)),
    };
    let mut kept = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| chain(&e))?;
        if keep {
            kept.extend_from_slice(&chunk);
        }
    }
    Ok(kept)
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
        warnings: Vec::new(),
        cleaned: Vec::new(),
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
                        for sbom in &p.sboms {
                            match repo.target_path(&sbom.name).and_then(|f| {
                                std::fs::read(&f)
                                    .with_context(|| format!("reading {}", f.display()))
                            }) {
                                Ok(bytes) => report.problems.extend(sbom_problem(sbom, &bytes)),
                                Err(e) => report.problems.push(format!("{}: {e:#}", sbom.name)),
                            }
                        }
                        report.products.push(ProductCheck {
                            product: product.clone(),
                            releases: p.releases.len(),
                            sboms: p.sboms.len(),
                            security_updates_until: Some(record.security_updates_until),
                        });
                    }
                    Err(e) => report.problems.push(format!("{product}: {e:#}")),
                }
            }
        }
        Err(e) => report.problems.push(e.to_string()),
    }
    for l in crate::leftovers::find(repo, now)? {
        report.warnings.push(l.warning(repo));
    }
    for b in blobs {
        match crate::digest::sha256_file(&b.path) {
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
    for c in &r.cleaned {
        out += &format!("  removed {}\n", c.display());
    }
    for w in &r.warnings {
        out += &format!("  warning: {w}\n");
    }
    out += if r.problems.is_empty() {
        "OK\n"
    } else {
        "FAILED\n"
    };
    out
}
