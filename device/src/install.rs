//! The hand-off of a verified image to whatever installs it on the device. The vendor
//! implements [`Installer`] (write the inactive slot, switch the boot flag, ...); [`KeepImage`]
//! only moves the verified image to its final name, which is what the simulator does.

use async_trait::async_trait;
use std::path::{Path, PathBuf};

use airlock_core::names;
use airlock_core::release::Release;

use crate::state::Installed;

/// Why an installation did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// The image could not be handed over (the device's storage): nothing was installed.
    #[error("{0}")]
    Storage(String),
    /// The image was written but did not boot; the device keeps running its previous version.
    /// `code` is what the device reports (e.g. `boot_failed`).
    #[error("the image did not boot ({code})")]
    BootFailed { code: String },
}

#[async_trait]
pub trait Installer: Send + Sync {
    /// Installs `image` (a file whose length and sha256 are exactly those `release` signed).
    async fn install(&self, image: &Path, release: &Release) -> Result<(), InstallError>;

    /// Where the image the device runs can be read (a file, or the active slot: only its first
    /// `source_length` bytes are read), to rebuild a delta from (docs/deltas.md). `None`, the
    /// default: the device cannot read it, sends no `installed_sha256` and gets full images.
    fn installed_image(&self, _state_dir: &Path, _installed: &Installed) -> Option<PathBuf> {
        None
    }

    /// The delta algorithms this device applies, in its order of preference, sent with the
    /// check-in (docs/deltas.md). The default is every algorithm this agent knows, zstd
    /// patch-from first (smallest deltas, fastest rebuild). A device without the memory for
    /// zstd's rebuild (the installed and the new image at once) returns `["bsdiff4"]`: it needs
    /// the installed image and the delta only.
    fn delta_algorithms(&self) -> Vec<String> {
        airlock_core::delta::ALGORITHMS
            .iter()
            .map(|a| a.to_string())
            .collect()
    }
}

/// Keeps the verified image under its own name beside the download (`<file>.part` becomes
/// `<file>`).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepImage;

#[async_trait]
impl Installer for KeepImage {
    async fn install(&self, image: &Path, release: &Release) -> Result<(), InstallError> {
        let (_, file) = names::split_target_name(&release.name)
            .map_err(|e| InstallError::Storage(e.to_string()))?;
        let dest = image.with_file_name(file);
        tokio::fs::rename(image, &dest)
            .await
            .map_err(|e| InstallError::Storage(format!("installing {}: {e}", dest.display())))?;
        tracing::debug!(image = %dest.display(), "installed");
        Ok(())
    }

    /// The kept image of the installed release, `<state>/firmware/<file>`.
    fn installed_image(&self, state_dir: &Path, installed: &Installed) -> Option<PathBuf> {
        let (_, file) = names::split_target_name(installed.target.as_deref()?).ok()?;
        let path = crate::state::firmware_dir(state_dir).join(file);
        path.is_file().then_some(path)
    }
}
