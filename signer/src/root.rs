//! `airlock root rotate`: a new root version with new root keys (and threshold), optionally a
//! new targets key, cross-signed by a threshold of the old root keys and of the new ones
//! (TUF 5.3.4), so devices that trust any earlier root walk the chain to it. [`proposal`]: the
//! same change when the root keys are held by several people.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::num::NonZeroU64;

use tough::editor::signed::SignedRole;
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root, Signed};

use airlock_core::keys::SigningKey;

use crate::durable;
use crate::keys::{key_sources, open_token_keys, RoleKey};
use crate::pkcs11::TokenUri;
use crate::repo::{expiry_in_days, Repo};

pub mod proposal;

#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// New root keys (default: as many as the current root has).
    pub root_keys: Option<u64>,
    /// Signatures the new root needs (default: the current root's threshold).
    pub root_threshold: Option<u64>,
    /// Accept a threshold lower than the current root's (`--allow-lower-threshold`).
    pub allow_lower_threshold: bool,
    pub rotate_targets: bool,
    /// The server's next online key (its public key file), to sign snapshot and timestamp.
    pub online_key: Option<std::path::PathBuf>,
    /// New root keys already on a token (`--root-key URI`); the rest up to `root_keys` are
    /// generated.
    pub root_tokens: Vec<TokenUri>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RotateReport {
    pub root_version: u64,
    pub root_threshold: u64,
    pub root_key_ids: Vec<String>,
    /// The new root keys' files in keys/ (`root-vN-M.key`).
    pub root_key_files: Vec<std::path::PathBuf>,
    /// The threshold and key count of the root this one replaces.
    pub previous_threshold: u64,
    pub previous_keys: usize,
    pub retired_key_ids: Vec<String>,
    pub targets_key_id: Option<String>,
    pub targets_version: Option<u64>,
}

/// The key count and threshold of the next root: as given, else those of the current root
/// (`current`), so a rotation keeps a 2-of-3 root 2-of-3 unless told otherwise. At least
/// `tokens` keys (those given on a token). A threshold lower than the current one weakens the
/// root: refused unless `allow_lower`.
pub fn next_root_shape(
    current: &RoleKeys,
    keys: Option<u64>,
    threshold: Option<u64>,
    tokens: usize,
    allow_lower: bool,
) -> Result<(u64, u64)> {
    let current_threshold = current.threshold.get();
    let keys = keys
        .unwrap_or(current.keyids.len() as u64)
        .max(tokens as u64);
    let threshold = threshold.unwrap_or(current_threshold);
    if keys == 0 || threshold == 0 || threshold > keys {
        bail!(
            "--root-threshold {threshold} must be between 1 and --root-keys {keys}{}",
            if threshold > keys && threshold == current_threshold {
                format!(" (the current root needs {current_threshold} signatures: give fewer only with --root-threshold N --allow-lower-threshold)")
            } else {
                String::new()
            }
        );
    }
    if threshold < current_threshold && !allow_lower {
        bail!(
            "--root-threshold {threshold} is lower than the current root's {current_threshold}: \
             fewer root keys could then sign a new root; add --allow-lower-threshold if that is meant"
        );
    }
    Ok((keys, threshold))
}

/// A key id (hex) as TUF metadata keys its maps.
fn decoded(id: &str) -> Result<tough::schema::decoded::Decoded<tough::schema::decoded::Hex>> {
    Ok(hex::decode(id).context("decoding a key id")?.into())
}

/// Signatures of `root` by `keys`, looking keys up through `holder`.
async fn signatures(
    root: &Root,
    holder: Root,
    keys: &[RoleKey],
) -> Result<Vec<tough::schema::Signature>> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signed = SignedRole::new(
        root.clone(),
        &KeyHolder::Root(holder),
        &key_sources(keys),
        &rng,
    )
    .await
    .context("signing the new root")?;
    Ok(signed.signed().signatures.clone())
}

pub async fn rotate(repo: &Repo, opts: &RotateOptions) -> Result<RotateReport> {
    let config = repo.config()?;
    let old: Signed<Root> = repo.load_root()?;
    let old_role = old
        .signed
        .roles
        .get(&RoleType::Root)
        .context("the current root has no root role")?
        .clone();
    let (root_keys, root_threshold) = next_root_shape(
        &old_role,
        opts.root_keys,
        opts.root_threshold,
        opts.root_tokens.len(),
        opts.allow_lower_threshold,
    )?;
    // The old root keys we hold, with their file names.
    let mut old_keys = Vec::new();
    let mut old_files = Vec::new();
    for (stem, key) in repo.root_keys()? {
        let key_id = key.key_id()?;
        if old_role
            .keyids
            .iter()
            .any(|id| hex::encode(&**id) == key_id)
        {
            old_keys.push(key);
            old_files.push(stem.to_string());
        }
    }
    if (old_keys.len() as u64) < old_role.threshold.get() {
        bail!(
            "the current root needs {} root signatures but only {} of its keys are in {}",
            old_role.threshold,
            old_keys.len(),
            repo.keys_dir().display()
        );
    }

    let version = old
        .signed
        .version
        .get()
        .checked_add(1)
        .context("root version overflow: the current root is at the last version")?;
    let mut root = old.signed.clone();
    root.version = NonZeroU64::new(version).context("root version overflow")?;
    root.expires = expiry_in_days(config.expiry_days)?;

    // New root keys replace the old ones: those on a token first, then generated ones.
    repo.prepare_new_keys()?;
    let mut new_keys = open_token_keys(&opts.root_tokens)?;
    while (new_keys.len() as u64) < root_keys {
        new_keys.push(RoleKey::File(SigningKey::generate()));
    }
    let mut new_ids = Vec::new();
    for k in &new_keys {
        let id = k.key_id()?;
        if new_ids.contains(&id) {
            bail!("the same root key is given twice: a threshold needs distinct keys");
        }
        root.keys.insert(decoded(&id)?, k.tuf_key());
        new_ids.push(id);
    }
    root.roles.insert(
        RoleType::Root,
        RoleKeys {
            keyids: new_ids
                .iter()
                .map(|id| decoded(id))
                .collect::<Result<_>>()?,
            threshold: NonZeroU64::new(root_threshold).context("threshold")?,
            _extra: HashMap::new(),
        },
    );
    let mut targets_key = None;
    let mut retired_targets = None;
    if opts.rotate_targets {
        let k = RoleKey::File(SigningKey::generate());
        let id = k.key_id()?;
        root.keys.insert(decoded(&id)?, k.tuf_key());
        let old_targets = root.roles.get(&RoleType::Targets).cloned();
        root.roles.insert(
            RoleType::Targets,
            RoleKeys {
                keyids: vec![decoded(&id)?],
                threshold: NonZeroU64::MIN,
                _extra: HashMap::new(),
            },
        );
        retired_targets = old_targets;
        targets_key = Some(k);
    }
    let mut new_online = None;
    if let Some(path) = &opts.online_key {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the online public key from {}", path.display()))?;
        let key = airlock_core::keys::parse_public_key(&bytes)
            .with_context(|| format!("reading the online public key from {}", path.display()))?;
        let id = airlock_core::keys::key_id_hex(&key)?;
        root.keys.insert(decoded(&id)?, key.clone());
        for role in [RoleType::Snapshot, RoleType::Timestamp] {
            root.roles.insert(
                role,
                RoleKeys {
                    keyids: vec![decoded(&id)?],
                    threshold: NonZeroU64::MIN,
                    _extra: HashMap::new(),
                },
            );
        }
        new_online = Some(key);
    }
    // Drop keys no role uses any more (the old root keys, an old targets key).
    let used: std::collections::HashSet<Vec<u8>> = root
        .roles
        .values()
        .flat_map(|r| r.keyids.iter().map(|id| id.to_vec()))
        .collect();
    let retired_ids: Vec<String> = root
        .keys
        .keys()
        .filter(|id| !used.contains(&id.to_vec()))
        .map(|id| hex::encode(&**id))
        .collect();
    root.keys.retain(|id, _| used.contains(&id.to_vec()));

    // TUF 5.3.4: signed by a threshold of the old root's keys and of the new root's keys.
    let mut holder = root.clone();
    for k in &old_keys {
        holder.keys.insert(decoded(&k.key_id()?)?, k.tuf_key());
    }
    holder.roles.insert(RoleType::Root, old_role.clone());
    let mut sigs = signatures(&root, root.clone(), &new_keys).await?;
    sigs.extend(signatures(&root, holder, &old_keys).await?);
    let signed = Signed {
        signed: root,
        signatures: sigs,
    };
    airlock_core::verify::verify_root_successor(&old, &signed)
        .context("the new root does not verify against the current one")?;
    let mut bytes = serde_json::to_vec_pretty(&signed)?;
    bytes.push(b'\n');

    // Save the new keys before the root that names them, then retire the old ones.
    let mut root_key_files = Vec::new();
    for (i, k) in new_keys.iter().enumerate() {
        root_key_files.push(repo.save_role_key(&format!("root-v{version}-{}", i + 1), k)?);
    }
    let dir = repo.metadata_dir();
    durable::write_atomic(&dir.join(format!("{version}.root.json")), &bytes)?;
    durable::write_atomic(&dir.join("root.json"), &bytes)?;
    for stem in &old_files {
        crate::retired_keys::retire(repo, stem)?;
    }
    if let Some(key) = new_online {
        let mut config = config.clone();
        config.online_key = key;
        let bytes = serde_json::to_vec_pretty(&config)?;
        durable::write_atomic(&Repo::config_path(&repo.dir), &bytes)?;
    }

    let mut targets_version = None;
    if let Some(k) = &targets_key {
        let _ = retired_targets;
        crate::retired_keys::retire_role_keys(repo, "targets")?;
        repo.save_role_key("targets", k)?;
        let mut targets = repo.load_targets()?.signed;
        targets.version = targets.version.saturating_add(1);
        targets.expires = expiry_in_days(config.expiry_days)?;
        let t = repo
            .write_targets(targets, &signed.signed, std::slice::from_ref(k))
            .await?;
        targets_version = Some(t.signed.version.get());
    }
    Ok(RotateReport {
        root_version: version,
        root_threshold,
        root_key_ids: new_ids,
        root_key_files,
        previous_threshold: old_role.threshold.get(),
        previous_keys: old_role.keyids.len(),
        retired_key_ids: retired_ids,
        targets_key_id: targets_key.map(|k| k.key_id()).transpose()?,
        targets_version,
    })
}
