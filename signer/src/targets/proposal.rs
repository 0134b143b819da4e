//! Targets proposals, for the targets keys held by several people: `airlock targets propose`
//! writes the staged change for the holders, each signs it with `airlock sign`, `airlock targets
//! apply` accepts it once the current root's targets threshold is met, and `airlock targets
//! discard` drops it.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use tough::schema::{RoleKeys, RoleType, Root, Signed, Targets};

use airlock_core::keys::canonical_json;

use crate::durable;
use crate::keys::add_signature;
use crate::repo::{expiry_in_days, list_dir, Repo};

use super::{
    describe_changes, held_targets_keys, read_signed_targets, staged_role_path, staged_targets,
    staged_targets_path, unsigned_bytes, working_targets,
};

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
    let version = current
        .version
        .get()
        .checked_add(1)
        .context("targets version overflow: targets.json is at the last version")?;
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
    if current.version.get().checked_add(1) != Some(version) {
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
    for (name, path) in list_dir(&dir)? {
        let Some(product) = name.strip_suffix(".json") else {
            continue;
        };
        if product == "targets" || name.starts_with('.') {
            continue;
        }
        let role = read_signed_targets(&path)?;
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
        discarded_version: current.version.get().saturating_add(1),
        changes: describe_changes(&current, &staged),
        dropped_products,
        restored_keys,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::keys::RoleKey;
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
}
