//! The data directory of one server: the online key (and the prepared next one), the SQLite
//! database and the blob directory of the embedded storage; `airlock-server init` creates it.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

use airlock_core::keys::{key_id_hex, public_key_json, SigningKey};

use crate::storage_config::Storage;

/// Files in the data directory.
pub struct DataDir {
    pub root: PathBuf,
}

/// One accessor per file or directory of the data directory: its path under the root.
macro_rules! data_dir_paths {
    ($($(#[$meta:meta])* $accessor:ident => $name:literal,)+) => {
        impl DataDir {
            $($(#[$meta])* pub fn $accessor(&self) -> PathBuf {
                self.root.join($name)
            })+
        }
    };
}

data_dir_paths! {
    online_key => "online.key",
    online_pub => "online.pub",
    /// The prepared next online key (online-key rotation).
    online_next_key => "online-next.key",
    online_next_pub => "online-next.pub",
    database => "airlock.db",
    blobs => "blobs",
}

impl DataDir {
    pub fn new(root: &Path) -> Self {
        DataDir {
            root: root.to_path_buf(),
        }
    }

    /// Fails unless `init` made this directory.
    pub fn check_initialised(&self) -> Result<()> {
        if !self.online_key().exists() {
            bail!(
                "{} is not an airlock-server data directory",
                self.root.display()
            );
        }
        Ok(())
    }
}

/// What `init` and `rotate-online-key` made: a new online key.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub data: PathBuf,
    pub online_key_id: String,
    pub online_public_key: serde_json::Value,
    pub online_pub_file: PathBuf,
}

/// Creates `path` (it must not exist) with `bytes`, synced, readable by `mode`.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Generates an online key into `key_file` (0600) and its public half into `pub_file`.
pub(crate) fn write_online_key(
    data: &Path,
    key_file: &Path,
    pub_file: &Path,
) -> Result<InitReport> {
    let key = SigningKey::generate();
    let pem = key.to_pkcs8_pem()?;
    write_new(key_file, pem.as_bytes(), 0o600)?;
    let public = key.tuf_key();
    write_new(pub_file, public_key_json(&public).as_bytes(), 0o644)?;
    Ok(InitReport {
        data: data.to_path_buf(),
        online_key_id: key_id_hex(&public)?,
        online_public_key: serde_json::to_value(&public)?,
        online_pub_file: pub_file.to_path_buf(),
    })
}

/// `airlock-server init`: the online key (snapshot + timestamp), its public half, the database
/// and the blob directory.
pub async fn init_data_dir(data: &Path, storage: &Storage) -> Result<InitReport> {
    let dir = DataDir::new(data);
    if dir.online_key().exists() {
        bail!(
            "{} is already initialised ({} exists)",
            data.display(),
            dir.online_key().display()
        );
    }
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let report = write_online_key(data, &dir.online_key(), &dir.online_pub())?;
    storage.open_state(&dir).await?;
    storage.open_blobs(&dir).await?;
    Ok(report)
}
