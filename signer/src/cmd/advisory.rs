//! `airlock advisory csaf`: CSAF 2.0 advisories from the signed advisory data.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

use airlock_signer::advisory::{self, Publisher};

use super::Globals;

#[derive(Subcommand)]
pub enum Command {
    /// Write a CSAF 2.0 provider directory (OUT/.well-known/csaf/: provider-metadata.json,
    /// white/YYYY/*.json with .sha256, index.txt, changes.csv) with one document per advisory
    /// named by the signed releases: affected and fixed releases, the fixing version.
    Csaf {
        /// Products to include (default: every product).
        products: Vec<String>,
        /// The repository.
        #[arg(long, env = "AIRLOCK_REPO", default_value = ".")]
        repo: PathBuf,
        /// The publisher's name (CSAF document.publisher.name).
        #[arg(long, env = "AIRLOCK_CSAF_PUBLISHER")]
        publisher: String,
        /// A URL of the publisher (CSAF document.publisher.namespace).
        #[arg(long, env = "AIRLOCK_CSAF_NAMESPACE")]
        namespace: String,
        /// Where `/.well-known/csaf/` will be served (e.g. https://updates.example).
        #[arg(long, env = "AIRLOCK_CSAF_BASE_URL")]
        base_url: url::Url,
        /// Directory to write `.well-known/csaf/` into.
        #[arg(long, env = "AIRLOCK_CSAF_OUT")]
        out: PathBuf,
    },
}

pub fn run(command: Command, globals: &Globals) -> Result<()> {
    match command {
        Command::Csaf {
            products,
            repo,
            publisher,
            namespace,
            base_url,
            out,
        } => {
            let repo = globals.open(&repo)?;
            let written = advisory::write_csaf(
                &repo,
                &products,
                &Publisher {
                    name: publisher,
                    namespace,
                },
                &base_url,
                &out,
                jiff::Timestamp::now(),
            )?;
            globals.print(&written, || {
                written
                    .iter()
                    .map(|p| format!("wrote {}\n", p.display()))
                    .collect()
            })
        }
    }
}
