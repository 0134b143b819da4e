//! keys/retired/: key files taken out of use (rotation, removal), kept for the record and never
//! used to sign again; a dropped staged rotation brings a role's keys back from there.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

use crate::durable;
use crate::repo::{list_dir, Repo};

/// Moves a key file to keys/retired/ (kept for the record, never used to sign again).
pub(crate) fn retire(repo: &Repo, file_stem: &str) -> Result<()> {
    let from = repo.key_path(file_stem);
    let dir = repo.keys_dir().join("retired");
    durable::create_private_dir(&dir)?;
    // keys/retired/<stem>.<unix time>.key; a key retired in the same second as another of the
    // same name takes the next free second. A hard link never replaces a file (unlike a
    // rename), so no retired key is ever overwritten, even by another airlock process.
    let mut stamp = jiff::Timestamp::now().as_second();
    loop {
        let to = dir.join(format!("{file_stem}.{stamp}.key"));
        match std::fs::hard_link(&from, &to) {
            Ok(()) => {
                return std::fs::remove_file(&from)
                    .with_context(|| format!("removing {} once retired", from.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => stamp += 1,
            // a file system without hard links: the name checked free just before
            Err(_) if !to.exists() => {
                return std::fs::rename(&from, &to)
                    .with_context(|| format!("moving {} to {}", from.display(), to.display()));
            }
            Err(_) => stamp += 1,
        }
    }
}

/// Moves every key file of a role (`<role>.key`, `<role>.N.key`) to keys/retired/.
pub(crate) fn retire_role_keys(repo: &Repo, role: &str) -> Result<()> {
    for (stem, _) in repo.role_key_files(role)? {
        retire(repo, &stem)?;
    }
    Ok(())
}

/// The retired key files of `role` (keys/retired/<stem>.<unix time>.key, <stem> being <role>
/// or <role>.<n>) whose ids are in `listed`, as (stem, path). Only the role's own retired files
/// are opened.
pub(crate) fn retired_keys_of(
    repo: &Repo,
    role: &str,
    listed: &[String],
) -> Result<Vec<(String, PathBuf)>> {
    let retired = repo.keys_dir().join("retired");
    let mut found = Vec::new();
    if !retired.is_dir() {
        return Ok(found);
    }
    for (name, path) in list_dir(&retired)? {
        let Some((stem, stamp)) = name
            .strip_suffix(".key")
            .and_then(|rest| rest.rsplit_once('.'))
        else {
            continue;
        };
        if !crate::repo::is_role_key_stem(role, stem) || stamp.parse::<i64>().is_err() {
            continue;
        }
        let key = repo.key_access.read_key_file(&path)?;
        if listed.contains(&key.key_id()?) && !found.iter().any(|(s, _)| s == stem) {
            found.push((stem.to_string(), path));
        }
    }
    Ok(found)
}

/// Retires the keys `role` holds now and moves `found` (from [`retired_keys_of`]) back in place.
pub(crate) fn restore_keys(repo: &Repo, role: &str, found: Vec<(String, PathBuf)>) -> Result<()> {
    retire_role_keys(repo, role)?;
    for (stem, from) in found {
        let to = repo.key_path(&stem);
        if to.exists() {
            bail!(
                "{} would be overwritten by {}: move one of them aside",
                to.display(),
                from.display()
            );
        }
        std::fs::rename(&from, &to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}
