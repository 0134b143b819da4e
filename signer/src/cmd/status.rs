//! `airlock status [--check]`: roles, keys, expiry dates, products and releases; with `--check`
//! exit 2 when something expires soon (for cron).

use anyhow::Result;
use std::path::PathBuf;

use airlock_signer::status;

use super::{ExitWith, Globals};

#[derive(clap::Args)]
pub struct Args {
    /// The repository directory (made by `airlock init`).
    repo: PathBuf,
    /// Exit 2 when root, targets or a product role expires within --within (for cron).
    #[arg(long, env = "AIRLOCK_STATUS_CHECK")]
    check: bool,
    /// Horizon of --check: e.g. 30d, 12h.
    #[arg(long, default_value = "30d", env = "AIRLOCK_STATUS_WITHIN")]
    within: String,
}

pub fn run(args: Args, globals: &Globals) -> Result<()> {
    let repo = globals.open(&args.repo)?;
    let s = status::status(&repo)?;
    if !args.check {
        return globals.print(&s, || status::render(&s));
    }
    let within = args.within;
    let horizon = status::parse_horizon(&within)?;
    let soon = status::expiring(&s, jiff::Timestamp::now(), horizon);
    globals.print(
        &serde_json::json!({"within": within, "expiring": soon}),
        || {
            if soon.is_empty() {
                format!("nothing expires within {within}\n")
            } else {
                soon.iter()
                    .map(|e| {
                        format!(
                            "{} v{} expires {}: renew it with `airlock renew REPO {}`\n",
                            e.role, e.version, e.expires, e.role
                        )
                    })
                    .collect()
            }
        },
    )?;
    if !soon.is_empty() {
        return Err(ExitWith(2).into());
    }
    Ok(())
}
