//! Product removal: the check that nothing is still owed to a product's devices, the record of a
//! staged removal for `targets apply`, and removed/, where a removed product's role, files and
//! keys are kept (never deleted).

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use tough::schema::Targets;

use airlock_core::names;
use airlock_core::verify::{check_product_removal, read_product_targets};

use crate::durable;
use crate::repo::{list_dir, read_json, Repo};

/// Refuses the removal of `product` while anything is owed to its devices
/// ([`check_product_removal`] on its signed role and support record); its number of releases
/// otherwise. `product remove` and, for a staged removal, `targets apply` both ask.
pub(crate) fn check_removable(repo: &Repo, product: &str, retention_years: i16) -> Result<usize> {
    let role = repo.load_role(product)?;
    let releases = read_product_targets(product, &role.signed)
        .with_context(|| format!("reading the releases of {product}"))?
        .releases;
    check_product_removal(
        product,
        &releases,
        &repo.load_support(product)?,
        jiff::Timestamp::now(),
        retention_years,
    )?;
    Ok(releases.len())
}

/// What `product remove --stage` records for `targets apply`: `staged/<product>.removal`.
#[derive(Debug, Serialize, serde::Deserialize)]
pub(crate) struct StagedRemoval {
    pub retention_years: i16,
}

pub(crate) fn staged_removal_path(repo: &Repo, product: &str) -> PathBuf {
    repo.staged_dir().join(format!("{product}.removal"))
}

/// The retention period a staged removal of `product` was checked with (the default when none
/// was recorded).
pub(crate) fn staged_removal_retention(repo: &Repo, product: &str) -> Result<i16> {
    let path = staged_removal_path(repo, product);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice::<StagedRemoval>(&bytes)
            .with_context(|| format!("reading {}", path.display()))?
            .retention_years),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(airlock_core::verify::DEFAULT_RETENTION_YEARS)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    }
}

/// Moves a product that targets.json no longer delegates to out of the repository's working
/// set: `metadata/<product>.json`, `targets/<product>/` and its keys go to
/// `removed/<product>.<unix time>/` (kept, never deleted).
pub(crate) fn archive_product(repo: &Repo, product: &str) -> Result<PathBuf> {
    names::check_product_id(product)?;
    let removed = repo.dir.join("removed");
    durable::create_private_dir(&removed)?;
    // A new directory each time (the next free second), so no earlier archive is touched.
    let mut stamp = jiff::Timestamp::now().as_second();
    let dir = loop {
        let dir = removed.join(format!("{product}.{stamp}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => stamp += 1,
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("creating {}", dir.display())))
            }
        }
    };
    let moves = [
        (repo.role_path(product), dir.join(format!("{product}.json"))),
        (repo.targets_dir().join(product), dir.join("targets")),
    ];
    for (from, to) in moves {
        if from.exists() {
            std::fs::rename(&from, &to)
                .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        }
    }
    for (_, from) in repo.role_key_files(product)? {
        let to = dir.join(from.file_name().context("a key file without a name")?);
        std::fs::rename(&from, &to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
    }
    Ok(dir)
}

/// The highest role version of `product` among its archives in removed/ (0 when none).
pub(crate) fn removed_role_version(repo: &Repo, product: &str) -> Result<u64> {
    let removed = repo.dir.join("removed");
    if !removed.is_dir() {
        return Ok(0);
    }
    let mut highest = 0;
    for (name, path) in list_dir(&removed)? {
        let is_archive = name
            .strip_prefix(&format!("{product}."))
            .is_some_and(|stamp| stamp.parse::<i64>().is_ok());
        let role = path.join(format!("{product}.json"));
        if !is_archive || !role.is_file() {
            continue;
        }
        let signed: tough::schema::Signed<Targets> = read_json(&role)?;
        highest = highest.max(signed.signed.version.get());
    }
    Ok(highest)
}
