//! The TUF client workflow with I/O: which file to read, which URL to fetch, what to persist.
//! Every decision about trust is made by [`TrustedSet`]; this module only feeds it bytes in the
//! order of TUF 5.3 to 5.7 and stores what it accepted.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use futures::StreamExt;
use tracing::{debug, info};

use super::metadata::{verify_hashes, TargetFile};
use super::paths::{encode_component, role_covers};
use super::trusted::{TimestampUpdate, TrustedSet, ROOT_DELEGATOR};

/// Upper bounds on what the client downloads, so a malicious repository cannot exhaust memory
/// or loop forever (TUF 5.3.3 "fixed number of times", endless data attacks).
pub const MAX_ROOT_ROTATIONS: u64 = 256;
pub const MAX_DELEGATIONS: usize = 32;
pub const ROOT_MAX_LENGTH: u64 = 512_000;
pub const TIMESTAMP_MAX_LENGTH: u64 = 16_384;
pub const SNAPSHOT_MAX_LENGTH: u64 = 2_000_000;
pub const TARGETS_MAX_LENGTH: u64 = 5_000_000;

/// One client session: trusted metadata loaded from `metadata_dir`, updated from
/// `metadata_url`.
pub struct Updater {
    metadata_dir: PathBuf,
    metadata_url: String,
    http: reqwest::Client,
    trusted: TrustedSet,
}

impl Updater {
    /// TUF 5.2: load the trusted root from `metadata_dir/root.json`. Nothing is fetched.
    pub fn new(metadata_dir: &Path, metadata_url: &str, now: jiff::Timestamp) -> Result<Self> {
        let root_path = metadata_dir.join("root.json");
        let root = std::fs::read(&root_path)
            .with_context(|| format!("reading trusted root {}", root_path.display()))?;
        let trusted = TrustedSet::new(&root, now)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(Updater {
            metadata_dir: metadata_dir.to_owned(),
            metadata_url: with_trailing_slash(metadata_url),
            http,
            trusted,
        })
    }

    /// TUF 5.3 - 5.6: update root, timestamp, snapshot and top-level targets.
    pub async fn refresh(&mut self) -> Result<()> {
        self.load_root().await.context("updating root")?;
        self.load_timestamp().await.context("updating timestamp")?;
        self.load_snapshot().await.context("updating snapshot")?;
        self.load_targets("targets", ROOT_DELEGATOR)
            .await
            .context("updating targets")?;
        Ok(())
    }

    /// TUF 5.3: walk root versions N+1, N+2, ... until the repository has no next one.
    async fn load_root(&mut self) -> Result<()> {
        // N+1 up to u64::MAX at most (a trusted root at u64::MAX has no successor)
        let next = self.trusted.root().version.checked_add(1);
        let versions = next.map(|first| (first..=u64::MAX).take(MAX_ROOT_ROTATIONS as usize));
        for version in versions.into_iter().flatten() {
            // TUF 5.3.2: fetch N+1.root.json; TUF 5.3.3: a missing file ends the walk.
            let url = format!("{}{version}.root.json", self.metadata_url);
            let Some(bytes) = self.fetch(&url, ROOT_MAX_LENGTH).await? else {
                break;
            };
            self.trusted
                .update_root(&bytes)
                .with_context(|| format!("root v{version}"))?;
            // TUF 5.3.8: persist each accepted root before going on.
            self.persist("root.json", &bytes)?;
            info!(version, "accepted root");
        }
        // TUF 5.3.10: the final root must not be expired (checked after persisting it).
        self.trusted.check_root_not_expired()?;
        // TUF 5.3.11: after a rotation of the timestamp or snapshot keys, the trusted
        // timestamp and snapshot are deleted so the repository can recover from a
        // fast-forward attack.
        if self.trusted.timestamp_or_snapshot_keys_rotated() {
            info!("timestamp or snapshot keys rotated: dropping trusted timestamp and snapshot");
            for name in ["timestamp.json", "snapshot.json"] {
                remove_if_exists(&self.metadata_dir.join(name))?;
            }
        }
        Ok(())
    }

    /// TUF 5.4: the timestamp. The local one (if still valid under the current root) is the
    /// reference for rollback checks; the repository's one is always fetched.
    async fn load_timestamp(&mut self) -> Result<()> {
        if let Some(local) = self.read_local("timestamp.json")? {
            if let Err(e) = self.trusted.load_local_timestamp(&local) {
                debug!("local timestamp not trusted: {e:#}");
            }
        }
        // TUF 5.4.1: fetch timestamp.json (never versioned).
        let url = format!("{}timestamp.json", self.metadata_url);
        let bytes = self
            .fetch(&url, TIMESTAMP_MAX_LENGTH)
            .await?
            .context("the repository has no timestamp.json")?;
        match self.trusted.update_timestamp(&bytes)? {
            TimestampUpdate::Updated => {
                self.persist("timestamp.json", &bytes)?;
                info!(
                    version = self.trusted.timestamp().map(|t| t.version),
                    "accepted timestamp"
                );
            }
            TimestampUpdate::Unchanged => debug!("timestamp unchanged"),
        }
        Ok(())
    }

    /// TUF 5.5: the snapshot, fetched only if the trusted one is not the one timestamp lists.
    async fn load_snapshot(&mut self) -> Result<()> {
        if let Some(local) = self.read_local("snapshot.json")? {
            match self.trusted.load_local_snapshot(&local) {
                Ok(()) => match self.trusted.check_snapshot_final() {
                    Ok(()) => {
                        debug!("local snapshot is current");
                        return Ok(());
                    }
                    Err(e) => debug!("local snapshot is not current: {e:#}"),
                },
                Err(e) => debug!("local snapshot not trusted: {e:#}"),
            }
        }
        let meta = self.trusted.snapshot_meta()?;
        let length = meta.length.unwrap_or(SNAPSHOT_MAX_LENGTH);
        // TUF 5.5.1: VERSION.snapshot.json with consistent snapshots.
        let name = if self.trusted.root().consistent_snapshot {
            format!("{}.snapshot.json", meta.version)
        } else {
            "snapshot.json".to_owned()
        };
        let url = format!("{}{name}", self.metadata_url);
        let bytes = self
            .fetch(&url, length)
            .await?
            .with_context(|| format!("the repository has no {name}"))?;
        self.trusted.update_snapshot(&bytes)?;
        self.persist("snapshot.json", &bytes)?;
        info!(
            version = self.trusted.snapshot().map(|s| s.version),
            "accepted snapshot"
        );
        Ok(())
    }

    /// TUF 5.6 (top-level) / 5.6.7.2.1 (delegated): load a targets role as delegated by
    /// `delegator`: from this session, else from local storage, else from the repository.
    async fn load_targets(&mut self, role: &str, delegator: &str) -> Result<()> {
        if self.trusted.targets(role, delegator).is_some() {
            return Ok(());
        }
        let file_name = format!("{}.json", encode_component(role));
        if let Some(local) = self.read_local(&file_name)? {
            match self.trusted.update_targets(role, delegator, &local) {
                Ok(_) => {
                    debug!(role, "local metadata is current");
                    return Ok(());
                }
                Err(e) => debug!(role, "local metadata not usable: {e:#}"),
            }
        }
        // TUF 5.6.1: VERSION.ROLE.json with consistent snapshots; the role must be listed in
        // snapshot (a role snapshot does not list is never fetched).
        let meta = self.trusted.targets_meta(role)?;
        let length = meta.length.unwrap_or(TARGETS_MAX_LENGTH);
        let remote_name = if self.trusted.root().consistent_snapshot {
            format!("{}.{file_name}", meta.version)
        } else {
            file_name.clone()
        };
        let url = format!("{}{remote_name}", self.metadata_url);
        let bytes = self
            .fetch(&url, length)
            .await?
            .with_context(|| format!("the repository has no {remote_name}"))?;
        let version = self
            .trusted
            .update_targets(role, delegator, &bytes)
            .with_context(|| format!("role {role} delegated by {delegator}"))?
            .version;
        self.persist(&file_name, &bytes)?;
        info!(role, version, "accepted targets role");
        Ok(())
    }

    /// TUF 5.6.7: preorder depth-first search of the delegation graph for `target_path`,
    /// loading only the roles that may be trusted for it.
    pub async fn find_target(&mut self, target_path: &str) -> Result<Option<TargetFile>> {
        let mut to_visit = vec![("targets".to_owned(), ROOT_DELEGATOR.to_owned())];
        let mut visited = HashSet::new();
        let mut budget = MAX_DELEGATIONS;
        while budget > 0 {
            let Some((role, delegator)) = to_visit.pop() else {
                break;
            };
            // TUF 5.6.7.1: each role is searched once per lookup (cycles end here).
            if visited.contains(&role) {
                continue;
            }
            self.load_targets(&role, &delegator).await?;
            let targets = self
                .trusted
                .targets(&role, &delegator)
                .with_context(|| format!("role {role} was not loaded"))?;
            // TUF 5.6.7.2: the first role on the search path that lists the target wins.
            if let Some(target) = targets.targets.get(target_path) {
                info!(target_path, role, "found target");
                return Ok(Some(target.clone()));
            }
            visited.insert(role.clone());
            budget -= 1;
            let Some(delegations) = &targets.delegations else {
                continue;
            };
            // Children in the order the delegator lists them; only those trusted for the
            // path. A terminating one ends the search after its own subtree (TUF 5.6.7.2.1).
            let mut children = Vec::new();
            for child in delegations.roles()? {
                if !role_covers(child, target_path) {
                    continue;
                }
                children.push((child.name.clone(), role.clone()));
                if child.terminating {
                    to_visit.clear();
                    break;
                }
            }
            to_visit.extend(children.into_iter().rev());
        }
        Ok(None)
    }

    /// TUF 5.7: download `target` into `target_dir` (file name: the encoded target path),
    /// unless a file with the right length and hashes is already there.
    pub async fn download_target(
        &self,
        target_path: &str,
        target: &TargetFile,
        target_base_url: &str,
        target_dir: &Path,
    ) -> Result<PathBuf> {
        let dest = target_dir.join(encode_component(target_path));
        if let Ok(existing) = std::fs::read(&dest) {
            if verify_target(target, &existing).is_ok() {
                info!(target_path, "cached copy is current");
                return Ok(dest);
            }
        }
        let base = with_trailing_slash(target_base_url);
        let remote_path = if self.trusted.root().consistent_snapshot {
            // TUF 5.7 / 6.2: consistent snapshots prefix the file name with a hash of the file.
            let digest = target
                .hashes
                .values()
                .next()
                .context("target lists no hashes")?;
            match target_path.rsplit_once('/') {
                Some((dir, file)) => format!("{dir}/{digest}.{file}"),
                None => format!("{digest}.{target_path}"),
            }
        } else {
            target_path.to_owned()
        };
        let url = format!("{base}{remote_path}");
        let bytes = self
            .fetch(&url, target.length)
            .await?
            .with_context(|| format!("the repository has no {remote_path}"))?;
        // TUF 5.7: the file must match the length and hashes its targets role lists.
        verify_target(target, &bytes).with_context(|| format!("target {target_path}"))?;
        std::fs::create_dir_all(target_dir)
            .with_context(|| format!("creating {}", target_dir.display()))?;
        write_atomically(target_dir, &dest, &bytes)?;
        info!(target_path, "downloaded target");
        Ok(dest)
    }

    fn read_local(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.metadata_dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Stores the exact bytes the repository served (so hashes over them stay valid), under
    /// a non-versioned name.
    fn persist(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomically(&self.metadata_dir, &self.metadata_dir.join(name), bytes)
    }

    /// GET `url`, at most `max_length` bytes. `Ok(None)` for 403/404 (TUF 5.3.3: how the
    /// repository says a root version does not exist).
    async fn fetch(&self, url: &str, max_length: u64) -> Result<Option<Vec<u8>>> {
        let parsed = url::Url::parse(url).with_context(|| format!("invalid URL {url}"))?;
        debug!(url, "fetching");
        let response = self
            .http
            .get(parsed)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::FORBIDDEN {
            debug!(url, %status, "not found");
            return Ok(None);
        }
        ensure!(status.is_success(), "GET {url}: HTTP {status}");
        if let Some(length) = response.content_length() {
            ensure!(
                length <= max_length,
                "GET {url}: {length} bytes exceeds the limit of {max_length}"
            );
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("GET {url}: reading the body"))?;
            if (body.len() + chunk.len()) as u64 > max_length {
                bail!("GET {url}: more than the limit of {max_length} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }
}

/// TUF 5.7: length and every listed hash.
fn verify_target(target: &TargetFile, bytes: &[u8]) -> Result<()> {
    ensure!(
        bytes.len() as u64 == target.length,
        "length {} does not match the expected {}",
        bytes.len(),
        target.length
    );
    verify_hashes(&target.hashes, bytes)
}

fn with_trailing_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

/// Writes through a temporary file in `dir` and renames, so a reader never sees half a file.
fn write_atomically(dir: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".part")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", dest.display()))?;
    tmp.persist(dest)
        .with_context(|| format!("writing {}", dest.display()))?;
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_length_and_hashes_are_checked() {
        use sha2::Digest;
        let data = b"content";
        let target = TargetFile {
            length: data.len() as u64,
            hashes: [("sha512".to_owned(), hex::encode(sha2::Sha512::digest(data)))].into(),
        };
        verify_target(&target, data).unwrap();
        verify_target(&target, b"contenT").unwrap_err();
        verify_target(&target, b"content!").unwrap_err();
    }

    #[test]
    fn base_urls_get_one_trailing_slash() {
        assert_eq!(with_trailing_slash("http://h/m"), "http://h/m/");
        assert_eq!(with_trailing_slash("http://h/m/"), "http://h/m/");
    }
}
