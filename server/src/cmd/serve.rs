//! `airlock-server serve`: serve the repository and the device API.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;

use airlock_server::storage::SchemaPolicy;
use airlock_server::{ServeConfig, Storage, SystemClock};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The data directory `airlock-server init` made (online key, database, blobs).
    #[arg(long, env = "AIRLOCK_DATA")]
    pub data: PathBuf,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "AIRLOCK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub tls: Box<super::tls_args::TlsArgs>,
    /// Admin token file; created with a random token (0600) if missing.
    #[arg(long, env = "AIRLOCK_ADMIN_TOKEN_FILE")]
    pub admin_token_file: PathBuf,
    /// Largest firmware upload in bytes.
    #[arg(long, env = "AIRLOCK_MAX_UPLOAD_BYTES", default_value_t = 8 << 30)]
    pub max_upload_bytes: u64,
    /// Largest publish request (signed metadata JSON) in bytes.
    #[arg(long, env = "AIRLOCK_MAX_METADATA_BYTES", default_value_t = 256 << 20)]
    pub max_metadata_bytes: usize,
    /// Time limit for an admin request (publish, re-sign, rollouts...; not blob uploads), in
    /// seconds.
    #[arg(long, env = "AIRLOCK_ADMIN_TIMEOUT_SECONDS", default_value_t = 120)]
    pub admin_timeout_seconds: u64,
    /// Longest a client may take to send a request's headers, in seconds (a silent new
    /// connection is closed after this too).
    #[arg(
        long,
        env = "AIRLOCK_HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub header_read_timeout_seconds: u64,
    /// A keep-alive connection with nothing in flight and no bytes moving is closed after this
    /// many seconds.
    #[arg(long, env = "AIRLOCK_IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    pub idle_timeout_seconds: u64,
    /// Connections served at once; more wait in the listen backlog. Keep it below the open-file
    /// limit (`ulimit -n`).
    #[arg(long, env = "AIRLOCK_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Reverse proxies (address blocks, comma-separated) whose X-Forwarded-For names the client
    /// for rate limits; from other peers the header is ignored. Default: none.
    #[arg(long, env = "AIRLOCK_TRUST_FORWARDED_FOR", value_delimiter = ',')]
    pub trust_forwarded_for: Vec<airlock_server::ratelimit::Cidr>,
    /// Whether the dashboard's (/ui) session cookie is marked Secure (sent over HTTPS only):
    /// `auto` (when the request came over TLS, or with `X-Forwarded-Proto: https` from a
    /// --trust-forwarded-for proxy), `always` (behind a TLS proxy not listed there) or `never`.
    #[arg(long, env = "AIRLOCK_UI_SECURE_COOKIE", default_value = "auto")]
    pub ui_secure_cookie: airlock_server::ui::SecureCookie,
    /// How long a dashboard session lasts from sign-in, in hours.
    #[arg(long, env = "AIRLOCK_UI_SESSION_HOURS", default_value_t = 8)]
    pub ui_session_hours: i64,
    /// How long a dashboard session lasts from sign-in, in seconds, instead of
    /// --ui-session-hours (e.g. 900 where sessions must end after 15 minutes).
    #[arg(
        long,
        env = "AIRLOCK_UI_SESSION_SECONDS",
        conflicts_with = "ui_session_hours"
    )]
    pub ui_session_seconds: Option<i64>,
    /// Timestamp lifetime in hours (renewed at half-life).
    #[arg(long, env = "AIRLOCK_TIMESTAMP_HOURS", default_value_t = 24)]
    pub timestamp_hours: i64,
    /// Snapshot lifetime in hours (renewed at half-life).
    #[arg(long, env = "AIRLOCK_SNAPSHOT_HOURS", default_value_t = 24 * 7)]
    pub snapshot_hours: i64,
    /// How often to check whether snapshot/timestamp need renewing, in seconds.
    #[arg(long, env = "AIRLOCK_RENEW_CHECK_SECONDS", default_value_t = 60)]
    pub renew_check_seconds: u64,
    /// Requests per second each client may make to the device endpoints (0 = unlimited).
    #[arg(long, env = "AIRLOCK_DEVICE_RATE", default_value_t = 100)]
    pub device_rate: u32,
    /// Burst above the device rate.
    #[arg(long, env = "AIRLOCK_DEVICE_BURST", default_value_t = 200)]
    pub device_burst: u32,
    /// Requests per second each client may make to the admin endpoints (0 = unlimited).
    #[arg(long, env = "AIRLOCK_ADMIN_RATE", default_value_t = 500)]
    pub admin_rate: u32,
    /// Burst above the admin rate.
    #[arg(long, env = "AIRLOCK_ADMIN_BURST", default_value_t = 2000)]
    pub admin_burst: u32,
    /// Device authentication for check-ins and reports: `required` (enrolled devices with
    /// their credential), `mtls` (the device's X.509 client certificate, whose URI SAN
    /// `urn:airlock:device:<id>` is its id; needs --tls-cert and --client-ca) or `open`
    /// (anyone; labs and demos).
    #[arg(long, env = "AIRLOCK_DEVICE_AUTH", default_value = "required")]
    pub device_auth: airlock_server::deviceauth::DeviceAuth,
    /// Who may read /tuf/ (metadata and images): `public` (any TUF client, mirrors, CDNs)
    /// or `enrolled` (enrolled devices' credentials and the admin token only).
    #[arg(long, env = "AIRLOCK_TUF_ACCESS", default_value = "public")]
    pub tuf_access: airlock_server::deviceauth::TufAccess,
    /// Years a security release must stay available before it may be withdrawn unforced.
    #[arg(long, env = "AIRLOCK_RETENTION_YEARS", default_value_t = 10)]
    pub retention_years: i16,
    /// Longest a device may postpone security updates, in days.
    #[arg(long, env = "AIRLOCK_MAX_POSTPONE_DAYS", default_value_t = 30)]
    pub max_postpone_days: i64,
    /// Warn this many days before root, targets or a product role expires.
    #[arg(long, env = "AIRLOCK_EXPIRY_WARNING_DAYS", default_value_t = 30)]
    pub expiry_warning_days: i64,
    /// With a shared state database (PostgreSQL): how often to follow what other replicas
    /// committed (publishes, rollouts, enrolments) in full, in seconds; 0 = never. The fallback
    /// to the change notices, which bring each change at once: while they are followed, every
    /// device credential is re-read on one sync in 60 only (a full read at 1,000,000 devices
    /// takes seconds).
    #[arg(long, env = "AIRLOCK_SYNC_SECONDS", default_value_t = 5)]
    pub sync_seconds: u64,
    /// With PostgreSQL: do not listen for the other replicas' change notices (LISTEN/NOTIFY),
    /// and follow them by the periodic sync only (e.g. through a pooler that cannot LISTEN).
    #[arg(long, env = "AIRLOCK_NO_CHANGE_NOTICES")]
    pub no_change_notices: bool,
    /// Directory holding online.key (and online-next.key during a rotation); default: --data.
    /// Replicas share one (a secret mount): a key prepared there with `rotate-online-key
    /// --data DIR` reaches every replica, which switches when a published root names it.
    #[arg(long, env = "AIRLOCK_ONLINE_KEY_DIR")]
    pub online_key_dir: Option<PathBuf>,
    /// Serve the signed advisories as a CSAF 2.0 provider at /.well-known/csaf/ under this
    /// publisher name (CSAF document.publisher.name; give the same as `airlock advisory csaf
    /// --publisher` to serve the same bytes). Needs --csaf-namespace and --csaf-base-url.
    #[arg(
        long,
        env = "AIRLOCK_CSAF_PUBLISHER",
        requires_all = ["csaf_namespace", "csaf_base_url"]
    )]
    pub csaf_publisher: Option<String>,
    /// A URL of the publisher (CSAF document.publisher.namespace), e.g. https://acme.example.
    #[arg(long, env = "AIRLOCK_CSAF_NAMESPACE", requires = "csaf_publisher")]
    pub csaf_namespace: Option<String>,
    /// The public URL this server is reached at (https://updates.acme.example): the provider
    /// metadata's canonical_url and directory_url, and security.txt's CSAF line, name it.
    #[arg(long, env = "AIRLOCK_CSAF_BASE_URL", requires = "csaf_publisher")]
    pub csaf_base_url: Option<url::Url>,
    /// Do not apply schema migrations at start: refuse to start on a state database that
    /// lacks some (run `airlock-server migrate` first, once, e.g. as a deploy Job).
    #[arg(long, env = "AIRLOCK_NO_MIGRATE")]
    pub no_migrate: bool,
}

pub async fn run(args: ServeArgs, storage: &Storage) -> Result<()> {
    if args.timestamp_hours < 1 || args.snapshot_hours < 1 || args.renew_check_seconds < 1 {
        anyhow::bail!("lifetimes and the renewal check interval must be at least 1");
    }
    if args.header_read_timeout_seconds < 1
        || args.idle_timeout_seconds < 1
        || args.admin_timeout_seconds < 1
        || args.max_connections < 1
        || args.ui_session_hours < 1
        || args.ui_session_seconds.is_some_and(|s| s < 1)
    {
        anyhow::bail!(
            "--header-read-timeout-seconds, --idle-timeout-seconds, --admin-timeout-seconds, \
             --max-connections, --ui-session-hours and --ui-session-seconds must be at least 1"
        );
    }
    // lifetimes become timestamps: beyond a century they would overflow them
    const CENTURY_HOURS: i64 = 100 * 366 * 24;
    if args.timestamp_hours > CENTURY_HOURS
        || args.snapshot_hours > CENTURY_HOURS
        || args.ui_session_hours > CENTURY_HOURS
        || args
            .ui_session_seconds
            .is_some_and(|s| s > CENTURY_HOURS * 3600)
        || args.expiry_warning_days > CENTURY_HOURS / 24
    {
        anyhow::bail!(
            "--timestamp-hours, --snapshot-hours, --ui-session-hours, --ui-session-seconds and \
             --expiry-warning-days must be at most a century ({CENTURY_HOURS} hours)"
        );
    }
    let tls_files = args.tls.files(args.device_auth)?;
    let csaf = match (
        &args.csaf_publisher,
        &args.csaf_namespace,
        &args.csaf_base_url,
    ) {
        (Some(name), Some(namespace), Some(base)) => Some(
            airlock_server::routes::csaf::CsafProvider::new(name, namespace, base)
                .map_err(|e| airlock_cli::Failure::usage(e.to_string()))?,
        ),
        _ => None,
    };
    // (with --online-key-dir, replicas of shared storage may keep little else in --data)
    if args.online_key_dir.is_none() && !args.data.is_dir() {
        return Err(airlock_cli::Failure::not_found(format!(
            "{0} is not an airlock-server data directory (it does not exist): create it with \
             `airlock-server init --data {0}`",
            args.data.display()
        ))
        .into());
    }
    // A missing token file is written only once the server has opened its data and bound its
    // address: a server that fails to start leaves nothing behind.
    let existing_token = airlock_server::load_admin_token(&args.admin_token_file)?;
    let token = existing_token
        .clone()
        .unwrap_or_else(airlock_server::deviceauth::random_secret);
    let config = ServeConfig {
        max_upload_bytes: args.max_upload_bytes,
        timestamp_lifetime: jiff::SignedDuration::from_hours(args.timestamp_hours),
        snapshot_lifetime: jiff::SignedDuration::from_hours(args.snapshot_hours),
        device_rate: airlock_server::ratelimit::Rate::new(args.device_rate, args.device_burst),
        admin_rate: airlock_server::ratelimit::Rate::new(args.admin_rate, args.admin_burst),
        device_auth: args.device_auth,
        max_postpone_days: args.max_postpone_days.max(0),
        retention_years: args.retention_years.max(0),
        tuf_access: args.tuf_access,
        online_key_dir: args.online_key_dir.clone(),
        max_metadata_bytes: args.max_metadata_bytes,
        admin_timeout: std::time::Duration::from_secs(args.admin_timeout_seconds),
        connections: airlock_server::serve::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(args.header_read_timeout_seconds),
            idle_timeout: std::time::Duration::from_secs(args.idle_timeout_seconds),
            max_connections: args.max_connections,
        },
        trust_forwarded_for: args.trust_forwarded_for,
        ui_secure_cookie: args.ui_secure_cookie,
        ui_session_lifetime: match args.ui_session_seconds {
            Some(seconds) => jiff::SignedDuration::from_secs(seconds),
            None => jiff::SignedDuration::from_hours(args.ui_session_hours),
        },
        csaf,
        ..ServeConfig::default()
    };
    let storage = &Storage {
        schema: if args.no_migrate {
            SchemaPolicy::RequireCurrent
        } else {
            SchemaPolicy::Migrate
        },
        ..storage.clone()
    };
    let app =
        airlock_server::open(&args.data, storage, config, &token, Arc::new(SystemClock)).await?;
    let (state_at, blobs_at) = storage.describe(&airlock_server::DataDir::new(&args.data));
    tracing::info!(state = %state_at, blobs = %blobs_at, "storage");
    // rollouts of releases withdrawn or superseded before this version ended them
    airlock_server::rollouts::end_overtaken(&app)
        .await
        .context("ending rollouts the published releases overtook")?;
    if storage.is_shared() && args.sync_seconds > 0 {
        // with change notices, the periodic sync re-reads the credentials only now and then
        let credentials_every = if args.no_change_notices {
            1
        } else {
            airlock_server::background::CREDENTIALS_EVERY_WITH_NOTICES
        };
        airlock_server::spawn_sync(
            app.clone(),
            std::time::Duration::from_secs(args.sync_seconds),
            credentials_every,
        );
    }
    if let Some(url) = storage.state_url.as_ref().filter(|_| storage.is_shared()) {
        if !args.no_change_notices {
            airlock_server::spawn_follow(app.clone(), url.clone());
        }
    }
    let tls = match tls_files {
        Some(files) => Some(
            airlock_server::tls::Tls::load(files).context("loading the TLS certificate and key")?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    if existing_token.is_none() {
        airlock_server::save_new_admin_token(&args.admin_token_file, &token)?;
        tracing::warn!(
            file = %args.admin_token_file.display(),
            "created an admin token file (0600) with a random token"
        );
    }
    // The first stdout line tells scripts (and tests using port 0) where we are.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{addr}");
    tracing::info!(%addr, online_key = %app.online_key_id(), "serving");
    airlock_server::spawn_renewal(
        app.clone(),
        std::time::Duration::from_secs(args.renew_check_seconds),
        jiff::SignedDuration::from_hours(args.expiry_warning_days.saturating_mul(24)),
    );
    if let Some(tls) = &tls {
        airlock_server::tls::spawn_reload(
            tls.clone(),
            std::time::Duration::from_secs(args.tls.tls_reload_seconds),
        );
    }
    airlock_server::serve_with_tls(listener, app, tls, airlock_server::serve::shutdown_signal())
        .await
}
