//! One simulated device: an [`airlock_device`] agent with simulated faults. The image is
//! "installed" by keeping it under its name ([`KeepImage`]) and `device.json`; a listed
//! version fails to boot; the link adds latency, a bandwidth cap and cut-off downloads.

use anyhow::Result;
use async_trait::async_trait;
use std::path::Path;

use airlock_core::release::Release;
use airlock_device::{Arrival, Device, InstallError, Installer, KeepImage, Link};

pub use airlock_device::{DeviceRun, Installed, Outcome, Refusal};

/// The agent's configuration, as the device library takes it.
pub use airlock_device::Config as AgentConfig;

#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// The agent's configuration (without the simulated faults). Its clock (`now`) is the one
    /// drills set to simulate a device that keeps running while an attacker freezes its
    /// metadata.
    pub agent: AgentConfig,
    /// Versions that fail to boot on this device once installed (a simulated hardware or
    /// firmware fault, for fleet scenarios): the device verifies and writes the image, then
    /// reports `failed` with code `boot_failed` and keeps running its previous version.
    pub boot_fails: Vec<String>,
    /// A simulated network fault: the connection drops once this fraction (0..1) of an image
    /// has arrived. The partial image is kept and the next cycle resumes it with a Range
    /// request.
    pub interrupt_download_at: Option<f64>,
    /// Simulated network conditions: latency added before every request, and a bandwidth
    /// cap for image downloads (bytes per second).
    pub network: Network,
}

impl DeviceConfig {
    /// A device without simulated faults.
    pub fn new(agent: AgentConfig) -> Self {
        DeviceConfig {
            agent,
            boot_fails: Vec::new(),
            interrupt_download_at: None,
            network: Network::default(),
        }
    }
}

/// Simulated network conditions (real time).
#[derive(Debug, Clone, Copy, Default)]
pub struct Network {
    pub latency: std::time::Duration,
    pub bytes_per_second: Option<u64>,
}

/// The simulated link: [`Network`] plus the cut-off of [`DeviceConfig::interrupt_download_at`].
struct SimLink {
    network: Network,
    interrupt_at: Option<f64>,
}

#[async_trait]
impl Link for SimLink {
    async fn before_request(&self) {
        if !self.network.latency.is_zero() {
            tokio::time::sleep(self.network.latency).await;
        }
    }

    async fn image_piece(&self, received: u64, piece: usize, length: u64) -> Arrival {
        // The cut falls at a fixed share of the image; a transfer that resumed past it runs on.
        let cut = self
            .interrupt_at
            .map(|f| ((length as f64) * f.clamp(0.0, 1.0)) as u64)
            .filter(|c| *c > received && *c < length);
        let arrival = match cut {
            Some(c) if received + piece as u64 >= c => Arrival::CutAfter((c - received) as usize),
            _ => Arrival::Whole,
        };
        let arrived = match arrival {
            Arrival::CutAfter(n) => n,
            Arrival::Whole => piece,
        };
        if let Some(bps) = self.network.bytes_per_second.filter(|b| *b > 0) {
            tokio::time::sleep(std::time::Duration::from_secs_f64(
                arrived as f64 / bps as f64,
            ))
            .await;
        }
        arrival
    }
}

/// Keeps the image ([`KeepImage`]), then fails to boot the listed versions.
struct SimInstaller<'a> {
    boot_fails: &'a [String],
    /// The delta algorithms the device applies (`None`: the agent's default, all it knows).
    delta_algorithms: Option<&'a [String]>,
}

#[async_trait]
impl Installer for SimInstaller<'_> {
    async fn install(&self, image: &Path, release: &Release) -> Result<(), InstallError> {
        KeepImage.install(image, release).await?;
        if self.boot_fails.contains(&release.info.version.to_string()) {
            return Err(InstallError::BootFailed {
                code: "boot_failed".into(),
            });
        }
        Ok(())
    }

    fn installed_image(
        &self,
        state_dir: &Path,
        installed: &Installed,
    ) -> Option<std::path::PathBuf> {
        KeepImage.installed_image(state_dir, installed)
    }

    fn delta_algorithms(&self) -> Vec<String> {
        match self.delta_algorithms {
            Some(list) => list.to_vec(),
            None => KeepImage.delta_algorithms(),
        }
    }
}

/// Runs one update cycle. `Err` is for failures that are not a security verdict (cannot reach
/// the server, cannot write state); refusals are `Ok(Outcome::Refused)`.
pub async fn run_device(cfg: &DeviceConfig, client: &reqwest::Client) -> Result<DeviceRun> {
    run_device_applying(cfg, client, None).await
}

/// [`run_device`] for a device that applies only `delta_algorithms` (in its order of
/// preference), e.g. `["bsdiff4"]` for a device short of memory (docs/deltas.md).
pub async fn run_device_applying(
    cfg: &DeviceConfig,
    client: &reqwest::Client,
    delta_algorithms: Option<&[String]>,
) -> Result<DeviceRun> {
    let device = Device {
        config: &cfg.agent,
        client,
        installer: &SimInstaller {
            boot_fails: &cfg.boot_fails,
            delta_algorithms,
        },
        link: &SimLink {
            network: cfg.network,
            interrupt_at: cfg.interrupt_download_at,
        },
    };
    Ok(device.run_cycle().await?)
}
