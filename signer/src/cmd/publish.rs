//! `airlock publish`: upload to airlock-server, or with `--out` write a static repository.

use anyhow::{Context, Result};
use std::path::PathBuf;

use airlock_signer::{export, publish, repo::Repo};

use super::{Globals, PassphraseArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The repository directory (made by `airlock init`).
    repo: PathBuf,
    /// Base URL of airlock-server.
    #[arg(
        long,
        env = "AIRLOCK_SERVER",
        required_unless_present = "out",
        conflicts_with = "out"
    )]
    server: Option<url::Url>,
    /// File holding the admin token.
    #[arg(
        long,
        env = "AIRLOCK_ADMIN_TOKEN_FILE",
        required_unless_present = "out"
    )]
    admin_token_file: Option<PathBuf>,
    /// Write a static repository (metadata/ and targets/) into this directory instead.
    #[arg(long, requires = "online_key_file", env = "AIRLOCK_PUBLISH_OUT")]
    out: Option<PathBuf>,
    /// With --out: the online key (PKCS#8) that signs snapshot and timestamp.
    #[arg(long, env = "AIRLOCK_ONLINE_KEY_FILE")]
    online_key_file: Option<PathBuf>,
    /// With --out: timestamp lifetime in hours.
    #[arg(long, default_value_t = 24 * 7, env = "AIRLOCK_PUBLISH_TIMESTAMP_HOURS")]
    timestamp_hours: i64,
    /// With --out: snapshot lifetime in hours.
    #[arg(long, default_value_t = 24 * 30, env = "AIRLOCK_PUBLISH_SNAPSHOT_HOURS")]
    snapshot_hours: i64,
    /// Offer new releases to no device until a rollout of them is started.
    #[arg(long, env = "AIRLOCK_PUBLISH_HOLD")]
    hold: bool,
    // with --out, the online key file may be encrypted
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

pub async fn run(args: Args, globals: &Globals) -> Result<()> {
    let repo = args.passphrase.open(&args.repo)?;
    match args.out.clone() {
        Some(out) => write_static(&repo, out, args, globals).await,
        None => upload(&repo, args, globals).await,
    }
}

/// `publish --out DIR`: a complete static repository, snapshot and timestamp signed here.
async fn write_static(repo: &Repo, out: PathBuf, args: Args, globals: &Globals) -> Result<()> {
    let online_key_file = args
        .online_key_file
        .context("--out needs --online-key-file")?;
    let report = export::export(
        repo,
        &export::ExportOptions {
            out,
            online_key_file,
            timestamp_lifetime: lifetime("--timestamp-hours", args.timestamp_hours)?,
            snapshot_lifetime: lifetime("--snapshot-hours", args.snapshot_hours)?,
        },
    )
    .await?;
    globals.print(&report, || {
        format!(
            "wrote {}: root v{}, targets v{}, snapshot v{}, timestamp v{}; {} target(s)\n",
            report.out.display(),
            report.root_version,
            report.targets_version,
            report.snapshot_version,
            report.timestamp_version,
            report.targets
        )
    })
}

/// A lifetime flag in hours (at least one): checked, since `SignedDuration::from_hours` panics
/// past i64 seconds.
fn lifetime(flag: &str, hours: i64) -> Result<jiff::SignedDuration> {
    hours
        .max(1)
        .checked_mul(3600)
        .map(jiff::SignedDuration::from_secs)
        .ok_or_else(|| {
            airlock_cli::Failure::usage(format!(
                "{flag} {hours} is too long: give at most {} hours",
                i64::MAX / 3600
            ))
            .into()
        })
}

/// `publish --server URL`: the repository uploaded to airlock-server.
async fn upload(repo: &Repo, args: Args, globals: &Globals) -> Result<()> {
    let server = args.server.context("--server is required (or --out)")?;
    let admin_token_file = args
        .admin_token_file
        .context("--admin-token-file is required with --server")?;
    let token = publish::read_token(&admin_token_file)?;
    let report = publish::publish(
        repo,
        &publish::PublishOptions {
            server,
            admin_token: token,
            hold: args.hold,
            progress: globals.progress(),
        },
    )
    .await?;
    globals.print(&report, || {
        format!(
            "published: root v{}, targets v{}, snapshot v{}, timestamp v{}; {} product(s), {} target(s); changed: {}\n",
            report.root_version,
            report.targets_version,
            report.snapshot_version,
            report.timestamp_version,
            report.products.len(),
            report.targets,
            if report.changed.is_empty() { "nothing".to_string() } else { report.changed.join(", ") }
        ) + &if report.held.is_empty() {
            String::new()
        } else {
            format!("held until a rollout starts: {}\n", report.held.join(", "))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifetime_past_i64_seconds_is_a_usage_error() {
        assert_eq!(
            lifetime("--timestamp-hours", 0).unwrap(),
            jiff::SignedDuration::from_hours(1)
        );
        assert_eq!(
            lifetime("--timestamp-hours", 24).unwrap(),
            jiff::SignedDuration::from_hours(24)
        );
        for hours in [i64::MAX, i64::MAX / 3600 + 1] {
            let e = lifetime("--snapshot-hours", hours).unwrap_err();
            assert_eq!(
                airlock_cli::failure::classify(&e),
                airlock_cli::ErrorClass::Usage
            );
            assert!(e.to_string().contains("--snapshot-hours"), "{e}");
        }
    }
}
