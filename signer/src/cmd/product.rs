//! `airlock product add|set|rotate-key|remove`: products, one delegated TUF role each.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

use airlock_signer::pkcs11::TokenUri;
use airlock_signer::product;

use super::{Globals, NewKeyArgs, PassphraseArgs, StageArgs};

#[derive(Subcommand)]
pub enum Command {
    /// Add a product: its own key, a delegated role for PRODUCT/*, and PRODUCT/support.json.
    Add(AddArgs),
    /// Change what the signed support record tells users: statement, security contact,
    /// disclosure policy, notice URL (re-signed and recorded in its history; dates and floor
    /// change with `airlock support`).
    Set(SetArgs),
    /// Replace the product role's key; the old key is revoked (e.g. after a compromise).
    RotateKey {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        /// The product id (as given to `airlock product add`).
        product: String,
        /// The new key is this key on a PKCS#11 token instead of a generated one.
        #[arg(
            long,
            value_name = "PKCS11_URI",
            env = "AIRLOCK_PRODUCT_ROTATE_KEY_KEY"
        )]
        key: Option<TokenUri>,
        #[command(flatten)]
        new_keys: NewKeyArgs,
        #[command(flatten)]
        stage: StageArgs,
    },
    /// Remove a product: its delegation leaves targets.json; its role, files and keys move to
    /// REPO/removed/. Refused while its security window is open and releases are in the field,
    /// or while a security release is inside its retention period (the server checks the same).
    Remove {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        /// The product id (as given to `airlock product add`).
        product: String,
        /// Years a security release must stay available (as the server is configured).
        #[arg(long, default_value_t = 10, env = "AIRLOCK_RETENTION_YEARS")]
        retention_years: i16,
        #[command(flatten)]
        stage: StageArgs,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// The repository directory (made by `airlock init`).
    repo: PathBuf,
    /// Product id (a-z, 0-9, '-'); also the role name and target path prefix.
    product: String,
    /// First day of support (YYYY-MM-DD).
    #[arg(long, env = "AIRLOCK_SUPPORT_START")]
    support_start: jiff::civil::Date,
    /// Last day of feature updates.
    #[arg(long, env = "AIRLOCK_PRODUCT_ADD_FEATURE_UNTIL")]
    feature_until: jiff::civil::Date,
    /// Last day of security updates.
    #[arg(long, env = "AIRLOCK_PRODUCT_ADD_SECURITY_UNTIL")]
    security_until: jiff::civil::Date,
    /// Security floor: security versions below it are revoked.
    #[arg(long, default_value_t = 0, env = "AIRLOCK_MIN_SECURITY_VERSION")]
    min_security_version: u64,
    /// Page that explains the support period and its end.
    #[arg(long, env = "AIRLOCK_NOTICE_URL")]
    notice_url: Option<String>,
    /// Statement shown to users (default: generated from the dates).
    #[arg(long, env = "AIRLOCK_PRODUCT_ADD_STATEMENT")]
    statement: Option<String>,
    /// Product that succeeds this one.
    #[arg(long, env = "AIRLOCK_SUCCESSOR")]
    successor: Option<String>,
    /// Where to report vulnerabilities: mailto: or https:// URI (served as security.txt).
    #[arg(long, env = "AIRLOCK_SECURITY_CONTACT")]
    security_contact: Option<String>,
    /// Vulnerability disclosure policy (https URL).
    #[arg(long, env = "AIRLOCK_DISCLOSURE_POLICY")]
    disclosure_policy: Option<String>,
    /// Days within which a vulnerability report is acknowledged (published with the contact;
    /// PSTI Sch. 1 para 2, ETSI EN 303 645 5.2-1).
    #[arg(long, value_name = "DAYS", env = "AIRLOCK_ACKNOWLEDGE_WITHIN", value_parser = clap::value_parser!(u32).range(1..=365))]
    acknowledge_within: Option<u32>,
    /// Days between status updates to a reporter until the issue is resolved.
    #[arg(long, value_name = "DAYS", env = "AIRLOCK_STATUS_UPDATES_EVERY", value_parser = clap::value_parser!(u32).range(1..=365))]
    status_updates_every: Option<u32>,
    /// Number of keys for the product role.
    #[arg(long, default_value_t = 1, env = "AIRLOCK_PRODUCT_ADD_KEYS")]
    keys: u64,
    /// Signatures the product role needs.
    #[arg(long, default_value_t = 1, env = "AIRLOCK_PRODUCT_ADD_THRESHOLD")]
    threshold: u64,
    /// The product cannot be updated (declared in the public statement).
    #[arg(long, env = "AIRLOCK_NOT_UPDATABLE")]
    not_updatable: bool,
    /// Why security support lasts less than five years (required then; CRA Art. 13(8)).
    #[arg(long, env = "AIRLOCK_RATIONALE")]
    rationale: Option<String>,
    /// A key of the product role on a PKCS#11 token (pkcs11:token=...;object=...) instead of
    /// a generated one (repeatable; the rest up to --keys are generated).
    #[arg(
        long = "key",
        value_name = "PKCS11_URI",
        env = "AIRLOCK_PRODUCT_ADD_KEY"
    )]
    tokens: Vec<TokenUri>,
    #[command(flatten)]
    new_keys: NewKeyArgs,
    #[command(flatten)]
    stage: StageArgs,
}

#[derive(clap::Args)]
pub struct SetArgs {
    /// The repository directory (made by `airlock init`).
    repo: PathBuf,
    /// The product id (as given to `airlock product add`).
    product: String,
    /// Statement shown to users.
    #[arg(long, env = "AIRLOCK_PRODUCT_SET_STATEMENT")]
    statement: Option<String>,
    /// Where to report vulnerabilities: mailto: or https:// URI (served as security.txt).
    #[arg(long, env = "AIRLOCK_PRODUCT_SET_SECURITY_CONTACT")]
    security_contact: Option<String>,
    /// Vulnerability disclosure policy (https URL).
    #[arg(long, env = "AIRLOCK_PRODUCT_SET_DISCLOSURE_POLICY")]
    disclosure_policy: Option<String>,
    /// Days within which a vulnerability report is acknowledged (published with the contact;
    /// PSTI Sch. 1 para 2, ETSI EN 303 645 5.2-1).
    #[arg(long, value_name = "DAYS", env = "AIRLOCK_PRODUCT_SET_ACKNOWLEDGE_WITHIN", value_parser = clap::value_parser!(u32).range(1..=365))]
    acknowledge_within: Option<u32>,
    /// Days between status updates to a reporter until the issue is resolved.
    #[arg(long, value_name = "DAYS", env = "AIRLOCK_PRODUCT_SET_STATUS_UPDATES_EVERY", value_parser = clap::value_parser!(u32).range(1..=365))]
    status_updates_every: Option<u32>,
    /// The https URL of your CSAF provider-metadata.json (`airlock advisory csaf`), served as a
    /// `CSAF:` line in /.well-known/security.txt.
    #[arg(
        long,
        value_name = "URL",
        env = "AIRLOCK_PRODUCT_SET_CSAF_PROVIDER_METADATA"
    )]
    csaf_provider_metadata: Option<String>,
    /// Page that explains the support period and its end.
    #[arg(long, env = "AIRLOCK_PRODUCT_SET_NOTICE_URL")]
    notice_url: Option<String>,
    /// Why (kept in the signed history; default: what changed).
    #[arg(long, env = "AIRLOCK_PRODUCT_SET_REASON")]
    reason: Option<String>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

pub async fn run(command: Command, globals: &Globals) -> Result<()> {
    match command {
        Command::Add(a) => add(a, globals).await,
        Command::Set(a) => {
            let repo = a.passphrase.open(&a.repo)?;
            let record = airlock_signer::support::set_public_fields(
                &repo,
                &a.product,
                &airlock_signer::support::PublicFields {
                    statement: a.statement,
                    security_contact: a.security_contact,
                    disclosure_policy: a.disclosure_policy,
                    notice_url: a.notice_url,
                    csaf_provider_metadata: a.csaf_provider_metadata,
                    report_acknowledged_within_days: a.acknowledge_within,
                    status_updates_every_days: a.status_updates_every,
                },
                a.reason.as_deref(),
            )
            .await?;
            globals.print(&record, || {
                airlock_signer::support::render(&record) + "publish to send it to the server\n"
            })
        }
        Command::RotateKey {
            repo,
            product,
            key,
            new_keys,
            stage,
        } => {
            let repo = new_keys.open(&repo)?;
            let r = product::rotate_key_to(&repo, &product, key.as_ref(), stage.stage).await?;
            globals.print(&r, || {
                format!(
                    "{}: new key {}; revoked {}; targets v{}, role v{}\n",
                    r.product,
                    r.new_key_id,
                    r.revoked_key_ids.join(", "),
                    r.targets_version,
                    r.role_version
                ) + &r.targets.next_step(&repo)
            })
        }
        Command::Remove {
            repo,
            product,
            retention_years,
            stage,
            passphrase,
        } => {
            let repo = passphrase.open(&repo)?;
            let r = product::remove(&repo, &product, stage.stage, retention_years).await?;
            globals.print(&r, || {
                format!(
                    "{}: removed ({} release(s)); targets v{}{}\n",
                    r.product,
                    r.releases,
                    r.targets_version,
                    r.archived
                        .as_ref()
                        .map(|d| format!("; role, files and keys kept in {}", d.display()))
                        .unwrap_or_default()
                ) + &r.targets.next_step(&repo)
            })
        }
    }
}

async fn add(a: AddArgs, globals: &Globals) -> Result<()> {
    let repo = a.new_keys.open(&a.repo)?;
    let report = product::add_with_keys(
        &repo,
        &product::ProductOptions {
            id: a.product,
            support_start: a.support_start,
            feature_until: a.feature_until,
            security_until: a.security_until,
            min_security_version: a.min_security_version,
            notice_url: a.notice_url,
            statement: a.statement,
            successor: a.successor,
            security_contact: a.security_contact,
            disclosure_policy: a.disclosure_policy,
            report_acknowledged_within_days: a.acknowledge_within,
            status_updates_every_days: a.status_updates_every,
            updatable: !a.not_updatable,
            rationale: a.rationale,
            keys: a.keys,
            threshold: a.threshold,
        },
        &a.tokens,
        a.stage.stage,
    )
    .await?;
    globals.print(&report, || {
        format!(
            "added product {} (role key {}, {}); features until {}, security until {}\n",
            report.product,
            report.key_id,
            report.key_path.display(),
            report.support.feature_updates_until,
            report.support.security_updates_until
        ) + &report.targets.next_step(&repo)
    })
}
