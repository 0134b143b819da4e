//! `airlock enrolment-token create|list|revoke`: the tokens devices enrol with (admin API).

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

use airlock_core::api::{EnrolmentTokenRequest, TokenUses};
use airlock_signer::devices;
use airlock_signer::publish::read_token;
use airlock_signer::rollout::AdminClient;

use super::Globals;

/// The server and the admin token an admin command talks to.
#[derive(clap::Args)]
pub struct AdminServer {
    /// Base URL of airlock-server.
    #[arg(long, env = "AIRLOCK_SERVER")]
    server: url::Url,
    /// File holding the admin token (with the scope the command needs).
    #[arg(long, env = "AIRLOCK_ADMIN_TOKEN_FILE")]
    admin_token_file: PathBuf,
}

impl AdminServer {
    pub fn client(&self) -> Result<AdminClient> {
        AdminClient::new(self.server.clone(), read_token(&self.admin_token_file)?)
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a token: for one device (`--device`, one use) or for a product (factory line:
    /// `--uses N|unlimited` required). Printed once; the server keeps only its digest.
    Create {
        #[command(flatten)]
        server: AdminServer,
        /// The product devices enrol for.
        #[arg(long, env = "AIRLOCK_ENROLMENT_TOKEN_CREATE_PRODUCT")]
        product: String,
        /// The one device id the token enrols (one use).
        #[arg(long, env = "AIRLOCK_ENROLMENT_TOKEN_CREATE_DEVICE")]
        device: Option<String>,
        /// How many devices a product token enrols: a count or `unlimited` (until it expires).
        #[arg(
            long,
            env = "AIRLOCK_ENROLMENT_TOKEN_CREATE_USES",
            required_unless_present = "device"
        )]
        uses: Option<TokenUses>,
        /// Lifetime, e.g. `7d` (the default), `12h`, `30m`.
        #[arg(
            long,
            env = "AIRLOCK_ENROLMENT_TOKEN_CREATE_EXPIRES_IN",
            conflicts_with = "expires_at"
        )]
        expires_in: Option<String>,
        /// Expiry as an RFC 3339 time, e.g. 2027-01-31T00:00:00Z.
        #[arg(long, env = "AIRLOCK_ENROLMENT_TOKEN_CREATE_EXPIRES_AT")]
        expires_at: Option<jiff::Timestamp>,
        /// A token for attack drills (`airlock-sim attack --server --enrol-token`): the server
        /// answers the devices it enrols but records none of their check-ins or reports, so
        /// they never count in fleet figures, reports or a rollout's health.
        #[arg(long, env = "AIRLOCK_ENROLMENT_TOKEN_CREATE_DRILL")]
        drill: bool,
    },
    /// List tokens: id, product, device, expiry, uses left, state (never the tokens).
    List {
        #[command(flatten)]
        server: AdminServer,
    },
    /// Revoke a token by its id: no device enrols with it from now on.
    Revoke {
        #[command(flatten)]
        server: AdminServer,
        /// The token's id (from create or list).
        id: String,
    },
}

pub async fn run(command: Command, globals: &Globals) -> Result<()> {
    match command {
        Command::Create {
            server,
            product,
            device,
            uses,
            expires_in,
            expires_at,
            drill,
        } => {
            let req = EnrolmentTokenRequest {
                product,
                device_id: device,
                expires_in,
                expires_at,
                uses,
                drill,
            };
            let t = devices::create_token(&server.client()?, &req).await?;
            globals.print(&t, || {
                format!(
                    "{}\n(id {}: {}{} for {}, {} use(s), expires {}; shown once)\n",
                    t.token,
                    t.id,
                    if t.drill { "drill token, " } else { "" },
                    t.product,
                    t.device_id.as_deref().unwrap_or("any new device"),
                    t.uses,
                    t.expires_at
                )
            })
        }
        Command::List { server } => {
            let list = devices::list_tokens(&server.client()?).await?;
            globals.print(&list, || devices::render_tokens(&list))
        }
        Command::Revoke { server, id } => {
            let t = devices::revoke_token(&server.client()?, &id).await?;
            globals.print(&t, || format!("revoked enrolment token {}\n", t.id))
        }
    }
}
