//! `airlock advisory csaf|not-affected`: CSAF 2.0 advisories from the signed advisory data;
//! signed VEX "not affected" statements.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

use airlock_core::vex::{Justification, NotAffected};
use airlock_signer::advisory::{self, Publisher};

use super::{Globals, PassphraseArgs};

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
    /// Record a signed VEX "not affected" statement: PRODUCT (all its releases, or those
    /// --versions selects) is not affected by the vulnerability. Signed into the product's
    /// support record; the CSAF documents list the releases as known_not_affected with the
    /// justification as a flag and the impact statement as a threat. Publish to serve it.
    NotAffected {
        /// The repository directory.
        repo: PathBuf,
        /// The product id.
        product: String,
        /// The vulnerability: CVE-YYYY-NNNN (or a vendor id).
        #[arg(long, env = "AIRLOCK_NOT_AFFECTED_CVE")]
        cve: String,
        /// Why the product is not affected (the CSAF flag label): component_not_present,
        /// vulnerable_code_not_present, vulnerable_code_not_in_execute_path,
        /// vulnerable_code_cannot_be_controlled_by_adversary or inline_mitigations_already_exist.
        #[arg(long, env = "AIRLOCK_NOT_AFFECTED_JUSTIFICATION")]
        justification: Justification,
        /// Which releases it covers, as a version requirement (e.g. "<1.3.0"); default: every
        /// release.
        #[arg(long, env = "AIRLOCK_NOT_AFFECTED_VERSIONS")]
        versions: Option<String>,
        /// The impact statement in words (default: a sentence for the justification).
        #[arg(long, env = "AIRLOCK_NOT_AFFECTED_IMPACT")]
        impact: Option<String>,
        /// When the statement is made (RFC 3339; default now).
        #[arg(long, env = "AIRLOCK_NOT_AFFECTED_AT")]
        at: Option<jiff::Timestamp>,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
}

pub async fn run(command: Command, globals: &Globals) -> Result<()> {
    match command {
        Command::NotAffected {
            repo,
            product,
            cve,
            justification,
            versions,
            impact,
            at,
            passphrase,
        } => {
            let repo = passphrase.open(&repo)?;
            let statement = NotAffected {
                cve,
                justification,
                versions,
                impact,
                at: airlock_core::whole_seconds(at.unwrap_or_else(jiff::Timestamp::now)),
            };
            let role_version =
                advisory::record_not_affected(&repo, &product, statement.clone()).await?;
            let out = serde_json::json!({
                "product": product,
                "not_affected": statement,
                "role_version": role_version,
            });
            globals.print(&out, || {
                format!(
                    "{product} is not affected by {} ({}{}): signed into its support record; role v{role_version} (publish to serve it)\n",
                    statement.cve,
                    statement.justification,
                    statement
                        .versions
                        .as_deref()
                        .map(|v| format!(", versions {v}"))
                        .unwrap_or_default()
                )
            })
        }
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
