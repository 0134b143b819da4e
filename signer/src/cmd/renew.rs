//! `airlock renew REPO [ROLE]... [--within 30d]`: re-sign root, targets or product roles with a
//! new expiry, changing nothing else (what `status --check` asks for); usable from cron.

use anyhow::Result;
use std::path::PathBuf;

use airlock_signer::renew::{self, RenewRole};
use airlock_signer::status;

use super::{Globals, PassphraseArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The repository directory (made by `airlock init`).
    repo: PathBuf,
    /// Roles to renew: root, targets or a product id (repeatable; none: root, targets and
    /// every product).
    #[arg(value_name = "ROLE")]
    roles: Vec<String>,
    /// Renew only the roles that expire within this period (e.g. 30d, 12h), as `status
    /// --check --within` finds them; the others are listed as not due.
    #[arg(long, value_name = "DURATION", env = "AIRLOCK_RENEW_WITHIN")]
    within: Option<String>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

pub async fn run(args: Args, globals: &Globals) -> Result<()> {
    let roles = args
        .roles
        .iter()
        .map(|r| RenewRole::parse(r))
        .collect::<Result<Vec<_>>>()?;
    let within = args
        .within
        .as_deref()
        .map(status::parse_horizon)
        .transpose()?;
    let repo = args.passphrase.open(&args.repo)?;
    let r = renew::renew(&repo, &roles, within, jiff::Timestamp::now()).await?;
    globals.print(&r, || {
        let mut s = String::new();
        for e in &r.renewed {
            s += &format!("renewed {} v{}: expires {}\n", e.role, e.version, e.expires);
        }
        for e in &r.not_due {
            s += &format!(
                "{} v{} expires {}: not due within {}\n",
                e.role,
                e.version,
                e.expires,
                args.within.as_deref().unwrap_or("-")
            );
        }
        s + if r.renewed.is_empty() {
            "nothing renewed\n"
        } else {
            "publish to send the renewed metadata to the server\n"
        }
    })
}
