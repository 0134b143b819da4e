//! What the device keeps in its state directory between cycles: what it has installed
//! (`device.json`, replaced atomically) and its device credential (`credential`, mode 0600).
//! Its trusted TUF metadata lives beside them in `tuf/`, its images in `firmware/`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::Error;

/// What the device has installed, persisted in `<state>/device.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installed {
    pub id: String,
    pub product: String,
    pub version: semver::Version,
    pub security_version: u64,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub installed_at: Option<jiff::Timestamp>,
    #[serde(default)]
    pub end_of_support_notice: Option<String>,
}

pub fn state_file(dir: &Path) -> PathBuf {
    dir.join("device.json")
}

fn credential_file(dir: &Path) -> PathBuf {
    dir.join("credential")
}

/// The directory of the device's trusted TUF metadata.
pub fn tuf_dir(dir: &Path) -> PathBuf {
    dir.join("tuf")
}

/// The directory images are downloaded to.
pub fn firmware_dir(dir: &Path) -> PathBuf {
    dir.join("firmware")
}

/// What `device.json` records, or what the configuration says the device runs when it records
/// nothing (or another device's state).
pub fn load_installed(cfg: &Config) -> Result<Installed, Error> {
    let path = state_file(&cfg.state_dir);
    if path.is_file() {
        let bytes = std::fs::read(&path).map_err(Error::state("reading", &path))?;
        let installed: Installed =
            serde_json::from_slice(&bytes).map_err(|source| Error::ParseState {
                path: path.clone(),
                source,
            })?;
        if installed.product == cfg.product && installed.id == cfg.id {
            return Ok(installed);
        }
    }
    Ok(Installed {
        id: cfg.id.clone(),
        product: cfg.product.clone(),
        version: cfg.version.clone(),
        security_version: cfg.security_version,
        target: None,
        sha256: None,
        installed_at: None,
        end_of_support_notice: None,
    })
}

/// Writes `device.json` through a temporary file and a rename.
pub fn save_installed(dir: &Path, installed: &Installed) -> Result<(), Error> {
    let path = state_file(dir);
    let tmp = dir.join("device.json.tmp");
    let bytes = serde_json::to_vec_pretty(installed).map_err(|source| Error::ParseState {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&tmp, bytes).map_err(Error::state("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::state("writing", &path))
}

/// The device credential kept in the state directory, if enrolled.
pub fn stored_credential(dir: &Path) -> Option<String> {
    std::fs::read_to_string(credential_file(dir))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn proposed_credential_file(dir: &Path) -> PathBuf {
    dir.join("credential.proposed")
}

/// The credential this device proposes at enrolment ([`airlock_core::api::EnrolRequest`]):
/// made once (32 random bytes, 64 hex digits) and kept before the first request is sent, so
/// that every repeat of the enrolment, after a lost answer or a restart, proposes the same one
/// and is answered as the first time.
pub fn proposed_credential(dir: &Path) -> Result<String, Error> {
    let path = proposed_credential_file(dir);
    if let Some(kept) = std::fs::read_to_string(&path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Ok(kept);
    }
    use rand_core::RngCore;
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    let fresh = hex::encode(bytes);
    write_secret(&path, &fresh)?;
    Ok(fresh)
}

/// Keeps the credential the server confirmed, readable by the device only; the proposal is
/// done with.
pub fn store_credential(dir: &Path, credential: &str) -> Result<(), Error> {
    write_secret(&credential_file(dir), credential)?;
    let _ = std::fs::remove_file(proposed_credential_file(dir));
    Ok(())
}

/// Writes a secret readable by the device only, whole or not at all (a temporary file, made
/// 0600 before anything is written to it, synced and renamed over `path`).
fn write_secret(path: &Path, secret: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(&tmp)
        .and_then(|mut f| {
            f.write_all(secret.as_bytes())?;
            f.sync_all()
        })
        .map_err(Error::state("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::state("writing", path))
}
