//! `airlock root rotate|propose|apply`: root metadata and its keys.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

use airlock_signer::pkcs11::TokenUri;
use airlock_signer::root::{self, proposal};

use super::{Globals, NewKeyArgs};

#[derive(Subcommand)]
pub enum Command {
    /// A new root version with new root keys (cross-signed by old and new, TUF 5.3.4); the old
    /// root keys move to keys/retired/.
    Rotate {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        #[command(flatten)]
        shape: RootShapeArgs,
        /// Also replace the targets key (and re-sign targets.json with it).
        #[arg(long, env = "AIRLOCK_ROTATE_TARGETS")]
        rotate_targets: bool,
        /// The server's next online key (online-next.pub from `airlock-server
        /// rotate-online-key`): snapshot and timestamp move to it.
        #[arg(long, env = "AIRLOCK_ROOT_ROTATE_ONLINE_KEY")]
        online_key: Option<PathBuf>,
        /// A new root key on a PKCS#11 token (repeatable; the rest up to --root-keys are
        /// generated).
        #[arg(
            long = "root-key",
            value_name = "PKCS11_URI",
            env = "AIRLOCK_ROOT_ROTATE_ROOT_KEY"
        )]
        root_tokens: Vec<TokenUri>,
        #[command(flatten)]
        new_keys: NewKeyArgs,
    },
    /// Write an unsigned proposal for the next root (new root keys and threshold) for holders
    /// to sign on their own machines with `airlock sign`.
    Propose {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        #[command(flatten)]
        shape: RootShapeArgs,
        /// The proposal file to write.
        #[arg(long, env = "AIRLOCK_ROOT_PROPOSE_OUT")]
        out: PathBuf,
        /// Where the new holders' private keys are written (default: OUT.keys/).
        #[arg(long, env = "AIRLOCK_ROOT_PROPOSE_KEYS_OUT")]
        keys_out: Option<PathBuf>,
        #[command(flatten)]
        new_keys: NewKeyArgs,
    },
    /// Accept a signed proposal once the old and the new thresholds are met (TUF 5.3.4).
    Apply {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        /// The proposal file, signed by enough root key holders (`airlock sign`).
        proposal: PathBuf,
    },
}

/// The key count and threshold of the next root.
#[derive(clap::Args)]
pub struct RootShapeArgs {
    /// Number of new root keys (default: as many as the current root has).
    #[arg(long, env = "AIRLOCK_ROOT_KEYS")]
    root_keys: Option<u64>,
    /// Signatures required on the new root (default: the current root's threshold).
    #[arg(long, env = "AIRLOCK_ROOT_THRESHOLD")]
    root_threshold: Option<u64>,
    /// Accept a --root-threshold lower than the current root's (fewer holders could then sign
    /// the next root).
    #[arg(long, env = "AIRLOCK_ALLOW_LOWER_THRESHOLD")]
    allow_lower_threshold: bool,
}

pub async fn run(command: Command, globals: &Globals) -> Result<()> {
    match command {
        Command::Rotate {
            repo,
            shape,
            rotate_targets,
            online_key,
            root_tokens,
            new_keys,
        } => {
            let repo = new_keys.open(&repo)?;
            let r = root::rotate(
                &repo,
                &root::RotateOptions {
                    root_keys: shape.root_keys,
                    root_threshold: shape.root_threshold,
                    allow_lower_threshold: shape.allow_lower_threshold,
                    rotate_targets,
                    online_key,
                    root_tokens,
                },
            )
            .await?;
            globals.print(&r, || {
                let mut s = format!(
                    "root v{}: {} of {} new root key(s) must sign (was {} of {}); retired {} key(s){}\n",
                    r.root_version,
                    r.root_threshold,
                    r.root_key_ids.len(),
                    r.previous_threshold,
                    r.previous_keys,
                    r.retired_key_ids.len(),
                    r.targets_version
                        .map(|v| format!("; new targets key, targets v{v}"))
                        .unwrap_or_default()
                );
                for (id, file) in r.root_key_ids.iter().zip(&r.root_key_files) {
                    s += &format!("  {}  {id}\n", file.display());
                }
                s + "publish to send it to the server\n"
            })
        }
        Command::Propose {
            repo,
            shape,
            out,
            keys_out,
            new_keys,
        } => {
            let repo = new_keys.open(&repo)?;
            let keys_dir = keys_out.unwrap_or_else(|| out.with_extension("keys"));
            let r = proposal::propose(
                &repo,
                shape.root_keys,
                shape.root_threshold,
                shape.allow_lower_threshold,
                &out,
                &keys_dir,
            )?;
            globals.print(&r, || {
                let mut s = format!(
                    "proposed root v{} (threshold {}) in {}; new holders' keys:\n",
                    r.root_version,
                    r.threshold,
                    r.proposal.display()
                );
                for (id, path) in &r.new_keys {
                    s += &format!("  {id}  {}\n", path.display());
                }
                s
            })
        }
        Command::Apply { repo, proposal } => {
            let repo = globals.open(&repo)?;
            let v = proposal::apply(&repo, &proposal)?;
            globals.print(&serde_json::json!({"root_version": v}), || {
                format!("root v{v} accepted; publish to send it to the server\n")
            })
        }
    }
}
