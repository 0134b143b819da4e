//! `airlock init`: a new repository with offline root and targets keys and signed v1 metadata.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use tough::schema::{Delegations, RoleKeys, RoleType, Root, Targets};

use airlock_core::keys::{key_id_hex, parse_public_key, SigningKey};
use airlock_core::SPEC_VERSION;

use crate::fsutil;
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

#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    pub role: String,
    pub key_id: String,
    pub path: PathBuf,
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

pub async fn init(opts: &InitOptions) -> Result<InitReport> {
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
    let created_dir = !opts.dir.exists();
    let result = create(opts, online_key).await;
    if result.is_err() && created_dir {
        // Leave nothing half-made behind.
        let _ = std::fs::remove_dir_all(&opts.dir);
    }
    result
}

async fn create(opts: &InitOptions, online_key: tough::schema::key::Key) -> Result<InitReport> {
    let repo = Repo {
        dir: opts.dir.clone(),
    };
    std::fs::create_dir_all(repo.metadata_dir())
        .with_context(|| format!("creating {}", repo.metadata_dir().display()))?;
    std::fs::create_dir_all(repo.targets_dir())
        .with_context(|| format!("creating {}", repo.targets_dir().display()))?;
    fsutil::create_private_dir(&repo.keys_dir())?;

    let mut reports = Vec::new();
    let mut root_keys = Vec::new();
    for i in 1..=opts.root_keys {
        let key = SigningKey::generate();
        let path = repo.save_new_key(&format!("root-{i}"), &key)?;
        reports.push(KeyReport {
            role: "root".into(),
            key_id: key.key_id()?,
            path,
        });
        root_keys.push(key);
    }
    let targets_keys: Vec<SigningKey> = (0..opts.targets_keys)
        .map(|_| SigningKey::generate())
        .collect();
    let paths = repo.save_role_keys("targets", &targets_keys)?;
    for (k, path) in targets_keys.iter().zip(paths) {
        reports.push(KeyReport {
            role: "targets".into(),
            key_id: k.key_id()?,
            path,
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
    };
    let config_bytes = serde_json::to_vec_pretty(&config)?;
    fsutil::write_atomic(&Repo::config_path(&repo.dir), &config_bytes)?;

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
