//! `airlock-server`: parses the command line and runs the server library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

use airlock_server::{ServeConfig, Storage, SystemClock};

#[derive(Parser)]
#[command(
    name = "airlock-server",
    version,
    about = "Serves a TUF firmware repository, verifies publishes and decides device updates",
    long_about = "airlock-server holds the online key (snapshot + timestamp), serves the TUF \
repository at /tuf/, verifies and commits publishes from `airlock publish`, and answers device \
check-ins with the update decision.\n\nExit codes: 0 success, 1 error, 2 usage error."
)]
struct Cli {
    /// Async worker threads (default: one per core).
    #[arg(long, global = true, env = "AIRLOCK_WORKER_THREADS")]
    worker_threads: Option<usize>,
    /// TOML file of settings (keys are flag names, e.g. `server`, `admin-token-file`).
    #[arg(long, global = true, env = "AIRLOCK_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where state and blobs live (default: SQLite and a blob directory inside --data).
#[derive(clap::Args)]
struct StorageArgs {
    /// State database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB, shared by several replicas
    /// (default: SQLite airlock.db in the data directory).
    #[arg(long, global = true, env = "AIRLOCK_STATE_URL")]
    state_url: Option<String>,
    /// Firmware blobs in an S3 bucket: s3://BUCKET[/PREFIX] (default: blobs/ in the data
    /// directory). Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
    #[arg(long, global = true, env = "AIRLOCK_BLOBS")]
    blobs: Option<String>,
    /// Endpoint of an S3-protocol server (MinIO, Ceph, Garage...), e.g. http://10.0.0.5:9000.
    #[arg(long, global = true, env = "AIRLOCK_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, global = true, env = "AWS_REGION", default_value = "us-east-1")]
    s3_region: String,
    /// Path-style bucket addressing (most self-hosted S3 servers need it).
    #[arg(long, global = true, env = "AIRLOCK_S3_PATH_STYLE")]
    s3_path_style: bool,
}

impl StorageArgs {
    fn storage(&self) -> Result<Storage> {
        let blobs = match &self.blobs {
            None => None,
            Some(url) => {
                let mut c = airlock_server::storage::S3Config::parse(url)
                    .map_err(|e| anyhow::anyhow!("--blobs: {e}"))?;
                c.endpoint = self.s3_endpoint.clone();
                c.region = self.s3_region.clone();
                c.path_style = self.s3_path_style;
                Some(c)
            }
        };
        Ok(Storage {
            state_url: self.state_url.clone(),
            blobs,
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: the online key (online.key, 0600), its public key (online.pub),
    /// the SQLite database and the blob directory. Prints the public key.
    Init {
        #[arg(long, env = "AIRLOCK_DATA")]
        data: PathBuf,
        /// Print JSON.
        #[arg(long, env = "AIRLOCK_JSON")]
        json: bool,
    },
    /// Prepare the next online key (online-next.key/.pub); the server switches to it when a
    /// published root names it (`airlock root rotate --online-key online-next.pub`).
    RotateOnlineKey {
        #[arg(long, env = "AIRLOCK_DATA")]
        data: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Scoped admin tokens (publish, rollout, devices, read), stored as digests.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Serve the repository and the device API.
    Serve {
        #[arg(long, env = "AIRLOCK_DATA")]
        data: PathBuf,
        /// Address to listen on (port 0 picks a free port; the chosen address is printed).
        #[arg(long, env = "AIRLOCK_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Admin token file; created with a random token (0600) if missing.
        #[arg(long, env = "AIRLOCK_ADMIN_TOKEN_FILE")]
        admin_token_file: PathBuf,
        /// Largest firmware upload in bytes.
        #[arg(long, env = "AIRLOCK_MAX_UPLOAD_BYTES", default_value_t = 8 << 30)]
        max_upload_bytes: u64,
        /// Timestamp lifetime in hours (renewed at half-life).
        #[arg(long, env = "AIRLOCK_TIMESTAMP_HOURS", default_value_t = 24)]
        timestamp_hours: i64,
        /// Snapshot lifetime in hours (renewed at half-life).
        #[arg(long, env = "AIRLOCK_SNAPSHOT_HOURS", default_value_t = 24 * 7)]
        snapshot_hours: i64,
        /// How often to check whether snapshot/timestamp need renewing, in seconds.
        #[arg(long, env = "AIRLOCK_RENEW_CHECK_SECONDS", default_value_t = 60)]
        renew_check_seconds: u64,
        /// Requests per second each client may make to the device endpoints (0 = unlimited).
        #[arg(long, env = "AIRLOCK_DEVICE_RATE", default_value_t = 100)]
        device_rate: u32,
        /// Burst above the device rate.
        #[arg(long, env = "AIRLOCK_DEVICE_BURST", default_value_t = 200)]
        device_burst: u32,
        /// Requests per second each client may make to the admin endpoints (0 = unlimited).
        #[arg(long, env = "AIRLOCK_ADMIN_RATE", default_value_t = 500)]
        admin_rate: u32,
        /// Burst above the admin rate.
        #[arg(long, env = "AIRLOCK_ADMIN_BURST", default_value_t = 2000)]
        admin_burst: u32,
        /// Device authentication for check-ins and reports: `required` (enrolled devices with
        /// their credential) or `open` (anyone; labs and demos).
        #[arg(long, env = "AIRLOCK_DEVICE_AUTH", default_value = "required")]
        device_auth: airlock_server::deviceauth::DeviceAuth,
        /// Who may read /tuf/ (metadata and images): `public` (any TUF client, mirrors, CDNs)
        /// or `enrolled` (enrolled devices' credentials and the admin token only).
        #[arg(long, env = "AIRLOCK_TUF_ACCESS", default_value = "public")]
        tuf_access: airlock_server::deviceauth::TufAccess,
        /// Years a security release must stay available before it may be withdrawn unforced.
        #[arg(long, env = "AIRLOCK_RETENTION_YEARS", default_value_t = 10)]
        retention_years: i16,
        /// Longest a device may postpone security updates, in days.
        #[arg(long, env = "AIRLOCK_MAX_POSTPONE_DAYS", default_value_t = 30)]
        max_postpone_days: i64,
        /// Warn this many days before root, targets or a product role expires.
        #[arg(long, env = "AIRLOCK_EXPIRY_WARNING_DAYS", default_value_t = 30)]
        expiry_warning_days: i64,
        /// With a shared state database (PostgreSQL): how often to follow what other replicas
        /// committed (publishes, rollouts, enrolments), in seconds; 0 = never.
        #[arg(long, env = "AIRLOCK_SYNC_SECONDS", default_value_t = 5)]
        sync_seconds: u64,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token with the given scopes; it is printed once.
    Create {
        #[arg(long, env = "AIRLOCK_DATA")]
        data: PathBuf,
        /// A name to list and revoke it by.
        #[arg(long)]
        name: String,
        /// publish, rollout, devices or read (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (names, scopes, revoked).
    List {
        #[arg(long, env = "AIRLOCK_DATA")]
        data: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Revoke the tokens with this name.
    Revoke {
        #[arg(long, env = "AIRLOCK_DATA")]
        data: PathBuf,
        name: String,
    },
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn run(cli: Cli) -> Result<()> {
    let storage = cli.storage.storage()?;
    match cli.command {
        Command::Init { data, json } => {
            let report = airlock_server::init_data_dir(&data, &storage).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "initialised {}\nonline key id {}\npublic key   {} ({})\nnext: airlock init REPO --online-key {}",
                    report.data.display(),
                    report.online_key_id,
                    report.online_public_key["keyval"]["public"].as_str().unwrap_or(""),
                    report.online_pub_file.display(),
                    report.online_pub_file.display()
                );
            }
            Ok(())
        }
        Command::RotateOnlineKey { data, json } => {
            let report = airlock_server::prepare_next_online_key(&data)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "prepared the next online key {} ({})\nnext: airlock root rotate REPO --online-key {}, then publish",
                    report.online_key_id,
                    report.online_pub_file.display(),
                    report.online_pub_file.display()
                );
            }
            Ok(())
        }
        Command::Token { command } => match command {
            TokenCommand::Create {
                data,
                name,
                scopes,
                json,
            } => {
                let token =
                    airlock_server::create_admin_token(&data, &storage, &name, &scopes).await?;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"name": name, "scopes": scopes, "token": token})
                    );
                } else {
                    println!("{token}");
                }
                Ok(())
            }
            TokenCommand::List { data, json } => {
                let tokens = airlock_server::list_admin_tokens(&data, &storage).await?;
                if json {
                    let list: Vec<_> = tokens
                        .iter()
                        .map(|(n, s, r)| serde_json::json!({"name": n, "scopes": s.split(',').collect::<Vec<_>>(), "revoked": r}))
                        .collect();
                    println!("{}", serde_json::Value::Array(list));
                } else {
                    for (n, s, r) in tokens {
                        println!("{n}\t{s}{}", if r { "\trevoked" } else { "" });
                    }
                }
                Ok(())
            }
            TokenCommand::Revoke { data, name } => {
                let n = airlock_server::revoke_admin_token(&data, &storage, &name).await?;
                println!("revoked {n} token(s) named {name}");
                Ok(())
            }
        },
        Command::Serve {
            data,
            listen,
            admin_token_file,
            max_upload_bytes,
            timestamp_hours,
            snapshot_hours,
            renew_check_seconds,
            expiry_warning_days,
            device_rate,
            device_burst,
            admin_rate,
            admin_burst,
            device_auth,
            max_postpone_days,
            retention_years,
            sync_seconds,
            tuf_access,
        } => {
            if timestamp_hours < 1 || snapshot_hours < 1 || renew_check_seconds < 1 {
                anyhow::bail!("lifetimes and the renewal check interval must be at least 1");
            }
            let (token, created) = airlock_server::load_or_create_admin_token(&admin_token_file)?;
            if created {
                tracing::warn!(
                    file = %admin_token_file.display(),
                    "created an admin token file (0600) with a random token"
                );
            }
            let config = ServeConfig {
                max_upload_bytes,
                timestamp_lifetime: jiff::SignedDuration::from_hours(timestamp_hours),
                snapshot_lifetime: jiff::SignedDuration::from_hours(snapshot_hours),
                device_rate: airlock_server::ratelimit::Rate::new(device_rate, device_burst),
                admin_rate: airlock_server::ratelimit::Rate::new(admin_rate, admin_burst),
                device_auth,
                max_postpone_days: max_postpone_days.max(0),
                retention_years: retention_years.max(0),
                tuf_access,
                ..ServeConfig::default()
            };
            let app = airlock_server::open(&data, &storage, config, &token, Arc::new(SystemClock))
                .await?;
            let (state_at, blobs_at) = storage.describe(&airlock_server::DataDir::new(&data));
            tracing::info!(state = %state_at, blobs = %blobs_at, "storage");
            if storage.is_shared() && sync_seconds > 0 {
                airlock_server::spawn_sync(
                    app.clone(),
                    std::time::Duration::from_secs(sync_seconds),
                );
            }
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr().context("reading the bound address")?;
            // The first stdout line tells scripts (and tests using port 0) where we are.
            println!("listening on http://{addr}");
            tracing::info!(%addr, online_key = %app.online_key_id(), "serving");
            airlock_server::spawn_renewal(
                app.clone(),
                std::time::Duration::from_secs(renew_check_seconds),
                jiff::SignedDuration::from_hours(expiry_warning_days.saturating_mul(24)),
            );
            airlock_server::serve(listener, app, shutdown_signal()).await
        }
    }
}

fn main() -> std::process::ExitCode {
    if let Err(e) = airlock_cli::apply_config_file::<Cli>() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    airlock_cli::init_logging("info");
    let runtime = match airlock_cli::runtime(cli.worker_threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
