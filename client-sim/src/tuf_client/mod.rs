//! `airlock-sim tuf-client`: a TUF client that implements the client-under-test protocol of the
//! TUF conformance suite (tuf-conformance's CLIENT-CLI.md):
//!
//! ```text
//! airlock-sim tuf-client --metadata-dir DIR init ROOT_FILE
//! airlock-sim tuf-client --metadata-dir DIR --metadata-url URL refresh
//! airlock-sim tuf-client --metadata-dir DIR --metadata-url URL --target-name NAME...
//!     --target-base-url URL --target-dir DIR download
//! ```
//!
//! Trusted metadata lives in DIR under non-versioned names (`root.json`, `timestamp.json`,
//! `snapshot.json`, `targets.json`, `<percent-encoded role>.json`), exactly as the repository
//! served it. The workflow follows TUF section 5 step by step:
//!
//! - [`metadata`]: the wire format and signature thresholds (tough's key types do the crypto);
//! - [`trusted`]: the trusted set and every check that lets new metadata replace it;
//! - [`updater`]: fetching, local storage, the delegation search and target downloads;
//! - [`paths`]: role-name/target-path encoding and delegation path patterns.
//!
//! It stays in the simulator rather than in `airlock-device`: devices run tough's client
//! (`airlock_device::metadata`), and this one exists to run the conformance suite.
//!
//! Why not tough's `RepositoryLoader`: it loads every delegated role eagerly (TUF 5.6.7 loads
//! only the roles on the search path, in preorder, stopping at terminating delegations),
//! writes `latest_known_time.json` into the metadata directory, and its target schema requires
//! a sha256 hash (targets listing only sha512 are valid TUF).

pub mod metadata;
pub mod paths;
pub mod trusted;
pub mod updater;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tracing::info;

use updater::Updater;

/// The protocol's options, which come before the command.
#[derive(Debug, Args)]
pub struct TufClientArgs {
    /// Directory for the client's trusted metadata.
    #[arg(long, env = "AIRLOCK_TUF_METADATA_DIR")]
    pub metadata_dir: PathBuf,
    /// Base URL of the repository's metadata.
    #[arg(long, env = "AIRLOCK_TUF_METADATA_URL")]
    pub metadata_url: Option<String>,
    /// Target path to download (repeatable; processed in order, the first failure stops).
    #[arg(long = "target-name", env = "AIRLOCK_TUF_TARGET_NAME")]
    pub target_names: Vec<String>,
    /// Base URL of the repository's targets.
    #[arg(long, env = "AIRLOCK_TUF_TARGET_BASE_URL")]
    pub target_base_url: Option<String>,
    /// Directory for downloaded, verified targets.
    #[arg(long, env = "AIRLOCK_TUF_TARGET_DIR")]
    pub target_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: TufCommand,
}

#[derive(Debug, Subcommand)]
pub enum TufCommand {
    /// Trust ROOT_FILE as the initial root (copied as is; no requests).
    Init {
        /// The initial trusted root metadata.
        trusted_root: PathBuf,
    },
    /// Update root, timestamp, snapshot and targets from the repository.
    Refresh,
    /// Refresh, then find and download each --target-name.
    Download,
}

/// Runs one protocol command. Any error means exit code 1.
pub async fn run(args: TufClientArgs) -> Result<()> {
    let now = jiff::Timestamp::now();
    match &args.command {
        TufCommand::Init { trusted_root } => init(&args.metadata_dir, trusted_root),
        TufCommand::Refresh => {
            let mut updater = Updater::new(&args.metadata_dir, metadata_url(&args)?, now)?;
            updater.refresh().await?;
            info!(dir = %args.metadata_dir.display(), "refreshed");
            Ok(())
        }
        TufCommand::Download => {
            let target_base_url = args
                .target_base_url
                .as_deref()
                .context("download needs --target-base-url")?;
            let target_dir = args
                .target_dir
                .as_deref()
                .context("download needs --target-dir")?;
            if args.target_names.is_empty() {
                bail!("download needs at least one --target-name");
            }
            let mut updater = Updater::new(&args.metadata_dir, metadata_url(&args)?, now)?;
            // The protocol: metadata must be up to date before any target is looked up.
            updater.refresh().await?;
            for name in &args.target_names {
                let target = updater
                    .find_target(name)
                    .await
                    .with_context(|| format!("looking up target {name:?}"))?
                    .with_context(|| format!("target {name:?} is not in the repository"))?;
                let path = updater
                    .download_target(name, &target, target_base_url, target_dir)
                    .await
                    .with_context(|| format!("downloading target {name:?}"))?;
                info!(target = name, path = %path.display(), "target ready");
            }
            Ok(())
        }
    }
}

fn metadata_url(args: &TufClientArgs) -> Result<&str> {
    args.metadata_url
        .as_deref()
        .context("this command needs --metadata-url")
}

/// Copies the initial root into the metadata directory. No checks and no requests (the
/// protocol); the root is verified when the first refresh loads it (TUF 5.2).
fn init(metadata_dir: &Path, trusted_root: &Path) -> Result<()> {
    let bytes = std::fs::read(trusted_root)
        .with_context(|| format!("reading {}", trusted_root.display()))?;
    std::fs::create_dir_all(metadata_dir)
        .with_context(|| format!("creating {}", metadata_dir.display()))?;
    let dest = metadata_dir.join("root.json");
    std::fs::write(&dest, bytes).with_context(|| format!("writing {}", dest.display()))?;
    info!(dir = %metadata_dir.display(), "initialized");
    Ok(())
}
