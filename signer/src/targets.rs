//! Changes of the top-level targets role when its keys are held by several people.
//!
//! targets.json delegates to the products, so adding a product or rotating a product's key
//! changes it and needs the targets threshold of the current root (TUF 5.3.5 checks it on
//! every client). When `keys/` holds that many targets keys, the change is signed at once.
//! Otherwise the change is *staged* (`--stage`): the unsigned next targets.json and the product
//! roles signed for its delegations go to `staged/`; further changes join it. Then:
//!
//! - `airlock targets propose ./repo [--out FILE]` writes the proposal (the staged targets,
//!   with a fresh expiry, signed by any targets keys in `keys/`);
//! - each holder runs `airlock sign FILE --key KEY` on their own machine;
//! - `airlock targets apply ./repo FILE` checks the signatures against the current root's
//!   targets role and, once its threshold is met, moves the staged files into `metadata/`.
//!
//! Until then `metadata/` stays as it was signed, so publishing and releases of products the
//! change does not touch go on; a product whose role is staged waits for the apply.
//!
//! This module stages changes ([`Plan`]); [`proposal`] proposes, applies and discards them.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use tough::schema::{RoleType, Root, Signed, Targets};

use crate::keys::RoleKey;
use crate::repo::{expiry_in_days, Repo};

pub mod proposal;
pub use proposal::{
    apply, discard, propose, valid_signers, ApplyReport, DiscardReport, ProposeReport,
};

fn staged_targets_path(repo: &Repo) -> PathBuf {
    repo.staged_dir().join("targets.json")
}

/// Where a product role signed for the staged delegations waits.
pub fn staged_role_path(repo: &Repo, product: &str) -> PathBuf {
    repo.staged_dir().join(format!("{product}.json"))
}

/// Whether a targets change is waiting for signatures.
pub fn is_staged(repo: &Repo) -> bool {
    staged_targets_path(repo).is_file()
}

fn read_signed_targets(path: &Path) -> Result<Signed<Targets>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not targets metadata", path.display()))
}

/// The staged targets, if a change is waiting.
pub fn staged_targets(repo: &Repo) -> Result<Option<Targets>> {
    let path = staged_targets_path(repo);
    if !path.is_file() {
        return Ok(None);
    }
    Ok(Some(read_signed_targets(&path)?.signed))
}

/// The targets metadata the next change starts from: the staged change if there is one, else
/// the signed targets.json.
pub fn working_targets(repo: &Repo) -> Result<Targets> {
    match staged_targets(repo)? {
        Some(t) => Ok(t),
        None => Ok(repo.load_targets()?.signed),
    }
}

/// Refuses a change to a product whose role is part of a staged targets change (a new product
/// or a rotated key): its role in `metadata/` would not match the delegation being signed.
pub fn check_product_not_staged(repo: &Repo, product: &str) -> Result<()> {
    if let Some(staged) = staged_targets(repo)? {
        let signed = repo.load_targets()?.signed;
        if repo.products(&signed).iter().any(|p| p == product)
            && !repo.products(&staged).iter().any(|p| p == product)
        {
            bail!(
                "the removal of {product} is staged: it takes no change until the targets change \
                 is applied (or dropped with `airlock targets discard`)"
            );
        }
    }
    if staged_role_path(repo, product).is_file() {
        bail!(
            "{product} is part of a staged targets change waiting for signatures: finish it with \
             `airlock targets propose`, `airlock sign` and `airlock targets apply` first"
        );
    }
    Ok(())
}

/// How a change of targets.json is written.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Signed now with these keys from `keys/` (they meet the threshold).
    Sign(Vec<RoleKey>),
    /// Written unsigned into `staged/` for holders to sign.
    Stage,
}

/// What happened to targets.json.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "targets", rename_all = "snake_case")]
pub enum TargetsOutcome {
    Signed {
        version: u64,
    },
    /// Waiting in `staged/`: `needed` signatures of the targets role, `held` keys in `keys/`.
    Staged {
        version: u64,
        needed: u64,
        held: usize,
    },
}

impl TargetsOutcome {
    pub fn version(&self) -> u64 {
        match self {
            TargetsOutcome::Signed { version } | TargetsOutcome::Staged { version, .. } => *version,
        }
    }

    /// A line for the user about what to do next, if anything.
    pub fn next_step(&self, repo: &Repo) -> String {
        match self {
            TargetsOutcome::Signed { .. } => String::new(),
            TargetsOutcome::Staged {
                version,
                needed,
                held,
            } => format!(
                "targets v{version} staged in {} (needs {needed} signature(s), {held} targets key(s) here): \
                 `airlock targets propose {}`, each holder `airlock sign`, then `airlock targets apply`\n",
                repo.staged_dir().display(),
                repo.dir.display()
            ),
        }
    }
}

/// The targets keys in `keys/` that the root's targets role lists.
pub(crate) fn held_targets_keys(repo: &Repo, root: &Root) -> Result<(Vec<RoleKey>, u64)> {
    let role = root
        .roles
        .get(&RoleType::Targets)
        .context("the root has no targets role")?;
    let listed: Vec<String> = role.keyids.iter().map(|id| hex::encode(&**id)).collect();
    let mut keys = Vec::new();
    for k in repo.held_role_keys("targets")? {
        if listed.contains(&k.key_id()?) {
            keys.push(k);
        }
    }
    Ok((keys, role.threshold.get()))
}

/// A change of targets.json about to be made: decided before anything is written, so a change
/// that can be neither signed nor staged writes nothing.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    needed: u64,
    held: usize,
    /// The version of the signed targets.json; the change becomes the next one.
    signed_version: u64,
}

impl Plan {
    /// Signs now when `keys/` holds the threshold, no change is staged and `stage` is not
    /// asked; stages when `stage` is asked or a change is already staged (it joins it).
    pub fn new(repo: &Repo, root: &Root, stage: bool) -> Result<Plan> {
        let signed_version = repo.load_targets()?.signed.version.get();
        let (keys, needed) = held_targets_keys(repo, root)?;
        let held = keys.len();
        let mode = if stage || is_staged(repo) {
            Mode::Stage
        } else if (held as u64) >= needed {
            Mode::Sign(keys)
        } else {
            bail!(
                "targets needs {needed} signature(s) but only {held} of its keys are in keys/; \
                 to collect the signatures from their holders, run this with --stage, then \
                 `airlock targets propose`"
            );
        };
        Ok(Plan {
            mode,
            needed,
            held,
            signed_version,
        })
    }

    /// Where a product role signed for the new delegations goes.
    pub fn role_path(&self, repo: &Repo, product: &str) -> PathBuf {
        match self.mode {
            Mode::Sign(_) => repo.role_path(product),
            Mode::Stage => staged_role_path(repo, product),
        }
    }

    /// Creates `staged/` when staging (before role files are written into it).
    pub fn prepare_dirs(&self, repo: &Repo) -> Result<()> {
        if let Mode::Stage = self.mode {
            let dir = repo.staged_dir();
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(())
    }

    /// The bytes of the next targets.json and where they go: signed into `metadata/`, or
    /// unsigned into `staged/`. Nothing is written.
    pub async fn finish(
        &self,
        repo: &Repo,
        root: &Root,
        mut targets: Targets,
        expiry_days: i64,
    ) -> Result<(PathBuf, Vec<u8>, TargetsOutcome)> {
        let version = self
            .signed_version
            .checked_add(1)
            .context("targets version overflow: targets.json is at the last version")?;
        targets.version = NonZeroU64::new(version).context("targets version overflow")?;
        targets.expires = expiry_in_days(expiry_days)?;
        match &self.mode {
            Mode::Sign(keys) => {
                let bytes = repo.sign_targets(targets, root, keys).await?;
                Ok((
                    repo.metadata_dir().join("targets.json"),
                    bytes,
                    TargetsOutcome::Signed { version },
                ))
            }
            Mode::Stage => Ok((
                staged_targets_path(repo),
                unsigned_bytes(targets)?,
                TargetsOutcome::Staged {
                    version,
                    needed: self.needed,
                    held: self.held,
                },
            )),
        }
    }
}

fn unsigned_bytes(targets: Targets) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(&Signed {
        signed: targets,
        signatures: Vec::new(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// What changes between two targets: products added, removed, or with other keys/threshold.
pub fn describe_changes(from: &Targets, to: &Targets) -> Vec<String> {
    type Delegation = (Vec<String>, u64);
    let roles = |t: &Targets| -> BTreeMap<String, Delegation> {
        t.delegations
            .as_ref()
            .map(|d| {
                d.roles
                    .iter()
                    .map(|r| {
                        let mut ids: Vec<String> =
                            r.keyids.iter().map(|id| hex::encode(&**id)).collect();
                        ids.sort();
                        (r.name.clone(), (ids, r.threshold.get()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (a, b) = (roles(from), roles(to));
    let short = |ids: &[String]| {
        ids.iter()
            .map(|id| id.get(..12).unwrap_or(id).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = Vec::new();
    for (name, (ids, threshold)) in &b {
        match a.get(name) {
            None => out.push(format!(
                "add product {name} (keys {}, threshold {threshold})",
                short(ids)
            )),
            Some(old) if old != &(ids.clone(), *threshold) => out.push(format!(
                "product {name}: keys {} threshold {} -> keys {} threshold {threshold}",
                short(&old.0),
                old.1,
                short(ids)
            )),
            Some(_) => {}
        }
    }
    for name in a.keys().filter(|n| !b.contains_key(*n)) {
        out.push(format!("remove product {name}"));
    }
    if out.is_empty() {
        out.push("re-sign with a new expiry (no delegation changes)".into());
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use airlock_core::keys::SigningKey;

    #[test]
    fn changes_name_added_removed_and_rekeyed_products() {
        use tough::schema::{DelegatedRole, Delegations, PathSet};
        let role = |name: &str, key: &SigningKey| DelegatedRole {
            name: name.into(),
            keyids: vec![hex::decode(key.key_id().unwrap()).unwrap().into()],
            threshold: NonZeroU64::MIN,
            paths: PathSet::Paths(Vec::new()),
            terminating: true,
            targets: None,
        };
        let (k1, k2) = (SigningKey::generate(), SigningKey::generate());
        let with = |roles: Vec<DelegatedRole>| {
            let mut t = Targets::new("1.0.0".into(), NonZeroU64::MIN, jiff::Timestamp::now());
            let mut d = Delegations::new();
            d.roles = roles;
            t.delegations = Some(d);
            t
        };
        let from = with(vec![role("cam", &k1), role("old", &k1)]);
        let to = with(vec![role("cam", &k2), role("lock", &k1)]);
        let changes = describe_changes(&from, &to).join("\n");
        assert!(changes.contains("product cam: keys"), "{changes}");
        assert!(changes.contains("add product lock"), "{changes}");
        assert!(changes.contains("remove product old"), "{changes}");
        assert!(describe_changes(&from, &from)[0].contains("new expiry"));
    }
}
