//! `airlock init`: a new repository with offline root and targets keys and signed v1 metadata.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use tough::schema::{Delegations, RoleKeys, RoleType, Root, Targets};

use airlock_core::keys::{key_id_hex, parse_public_key, SigningKey};
use airlock_core::SPEC_VERSION;

use crate::durable;
use crate::keys::{open_token_keys, KeyAccess, RoleKey};
use crate::pkcs11::TokenUri;
use crate::repo::{expiry_in_days, Repo, RepoConfig};

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub dir: PathBuf,
    pub online_key_file: PathBuf,
    pub root_threshold: u64,
    pub root_keys: u64,
    pub targets_threshold: u64,
    pub targets_keys: u64,
    pub expiry_days: i64,
}

/// Where the keys of a new repository come from and how they are kept.
#[derive(Debug, Clone, Default)]
pub struct InitKeys {
    /// Passphrases, and whether the generated keys are written encrypted (`--encrypt-keys`,
    /// remembered in airlock.json for keys made later).
    pub access: KeyAccess,
    /// Root keys already on a token (`--root-key URI`), used instead of generated ones.
    pub root_tokens: Vec<TokenUri>,
    /// Targets keys already on a token (`--targets-key URI`).
    pub targets_tokens: Vec<TokenUri>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    pub role: String,
    pub key_id: String,
    pub path: PathBuf,
    /// "file" or the token's URI.
    pub held_in: String,
}

/// `count` keys for a role: the token keys first, then generated ones up to `count`.
fn role_keys_from(tokens: &[TokenUri], count: u64) -> Result<Vec<RoleKey>> {
    let mut keys = open_token_keys(tokens)?;
    let mut ids = std::collections::HashSet::new();
    for (k, uri) in keys.iter().zip(tokens) {
        if !ids.insert(k.key_id()?) {
            bail!("{uri} is the same key as an earlier one: a threshold needs distinct keys");
        }
    }
    while (keys.len() as u64) < count {
        keys.push(RoleKey::File(SigningKey::generate()));
    }
    Ok(keys)
}

#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub repo: PathBuf,
    pub root_version: u64,
    pub root_threshold: u64,
    pub online_key_id: String,
    pub keys: Vec<KeyReport>,
}

fn role_keys(ids: &[String], threshold: u64) -> Result<RoleKeys> {
    Ok(RoleKeys {
        keyids: ids
            .iter()
            .map(|id| hex::decode(id).map(Into::into))
            .collect::<Result<_, _>>()
            .context("decoding a key id")?,
        threshold: NonZeroU64::new(threshold).context("threshold must be at least 1")?,
        _extra: HashMap::new(),
    })
}

/// `airlock init` with generated, unencrypted keys.
pub async fn init(opts: &InitOptions) -> Result<InitReport> {
    init_with_keys(opts, &InitKeys::default()).await
}

/// `airlock init`; `--root-keys` and `--targets-keys` count the token keys given, the rest
/// are generated.
pub async fn init_with_keys(opts: &InitOptions, keys: &InitKeys) -> Result<InitReport> {
    let mut opts = opts.clone();
    opts.root_keys = opts.root_keys.max(keys.root_tokens.len() as u64);
    opts.targets_keys = opts.targets_keys.max(keys.targets_tokens.len() as u64);
    let opts = &opts;
    if opts.root_keys == 0 || opts.root_threshold == 0 {
        bail!("--root-keys and --root-threshold must be at least 1");
    }
    if opts.root_threshold > opts.root_keys {
        bail!(
            "--root-threshold {} cannot be met by {} root key(s)",
            opts.root_threshold,
            opts.root_keys
        );
    }
    if opts.targets_keys == 0
        || opts.targets_threshold == 0
        || opts.targets_threshold > opts.targets_keys
    {
        bail!(
            "--targets-threshold {} must be between 1 and --targets-keys {}",
            opts.targets_threshold,
            opts.targets_keys
        );
    }
    if opts.expiry_days < 1 {
        bail!("--expiry-days must be at least 1");
    }
    // before anything is generated or written
    expiry_in_days(opts.expiry_days)
        .map_err(|e| airlock_cli::Failure::usage(format!("--expiry-days: {e:#}")))?;
    if Repo::config_path(&opts.dir).exists() || opts.dir.join("keys").exists() {
        bail!("{} is already an airlock repository", opts.dir.display());
    }
    let online_bytes = std::fs::read(&opts.online_key_file).with_context(|| {
        format!(
            "reading the server's online public key from {}",
            opts.online_key_file.display()
        )
    })?;
    let online_key = parse_public_key(&online_bytes).with_context(|| {
        format!(
            "reading the server's online public key from {}",
            opts.online_key_file.display()
        )
    })?;
    // Ask for the passphrase and open the tokens before anything is created.
    if keys.access.encrypt_new {
        keys.access.passphrases.for_new_keys()?;
    }
    let root_keys = role_keys_from(&keys.root_tokens, opts.root_keys)?;
    let targets_keys = role_keys_from(&keys.targets_tokens, opts.targets_keys)?;
    let created_dir = !opts.dir.exists();
    let repo = Repo {
        dir: opts.dir.clone(),
        key_access: keys.access.clone(),
    };
    let result = create(&repo, opts, online_key, root_keys, targets_keys).await;
    if result.is_err() && created_dir {
        // Leave nothing half-made behind.
        let _ = std::fs::remove_dir_all(&opts.dir);
    }
    result
}

async fn create(
    repo: &Repo,
    opts: &InitOptions,
    online_key: tough::schema::key::Key,
    root_keys: Vec<RoleKey>,
    targets_keys: Vec<RoleKey>,
) -> Result<InitReport> {
    std::fs::create_dir_all(repo.metadata_dir())
        .with_context(|| format!("creating {}", repo.metadata_dir().display()))?;
    std::fs::create_dir_all(repo.targets_dir())
        .with_context(|| format!("creating {}", repo.targets_dir().display()))?;
    durable::create_private_dir(&repo.keys_dir())?;

    let mut reports = Vec::new();
    for (i, key) in root_keys.iter().enumerate() {
        let path = repo.save_role_key(&format!("root-{}", i + 1), key)?;
        reports.push(KeyReport {
            role: "root".into(),
            key_id: key.key_id()?,
            path,
            held_in: key.held_in(),
        });
    }
    let paths = repo.save_role_keys("targets", &targets_keys)?;
    for (k, path) in targets_keys.iter().zip(paths) {
        reports.push(KeyReport {
            role: "targets".into(),
            key_id: k.key_id()?,
            path,
            held_in: k.held_in(),
        });
    }

    let expires = expiry_in_days(opts.expiry_days)?;
    let mut keys = HashMap::new();
    let mut root_ids = Vec::new();
    for k in &root_keys {
        let id = k.key_id()?;
        keys.insert(hex::decode(&id)?.into(), k.tuf_key());
        root_ids.push(id);
    }
    let mut targets_ids = Vec::new();
    for k in &targets_keys {
        let id = k.key_id()?;
        keys.insert(hex::decode(&id)?.into(), k.tuf_key());
        targets_ids.push(id);
    }
    let online_id = key_id_hex(&online_key)?;
    keys.insert(hex::decode(&online_id)?.into(), online_key.clone());

    let mut roles = HashMap::new();
    roles.insert(RoleType::Root, role_keys(&root_ids, opts.root_threshold)?);
    roles.insert(
        RoleType::Targets,
        role_keys(&targets_ids, opts.targets_threshold)?,
    );
    roles.insert(
        RoleType::Snapshot,
        role_keys(std::slice::from_ref(&online_id), 1)?,
    );
    roles.insert(
        RoleType::Timestamp,
        role_keys(std::slice::from_ref(&online_id), 1)?,
    );
    let root = Root {
        spec_version: SPEC_VERSION.to_string(),
        consistent_snapshot: true,
        version: NonZeroU64::MIN,
        expires,
        keys,
        roles,
        _extra: HashMap::new(),
    };
    let root = repo.write_root(root, &root_keys).await?;

    let mut targets = Targets::new(SPEC_VERSION.to_string(), NonZeroU64::MIN, expires);
    targets.delegations = Some(Delegations::new());
    repo.write_targets(targets, &root.signed, &targets_keys)
        .await?;

    let config = RepoConfig {
        online_key,
        expiry_days: opts.expiry_days,
        encrypt_keys: repo.key_access.encrypt_new,
        deltas_from: None,
        delta_method: None,
    };
    let config_bytes = serde_json::to_vec_pretty(&config)?;
    durable::write_atomic(&Repo::config_path(&repo.dir), &config_bytes)?;

    Ok(InitReport {
        repo: repo.dir.clone(),
        root_version: 1,
        root_threshold: opts.root_threshold,
        online_key_id: online_id,
        keys: reports,
    })
}

/// Whether a directory looks like an initialised repository.
pub fn is_repo(dir: &Path) -> bool {
    Repo::config_path(dir).is_file()
}
