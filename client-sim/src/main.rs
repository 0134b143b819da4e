//! `airlock-sim`: parses the command line and dispatches.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

use airlock_sim::{attack, demo, device, tuf_client};

#[derive(Parser)]
#[command(
    name = "airlock-sim",
    version,
    about = "Simulated devices that verify everything as real TUF clients",
    long_about = "airlock-sim runs simulated devices against airlock-server: each is a TUF \
client with its own trusted metadata that checks in, verifies the offer against its own signed \
metadata, downloads and verifies the image, installs and reports.\n\nExit codes: 0 success, \
1 error, 2 usage error, 3 a device refused what it was given (device) or a drill failed (demo, \
attack)."
)]
struct Cli {
    /// TOML file of settings (keys are flag names, e.g. `server`, `trusted-root`).
    #[arg(long, global = true, env = "AIRLOCK_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true, env = "AIRLOCK_JSON")]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process; the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run one device through one update cycle.
    Device {
        /// Server base URL.
        #[arg(long, env = "AIRLOCK_SERVER")]
        server: url::Url,
        /// The pinned root metadata (e.g. REPO/metadata/1.root.json).
        #[arg(long, env = "AIRLOCK_TRUSTED_ROOT")]
        trusted_root: PathBuf,
        /// The device's state directory (trusted metadata, installed image, device.json).
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        id: String,
        #[arg(long)]
        product: String,
        /// Installed version (used until the state directory records an install).
        #[arg(long)]
        version: semver::Version,
        #[arg(long)]
        security_version: u64,
        /// Enrolment token (from POST /v1/admin/enrolment-tokens), used once: the device then
        /// keeps its own credential in its state directory.
        #[arg(long, env = "AIRLOCK_ENROL_TOKEN")]
        enrol_token: Option<String>,
    },
    /// Rehearse a fleet rollout from a scenario file (fleet, releases and rollouts, failure
    /// rates, faults, events) on a simulated clock shared by the server and the devices. Writes
    /// a timeline (JSON lines, CSV), summary.json and SVG charts to --out. Exits 3 when a check
    /// of the scenario's [expect] fails or any device installed an unverified image.
    Run {
        /// The scenario (TOML; examples in examples/scenarios/).
        scenario: PathBuf,
        /// Directory for timeline.jsonl, timeline.csv, samples.json, summary.json and charts.
        #[arg(long, env = "AIRLOCK_SIM_OUT")]
        out: Option<PathBuf>,
        /// Override the scenario's fleet size.
        #[arg(long)]
        devices: Option<usize>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Keep the working directory (server data, repository, device states).
        #[arg(long)]
        keep: bool,
    },
    /// The whole story on the embedded default in a temp dir: keys, repo, server, publish,
    /// a fleet, and tamper/rollback drills.
    Demo {
        /// Fleet size.
        #[arg(long, default_value_t = 200, env = "AIRLOCK_DEMO_DEVICES")]
        devices: usize,
        /// Devices updating at the same time.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Keep the temporary directory and print its path.
        #[arg(long)]
        keep: bool,
    },
    /// Attack drills: a simulated device behind a tampering proxy (man in the middle or
    /// compromised server). Prints attack, expected, observed, reason; exits 3 if any attack
    /// succeeded. Without --server, builds a lab in a temp dir where every drill can run.
    Attack {
        /// Run every drill (the default when no NAME is given).
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Drills to run: arbitrary-software, rollback-timestamp, rollback-snapshot,
        /// rollback-targets, rollback-product-role, indefinite-freeze, endless-data,
        /// mix-and-match, wrong-signature, below-threshold, revoked-key, wrong-product-image,
        /// downgrade, below-floor, feature-after-window, sunset-only-after-support,
        /// hidden-end-of-support, requires-skipped.
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// Run against this server instead of a lab (drills it cannot prepare are "not run").
        #[arg(long, requires_all = ["trusted_root", "product", "version", "security_version"])]
        server: Option<url::Url>,
        /// With --server: the pinned root metadata.
        #[arg(long, requires = "server")]
        trusted_root: Option<PathBuf>,
        /// With --server: the simulated device's product.
        #[arg(long, requires = "server")]
        product: Option<String>,
        /// With --server: the simulated device's installed version.
        #[arg(long, requires = "server")]
        version: Option<semver::Version>,
        /// With --server: the simulated device's security version.
        #[arg(long, requires = "server")]
        security_version: Option<u64>,
        /// With --server: the admin token, to re-sign when the server has only one timestamp.
        #[arg(long, requires = "server")]
        admin_token_file: Option<PathBuf>,
        /// With --server, when it requires device authentication: an enrolment token for the
        /// product (drill devices enrol with it).
        #[arg(long, requires = "server", env = "AIRLOCK_ENROL_TOKEN")]
        enrol_token: Option<String>,
    },
    /// The TUF conformance suite's client-under-test protocol (init / refresh / download).
    TufClient(tuf_client::TufClientArgs),
}

async fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Device {
            server,
            trusted_root,
            state,
            id,
            product,
            version,
            security_version,
            enrol_token,
        } => {
            let cfg = device::DeviceConfig {
                tuf_base: server.clone(),
                server,
                trusted_root,
                state_dir: state,
                id,
                product,
                version,
                security_version,
                now: None,
                enrol_token,
                boot_fails: Vec::new(),
                interrupt_download_at: None,
                network: Default::default(),
            };
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(300))
                .build()?;
            let run = device::run_device(&cfg, &client).await?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&run)?);
            } else {
                match &run.outcome {
                    device::Outcome::Installed { from, to, target, urgent } => println!(
                        "{}: installed {to} ({target}) over {from}{}",
                        run.id,
                        if *urgent { ", urgent: the old version was below the security floor" } else { "" }
                    ),
                    device::Outcome::UpToDate { version } => {
                        println!("{}: up to date at {version}", run.id)
                    }
                    device::Outcome::EndOfSupport { statement, successor, notice_url, security_updates_until } => println!(
                        "{}: end of support (security updates ended {security_updates_until}): {statement}{}{}",
                        run.id,
                        successor.as_ref().map(|s| format!(" Successor: {s}.")).unwrap_or_default(),
                        notice_url.as_ref().map(|u| format!(" See {u}")).unwrap_or_default()
                    ),
                    device::Outcome::Refused { reason } => {
                        eprintln!("{}: refused: {reason}", run.id)
                    }
                    device::Outcome::Interrupted { version, received, length } => {
                        eprintln!("{}: the download of {version} was cut off at {received} of {length} bytes; the next run resumes it", run.id)
                    }
                    device::Outcome::Failed { version, code } => {
                        eprintln!("{}: {version} failed ({code}); still running the previous version", run.id)
                    }
                }
            }
            Ok(if run.outcome.is_refused() { 3 } else { 0 })
        }
        Command::Run {
            scenario,
            out,
            devices,
            seed,
            keep,
        } => {
            let text = std::fs::read_to_string(&scenario)
                .with_context(|| format!("reading {}", scenario.display()))?;
            let mut scn = airlock_sim::scenario::Scenario::parse(&text)
                .with_context(|| format!("scenario {}", scenario.display()))?;
            if let Some(n) = devices {
                anyhow::ensure!(n > 0, "--devices must be at least 1");
                scn.fleet.devices = n;
            }
            if let Some(s) = seed {
                scn.seed = s;
            }
            let summary = airlock_sim::scenario::run(
                &scn,
                &airlock_sim::scenario::RunOptions {
                    out,
                    progress: std::io::stderr().is_terminal() && !cli.json,
                    keep,
                },
            )
            .await?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", airlock_sim::scenario::render(&summary));
            }
            Ok(if summary.ok { 0 } else { 3 })
        }
        Command::Demo {
            devices,
            concurrency,
            keep,
        } => {
            let summary = demo::run(&demo::DemoOptions {
                devices,
                concurrency,
                keep,
                progress: !cli.json && std::io::stderr().is_terminal(),
            })
            .await?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", demo::render(&summary));
            }
            Ok(if summary.ok() { 0 } else { 3 })
        }
        Command::Attack {
            all: _,
            names,
            server,
            trusted_root,
            product,
            version,
            security_version,
            admin_token_file,
            enrol_token,
        } => {
            let server = match (server, trusted_root, product, version, security_version) {
                (Some(url), Some(trusted_root), Some(product), Some(version), Some(sv)) => {
                    let admin_token = admin_token_file
                        .as_deref()
                        .map(airlock_signer::publish::read_token)
                        .transpose()?;
                    Some(attack::ServerTarget {
                        url,
                        trusted_root,
                        device: attack::DeviceSpec {
                            product,
                            version,
                            security_version: sv,
                        },
                        admin_token,
                        enrol_token,
                    })
                }
                (None, ..) => None,
                _ => anyhow::bail!(
                    "--server needs --trusted-root, --product, --version and --security-version"
                ),
            };
            let summary = attack::run(&attack::AttackOptions {
                drills: names,
                server,
            })
            .await?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", attack::render(&summary));
            }
            Ok(if summary.ok() { 0 } else { 3 })
        }
        Command::TufClient(args) => {
            tuf_client::run(args).await?;
            Ok(0)
        }
    }
}

fn main() -> std::process::ExitCode {
    if let Err(e) = airlock_cli::apply_config_file::<Cli>() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    airlock_cli::init_logging("warn");
    let runtime = match airlock_cli::runtime(None) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
