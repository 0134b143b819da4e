//! `airlock init`: a new repository with its offline root and targets keys.

use anyhow::Result;
use std::path::PathBuf;

use airlock_signer::pkcs11::TokenUri;
use airlock_signer::{init, DEFAULT_EXPIRY_DAYS};

use super::{Globals, NewKeyArgs};

#[derive(clap::Args)]
pub struct Args {
    /// Repository directory (created).
    repo: PathBuf,
    /// The server's online public key (written by `airlock-server init` as online.pub).
    #[arg(long, env = "AIRLOCK_ONLINE_KEY")]
    online_key: PathBuf,
    /// Signatures required on root metadata.
    #[arg(long, default_value_t = 1, env = "AIRLOCK_ROOT_THRESHOLD")]
    root_threshold: u64,
    /// Number of root keys to generate.
    #[arg(long, default_value_t = 1, env = "AIRLOCK_ROOT_KEYS")]
    root_keys: u64,
    /// Signatures required on targets metadata.
    #[arg(long, default_value_t = 1, env = "AIRLOCK_TARGETS_THRESHOLD")]
    targets_threshold: u64,
    /// Number of targets keys to generate.
    #[arg(long, default_value_t = 1, env = "AIRLOCK_TARGETS_KEYS")]
    targets_keys: u64,
    /// Lifetime in days of root, targets and product metadata each time they are signed.
    #[arg(long, default_value_t = DEFAULT_EXPIRY_DAYS, env = "AIRLOCK_EXPIRY_DAYS")]
    expiry_days: i64,
    /// A root key on a PKCS#11 token (pkcs11:token=...;object=...) to use instead of
    /// generating one (repeatable; the rest up to --root-keys are generated). Later
    /// releases keep the repository encrypting new keys.
    #[arg(
        long = "root-key",
        value_name = "PKCS11_URI",
        env = "AIRLOCK_INIT_ROOT_KEY"
    )]
    root_tokens: Vec<TokenUri>,
    /// A targets key on a PKCS#11 token (repeatable; the rest up to --targets-keys are
    /// generated).
    #[arg(
        long = "targets-key",
        value_name = "PKCS11_URI",
        env = "AIRLOCK_INIT_TARGETS_KEY"
    )]
    targets_tokens: Vec<TokenUri>,
    #[command(flatten)]
    new_keys: NewKeyArgs,
}

pub async fn run(args: Args, globals: &Globals) -> Result<()> {
    let report = init::init_with_keys(
        &init::InitOptions {
            dir: args.repo,
            online_key_file: args.online_key,
            root_threshold: args.root_threshold,
            root_keys: args.root_keys,
            targets_threshold: args.targets_threshold,
            targets_keys: args.targets_keys,
            expiry_days: args.expiry_days,
        },
        &init::InitKeys {
            access: args.new_keys.access(),
            root_tokens: args.root_tokens,
            targets_tokens: args.targets_tokens,
        },
    )
    .await?;
    globals.print(&report, || {
        let mut s = format!(
            "initialised {} (root v1, threshold {}/{}; snapshot+timestamp by online key {})\n",
            report.repo.display(),
            report.root_threshold,
            report.keys.iter().filter(|k| k.role == "root").count(),
            report.online_key_id
        );
        for k in &report.keys {
            s += &format!("  {:<8} key {}  {}", k.role, k.key_id, k.path.display());
            if k.held_in != "file" {
                s += &format!(" -> {}", k.held_in);
            }
            s += "\n";
        }
        s
    })
}
