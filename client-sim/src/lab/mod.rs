//! The lab: airlock-server in process and a repository signed with the real signer, in a
//! temporary directory, for the demo, fleet scenarios and attack drills. This module is the
//! only part of the simulator that uses `airlock_server` and `airlock_signer`; devices
//! (`airlock_device`) and drills reach the lab over HTTP like any device would.
//!
//! - [`server`]: the server, its restart, renewal and metrics;
//! - [`repository`]: products, releases, support changes, key rotation, publishing;
//! - [`catalogue`]: the demo's products and releases, and what the attack drills add;
//! - [`clock`]: the simulated clock shared by server and devices.

pub mod catalogue;
pub mod clock;
pub mod repository;
pub mod server;

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;

use airlock_core::api::RolloutRequest;

pub use catalogue::{Revoked, CAM, DOORBELL, HUB, HUB_FLOOR, PLUG};
pub use clock::SimClock;
pub use repository::{read_token, NewRelease, Product, SignedRelease};

/// A running lab in a temporary directory (`<dir>/srv` the server's data, `<dir>/repo` the
/// repository, `<dir>/admin.token`).
pub struct Lab {
    tmp: tempfile::TempDir,
    pub dir: PathBuf,
    server: server::Server,
    pub server_url: url::Url,
    pub repo: repository::Repository,
    pub token: String,
    /// The pinned root devices start from (`repo/metadata/1.root.json`).
    pub trusted_root: PathBuf,
}

/// Which clock the lab's server runs on.
pub enum LabClock {
    System,
    Simulated(Arc<SimClock>),
}

impl Lab {
    /// Creates the temporary directory (named `<prefix>XXXX`), starts the server on a free
    /// loopback port and creates an empty repository (nothing published).
    pub async fn start(prefix: &str, clock: LabClock) -> Result<Lab> {
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .context("creating a temporary directory")?;
        let dir = tmp.path().to_path_buf();
        let srv = dir.join("srv");
        let token = server::init(&srv, &dir.join("admin.token")).await?;
        let clock: Arc<dyn airlock_server::Clock> = match clock {
            LabClock::System => Arc::new(airlock_server::SystemClock),
            LabClock::Simulated(c) => c,
        };
        let server = server::Server::start(&srv, &token, clock, "127.0.0.1:0".parse()?).await?;
        let server_url = url::Url::parse(&format!("http://{}/", server.addr))?;
        let repo =
            repository::Repository::init(&dir.join("repo"), &server::online_pub(&srv)).await?;
        Ok(Lab {
            trusted_root: repo.first_root(),
            tmp,
            dir,
            server,
            server_url,
            repo,
            token,
        })
    }

    /// The demo lab: two products (acme-cam in support, acme-doorbell past its security
    /// window), four releases, published once.
    pub async fn demo(prefix: &str) -> Result<Lab> {
        let lab = Lab::start(prefix, LabClock::System).await?;
        catalogue::demo(&lab).await?;
        lab.publish(false)
            .await
            .context("publishing the demo repository")?;
        Ok(lab)
    }

    /// Publishes the lab repository as it is on disk.
    pub async fn publish(&self, hold: bool) -> Result<()> {
        self.repo.publish(&self.server_url, &self.token, hold).await
    }

    /// New snapshot and timestamp versions on the server.
    pub async fn resign(&self) -> Result<()> {
        self.server.resign().await
    }

    pub async fn renew_if_due(&self) -> Result<()> {
        self.server.renew_if_due().await
    }

    pub fn rollouts(&self) -> Vec<airlock_core::rollout::Rollout> {
        self.server.rollouts()
    }

    /// The in-process server's state (to call its services directly, or to open a second
    /// replica beside it).
    pub fn app(&self) -> &airlock_server::AppState {
        &self.server.app
    }

    pub fn range_responses(&self) -> u64 {
        self.server.range_responses()
    }

    /// Stops the server and opens it again from its data directory, on the same address.
    pub async fn restart_server(&mut self) -> Result<()> {
        self.server.restart().await
    }

    /// The admin API's rollout client (`airlock rollout`).
    fn admin(&self) -> Result<airlock_signer::rollout::AdminClient> {
        airlock_signer::rollout::AdminClient::new(self.server_url.clone(), self.token.clone())
    }

    pub async fn start_rollout(&self, request: &RolloutRequest) -> Result<()> {
        self.admin()?.start(request).await.map(|_| ())
    }

    /// `pause` or `resume` a rollout, with a reason.
    pub async fn rollout_action(
        &self,
        product: &str,
        version: &str,
        action: &str,
        reason: String,
    ) -> Result<()> {
        self.admin()?
            .act(product, version, action, Some(reason))
            .await
            .map(|_| ())
    }

    /// Stops the server; keeps the directory (returning its path) or deletes it.
    pub async fn stop(mut self, keep: bool) -> Option<PathBuf> {
        self.server.stop().await;
        if keep {
            Some(self.tmp.keep())
        } else {
            None
        }
    }
}
