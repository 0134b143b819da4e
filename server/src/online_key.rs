//! Online-key rotation: `airlock-server rotate-online-key` prepares the next key; a published
//! root that names it switches the server to it (see `publish`).

use anyhow::{bail, Result};
use std::path::Path;
use std::sync::Arc;

use airlock_core::keys::SigningKey;

use crate::app::AppState;
use crate::data_dir::{write_online_key, DataDir, InitReport};

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
        let dir = self.data_dir.as_ref()?;
        let pem = std::fs::read(DataDir::new(dir).online_next_key()).ok()?;
        SigningKey::from_pkcs8(&pem).ok()
    }

    /// Makes `key` (the prepared next key) the online key: in memory, and on disk
    /// (`online.key` moves to `online.retired.<time>.key`, `online-next.*` become `online.*`).
    pub fn promote_online_key(&self, key: SigningKey) -> std::io::Result<()> {
        if let Some(dir) = &self.data_dir {
            let d = DataDir::new(dir);
            let stamp = jiff::Timestamp::now().as_second();
            std::fs::rename(
                d.online_key(),
                dir.join(format!("online.retired.{stamp}.key")),
            )?;
            std::fs::rename(d.online_next_key(), d.online_key())?;
            let _ = std::fs::rename(d.online_next_pub(), d.online_pub());
        }
        let next = OnlineKey::new(key);
        match self.online.write() {
            Ok(mut k) => *k = next,
            Err(p) => *p.into_inner() = next,
        }
        Ok(())
    }
}
