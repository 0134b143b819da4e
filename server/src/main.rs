//! `airlock-server`: parses the command line and dispatches to the command modules in `cmd/`.

mod cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "airlock-server",
    version,
    about = "Serves a TUF firmware repository, verifies publishes and decides device updates",
    long_about = concat!("airlock-server holds the online key (snapshot + timestamp), serves the TUF \
repository at /tuf/, verifies and commits publishes from `airlock publish`, and answers device \
check-ins with the update decision.\n\n", airlock_cli::exit_codes_help!())
)]
struct Cli {
    /// Async worker threads (default: one per core).
    #[arg(long, global = true, env = "AIRLOCK_WORKER_THREADS")]
    worker_threads: Option<usize>,
    /// TOML file of settings: keys are the long flag names, e.g. `data = "/var/lib/airlock"`,
    /// `listen = "0.0.0.0:8080"`, `admin-token-file`, `device-auth`, `timestamp-hours`,
    /// `state-url`, `blobs` (a flag or AIRLOCK_* variable wins over the file).
    #[arg(long, global = true, env = "AIRLOCK_CONFIG")]
    config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text (`serve` still prints its "listening on"
    /// line as text; errors become `{"error": ..., "message": ...}`).
    #[arg(long, global = true, env = "AIRLOCK_JSON")]
    json: bool,
    #[command(flatten)]
    storage: cmd::storage_args::StorageArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: the online key (online.key, 0600), its public key (online.pub),
    /// the SQLite database and the blob directory. Prints the public key.
    Init(cmd::init::InitArgs),
    /// Prepare the next online key (online-next.key/.pub); the server switches to it when a
    /// published root names it (`airlock root rotate --online-key online-next.pub`).
    RotateOnlineKey(cmd::init::RotateOnlineKeyArgs),
    /// Scoped admin tokens (publish, rollout, devices, read), stored as digests.
    Token {
        #[command(subcommand)]
        command: cmd::token::TokenCommand,
    },
    /// Serve the repository and the device API.
    Serve(Box<cmd::serve::ServeArgs>),
    /// Ask a running server's /healthz: exit 0 when it answers 200, 1 otherwise (a container
    /// HEALTHCHECK for images without a shell or curl).
    Healthcheck(cmd::healthcheck::HealthcheckArgs),
    /// Apply the schema migrations the state database lacks and print them (serve applies
    /// them at start unless --no-migrate). Refuses a schema newer than this binary knows.
    Migrate(cmd::migrate::MigrateArgs),
    /// Move an embedded install (SQLite and the blob directory in --data) onto PostgreSQL and
    /// S3: every row and blob copied and verified; a second run completes an interrupted one.
    MigrateStorage(cmd::migrate_storage::MigrateStorageArgs),
}

async fn run(cli: Cli) -> Result<()> {
    let storage = cli.storage.storage()?;
    match cli.command {
        Command::Init(args) => cmd::init::init(args, &storage, cli.json).await,
        Command::RotateOnlineKey(args) => cmd::init::rotate_online_key(args, cli.json),
        Command::Token { command } => cmd::token::run(command, &storage, cli.json).await,
        Command::Serve(args) => cmd::serve::run(*args, &storage).await,
        // (answered in main: its exit code is the answer)
        Command::Healthcheck(_) => Ok(()),
        Command::Migrate(args) => cmd::migrate::run(args, &storage, cli.json).await,
        Command::MigrateStorage(args) => {
            cmd::migrate_storage::run(args, &storage, &cli.storage, cli.json).await
        }
    }
    .map_err(cmd::storage_args::schema_refusal)
}

fn main() -> std::process::ExitCode {
    airlock_cli::main(
        "info",
        |cli: &Cli| cli.worker_threads,
        |cli| async {
            match &cli.command {
                Command::Healthcheck(args) => cmd::healthcheck::run(args).await,
                _ => run(cli).await.map(|()| 0),
            }
        },
    )
}
