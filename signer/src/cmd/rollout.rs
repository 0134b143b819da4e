//! `airlock rollout start|status|list|pause|resume|abort`: staged rollouts on the server
//! (admin API).

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

use airlock_signer::publish::read_token;
use airlock_signer::rollout::{self, AdminClient};

use super::Globals;

/// The server and the release a rollout command is about.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// Base URL of airlock-server.
    #[arg(long, env = "AIRLOCK_SERVER")]
    server: url::Url,
    /// File holding the admin token.
    #[arg(long, env = "AIRLOCK_ADMIN_TOKEN_FILE")]
    admin_token_file: PathBuf,
    /// The product id (as given to `airlock product add`).
    product: String,
    /// The release version.
    version: String,
}

impl ServerArgs {
    fn client(&self) -> Result<AdminClient> {
        AdminClient::new(self.server.clone(), read_token(&self.admin_token_file)?)
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Start a staged rollout of a published release.
    Start {
        #[command(flatten)]
        target: ServerArgs,
        /// Waves: percent of the fleet @ hours after the start.
        #[arg(
            long,
            default_value = "1%@0h,10%@24h,50%@48h,100%@72h",
            env = "AIRLOCK_ROLLOUT_START_WAVES"
        )]
        waves: String,
        /// Health rule that pauses the rollout by itself, e.g. "failures>=5% after 20 reports".
        #[arg(long, env = "AIRLOCK_ROLLOUT_START_PAUSE_IF")]
        pause_if: Option<String>,
    },
    /// Show a rollout: state, waves reached, reports, failure rate.
    Status {
        #[command(flatten)]
        target: ServerArgs,
    },
    /// Every rollout on the server, oldest first: current ones and ended ones (aborted,
    /// withdrawn, superseded) with their final state.
    List {
        #[command(flatten)]
        server: super::enrolment_token::AdminServer,
    },
    /// Pause: devices not yet updated are offered the previous release again.
    Pause {
        #[command(flatten)]
        target: ServerArgs,
        #[arg(long, env = "AIRLOCK_ROLLOUT_PAUSE_REASON")]
        reason: Option<String>,
    },
    /// Resume a paused rollout (only an operator can).
    Resume {
        #[command(flatten)]
        target: ServerArgs,
        #[arg(long, env = "AIRLOCK_ROLLOUT_RESUME_REASON")]
        reason: Option<String>,
    },
    /// Abort: the release is no longer offered.
    Abort {
        #[command(flatten)]
        target: ServerArgs,
        #[arg(long, env = "AIRLOCK_ROLLOUT_ABORT_REASON")]
        reason: Option<String>,
    },
}

pub async fn run(command: Command, globals: &Globals) -> Result<()> {
    let (target, action) = match command {
        Command::Start {
            target,
            waves,
            pause_if,
        } => {
            let s = target
                .client()?
                .start(&airlock_core::api::RolloutRequest {
                    product: target.product,
                    version: target.version,
                    waves,
                    pause_if,
                    id: None,
                })
                .await?;
            return globals.print(&s, || rollout::render(&s));
        }
        Command::List { server } => {
            let list = server.client()?.list().await?;
            return globals.print(&list, || rollout::render_list(&list));
        }
        Command::Status { target } => (target, None),
        Command::Pause { target, reason } => (target, Some(("pause", reason))),
        Command::Resume { target, reason } => (target, Some(("resume", reason))),
        Command::Abort { target, reason } => (target, Some(("abort", reason))),
    };
    let client = target.client()?;
    let s = match action {
        None => client.status(&target.product, &target.version).await?,
        Some((action, reason)) => {
            client
                .act(&target.product, &target.version, action, reason)
                .await?
        }
    };
    globals.print(&s, || rollout::render(&s))
}
