//! `airlock publish --out DIR --online-key-file FILE`: a complete static repository that any
//! web server can serve: `metadata/` (every root version, targets, product roles, snapshot and
//! timestamp, consistent snapshots) and `targets/` (each image under both spellings of its
//! consistent path: `<product>/<sha256>.<file>` as the spec and python-tuf read it, and
//! `<sha256>.<product>/<file>` as tough reads it). Everything is verified as the server would
//! before anything is written, new files are written first and `timestamp.json` last, and the
//! result is loaded back with a TUF client.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use airlock_core::keys::SigningKey;
use airlock_core::online::{sign_snapshot_and_timestamp, SnapshotContents};
use airlock_core::verify::{check_product_rules, verify_submission, Published, Submission};

use crate::durable;
use crate::publish::build_request;
use crate::repo::{read_json, Repo};

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub out: PathBuf,
    pub online_key_file: PathBuf,
    pub timestamp_lifetime: jiff::SignedDuration,
    pub snapshot_lifetime: jiff::SignedDuration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub out: PathBuf,
    pub root_version: u64,
    pub targets_version: u64,
    pub snapshot_version: u64,
    pub timestamp_version: u64,
    pub targets: usize,
}

/// Reads the version of the current timestamp in an earlier export, if any.
fn previous_versions(out: &Path) -> Result<(u64, u64)> {
    let path = out.join("metadata/timestamp.json");
    if !path.is_file() {
        return Ok((0, 0));
    }
    let ts: tough::schema::Signed<tough::schema::Timestamp> = read_json(&path)?;
    let snapshot = ts
        .signed
        .meta
        .get("snapshot.json")
        .map(|m| m.version.get())
        .unwrap_or(0);
    Ok((snapshot, ts.signed.version.get()))
}

/// The roles (other than targets) that the snapshot of an earlier export lists, with versions.
fn previous_snapshot_roles(out: &Path, version: u64) -> Result<BTreeMap<String, NonZeroU64>> {
    let mut roles = BTreeMap::new();
    if version == 0 {
        return Ok(roles);
    }
    let path = out.join(format!("metadata/{version}.snapshot.json"));
    let snapshot: tough::schema::Signed<tough::schema::Snapshot> = read_json(&path)?;
    for (file, meta) in snapshot.signed.meta {
        if let Some(role) = file.strip_suffix(".json").filter(|r| *r != "targets") {
            roles.insert(role.to_string(), meta.version);
        }
    }
    Ok(roles)
}

/// Writes `bytes` to `path` unless an identical file is there; refuses to change a different one
/// (versioned files never change).
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Ok(existing) = std::fs::read(path) {
        if existing == bytes {
            return Ok(());
        }
        bail!(
            "{} already exists with different content; versioned files never change",
            path.display()
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    durable::write_atomic(path, bytes)
}

fn copy_new(from: &Path, to: &Path, length: u64) -> Result<()> {
    // Content-addressed name: the same digest, the same bytes. A file of another length there
    // (an export cut off before its sync) is replaced; the read-back checks every hash.
    if std::fs::metadata(to).is_ok_and(|m| m.is_file() && m.len() == length) {
        return Ok(());
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = to.with_extension("airlock-tmp");
    std::fs::copy(from, &tmp)
        .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    std::fs::rename(&tmp, to).with_context(|| format!("moving {} into place", to.display()))
}

/// Gives `to` the content of `existing` (a file of this export) as a hard link; copies where
/// the file system cannot link. A name already there is kept (content-addressed: same bytes).
fn link_new(existing: &Path, to: &Path, length: u64) -> Result<()> {
    match std::fs::metadata(to) {
        Ok(m) if m.is_file() && m.len() == length => return Ok(()),
        Ok(_) => {
            let _ = std::fs::remove_file(to);
        }
        Err(_) => {}
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match std::fs::hard_link(existing, to) {
        Ok(()) => Ok(()),
        // another export's file took the name meanwhile: the same bytes
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(_) => copy_new(existing, to, length),
    }
}

pub async fn export(repo: &Repo, opts: &ExportOptions) -> Result<ExportReport> {
    // A plain or passphrase-protected key file; snapshot and timestamp are signed in memory.
    let online: SigningKey = match repo
        .key_access
        .read_key_file(&opts.online_key_file)
        .with_context(|| {
            format!(
                "reading the online key from {}",
                opts.online_key_file.display()
            )
        })? {
        crate::keys::RoleKey::File(key) => key,
        crate::keys::RoleKey::Token(t) => anyhow::bail!(
            "{} names a key on a token ({}); publish --out signs with an online key file",
            opts.online_key_file.display(),
            t.uri().redacted()
        ),
    };
    let started = std::time::Instant::now();
    let ms = || started.elapsed().as_millis() as u64;
    let now = jiff::Timestamp::now();
    let (request, blobs) = build_request(repo)?;
    let submission = Submission::from(&request);
    // The same checks the server makes, from the first root.
    let verified = verify_submission(&Published::default(), &submission, &online.key_id()?, now)
        .context("the repository does not verify")?;
    for (product, p) in &verified.products {
        let record = repo.load_support(product)?;
        check_product_rules(product, None, &record, &p.releases, now)?;
    }
    tracing::debug!(elapsed_ms = ms(), blobs = blobs.len(), "verified");
    // Every file against its signed length and sha256, on every core.
    blobs.par_iter().try_for_each(|b| {
        let (sha, len) = crate::digest::sha256_file(&b.path)?;
        if sha != b.sha256 || len != b.length {
            bail!(
                "{} does not match its signed length and sha256 (was it changed after signing?)",
                b.path.display()
            );
        }
        Ok(())
    })?;
    tracing::debug!(elapsed_ms = ms(), "files checked");

    let (prev_snapshot, prev_timestamp) = previous_versions(&opts.out)?;
    // The versions come from a file in --out: one at u64::MAX has no successor (wrapping to
    // 1 would be a rollback every TUF client refuses).
    let next = |v: u64, file: &str| {
        v.checked_add(1).and_then(NonZeroU64::new).with_context(|| {
            format!(
                "{file} in {} is at version {v}, the last one: publish into a new directory",
                opts.out.display()
            )
        })
    };
    // Roles an earlier export listed stay listed (a product removed since, at its last version):
    // TUF clients refuse a snapshot that drops a role (TUF 5.5.5).
    let mut roles = previous_snapshot_roles(&opts.out, prev_snapshot)?;
    for (name, p) in &verified.products {
        let version = p.role.signed.signed.version;
        if roles.get(name).is_some_and(|last| version < *last) {
            bail!(
                "{} lists {name} at v{} already; its role (v{version}) must be above that",
                opts.out.display(),
                roles.get(name).map(|v| v.get()).unwrap_or_default()
            );
        }
        roles.insert(name.clone(), version);
    }
    let contents = SnapshotContents {
        targets_version: verified.targets.signed.signed.version,
        roles,
    };
    let (snapshot, timestamp) = sign_snapshot_and_timestamp(
        &verified.root.signed.signed,
        &online,
        &contents,
        next(prev_snapshot, "snapshot.json")?,
        now.checked_add(opts.snapshot_lifetime)?,
        next(prev_timestamp, "timestamp.json")?,
        now.checked_add(opts.timestamp_lifetime)?,
    )
    .await?;

    let meta = opts.out.join("metadata");
    let targets_dir = opts.out.join("targets");
    // Each image under both consistent-snapshot names, on every core: one copy, and the second
    // name a hard link to it (the same bytes; a copy where links are not possible).
    blobs.par_iter().try_for_each(|b| {
        let (product, file) = airlock_core::names::split_target_name(&b.name)?;
        let first = targets_dir
            .join(product)
            .join(format!("{}.{file}", b.sha256));
        copy_new(&b.path, &first, b.length)?;
        let second = targets_dir
            .join(format!("{}.{product}", b.sha256))
            .join(file);
        link_new(&first, &second, b.length)
    })?;
    // The images reach the disk before any metadata that lists them (one syncfs, not a sync per
    // file): a crash leaves no listed image short.
    if targets_dir.is_dir() {
        crate::durable::sync_file_system(&targets_dir)?;
    }
    tracing::debug!(elapsed_ms = ms(), "files copied");
    for (i, root) in request.roots.iter().enumerate() {
        write_new(&meta.join(format!("{}.root.json", i + 1)), root.as_bytes())?;
    }
    write_new(
        &meta.join(format!("{}.targets.json", verified.targets.version())),
        &verified.targets.bytes,
    )?;
    for (name, p) in &verified.products {
        write_new(
            &meta.join(format!("{}.{name}.json", p.role.version())),
            &p.role.bytes,
        )?;
    }
    write_new(
        &meta.join(format!("{}.snapshot.json", snapshot.version)),
        &snapshot.bytes,
    )?;
    write_new(
        &meta.join(format!("{}.timestamp.json", timestamp.version)),
        &timestamp.bytes,
    )?;
    // root.json (newest) for convenience, then the switch: timestamp.json last.
    if let Some(last) = request.roots.last() {
        durable::write_atomic(&meta.join("root.json"), last.as_bytes())?;
    }
    durable::write_atomic(&meta.join("timestamp.json"), &timestamp.bytes)?;

    tracing::debug!(elapsed_ms = ms(), "metadata written");
    // What the report needs, then the parsed repository goes before the read-back parses it
    // again (peak memory is one copy, not two).
    let root_version = verified.root.version();
    let targets_version = verified.targets.version();
    let target_count = blobs.len();
    let first_root = request
        .roots
        .first()
        .map(|r| r.as_bytes().to_vec())
        .unwrap_or_default();
    drop(verified);
    drop(submission);
    drop(request);
    drop(blobs);
    // Read it back as a device would.
    let report = crate::verify::verify_url(
        &url::Url::from_directory_path(std::path::absolute(&opts.out)?).map_err(|_| {
            anyhow::anyhow!("{} is not a usable directory path", opts.out.display())
        })?,
        &first_root,
    )
    .await?;
    tracing::debug!(elapsed_ms = ms(), "read back");
    if !report.problems.is_empty() {
        bail!(
            "the exported repository does not verify: {}",
            report.problems.join("; ")
        );
    }
    Ok(ExportReport {
        out: opts.out.clone(),
        root_version,
        targets_version,
        snapshot_version: snapshot.version.get(),
        timestamp_version: timestamp.version.get(),
        targets: target_count,
    })
}
