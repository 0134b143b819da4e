//! Online-key rotation. `airlock-server rotate-online-key` prepares the next key
//! (`online-next.key`) in the key directory, which every replica reads (a shared secret mount,
//! `--online-key-dir`; by default the data directory). Which key signs is decided by one
//! thing all replicas see atomically: the published root. A replica signs with the key among
//! those it holds that the latest published root names for snapshot and timestamp; it
//! re-checks on every new head it commits or follows, at start, and so picks the new key up
//! with no copying. Renaming the files afterwards (`online-next.key` becomes `online.key`) is
//! housekeeping in a crash-safe order; a crash at any point leaves the key the root names
//! readable, and the next start completes it.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::sync::Arc;

use airlock_core::keys::SigningKey;

use crate::app::AppState;
use crate::data_dir::{write_online_key, DataDir, InitReport};
use crate::view::RepoView;

/// `airlock-server rotate-online-key`: prepares the next online key (`online-next.key`, 0600,
/// and `online-next.pub`). The server switches to it when a published root names it for
/// snapshot and timestamp (`airlock root rotate --online-key online-next.pub`).
pub fn prepare_next_online_key(data: &Path) -> Result<InitReport> {
    let dir = DataDir::new(data);
    dir.check_initialised()?;
    if dir.online_next_key().exists() {
        bail!(
            "{} already exists: a rotation is prepared (publish a root that names it)",
            dir.online_next_key().display()
        );
    }
    write_online_key(data, &dir.online_next_key(), &dir.online_next_pub())
}

/// The key ids the latest published root names for timestamp (and snapshot): the online key.
fn named_by_root(view: &RepoView) -> Option<Vec<String>> {
    use tough::schema::RoleType;
    let root = &view.latest_root()?.signed.signed;
    let ids = root.roles.get(&RoleType::Timestamp)?;
    Some(ids.keyids.iter().map(|id| hex::encode(&**id)).collect())
}

/// The keys in the key directory: `online.key`, then `online-next.key` (each if readable).
fn candidates(dir: &Path) -> Vec<(std::path::PathBuf, SigningKey)> {
    let d = DataDir::new(dir);
    [d.online_key(), d.online_next_key()]
        .into_iter()
        .filter_map(|path| {
            let pem = std::fs::read(&path).ok()?;
            let key = SigningKey::from_pkcs8(&pem).ok()?;
            Some((path, key))
        })
        .collect()
}

/// The candidate the published root names, if any.
fn named_candidate(dir: &Path, view: &RepoView) -> Option<(std::path::PathBuf, SigningKey)> {
    let named = named_by_root(view)?;
    candidates(dir)
        .into_iter()
        .find(|(_, k)| k.key_id().is_ok_and(|id| named.contains(&id)))
}

/// At start: the online key to sign with, from `dir`. The one the published root names;
/// before anything is published (or when it names none held here), `online.key`. Finishes a
/// promotion a crash interrupted (the root names `online-next.key`).
pub(crate) fn recover(dir: &Path, view: &RepoView) -> Result<SigningKey> {
    let d = DataDir::new(dir);
    if let Some((path, key)) = named_candidate(dir, view) {
        if path == d.online_next_key() {
            tracing::warn!(dir = %dir.display(), "completing an online-key rotation: online-next.key becomes online.key");
            if let Err(e) = promote_files(&d) {
                tracing::warn!(error = %e, "could not rename the online key files (the key in use is right)");
            }
        }
        return Ok(key);
    }
    if !d.online_key().exists() {
        bail!(
            "{} holds no online key (online.key): not an airlock-server data directory or key directory",
            dir.display()
        );
    }
    let pem = std::fs::read(d.online_key())
        .with_context(|| format!("reading {}", d.online_key().display()))?;
    let key = SigningKey::from_pkcs8(&pem)
        .with_context(|| format!("reading {}", d.online_key().display()))?;
    if view.latest_root().is_some() {
        tracing::error!(online_key = %key.key_id().unwrap_or_default(), dir = %dir.display(),
            "the published root names an online key this server does not hold: renewals will fail until it is placed in the key directory");
    }
    Ok(key)
}

/// The files after a promotion, in an order where `online.key` always exists and the key the
/// root names is always readable: the old key is kept (`online.retired.<time>.key`, a hard
/// link), `online-next.key` replaces `online.key` in one rename, then the public half follows.
/// Another replica sharing the directory may have done it already: missing files are fine.
fn promote_files(d: &DataDir) -> std::io::Result<()> {
    let ignore_missing = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    if !d.online_next_key().exists() {
        return ignore_missing(std::fs::rename(d.online_next_pub(), d.online_pub()));
    }
    let stamp = jiff::Timestamp::now().as_millisecond();
    let retired = d.root.join(format!("online.retired.{stamp}.key"));
    match std::fs::hard_link(d.online_key(), &retired) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => {
            ignore_missing(std::fs::copy(d.online_key(), &retired).map(|_| ()))?;
        }
    }
    ignore_missing(std::fs::rename(d.online_next_key(), d.online_key()))?;
    ignore_missing(std::fs::rename(d.online_next_pub(), d.online_pub()))?;
    std::fs::File::open(&d.root)?.sync_all()
}

/// The online key and its TUF key id.
pub(crate) struct OnlineKey {
    key: Arc<SigningKey>,
    id: String,
}

impl OnlineKey {
    pub(crate) fn new(key: SigningKey) -> Self {
        let id = key.key_id().unwrap_or_default();
        OnlineKey {
            key: Arc::new(key),
            id,
        }
    }
}

impl AppState {
    /// The online key that signs snapshot and timestamp now.
    pub fn online_key(&self) -> Arc<SigningKey> {
        match self.online.read() {
            Ok(k) => k.key.clone(),
            Err(p) => p.into_inner().key.clone(),
        }
    }

    pub fn online_key_id(&self) -> String {
        match self.online.read() {
            Ok(k) => k.id.clone(),
            Err(p) => p.into_inner().id.clone(),
        }
    }

    /// The prepared next online key (`online-next.key`, made by
    /// `airlock-server rotate-online-key`), if there is one.
    pub fn next_online_key(&self) -> Option<SigningKey> {
        let dir = self.key_dir.as_ref()?;
        let pem = std::fs::read(DataDir::new(dir).online_next_key()).ok()?;
        SigningKey::from_pkcs8(&pem).ok()
    }

    fn set_online_key(&self, key: SigningKey) {
        let next = OnlineKey::new(key);
        match self.online.write() {
            Ok(mut k) => *k = next,
            Err(p) => *p.into_inner() = next,
        }
    }

    /// Makes `key` (the prepared next key, named by the root just committed) the online key:
    /// in memory at once; on disk `online-next.*` become `online.*` (the old key is kept as
    /// `online.retired.<time>.key`). A failure to rename is logged, not fatal: every replica
    /// and every restart chooses the key by the published root, not by file name.
    pub fn promote_online_key(&self, key: SigningKey) {
        self.set_online_key(key);
        if let Some(dir) = &self.key_dir {
            if let Err(e) = promote_files(&DataDir::new(dir)) {
                tracing::warn!(error = %e, dir = %dir.display(), "could not rename the online key files (the key in use is right; the next start completes it)");
            }
        }
    }

    /// Follows a root another replica published: when it names a key this replica does not
    /// sign with, the key of the key directory it names becomes the online key.
    pub(crate) fn adopt_online_key(&self, view: &RepoView) {
        let Some(named) = named_by_root(view) else {
            return;
        };
        if named.contains(&self.online_key_id()) {
            return;
        }
        let Some(dir) = &self.key_dir else { return };
        match named_candidate(dir, view) {
            Some((path, key)) => {
                tracing::warn!(online_key = %key.key_id().unwrap_or_default(), file = %path.display(),
                    "online key rotated by a root another replica published");
                self.set_online_key(key);
            }
            None => tracing::error!(named = ?named, dir = %dir.display(),
                "the published root names an online key this replica does not hold: renewals will fail until it is in the key directory"),
        }
    }
}
