//! airlock-server: serves the TUF repository, verifies publishes, decides device updates.
//!
//! `main.rs` parses the command line; this library holds the server so that tests and the
//! simulator can run it in-process.

pub mod app;
pub mod checkins;
pub mod clock;
pub mod deviceauth;
pub mod error;
pub mod fleet;
pub mod metrics;
pub mod publish;
pub mod ratelimit;
pub mod rollouts;
pub mod routes;
pub mod selfcheck;
pub mod storage;
pub mod view;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock_core::keys::{key_id_hex, public_key_json, SigningKey};

pub use app::{AppState, ServeConfig};
pub use clock::{Clock, SystemClock};

/// Files in the data directory.
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: &Path) -> Self {
        DataDir {
            root: root.to_path_buf(),
        }
    }
    pub fn online_key(&self) -> PathBuf {
        self.root.join("online.key")
    }
    pub fn online_pub(&self) -> PathBuf {
        self.root.join("online.pub")
    }
    /// The prepared next online key (online-key rotation).
    pub fn online_next_key(&self) -> PathBuf {
        self.root.join("online-next.key")
    }
    pub fn online_next_pub(&self) -> PathBuf {
        self.root.join("online-next.pub")
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("airlock.db")
    }
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }
}

/// Where state and blobs live. The default (everything `None`) is the embedded one: SQLite
/// `airlock.db` and `blobs/` in the data directory. Replicas share a PostgreSQL database
/// (`state_url`) and an S3 bucket (`blobs`); each keeps its own data directory for the online
/// key and the upload spool.
#[derive(Debug, Clone, Default)]
pub struct Storage {
    /// `postgres://...` (or `sqlite://PATH`).
    pub state_url: Option<String>,
    pub blobs: Option<storage::S3Config>,
}

impl Storage {
    /// Whether several replicas may share this storage (then each replica follows the
    /// others' publishes, rollouts and enrolments; see [`spawn_sync`]).
    pub fn is_shared(&self) -> bool {
        self.state_url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres"))
    }

    pub fn describe(&self, dir: &DataDir) -> (String, String) {
        let state = match &self.state_url {
            Some(url) => storage::state::redact_url(url),
            None => dir.database().display().to_string(),
        };
        let blobs = match &self.blobs {
            Some(c) => format!("s3://{}/{}", c.bucket, c.prefix),
            None => dir.blobs().display().to_string(),
        };
        (state, blobs)
    }

    pub async fn open_state(&self, dir: &DataDir) -> Result<storage::SqlState> {
        match &self.state_url {
            Some(url) => storage::SqlState::open_url(url, 16).await.with_context(|| {
                format!(
                    "opening the state database {}",
                    storage::state::redact_url(url)
                )
            }),
            None => storage::SqlState::open_sqlite(&dir.database())
                .await
                .with_context(|| format!("opening {}", dir.database().display())),
        }
    }

    pub async fn open_blobs(&self, dir: &DataDir) -> Result<Arc<dyn storage::BlobStore>> {
        match &self.blobs {
            Some(config) => {
                let blobs = storage::S3Blobs::open(config.clone(), &dir.root.join("spool"))
                    .await
                    .with_context(|| format!("opening the blob bucket s3://{}", config.bucket))?;
                Ok(Arc::new(blobs))
            }
            None => {
                let blobs = storage::LocalBlobs::open_dir(&dir.blobs())
                    .await
                    .with_context(|| format!("opening {}", dir.blobs().display()))?;
                Ok(Arc::new(blobs))
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub data: PathBuf,
    pub online_key_id: String,
    pub online_public_key: serde_json::Value,
    pub online_pub_file: PathBuf,
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
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
    let key = SigningKey::generate();
    let pem = key.to_pkcs8_pem()?;
    write_new(&dir.online_key(), pem.as_bytes(), 0o600)?;
    let public = key.tuf_key();
    write_new(
        &dir.online_pub(),
        public_key_json(&public).as_bytes(),
        0o644,
    )?;
    storage.open_state(&dir).await?;
    storage.open_blobs(&dir).await?;
    Ok(InitReport {
        data: data.to_path_buf(),
        online_key_id: key_id_hex(&public)?,
        online_public_key: serde_json::to_value(&public)?,
        online_pub_file: dir.online_pub(),
    })
}

/// Reads the admin token file, creating it (0600, random) if it does not exist.
pub fn load_or_create_admin_token(path: &Path) -> Result<(String, bool)> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the admin token from {}", path.display()))?;
        let token = text.lines().next().unwrap_or("").trim().to_string();
        if token.len() < 16 {
            bail!(
                "the admin token in {} is shorter than 16 characters",
                path.display()
            );
        }
        return Ok((token, false));
    }
    let token = deviceauth::random_secret();
    write_new(path, format!("{token}\n").as_bytes(), 0o600)?;
    Ok((token, true))
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
    if !dir.online_key().exists() {
        bail!(
            "{} is not an airlock-server data directory (run `airlock-server init --data {}` first)",
            data.display(),
            data.display()
        );
    }
    let pem = std::fs::read(dir.online_key())
        .with_context(|| format!("reading {}", dir.online_key().display()))?;
    let online_key = SigningKey::from_pkcs8(&pem)
        .with_context(|| format!("reading {}", dir.online_key().display()))?;
    let state = storage.open_state(&dir).await?;
    let blobs = storage.open_blobs(&dir).await?;
    let view = view::RepoView::load(&state)
        .await
        .context("loading the published repository")?;
    let rollouts = storage::StateStore::list_rollouts(&state)
        .await
        .context("loading rollouts")?;
    let credentials = storage::StateStore::credentials(&state)
        .await
        .context("loading device credentials")?;
    Ok(AppState::new(
        config,
        blobs,
        Arc::new(state),
        online_key,
        Some(data.to_path_buf()),
        admin_token,
        clock,
        view,
        rollouts,
        credentials,
    ))
}

/// Renews snapshot and timestamp in the background, checking every `every`, and warns (once
/// an hour) about offline-signed metadata that expires within `warn_within`: the server cannot
/// renew root, targets or product roles, so their key holders must re-sign in time.
pub fn spawn_renewal(
    app: AppState,
    every: std::time::Duration,
    warn_within: jiff::SignedDuration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut last_warning: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            app.limits.forget_idle();
            if let Err(e) = publish::renew_if_due(&app).await {
                tracing::error!(error = %e.message, "renewing snapshot and timestamp failed");
            }
            if last_warning.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(3600)) {
                last_warning = Some(std::time::Instant::now());
                for (role, expires) in
                    expiring_offline_roles(&app.view(), app.clock.now(), warn_within)
                {
                    tracing::warn!(%role, %expires, "offline-signed metadata expires soon: re-sign and publish it");
                }
            }
        }
    })
}

/// Root, targets and product roles that expire before `now + within`.
pub fn expiring_offline_roles(
    view: &view::RepoView,
    now: jiff::Timestamp,
    within: jiff::SignedDuration,
) -> Vec<(String, jiff::Timestamp)> {
    let limit = now.checked_add(within).unwrap_or(now);
    let mut out = Vec::new();
    if let Some(root) = view.latest_root() {
        out.push(("root".to_string(), root.signed.signed.expires));
    }
    if let Some(t) = &view.published.targets {
        out.push(("targets".to_string(), t.signed.signed.expires));
    }
    for (name, role) in &view.published.roles {
        out.push((name.clone(), role.signed.signed.expires));
    }
    out.retain(|(_, e)| *e <= limit);
    out
}

/// Brings this replica up to date with what other replicas committed to the shared state:
/// the published head, rollouts and device credentials. Returns whether the head changed.
pub async fn sync_from_store(app: &AppState) -> Result<bool> {
    let head = app
        .state
        .load_head()
        .await
        .context("reading the published head")?;
    let generation = head.map_or(0, |h| h.generation);
    let mut changed = false;
    if generation != app.view().generation {
        let _guard = app.publish_lock.lock().await;
        if generation != app.view().generation {
            let view = view::RepoView::load(app.state.as_ref())
                .await
                .context("loading the published repository")?;
            tracing::info!(
                from = app.view().generation,
                to = view.generation,
                "following a publish made by another replica"
            );
            app.set_view(view);
            changed = true;
        }
    }
    app.reload_rollouts().await.context("loading rollouts")?;
    let credentials = app
        .state
        .credentials()
        .await
        .context("loading device credentials")?;
    app.credentials.replace(credentials);
    Ok(changed)
}

/// Follows the shared state every `every` (replicas over one PostgreSQL database).
pub fn spawn_sync(app: AppState, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sync_from_store(&app).await {
                tracing::error!(error = %format!("{e:#}"), "following the shared state failed");
            }
        }
    })
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let router = routes::router(app);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving HTTP")
}

/// `airlock-server token create`: a scoped admin token, printed once, stored as its digest.
pub async fn create_admin_token(
    data: &Path,
    storage: &Storage,
    name: &str,
    scopes: &[String],
) -> Result<String> {
    use storage::StateStore;
    let known: Vec<&str> = routes::admin::Scope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    if scopes.is_empty() {
        bail!("give at least one --scope ({})", known.join(", "));
    }
    for s in scopes {
        if !known.contains(&s.as_str()) {
            bail!("unknown scope {s:?} (known: {})", known.join(", "));
        }
    }
    if name.trim().is_empty() {
        bail!("--name must not be empty");
    }
    let dir = DataDir::new(data);
    if !dir.online_key().exists() {
        bail!("{} is not an airlock-server data directory", data.display());
    }
    let state = storage.open_state(&dir).await?;
    let token = deviceauth::random_secret();
    state
        .insert_admin_token(
            &deviceauth::sha256_hex(&token),
            name,
            &scopes.join(","),
            jiff::Timestamp::now(),
        )
        .await?;
    state
        .audit(
            jiff::Timestamp::now(),
            "cli",
            "admin_token.create",
            &serde_json::json!({"name": name, "scopes": scopes}),
        )
        .await?;
    Ok(token)
}

/// `airlock-server token list`: (name, scopes, revoked).
pub async fn list_admin_tokens(
    data: &Path,
    storage: &Storage,
) -> Result<Vec<(String, String, bool)>> {
    use storage::StateStore;
    let state = storage.open_state(&DataDir::new(data)).await?;
    Ok(state.admin_tokens().await?)
}

/// `airlock-server token revoke NAME`.
pub async fn revoke_admin_token(data: &Path, storage: &Storage, name: &str) -> Result<u64> {
    use storage::StateStore;
    let state = storage.open_state(&DataDir::new(data)).await?;
    let n = state.revoke_admin_token(name).await?;
    if n == 0 {
        bail!("no live admin token named {name:?}");
    }
    state
        .audit(
            jiff::Timestamp::now(),
            "cli",
            "admin_token.revoke",
            &serde_json::json!({"name": name}),
        )
        .await?;
    Ok(n)
}

/// `airlock-server rotate-online-key`: prepares the next online key (`online-next.key`, 0600,
/// and `online-next.pub`). The server switches to it when a published root names it for
/// snapshot and timestamp (`airlock root rotate --online-key online-next.pub`).
pub fn prepare_next_online_key(data: &Path) -> Result<InitReport> {
    let dir = DataDir::new(data);
    if !dir.online_key().exists() {
        bail!("{} is not an airlock-server data directory", data.display());
    }
    if dir.online_next_key().exists() {
        bail!(
            "{} already exists: a rotation is prepared (publish a root that names it)",
            dir.online_next_key().display()
        );
    }
    let key = SigningKey::generate();
    let pem = key.to_pkcs8_pem()?;
    write_new(&dir.online_next_key(), pem.as_bytes(), 0o600)?;
    let public = key.tuf_key();
    write_new(
        &dir.online_next_pub(),
        public_key_json(&public).as_bytes(),
        0o644,
    )?;
    Ok(InitReport {
        data: data.to_path_buf(),
        online_key_id: key_id_hex(&public)?,
        online_public_key: serde_json::to_value(&public)?,
        online_pub_file: dir.online_next_pub(),
    })
}
