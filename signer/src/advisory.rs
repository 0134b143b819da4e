//! `airlock advisory csaf`: the signed advisories of the repository's products as CSAF 2.0
//! documents in a CSAF provider directory ([`airlock_report::csaf`]), to be served at
//! `/.well-known/csaf/` by any web server (`airlock-server` serves the same bytes, rendered
//! from the same verified metadata, when given `--csaf-publisher`). `airlock advisory
//! not-affected`: a VEX "not affected" statement, signed into the product's support record.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub use airlock_report::csaf::Publisher;

use crate::durable;
use crate::repo::Repo;
use crate::status;

/// Writes the provider directory of `products` (every product when empty) under
/// `out/.well-known/csaf/`; returns the paths written.
pub fn write_csaf(
    repo: &Repo,
    products: &[String],
    publisher: &Publisher,
    base_url: &url::Url,
    out: &Path,
    now: jiff::Timestamp,
) -> Result<Vec<PathBuf>> {
    if publisher.name.trim().is_empty() {
        bail!("--publisher must not be empty");
    }
    url::Url::parse(&publisher.namespace)
        .with_context(|| format!("--namespace {:?} is not a URL", publisher.namespace))?;
    let s = status::status(repo)?;
    let chosen: Vec<&status::ProductStatus> = if products.is_empty() {
        s.products.iter().collect()
    } else {
        products
            .iter()
            .map(|p| s.product(p))
            .collect::<Result<_>>()?
    };
    let mut documents = Vec::new();
    for p in chosen {
        documents.extend(airlock_report::csaf::documents(
            &p.product,
            &p.releases,
            &p.support.not_affected,
            publisher,
            env!("CARGO_PKG_VERSION"),
        ));
    }
    let root = out.join(".well-known/csaf");
    let mut written = Vec::new();
    for (path, bytes) in
        airlock_report::csaf::provider_files(base_url.as_str(), publisher, &documents, now)
    {
        let file = root.join(&path);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        durable::write_atomic(&file, &bytes)?;
        written.push(file);
    }
    Ok(written)
}

/// `airlock advisory not-affected`: records `statement` for `product` in its signed support
/// record (re-signing the product role). Refuses an invalid statement, a second statement for
/// the same vulnerability, and one that covers a release whose signed advisory says it fixes
/// that vulnerability (CSAF would list that release as both fixed and not affected). Returns the product role's new version.
pub async fn record_not_affected(
    repo: &Repo,
    product: &str,
    statement: airlock_core::vex::NotAffected,
) -> Result<u64> {
    airlock_core::names::check_product_id(product)?;
    statement.validate()?;
    let s = status::status(repo)?;
    let p = s.product(product)?;
    if p.support
        .not_affected
        .iter()
        .any(|n| n.cve == statement.cve)
    {
        bail!(
            "{product} already has a signed not-affected statement for {}; statements are kept as signed (see `airlock support show {product}`)",
            statement.cve
        );
    }
    for r in &p.releases {
        if r.info.advisories.iter().any(|a| a.id == statement.cve)
            && statement.covers(&r.info.version)
        {
            bail!(
                "{product} {} fixes {} (its signed advisory names it): it is \"fixed\", not \"not affected\"; narrow --versions to releases that never had the vulnerability (e.g. \"<1.1.0\")",
                r.info.version,
                statement.cve
            );
        }
    }
    let mut next = repo.load_support(product)?;
    next.not_affected.push(statement);
    crate::support::replace_record(repo, product, &next, |_| Ok(())).await
}
