//! Files an interrupted `release add` leaves behind: the image is copied to
//! `targets/<product>/.<file>.airlock-tmp` before the role that lists it is signed, and a
//! crash or a kill before the rename leaves that copy. `verify` reports them; the next
//! `release add` of the product and `verify --clean` remove the stale ones.

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::repo::{list_dir, Repo};

/// The suffix of the copy `release add` makes before signing.
pub const SUFFIX: &str = ".airlock-tmp";

/// A copy not changed for this long belongs to no running `release add` (which writes its copy,
/// then only hashes and signs): removing it is safe. A younger one may be in use.
pub const STALE_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

#[derive(Debug, Clone, Serialize)]
pub struct Leftover {
    pub path: PathBuf,
    /// Seconds since it was last modified.
    pub age_seconds: i64,
    /// Older than [`STALE_AFTER`]: no `release add` is still writing it.
    pub stale: bool,
}

impl Leftover {
    /// The warning `verify` shows, with the fix.
    pub fn warning(&self, repo: &Repo) -> String {
        if self.stale {
            format!(
                "{} was left by an interrupted `release add` (nothing lists it): remove it with \
                 `airlock verify {} --clean` (the product's next `release add` removes it too)",
                self.path.display(),
                repo.dir.display()
            )
        } else {
            format!(
                "{} is a copy of a `release add` from {}s ago: it may be running now; if none is, \
                 delete the file (`airlock verify {} --clean` removes it once it is an hour old)",
                self.path.display(),
                self.age_seconds,
                repo.dir.display()
            )
        }
    }
}

/// The leftovers in one directory (a product's targets/ directory).
fn in_dir(dir: &Path, now: jiff::Timestamp) -> Result<Vec<Leftover>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for (name, path) in list_dir(dir)? {
        if !(name.starts_with('.') && name.ends_with(SUFFIX)) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_file() {
            continue;
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|m| jiff::Timestamp::try_from(m).ok())
            .unwrap_or(now);
        let age = now.duration_since(modified);
        out.push(Leftover {
            path,
            age_seconds: age.as_secs(),
            stale: age >= STALE_AFTER,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Every leftover under targets/ (one directory per product).
pub fn find(repo: &Repo, now: jiff::Timestamp) -> Result<Vec<Leftover>> {
    let targets = repo.targets_dir();
    let mut out = Vec::new();
    if !targets.is_dir() {
        return Ok(out);
    }
    for (_, path) in list_dir(&targets)? {
        if path.is_dir() {
            out.extend(in_dir(&path, now)?);
        }
    }
    Ok(out)
}

/// Removes the stale leftovers of `product` (all products: `None`); returns what was removed.
pub fn remove_stale(
    repo: &Repo,
    product: Option<&str>,
    now: jiff::Timestamp,
) -> Result<Vec<PathBuf>> {
    let found = match product {
        Some(p) => in_dir(&repo.targets_dir().join(p), now)?,
        None => find(repo, now)?,
    };
    let mut removed = Vec::new();
    for l in found.into_iter().filter(|l| l.stale) {
        std::fs::remove_file(&l.path)
            .with_context(|| format!("removing the leftover {}", l.path.display()))?;
        tracing::warn!(file = %l.path.display(), "removed a copy left by an interrupted release add");
        removed.push(l.path);
    }
    Ok(removed)
}
