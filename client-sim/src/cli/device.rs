//! `airlock-sim device`: one device through one update cycle.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

use crate::device::{run_device_applying, AgentConfig, DeviceConfig, DeviceRun, Outcome};

#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// Server base URL.
    #[arg(long, env = "AIRLOCK_SERVER")]
    server: url::Url,
    /// The pinned root metadata (e.g. REPO/metadata/1.root.json).
    #[arg(long, env = "AIRLOCK_TRUSTED_ROOT")]
    trusted_root: PathBuf,
    /// The device's state directory (trusted metadata, installed image, device.json).
    #[arg(long, env = "AIRLOCK_DEVICE_STATE")]
    state: PathBuf,
    #[arg(long, env = "AIRLOCK_DEVICE_ID")]
    id: String,
    #[arg(long, env = "AIRLOCK_PRODUCT")]
    product: String,
    /// Installed version (used until the state directory records an install).
    #[arg(long, env = "AIRLOCK_DEVICE_VERSION")]
    version: semver::Version,
    #[arg(long, env = "AIRLOCK_SECURITY_VERSION")]
    security_version: u64,
    /// Enrolment token (from POST /v1/admin/enrolment-tokens), used once: the device then
    /// keeps its own credential in its state directory.
    #[arg(long, env = "AIRLOCK_ENROL_TOKEN")]
    enrol_token: Option<String>,
    /// Instead of an update cycle: fetch the SBOM of release VERSION through TUF (the SBOM
    /// target its image's signed fields name, length and sha256 checked, a valid CycloneDX or
    /// SPDX document), print what it lists and write it to --sbom-out. Exits 3 when refused.
    #[arg(long, value_name = "VERSION", env = "AIRLOCK_SIM_SBOM")]
    sbom: Option<semver::Version>,
    /// Where --sbom writes the verified SBOM.
    #[arg(
        long,
        value_name = "FILE",
        requires = "sbom",
        env = "AIRLOCK_SIM_SBOM_OUT"
    )]
    sbom_out: Option<PathBuf>,
    /// The delta algorithms this device applies, in its order of preference, sent with the
    /// check-in (docs/deltas.md): `bsdiff4` for a device short of memory, `zstd-patch-from`.
    /// Default: all the agent knows, zstd patch-from first.
    #[arg(
        long,
        value_name = "ALGORITHM",
        value_delimiter = ',',
        env = "AIRLOCK_SIM_DELTA_ALGORITHMS"
    )]
    delta_algorithms: Vec<String>,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// Exit code 3 when the device refused what it was given.
pub async fn run(args: DeviceArgs, json: bool) -> Result<u8> {
    let cfg = DeviceConfig::new(AgentConfig {
        tuf_base: args.server.clone(),
        server: args.server,
        trusted_root: args.trusted_root,
        state_dir: args.state,
        id: args.id,
        product: args.product,
        version: args.version,
        security_version: args.security_version,
        now: None,
        enrol_token: args.enrol_token,
        retry: airlock_device::Backoff::default(),
    });
    let client = args
        .tls
        .config()
        .client_builder()?
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .context("building the HTTP client (--ca, --client-cert, --client-key)")?;
    if let Some(version) = &args.sbom {
        return sbom(&cfg.agent, &client, version, args.sbom_out.as_deref(), json).await;
    }
    let algorithms = (!args.delta_algorithms.is_empty()).then_some(&args.delta_algorithms[..]);
    let run = run_device_applying(&cfg, &client, algorithms).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        print_text(&run);
    }
    Ok(if run.outcome.is_refused() { 3 } else { 0 })
}

/// `--sbom VERSION`: the release's SBOM through the device library's TUF client.
async fn sbom(
    agent: &AgentConfig,
    client: &reqwest::Client,
    version: &semver::Version,
    out: Option<&std::path::Path>,
    json: bool,
) -> Result<u8> {
    match airlock_device::fetch_sbom(agent, client, version).await {
        Ok(v) => {
            if let Some(out) = out {
                std::fs::write(out, &v.bytes)
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            let answer = serde_json::json!({
                "target": v.target.name,
                "sha256": v.target.sha256,
                "length": v.target.length,
                "format": v.summary.format,
                "spec_version": v.summary.spec_version,
                "components": v.summary.components,
                "subject": v.summary.subject,
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                println!(
                    "{}: verified {} {} SBOM ({} components, sha256 {})",
                    v.target.name,
                    v.summary.format,
                    v.summary.spec_version,
                    v.summary.components,
                    v.target.sha256
                );
            }
            Ok(0)
        }
        Err(refused) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"refused": format!("{:?}", refused.kind), "reason": refused.reason})
                );
            } else {
                println!("refused ({:?}): {}", refused.kind, refused.reason);
            }
            Ok(3)
        }
    }
}

fn print_text(run: &DeviceRun) {
    let id = &run.id;
    match &run.outcome {
        Outcome::Installed {
            from,
            to,
            target,
            urgent,
            withheld,
        } => println!(
            "{id}: installed {to} ({target}) over {from}{}{}",
            if *urgent {
                ", urgent: the old version was below the security floor"
            } else {
                ""
            },
            if *withheld {
                "; the server answered up to date, but the signed metadata lists this security release, held back past its limit (withheld)"
            } else {
                ""
            }
        ),
        Outcome::UpToDate { version } => println!("{id}: up to date at {version}"),
        Outcome::EndOfSupport {
            statement,
            successor,
            notice_url,
            security_updates_until,
        } => println!(
            "{id}: end of support (security updates ended {security_updates_until}): {statement}{}{}",
            successor
                .as_ref()
                .map(|s| format!(" Successor: {s}."))
                .unwrap_or_default(),
            notice_url
                .as_ref()
                .map(|u| format!(" See {u}"))
                .unwrap_or_default()
        ),
        Outcome::Refused { reason, .. } => eprintln!("{id}: refused: {reason}"),
        Outcome::Interrupted {
            version,
            received,
            length,
        } => eprintln!(
            "{id}: the download of {version} was cut off at {received} of {length} bytes; the next run resumes it"
        ),
        Outcome::Failed { version, code } => {
            eprintln!("{id}: {version} failed ({code}); still running the previous version")
        }
    }
}
