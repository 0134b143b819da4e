//! Shared server state: one `Clone` struct passed to every handler, and [`open`], which builds
//! it from a data directory.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::sync::{Arc, RwLock};

use airlock_core::keys::SigningKey;
use airlock_core::rollout::Rollout;

use crate::clock::Clock;
use crate::data_dir::DataDir;
use crate::storage::{BlobStore, EnrolmentStore, RolloutStore, StateStore};
use crate::storage_config::Storage;
use crate::view::RepoView;

/// Tunables of `airlock-server serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Largest firmware upload accepted.
    pub max_upload_bytes: u64,
    /// Largest publish request (metadata JSON).
    pub max_metadata_bytes: usize,
    /// Lifetime of timestamp metadata.
    pub timestamp_lifetime: jiff::SignedDuration,
    /// Lifetime of snapshot metadata.
    pub snapshot_lifetime: jiff::SignedDuration,
    /// Time limit for answering a device or metadata request (not for streaming bodies).
    pub request_timeout: std::time::Duration,
    /// Per-client limit on device endpoints (check-in, reports); `None` = unlimited.
    pub device_rate: Option<crate::ratelimit::Rate>,
    /// Per-client limit on admin endpoints; `None` = unlimited.
    pub admin_rate: Option<crate::ratelimit::Rate>,
    /// Whether check-ins and reports need an enrolled device's credential.
    pub device_auth: crate::deviceauth::DeviceAuth,
    /// Longest a device may postpone security updates, in days.
    pub max_postpone_days: i64,
    /// Years a security release must stay published (CRA Art. 13(9)).
    pub retention_years: i16,
    /// Who may read `/tuf/`.
    pub tuf_access: crate::deviceauth::TufAccess,
    /// Where `online.key` and `online-next.key` are read from; `None` = the data directory.
    /// Replicas share one (a shared secret mount), so a rotation prepared there reaches all.
    pub online_key_dir: Option<std::path::PathBuf>,
    /// Header-read and idle timeouts, connection cap.
    pub connections: crate::serve::ConnectionLimits,
    /// Time limit for an admin request (publish, rollouts, ...; not blob uploads).
    pub admin_timeout: std::time::Duration,
    /// Peers whose `X-Forwarded-For` names the client (trusted reverse proxies); empty = none.
    pub trust_forwarded_for: Vec<crate::ratelimit::Cidr>,
    /// Whether the dashboard's session cookie is `Secure` (auto: when served over TLS).
    pub ui_secure_cookie: crate::ui::SecureCookie,
    /// How long a dashboard session lasts from sign-in.
    pub ui_session_lifetime: jiff::SignedDuration,
    /// The CSAF provider served at `/.well-known/csaf/` (`--csaf-publisher`...); `None`: not
    /// served.
    pub csaf: Option<crate::routes::csaf::CsafProvider>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_upload_bytes: 8 << 30,
            max_metadata_bytes: 256 << 20,
            timestamp_lifetime: jiff::SignedDuration::from_hours(24),
            snapshot_lifetime: jiff::SignedDuration::from_hours(24 * 7),
            request_timeout: std::time::Duration::from_secs(30),
            device_rate: crate::ratelimit::Rate::new(100, 200),
            admin_rate: crate::ratelimit::Rate::new(500, 2000),
            device_auth: crate::deviceauth::DeviceAuth::Required,
            max_postpone_days: 30,
            retention_years: airlock_core::verify::DEFAULT_RETENTION_YEARS,
            tuf_access: crate::deviceauth::TufAccess::Public,
            online_key_dir: None,
            connections: crate::serve::ConnectionLimits::default(),
            admin_timeout: std::time::Duration::from_secs(120),
            trust_forwarded_for: Vec::new(),
            ui_secure_cookie: crate::ui::SecureCookie::Auto,
            ui_session_lifetime: jiff::SignedDuration::from_hours(8),
            csaf: None,
        }
    }
}

pub struct Inner {
    pub config: ServeConfig,
    pub blobs: Arc<dyn BlobStore>,
    pub state: Arc<dyn StateStore>,
    pub(crate) online: RwLock<crate::online_key::OnlineKey>,
    /// Where `online.key` and `online-next.key` live (for online-key rotation); `None` for
    /// in-memory servers.
    pub key_dir: Option<std::path::PathBuf>,
    /// sha256 of the admin token; the token itself is not kept.
    pub admin_token_sha256: [u8; 32],
    pub clock: Arc<dyn Clock>,
    pub metrics: crate::metrics::Metrics,
    pub limits: crate::ratelimit::Limits,
    pub check_ins: crate::checkins::CheckInWriter,
    pub credentials: crate::deviceauth::Credentials,
    view: RwLock<Arc<RepoView>>,
    rollouts: RwLock<Arc<Vec<Rollout>>>,
    /// Rollout figures for `/metrics` (one query for all current rollouts): one load per period.
    pub rollout_figures: crate::cache::Cached<Arc<Vec<airlock_core::api::RolloutStatus>>>,
    /// The CSAF documents of the served view, rendered once per published generation (every
    /// `/.well-known/csaf/` request needs them; they change only with a publish).
    pub csaf_documents: crate::routes::csaf::Documents,
    /// `/readyz`'s store checks: one pair of checks per second however many probes come.
    pub readiness: crate::cache::Cached<(bool, bool)>,
    /// Metadata lookups `/tuf/metadata/` passed on to the state store (older versions).
    pub metadata_lookups: std::sync::atomic::AtomicU64,
    /// Serialises publishes and renewals within this process; the state store's generation
    /// check serialises them across replicas.
    pub publish_lock: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: ServeConfig,
        blobs: Arc<dyn BlobStore>,
        state: Arc<dyn StateStore>,
        online_key: SigningKey,
        key_dir: Option<std::path::PathBuf>,
        admin_token: &str,
        clock: Arc<dyn Clock>,
        view: RepoView,
        rollouts: Vec<Rollout>,
        credentials: Vec<crate::storage::DeviceCredential>,
    ) -> Self {
        use sha2::Digest;
        let limits = crate::ratelimit::Limits::new(config.device_rate, config.admin_rate);
        let check_ins = crate::checkins::CheckInWriter::spawn(state.clone());
        AppState(Arc::new(Inner {
            config,
            blobs,
            state,
            online: RwLock::new(crate::online_key::OnlineKey::new(online_key)),
            key_dir,
            admin_token_sha256: sha2::Sha256::digest(admin_token.as_bytes()).into(),
            clock,
            metrics: crate::metrics::Metrics::new(),
            limits,
            check_ins,
            credentials: crate::deviceauth::Credentials::new(credentials),
            view: RwLock::new(Arc::new(view)),
            rollouts: RwLock::new(Arc::new(rollouts)),
            rollout_figures: crate::cache::Cached::new(std::time::Duration::from_secs(10)),
            readiness: crate::cache::Cached::new(std::time::Duration::from_secs(1)),
            csaf_documents: crate::routes::csaf::Documents::default(),
            metadata_lookups: std::sync::atomic::AtomicU64::new(0),
            publish_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// The current published view (cheap: an `Arc` clone).
    pub fn view(&self) -> Arc<RepoView> {
        match self.view.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_view(&self, view: RepoView) {
        let view = Arc::new(view);
        match self.view.write() {
            Ok(mut v) => *v = view,
            Err(poisoned) => *poisoned.into_inner() = view,
        }
    }

    /// All rollouts, oldest first (cheap: an `Arc` clone).
    pub fn rollouts(&self) -> Arc<Vec<Rollout>> {
        match self.rollouts.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads the rollouts from the state store. Callers hold the publish lock, so that a
    /// list read before a publish committed never replaces the one that publish set.
    pub async fn reload_rollouts(&self) -> Result<(), crate::storage::StateError> {
        let fresh = self.state.list_rollouts().await?;
        self.set_rollouts(fresh);
        Ok(())
    }

    fn set_rollouts(&self, rollouts: Vec<Rollout>) {
        let fresh = Arc::new(rollouts);
        match self.rollouts.write() {
            Ok(mut v) => *v = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }

    /// Switches to a view that was just committed with `held` (its releases' held rollouts):
    /// the rollouts first, so that no check-in sees a release of `view` without its hold.
    pub(crate) fn switch_committed(&self, view: RepoView, held: &[Rollout]) {
        if !held.is_empty() {
            let mut all = self.rollouts().as_ref().clone();
            all.extend_from_slice(held);
            self.set_rollouts(all);
        }
        self.set_view(view);
    }

    /// Follows what the state store holds: the published head, then the rollouts (read after
    /// the head, so they include every hold committed with it), switched rollouts first.
    /// The caller holds the publish lock.
    pub async fn follow_store(&self) -> Result<(), crate::storage::StateError> {
        let view = RepoView::load(self.state.as_ref()).await?;
        let rollouts = self.state.list_rollouts().await?;
        // a new root may name the next online key: sign with it from now on
        self.adopt_online_key(&view);
        self.set_rollouts(rollouts);
        self.set_view(view);
        Ok(())
    }

    /// Whether `token` is the admin token (compares digests, in constant time).
    pub fn is_admin_token(&self, token: &str) -> bool {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        digest
            .iter()
            .zip(self.admin_token_sha256.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// Opens the data directory and builds the server state.
pub async fn open(
    data: &Path,
    storage: &Storage,
    config: ServeConfig,
    admin_token: &str,
    clock: Arc<dyn Clock>,
) -> Result<AppState> {
    let dir = DataDir::new(data);
    let key_dir = config
        .online_key_dir
        .clone()
        .unwrap_or_else(|| data.to_path_buf());
    let keys = DataDir::new(&key_dir);
    if !keys.online_key().exists() && !keys.online_next_key().exists() {
        bail!(
            "{} holds no online key: not an airlock-server data directory (run `airlock-server init --data {}` first{})",
            key_dir.display(),
            data.display(),
            if key_dir == data { "" } else { ", or point --online-key-dir at the replicas' key directory" }
        );
    }
    let state = storage.open_state(&dir).await?;
    let blobs = storage.open_blobs(&dir).await?;
    let view = RepoView::load(&state)
        .await
        .context("loading the published repository")?;
    let rollouts = state.list_rollouts().await.context("loading rollouts")?;
    // the key the published root names, completing a rotation a crash interrupted
    let online_key = crate::online_key::recover(&key_dir, &view)?;
    let credentials = state
        .credentials()
        .await
        .context("loading device credentials")?;
    Ok(AppState::new(
        config,
        blobs,
        Arc::new(state),
        online_key,
        Some(key_dir),
        admin_token,
        clock,
        view,
        rollouts,
        credentials,
    ))
}
