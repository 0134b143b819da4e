//! `airlock targets propose|apply|discard`: a staged change of the top-level targets role for
//! its key holders.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

use airlock_signer::targets;

use super::{Globals, PassphraseArgs};

#[derive(Subcommand)]
pub enum Command {
    /// Write the staged targets change (from `product add --stage`, `product rotate-key
    /// --stage`; with none staged, the current targets with a new expiry) as a proposal for the
    /// targets key holders, signed already by any targets keys in REPO/keys.
    Propose {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        /// The proposal file to write (default: targets-vN.proposal.json here).
        #[arg(long, env = "AIRLOCK_TARGETS_PROPOSE_OUT")]
        out: Option<PathBuf>,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// Accept a signed proposal once the targets threshold of the current root is met.
    Apply {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        /// The proposal file, signed by enough targets key holders (`airlock sign`).
        proposal: PathBuf,
    },
    /// Drop the staged targets change: back to the signed targets.json (staged product
    /// additions leave, a staged key rotation gives back the delegated key).
    Discard {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        // a staged key rotation's retired keys are opened to find the ones to bring back
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
}

pub fn run(command: Command, globals: &Globals) -> Result<()> {
    match command {
        Command::Propose {
            repo,
            out,
            passphrase,
        } => {
            let repo = passphrase.open(&repo)?;
            let r = targets::propose(&repo, out.as_deref())?;
            globals.print(&r, || {
                let mut s = format!(
                    "proposed targets v{} (expires {}) in {}; needs {} signature(s) by targets keys, {} so far\n",
                    r.targets_version,
                    r.expires,
                    r.proposal.display(),
                    r.threshold,
                    r.signed_by.len()
                );
                for c in &r.changes {
                    s += &format!("  {c}\n");
                }
                s += &format!(
                    "each holder: airlock sign {} --key TARGETS_KEY; then: airlock targets apply {} {}\n",
                    r.proposal.display(),
                    repo.dir.display(),
                    r.proposal.display()
                );
                s
            })
        }
        Command::Apply { repo, proposal } => {
            let repo = globals.open(&repo)?;
            let r = targets::apply(&repo, &proposal)?;
            globals.print(&r, || {
                format!(
                    "targets v{} accepted ({} of {} signatures){}; publish to send it to the server\n",
                    r.targets_version,
                    r.valid_signatures,
                    r.threshold,
                    if r.roles.is_empty() {
                        String::new()
                    } else {
                        format!(" with the roles of {}", r.roles.join(", "))
                    }
                ) + &if r.removed.is_empty() {
                    String::new()
                } else {
                    format!(
                        "removed products: {} (kept in {})\n",
                        r.removed.join(", "),
                        repo.dir.join("removed").display()
                    )
                }
            })
        }
        Command::Discard { repo, passphrase } => {
            let repo = passphrase.open(&repo)?;
            let r = targets::discard(&repo)?;
            globals.print(&r, || {
                let mut s = format!("discarded the staged targets v{}\n", r.discarded_version);
                for c in &r.changes {
                    s += &format!("  {c}\n");
                }
                if !r.dropped_products.is_empty() {
                    s += &format!(
                        "products not added: {} (files and keys kept in {})\n",
                        r.dropped_products.join(", "),
                        repo.dir.join("removed").display()
                    );
                }
                if !r.restored_keys.is_empty() {
                    s += &format!(
                        "delegated keys brought back from keys/retired/: {}\n",
                        r.restored_keys.join(", ")
                    );
                }
                s
            })
        }
    }
}
