//! `airlock support extend|set-floor|show`: a product's signed support record.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

use airlock_signer::support;

use super::{Globals, PassphraseArgs};

#[derive(Subcommand)]
pub enum Command {
    /// Extend the support period (never shorten); recorded with date and reason.
    Extend {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        /// The product id (as given to `airlock product add`).
        product: String,
        /// New last day of security updates.
        #[arg(long, env = "AIRLOCK_SUPPORT_EXTEND_SECURITY_UNTIL")]
        security_until: jiff::civil::Date,
        /// New last day of feature updates.
        #[arg(long, env = "AIRLOCK_SUPPORT_EXTEND_FEATURE_UNTIL")]
        feature_until: Option<jiff::civil::Date>,
        /// New statement shown to users. Default: the generated statement follows the new
        /// dates; a statement of your own is kept, and refused if it names a date the record
        /// no longer holds (give the new text here).
        #[arg(long, env = "AIRLOCK_SUPPORT_EXTEND_STATEMENT")]
        statement: Option<String>,
        /// Why (kept in the signed history).
        #[arg(long, env = "AIRLOCK_SUPPORT_EXTEND_REASON")]
        reason: String,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// Raise the security floor: versions below it are revoked (never lowered).
    SetFloor {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        /// The product id (as given to `airlock product add`).
        product: String,
        /// The new lowest security version devices may run; releases below it are revoked.
        floor: u64,
        #[arg(long, env = "AIRLOCK_SUPPORT_SET_FLOOR_REASON")]
        reason: Option<String>,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// Show the support record and its history.
    Show {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        /// The product id (as given to `airlock product add`).
        product: String,
    },
}

pub async fn run(command: Command, globals: &Globals) -> Result<()> {
    let record = match command {
        Command::Extend {
            repo,
            product,
            security_until,
            feature_until,
            statement,
            reason,
            passphrase,
        } => {
            let repo = passphrase.open(&repo)?;
            support::extend(
                &repo,
                &product,
                security_until,
                feature_until,
                statement.as_deref(),
                &reason,
            )
            .await?
        }
        Command::SetFloor {
            repo,
            product,
            floor,
            reason,
            passphrase,
        } => {
            let repo = passphrase.open(&repo)?;
            support::set_floor(&repo, &product, floor, reason.as_deref()).await?
        }
        Command::Show { repo, product } => {
            let repo = globals.open(&repo)?;
            support::show(&repo, &product)?
        }
    };
    globals.print(&record, || support::render(&record))
}
