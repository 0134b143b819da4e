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
    Serve(cmd::serve::ServeArgs),
}

async fn run(cli: Cli) -> Result<()> {
    let storage = cli.storage.storage()?;
    match cli.command {
        Command::Init(args) => cmd::init::init(args, &storage).await,
        Command::RotateOnlineKey(args) => cmd::init::rotate_online_key(args),
        Command::Token { command } => cmd::token::run(command, &storage).await,
        Command::Serve(args) => cmd::serve::run(args, &storage).await,
    }
}

fn main() -> std::process::ExitCode {
    airlock_cli::main(
        "info",
        |cli: &Cli| cli.worker_threads,
        |cli| async { run(cli).await.map(|()| 0) },
    )
}
