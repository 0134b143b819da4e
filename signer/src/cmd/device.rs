//! `airlock device show|revoke|reinstate`: a device's history, an enrolled device's access
//! (admin API; revoke and reinstate are audited).

use anyhow::Result;
use clap::Subcommand;

use airlock_signer::devices;

use super::enrolment_token::AdminServer;
use super::Globals;

#[derive(Subcommand)]
pub enum Command {
    /// Show what the server knows of a device: its enrolment, its check-ins (as runs of the
    /// same answer), the releases offered to it and its newest reports (scope `read`).
    Show {
        #[command(flatten)]
        server: AdminServer,
        /// The device id.
        device_id: String,
    },
    /// Revoke a device: its credential is refused (403) and its id cannot enrol again until
    /// it is reinstated.
    Revoke {
        #[command(flatten)]
        server: AdminServer,
        /// The device id (as enrolled).
        device_id: String,
    },
    /// Reinstate a revoked device: its old credential stays refused; its id may enrol again
    /// with a new token (e.g. `airlock enrolment-token create --device ID`).
    Reinstate {
        #[command(flatten)]
        server: AdminServer,
        /// The device id (as enrolled).
        device_id: String,
    },
}

pub async fn run(command: Command, globals: &Globals) -> Result<()> {
    let (server, device_id, action) = match command {
        Command::Show { server, device_id } => {
            let h = devices::device_history(&server.client()?, &device_id).await?;
            return globals.print(&h, || devices::render_history(&h));
        }
        Command::Revoke { server, device_id } => (server, device_id, "revoke"),
        Command::Reinstate { server, device_id } => (server, device_id, "reinstate"),
    };
    let r = devices::device_action(&server.client()?, &device_id, action).await?;
    globals.print(&r, || {
        if r.revoked {
            format!("device {} revoked\n", r.device_id)
        } else {
            format!(
                "device {} reinstated: it may enrol again with a new token\n",
                r.device_id
            )
        }
    })
}
