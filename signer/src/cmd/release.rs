//! `airlock release add|withdraw`: firmware releases of a product.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

use airlock_core::release::{Advisory, ReleaseKind};
use airlock_signer::{release, release_dir};

use super::{Globals, PassphraseArgs};

#[derive(Subcommand)]
pub enum Command {
    /// Add a firmware image as target PRODUCT/FILE with signed release fields.
    Add(Box<AddArgs>),
    /// Withdraw a release: it is no longer offered; the signed support history records it.
    Withdraw {
        /// The repository directory (made by `airlock init`).
        repo: PathBuf,
        /// The product id (as given to `airlock product add`).
        product: String,
        /// The release version (MAJOR.MINOR.PATCH).
        version: semver::Version,
        /// Why it is withdrawn (required: kept in the signed history, shown on the public page).
        #[arg(long, env = "AIRLOCK_RELEASE_WITHDRAW_REASON")]
        reason: String,
        /// Withdraw a security release inside its retention period.
        #[arg(long, env = "AIRLOCK_RELEASE_WITHDRAW_FORCE")]
        force: bool,
        /// Years a security release must stay available.
        #[arg(long, default_value_t = 10, env = "AIRLOCK_RETENTION_YEARS")]
        retention_years: i16,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// The repository directory (made by `airlock init`).
    repo: PathBuf,
    /// The product id (as given to `airlock product add`).
    product: String,
    /// The firmware image.
    #[arg(required_unless_present = "from_dir")]
    file: Option<PathBuf>,
    /// Add every file in DIR (hidden files skipped) in one signing step; each file's version
    /// comes from its name, NAME-VERSION.EXT (e.g. acme-cam-1.4.0.bin, fw-2.0.0-rc.1.img); the
    /// other release fields apply to all of them.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["file", "version", "name"],
        env = "AIRLOCK_FROM_DIR"
    )]
    from_dir: Option<PathBuf>,
    /// With --from-dir: hard-link the files into the repository instead of copying them
    /// (much faster for many files; the build must not change them in place afterwards).
    #[arg(long, requires = "from_dir", env = "AIRLOCK_RELEASE_ADD_LINK")]
    link: bool,
    /// Semantic version of the firmware.
    #[arg(
        long,
        required_unless_present = "from_dir",
        env = "AIRLOCK_RELEASE_ADD_VERSION"
    )]
    version: Option<semver::Version>,
    /// Anti-rollback counter.
    #[arg(long, env = "AIRLOCK_SECURITY_VERSION")]
    security_version: u64,
    /// security, feature or sunset.
    #[arg(long, env = "AIRLOCK_RELEASE_ADD_KIND")]
    kind: ReleaseKind,
    /// Lowest installed version this image may be applied over.
    #[arg(long, env = "AIRLOCK_REQUIRES")]
    requires: Option<semver::Version>,
    /// Release time (RFC 3339; default now).
    #[arg(long, env = "AIRLOCK_RELEASED")]
    released: Option<jiff::Timestamp>,
    /// Target file name (default: the image's file name).
    #[arg(long, env = "AIRLOCK_RELEASE_ADD_NAME")]
    name: Option<String>,
    /// A vulnerability this release fixes: ID:SEVERITY:SUMMARY (repeatable), e.g.
    /// "CVE-2026-1234:high:RTSP parser overflow".
    #[arg(long = "advisory", env = "AIRLOCK_ADVISORY")]
    advisories: Vec<Advisory>,
    /// The CVSS v3.1 base vector of an advisory given with --advisory: ID:VECTOR or
    /// ID:SCORE:VECTOR (repeatable), e.g.
    /// "CVE-2026-1234:9.8:CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H". The base score is
    /// computed from the vector (a SCORE given must equal it) and its severity must be the
    /// advisory's.
    #[arg(long = "cvss", env = "AIRLOCK_CVSS", value_name = "ID:[SCORE:]VECTOR")]
    cvss: Vec<String>,
    /// The weakness of an advisory given with --advisory: ID:CWE-NUMBER:NAME (repeatable),
    /// e.g. "CVE-2026-1234:CWE-787:Out-of-bounds Write" (the name as the CWE list spells it).
    #[arg(long = "cwe", env = "AIRLOCK_CWE", value_name = "ID:CWE-NUMBER:NAME")]
    cwe: Vec<String>,
    /// Accept a version older than the product's newest release, on purpose (e.g. 1.1.1 of a
    /// maintenance branch after 1.4.0); without it such a release is refused.
    #[arg(long, env = "AIRLOCK_ALLOW_OLDER")]
    allow_older: bool,
    /// Make deltas from the N newest earlier releases of the product to this image
    /// (docs/deltas.md); 0 makes none. Default: the repository's `deltas_from` setting in
    /// airlock.json, else 0. Not with --from-dir.
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "from_dir",
        env = "AIRLOCK_DELTAS_FROM"
    )]
    deltas_from: Option<u32>,
    /// How deltas are made: zstd (zstd patch-from: smallest, fastest; the device holds the old
    /// and the new image at once) or bsdiff (for devices short of memory: the old image and the
    /// delta). Repeat or separate by commas for both (one delta each; a device gets the one it
    /// asks for). Default: the repository's `delta_method` setting in airlock.json, else zstd.
    #[arg(
        long,
        value_name = "METHOD",
        value_enum,
        value_delimiter = ',',
        conflicts_with = "from_dir",
        env = "AIRLOCK_DELTA_METHOD"
    )]
    delta_method: Vec<airlock_signer::delta::DeltaMethod>,
    /// The image's SBOM, CycloneDX 1.5+ JSON or SPDX 2.3 JSON: checked, then published as the
    /// target PRODUCT/FILE.cdx.json (or .spdx.json) signed with the image, whose signed fields
    /// name it (custom.sbom). An invalid SBOM is refused (exit 4) before anything is signed.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "from_dir",
        env = "AIRLOCK_RELEASE_ADD_SBOM"
    )]
    sbom: Option<PathBuf>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

pub async fn run(command: Command, globals: &Globals) -> Result<()> {
    match command {
        Command::Add(mut a) => {
            let cvss = std::mem::take(&mut a.cvss);
            let cwe = std::mem::take(&mut a.cwe);
            release::attach_scores(&mut a.advisories, &cvss, &cwe)?;
            add_either(*a, globals).await
        }
        Command::Withdraw {
            repo,
            product,
            version,
            reason,
            force,
            retention_years,
            passphrase,
        } => {
            let repo = passphrase.open(&repo)?;
            let name =
                release::withdraw(&repo, &product, &version, &reason, force, retention_years)
                    .await?;
            globals.print(&serde_json::json!({"withdrawn": name}), || {
                format!("withdrew {name}; it is no longer offered once published\n")
            })
        }
    }
}

async fn add_either(mut a: AddArgs, globals: &Globals) -> Result<()> {
    match a.from_dir.take() {
        Some(dir) => add_dir(a, dir, globals).await,
        None => add(a, globals).await,
    }
}

/// `release add FILE`: one image.
async fn add(a: AddArgs, globals: &Globals) -> Result<()> {
    let repo = a.passphrase.open(&a.repo)?;
    let report = release::add_with_deltas(
        &repo,
        &release::ReleaseOptions {
            product: a.product,
            file: a.file.context("the firmware file is required")?,
            name: a.name,
            version: a.version.context("--version is required")?,
            security_version: a.security_version,
            kind: a.kind,
            requires: a.requires,
            released: a.released,
            advisories: a.advisories,
            allow_older: a.allow_older,
            sbom: a.sbom,
        },
        &airlock_signer::delta::DeltaOptions {
            from: a.deltas_from,
            methods: a.delta_method,
        },
    )
    .await?;
    globals.print(&report, || {
        let mut deltas = String::new();
        for d in &report.deltas {
            deltas += &format!(
                "  delta {} from {} ({}, {} bytes, {}% of the full image)\n",
                d.target, d.from_version, d.algorithm, d.length, d.percent_of_full
            );
        }
        for s in &report.deltas_skipped {
            deltas += &format!(
                "  no {} delta from {}: {}\n",
                s.algorithm, s.from_version, s.reason
            );
        }
        let sbom = report
            .sbom
            .as_ref()
            .map(|s| {
                format!(
                    "\nSBOM {} ({} {}, {} components, {} bytes, sha256 {})",
                    s.path, s.format, s.spec_version, s.components, s.length, s.sha256
                )
            })
            .unwrap_or_default();
        format!(
            "released {} {}{} ({}, security_version {}, {} bytes, sha256 {}); role v{}{sbom}\n{deltas}",
            report.target,
            report.info.version,
            release::older_note(report.older_than.as_ref()),
            report.info.kind,
            report.info.security_version,
            report.length,
            report.sha256,
            report.role_version
        )
    })
}

/// `release add --from-dir DIR`: every file of a directory in one signing step.
async fn add_dir(a: AddArgs, dir: PathBuf, globals: &Globals) -> Result<()> {
    let repo = a.passphrase.open(&a.repo)?;
    let report = release_dir::add_dir(
        &repo,
        &release_dir::DirOptions {
            product: a.product,
            dir,
            security_version: a.security_version,
            kind: a.kind,
            requires: a.requires,
            released: a.released,
            advisories: a.advisories,
            progress: globals.progress(),
            link: a.link,
            allow_older: a.allow_older,
        },
    )
    .await?;
    globals.print(&report, || {
        let mut s = format!(
            "released {} file(s) of {} ({} bytes); role v{}{}\n",
            report.releases.len(),
            report.product,
            report.bytes,
            report.role_version,
            release::older_note(report.older_than.as_ref())
        );
        for r in report.releases.iter().take(20) {
            s += &format!(
                "  {} {} ({} bytes, sha256 {})\n",
                r.target, r.version, r.length, r.sha256
            );
        }
        if report.releases.len() > 20 {
            s += &format!(
                "  ... and {} more (--json lists all)\n",
                report.releases.len() - 20
            );
        }
        s
    })
}
