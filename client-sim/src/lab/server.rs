//! airlock-server in process: embedded default (local directory + SQLite) on a loopback port,
//! with no per-client limits (every simulated device shares 127.0.0.1) and open device access
//! (lab devices check in without enrolling; see docs/operations.md for enrolment).

use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Server {
    pub app: airlock_server::AppState,
    pub addr: std::net::SocketAddr,
    data_dir: PathBuf,
    token: String,
    clock: Arc<dyn airlock_server::Clock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<()>>>,
}

/// Creates the server's data directory and its admin token (written to `token_file`).
pub async fn init(data_dir: &Path, token_file: &Path) -> Result<String> {
    airlock_server::init_data_dir(data_dir, &airlock_server::Storage::default()).await?;
    let (token, _) = airlock_server::load_or_create_admin_token(token_file)?;
    Ok(token)
}

/// The online key's public half, which the repository's root names for snapshot/timestamp.
pub fn online_pub(data_dir: &Path) -> PathBuf {
    airlock_server::DataDir::new(data_dir).online_pub()
}

impl Server {
    /// Opens the data directory and serves it on `addr` (port 0: a free one).
    pub async fn start(
        data_dir: &Path,
        token: &str,
        clock: Arc<dyn airlock_server::Clock>,
        addr: std::net::SocketAddr,
    ) -> Result<Server> {
        let app = airlock_server::open(
            data_dir,
            &airlock_server::Storage::default(),
            airlock_server::ServeConfig {
                device_rate: None,
                admin_rate: None,
                device_auth: airlock_server::deviceauth::DeviceAuth::Open,
                ..airlock_server::ServeConfig::default()
            },
            token,
            clock.clone(),
        )
        .await?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr} for the server"))?;
        let addr = listener.local_addr()?;
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(airlock_server::serve(listener, app.clone(), async {
            let _ = rx.await;
        }));
        Ok(Server {
            app,
            addr,
            data_dir: data_dir.to_path_buf(),
            token: token.to_string(),
            clock,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops the server and opens its data directory again on the same address.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await;
        *self = Server::start(&self.data_dir, &self.token, self.clock.clone(), self.addr).await?;
        Ok(())
    }

    /// New snapshot and timestamp versions, as `POST /v1/admin/resign` makes.
    pub async fn resign(&self) -> Result<()> {
        airlock_server::publish::resign(&self.app)
            .await
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!(e.to_string()))
    }

    /// Renews snapshot/timestamp if due, as the server's minute timer does.
    pub async fn renew_if_due(&self) -> Result<()> {
        airlock_server::publish::renew_if_due(&self.app)
            .await
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("the server could not renew snapshot/timestamp: {e}"))
    }

    /// How many 206 (partial content) answers the server's metrics count.
    pub fn range_responses(&self) -> u64 {
        self.app
            .metrics
            .encode()
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("status=\"206\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// The current rollout of each release (a started rollout supersedes the hold made at
    /// publish).
    pub fn rollouts(&self) -> Vec<airlock_core::rollout::Rollout> {
        let all = self.app.rollouts();
        let targets: BTreeSet<&str> = all.iter().map(|r| r.target.as_str()).collect();
        targets
            .into_iter()
            .filter_map(|t| airlock_server::rollouts::latest_for_target(&all, t).cloned())
            .collect()
    }
}
