//! `airlock advisory csaf`: the signed advisories of the repository's products as CSAF 2.0
//! documents in a CSAF provider directory ([`airlock_report::csaf`]), to be served at
//! `/.well-known/csaf/` by any web server.

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
