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

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use tough::schema::{RoleKeys, RoleType, Root, Signed, Targets};

use airlock_core::keys::canonical_json;

use crate::durable;
use crate::keys::{add_signature, RoleKey};
use crate::repo::{expiry_in_days, Repo};

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
fn held_targets_keys(repo: &Repo, root: &Root) -> Result<(Vec<RoleKey>, u64)> {
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
        let version = self.signed_version + 1;
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

#[derive(Debug, Clone, Serialize)]
pub struct ProposeReport {
    pub proposal: PathBuf,
    pub targets_version: u64,
    pub expires: jiff::Timestamp,
    /// Signatures the targets role of the current root needs.
    pub threshold: u64,
    /// Key ids of the targets keys in `keys/` that signed the proposal already.
    pub signed_by: Vec<String>,
    pub changes: Vec<String>,
}

/// `airlock targets propose`: the staged change (or, with none staged, the current targets
/// re-signed with a new expiry) as a proposal for the targets key holders, signed already by
/// the targets keys in `keys/`.
pub fn propose(repo: &Repo, out: Option<&Path>) -> Result<ProposeReport> {
    let config = repo.config()?;
    let root = repo.load_root()?.signed;
    let current = repo.load_targets()?.signed;
    let mut targets = working_targets(repo)?;
    let version = current.version.get() + 1;
    targets.version = NonZeroU64::new(version).context("targets version overflow")?;
    targets.expires = expiry_in_days(config.expiry_days)?;
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("targets-v{version}.proposal.json")));
    if out.exists() {
        bail!(
            "{} already exists; give another --out or remove it",
            out.display()
        );
    }
    let (keys, threshold) = held_targets_keys(repo, &root)?;
    let mut proposal = Signed {
        signed: targets.clone(),
        signatures: Vec::new(),
    };
    let mut signed_by = Vec::new();
    for key in &keys {
        signed_by.push(add_signature(&mut proposal, key)?);
    }
    let mut bytes = serde_json::to_vec_pretty(&proposal)?;
    bytes.push(b'\n');
    // The staged targets become exactly what is proposed (with its expiry), so that apply can
    // tell a stale proposal from the current one.
    let staged = repo.staged_dir();
    std::fs::create_dir_all(&staged).with_context(|| format!("creating {}", staged.display()))?;
    durable::write_atomic(
        &staged_targets_path(repo),
        &unsigned_bytes(targets.clone())?,
    )?;
    durable::write_atomic(&out, &bytes)?;
    Ok(ProposeReport {
        proposal: out,
        targets_version: version,
        expires: targets.expires,
        threshold,
        signed_by,
        changes: describe_changes(&current, &targets),
    })
}

/// Key ids of the valid signatures by keys of the root's targets role, and the number of other
/// signatures (by keys the role does not list, repeated, or not matching).
pub fn valid_signers(root: &Root, signed: &Signed<Targets>) -> (Vec<String>, usize) {
    let Some(role) = root.roles.get(&RoleType::Targets) else {
        return (Vec::new(), signed.signatures.len());
    };
    let mut valid = Vec::new();
    let mut other = 0;
    for sig in &signed.signatures {
        let id = hex::encode(&*sig.keyid);
        if !role.keyids.contains(&sig.keyid) || valid.contains(&id) {
            other += 1;
            continue;
        }
        // tough checks a role as a whole; a root whose targets role is this one key with
        // threshold 1 checks this one signature.
        let mut one_key = root.clone();
        one_key.roles.insert(
            RoleType::Targets,
            RoleKeys {
                keyids: vec![sig.keyid.clone()],
                threshold: NonZeroU64::MIN,
                _extra: std::collections::HashMap::new(),
            },
        );
        let one = Signed {
            signed: signed.signed.clone(),
            signatures: vec![sig.clone()],
        };
        if one_key.verify_role(&one).is_ok() {
            valid.push(id);
        } else {
            other += 1;
        }
    }
    (valid, other)
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub targets_version: u64,
    pub valid_signatures: usize,
    pub threshold: u64,
    /// Product roles moved from `staged/` into `metadata/`.
    pub roles: Vec<String>,
    /// Products the applied targets no longer delegate to (moved to removed/).
    pub removed: Vec<String>,
}

/// `airlock targets apply`: accepts a signed proposal once the targets threshold of the current
/// root is met (TUF 5.3.5, as devices and the server check it), then moves the staged product
/// roles and targets.json into `metadata/`. Refused: the repository stays as it was.
pub fn apply(repo: &Repo, proposal_path: &Path) -> Result<ApplyReport> {
    let bytes = std::fs::read(proposal_path)
        .with_context(|| format!("reading {}", proposal_path.display()))?;
    let proposal: Signed<Targets> = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not targets metadata", proposal_path.display()))?;
    let root = repo.load_root()?.signed;
    let current = repo.load_targets()?.signed;
    let version = proposal.signed.version.get();
    if version != current.version.get() + 1 {
        bail!(
            "{} proposes targets v{version} but the repository is at v{}: make a new proposal",
            proposal_path.display(),
            current.version
        );
    }
    let staged = staged_targets(repo)?.with_context(|| {
        format!(
            "no targets change is staged in {} (run `airlock targets propose` first)",
            repo.staged_dir().display()
        )
    })?;
    if canonical_json(&staged)? != canonical_json(&proposal.signed)? {
        bail!(
            "{} is not the staged targets change (the repository changed after it was proposed): \
             run `airlock targets propose` again and collect the signatures on the new proposal",
            proposal_path.display()
        );
    }
    let (valid, other) = valid_signers(&root, &proposal);
    let threshold = root
        .roles
        .get(&RoleType::Targets)
        .map(|r| r.threshold.get())
        .context("the root has no targets role")?;
    if (valid.len() as u64) < threshold {
        bail!(
            "targets v{version} has {} valid signature(s) by targets keys of root v{}, {threshold} needed{}; \
             collect more with `airlock sign {} --key FILE`",
            valid.len(),
            root.version,
            if other > 0 {
                format!(" ({other} other signature(s) ignored: not by a targets key, repeated, or not matching)")
            } else {
                String::new()
            },
            proposal_path.display()
        );
    }
    if proposal.signed.expires <= jiff::Timestamp::now() {
        bail!(
            "targets v{version} expired at {}: propose again",
            proposal.signed.expires
        );
    }
    // The staged product roles must verify against the delegations being applied.
    let delegations = proposal.signed.delegations.as_ref();
    let mut roles = Vec::new();
    let dir = repo.staged_dir();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(product) = name.strip_suffix(".json") else {
            continue;
        };
        if product == "targets" || name.starts_with('.') {
            continue;
        }
        let role = read_signed_targets(&entry.path())?;
        delegations
            .with_context(|| {
                format!("{name} is staged but targets v{version} delegates to no product")
            })?
            .verify_role(&role, product)
            .with_context(|| {
                format!("staged role {product} does not verify against targets v{version}")
            })?;
        roles.push(product.to_string());
    }
    roles.sort();
    // Products the proposal removes: refused as `product remove` refuses them (checked again
    // now, nothing written yet).
    let kept = repo.products(&proposal.signed);
    let removed: Vec<String> = repo
        .products(&current)
        .into_iter()
        .filter(|p| !kept.contains(p))
        .collect();
    for product in &removed {
        crate::removal::check_removable(
            repo,
            product,
            crate::removal::staged_removal_retention(repo, product)?,
        )?;
    }
    // Product roles first, then targets.json that delegates to them; staged/ goes last.
    for product in &roles {
        let from = staged_role_path(repo, product);
        let role_bytes =
            std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
        durable::write_atomic(&repo.role_path(product), &role_bytes)?;
    }
    durable::write_atomic(&repo.metadata_dir().join("targets.json"), &bytes)?;
    // Products the applied targets no longer delegate to (`product remove --stage`) leave the
    // working set, kept under removed/.
    for product in &removed {
        crate::removal::archive_product(repo, product)?;
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(ApplyReport {
        targets_version: version,
        valid_signatures: valid.len(),
        threshold,
        roles,
        removed,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct DiscardReport {
    /// The targets version the discarded change would have become.
    pub discarded_version: u64,
    /// The staged change, as `targets propose` lists it.
    pub changes: Vec<String>,
    /// Products whose staged addition was dropped (their files and keys went to removed/).
    pub dropped_products: Vec<String>,
    /// Products whose staged key rotation was dropped: their delegated key was brought back
    /// from keys/retired/ and the unused new key retired.
    pub restored_keys: Vec<String>,
}

/// `airlock targets discard`: drops the staged targets change, so the repository is back at its
/// signed targets.json. Staged product additions leave (kept under removed/); for a staged key
/// rotation, the key the signed delegation lists comes back from keys/retired/.
pub fn discard(repo: &Repo) -> Result<DiscardReport> {
    let staged = staged_targets(repo)?.with_context(|| {
        format!(
            "no targets change is staged in {}",
            repo.staged_dir().display()
        )
    })?;
    let current = repo.load_targets()?.signed;
    let signed_products = repo.products(&current);
    let dropped_products: Vec<String> = repo
        .products(&staged)
        .into_iter()
        .filter(|p| !signed_products.contains(p))
        .collect();
    // Roles whose keys the staged change rotated: their delegated keys come back. Everything is
    // read (and any passphrase asked) before anything moves.
    let keyids = |t: &Targets, name: &str| -> Option<Vec<String>> {
        t.delegations.as_ref().and_then(|d| {
            d.roles
                .iter()
                .find(|r| r.name == name)
                .map(|r| r.keyids.iter().map(|id| hex::encode(&**id)).collect())
        })
    };
    let mut restores = Vec::new();
    for product in &signed_products {
        let (Some(listed), Some(staged_ids)) =
            (keyids(&current, product), keyids(&staged, product))
        else {
            continue;
        };
        if listed != staged_ids {
            let found = crate::retired_keys::retired_keys_of(repo, product, &listed)?;
            if !found.is_empty() {
                restores.push((product.clone(), found));
            }
        }
    }
    for product in &dropped_products {
        crate::removal::archive_product(repo, product)?;
    }
    let mut restored_keys = Vec::new();
    for (role, found) in restores {
        crate::retired_keys::restore_keys(repo, &role, found)?;
        restored_keys.push(role);
    }
    let dir = repo.staged_dir();
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(DiscardReport {
        discarded_version: current.version.get() + 1,
        changes: describe_changes(&current, &staged),
        dropped_products,
        restored_keys,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use airlock_core::keys::SigningKey;
    use std::collections::HashMap;

    fn root_with_targets_keys(keys: &[&SigningKey], threshold: u64) -> Root {
        let mut all = HashMap::new();
        let mut ids = Vec::new();
        for k in keys {
            let id: tough::schema::decoded::Decoded<tough::schema::decoded::Hex> =
                hex::decode(k.key_id().unwrap()).unwrap().into();
            all.insert(id.clone(), k.tuf_key());
            ids.push(id);
        }
        let mut roles = HashMap::new();
        roles.insert(
            RoleType::Targets,
            RoleKeys {
                keyids: ids,
                threshold: NonZeroU64::new(threshold).unwrap(),
                _extra: HashMap::new(),
            },
        );
        Root {
            spec_version: "1.0.0".into(),
            consistent_snapshot: true,
            version: NonZeroU64::MIN,
            expires: jiff::Timestamp::now(),
            keys: all,
            roles,
            _extra: HashMap::new(),
        }
    }

    #[test]
    fn only_valid_signatures_by_targets_keys_count() {
        let (a, b, outsider) = (
            SigningKey::generate(),
            SigningKey::generate(),
            SigningKey::generate(),
        );
        let root = root_with_targets_keys(&[&a, &b], 2);
        let targets = Targets::new("1.0.0".into(), NonZeroU64::MIN, jiff::Timestamp::now());
        let mut signed = Signed {
            signed: targets,
            signatures: Vec::new(),
        };
        add_signature(&mut signed, &RoleKey::from(a.clone())).unwrap();
        add_signature(&mut signed, &RoleKey::from(outsider)).unwrap();
        assert_eq!(
            valid_signers(&root, &signed),
            (vec![a.key_id().unwrap()], 1)
        );
        // b's signature over different content does not count
        let mut other = signed.clone();
        other.signed.version = NonZeroU64::new(7).unwrap();
        add_signature(&mut other, &RoleKey::from(b.clone())).unwrap();
        signed.signatures.push(other.signatures[2].clone());
        assert_eq!(valid_signers(&root, &signed).0.len(), 1);
        assert_eq!(valid_signers(&root, &signed).1, 2);
    }

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
