//! `airlock verify`: check a repository (server URL, static directory or this signer's
//! repository) as a device would; exit 1 when it has problems.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

use airlock_signer::{repo::Repo, verify};

use super::{ExitWith, Globals};

#[derive(clap::Args)]
pub struct Args {
    /// URL (http, https, file), static directory or airlock repository.
    source: String,
    /// Trusted root for a URL or directory (default: SOURCE/metadata/1.root.json).
    #[arg(long, env = "AIRLOCK_TRUSTED_ROOT")]
    trusted_root: Option<PathBuf>,
    /// For this signer's repository: first remove the copies an interrupted `release add` left
    /// in targets/ that are over an hour old (younger ones may belong to a running command).
    #[arg(long, env = "AIRLOCK_VERIFY_CLEAN")]
    clean: bool,
}

pub async fn run(args: Args, globals: &Globals) -> Result<()> {
    let source = args.source;
    let report = if Path::new(&source).join("airlock.json").is_file() {
        let repo = Repo::open(Path::new(&source))?;
        let cleaned = if args.clean {
            airlock_signer::leftovers::remove_stale(&repo, None, jiff::Timestamp::now())?
        } else {
            Vec::new()
        };
        verify::VerifyReport {
            cleaned,
            ..verify::verify_local(&repo)?
        }
    } else if args.clean {
        anyhow::bail!("--clean works on this signer's repository (a directory with airlock.json), not on {source}");
    } else {
        let (url, default_root) = repository_url(&source)?;
        let root_path = args
            .trusted_root
            .or(default_root)
            .context("--trusted-root is required for a URL")?;
        let root = std::fs::read(&root_path)
            .with_context(|| format!("reading the trusted root {}", root_path.display()))?;
        verify::verify_url(&url, &root).await?
    };
    globals.print(&report, || verify::render(&report))?;
    if !report.problems.is_empty() {
        return Err(ExitWith(airlock_cli::ErrorClass::Verification.exit_code()).into());
    }
    Ok(())
}

/// The TUF base URL of `source` (an http(s) server, a `file://` URL or a directory of a static
/// repository) and, for a directory, its first root as the default trusted root.
fn repository_url(source: &str) -> Result<(url::Url, Option<PathBuf>)> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let mut u = url::Url::parse(source).with_context(|| format!("parsing {source}"))?;
        if !u.path().ends_with('/') {
            u.set_path(&format!("{}/", u.path()));
        }
        if !u.path().ends_with("/tuf/") {
            u = u.join("tuf/").context("building the repository URL")?;
        }
        return Ok((u, None));
    }
    let dir = match source.strip_prefix("file://") {
        Some(_) => url::Url::parse(source)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .with_context(|| format!("{source} is not a usable file:// URL"))?,
        None => std::path::absolute(source).with_context(|| format!("resolving {source}"))?,
    };
    if !dir.join("metadata").is_dir() {
        anyhow::bail!(
            "{source} is neither an airlock repository, a static repository (metadata/) nor a URL"
        );
    }
    let u = url::Url::from_directory_path(&dir)
        .map_err(|_| anyhow::anyhow!("{source} is not a usable directory path"))?;
    Ok((u, Some(dir.join("metadata/1.root.json"))))
}
