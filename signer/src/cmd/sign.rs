//! `airlock sign`: a key holder adds their signature to a root or targets proposal.

use anyhow::Result;
use std::path::PathBuf;

use airlock_signer::root::proposal;

use super::{Globals, PassphraseArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The proposal file (from `airlock root propose` or `airlock targets propose`).
    proposal: PathBuf,
    /// Your private key: a PKCS#8 file (plain or encrypted) or a pkcs11: URI of a key on
    /// a token.
    #[arg(long, value_name = "FILE|PKCS11_URI", env = "AIRLOCK_SIGN_KEY")]
    key: String,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

pub fn run(args: Args, globals: &Globals) -> Result<()> {
    let r = proposal::sign(&args.proposal, &args.key, &args.passphrase.access())?;
    globals.print(&r, || {
        format!(
            "signed {} ({} v{}) with {} ({} signature(s) now)\n",
            args.proposal.display(),
            r.role,
            r.version,
            r.key_id,
            r.signatures
        )
    })
}
