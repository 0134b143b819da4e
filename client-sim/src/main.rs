//! `airlock-sim`: parses the command line and dispatches.

use anyhow::Result;
use clap::{Parser, Subcommand};

use airlock_sim::cli::{attack, demo, device, run, soak};
use airlock_sim::tuf_client;

#[derive(Parser)]
#[command(
    name = "airlock-sim",
    version,
    about = "Simulated devices that verify everything as real TUF clients",
    long_about = concat!("airlock-sim runs simulated devices against airlock-server: each is a TUF \
client with its own trusted metadata that checks in, verifies the offer against its own signed \
metadata, downloads and verifies the image, installs and reports.\n\nA device that refused what it was given (device) or a failed drill or \
scenario check (demo, attack, run) is a verification failure, exit 3.\n\n", airlock_cli::exit_codes_help!())
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

#[derive(Subcommand)]
enum Command {
    /// Run one device through one update cycle.
    Device(device::DeviceArgs),
    /// Rehearse a fleet rollout from a scenario file (fleet, releases and rollouts, failure
    /// rates, faults, events) on a simulated clock shared by the server and the devices. Writes
    /// a timeline (JSON lines, CSV), summary.json and SVG charts to --out. Exits 3 when a check
    /// of the scenario's [expect] fails or any device installed an unverified image.
    Run(run::RunArgs),
    /// The whole story on the embedded default in a temp dir: keys, repo, server, publish,
    /// a fleet, and tamper/rollback drills.
    Demo(demo::DemoArgs),
    /// Attack drills: a simulated device behind a tampering proxy (man in the middle or
    /// compromised server). Prints attack, expected, observed, reason; exits 3 if any attack
    /// succeeded. Without --server, builds a lab in a temp dir where every drill can run.
    Attack(attack::AttackArgs),
    /// Soak test: a fleet of devices checking in on a schedule against a running server for a
    /// bounded time, watching the memory and open files of the given processes. Exits 3 on any
    /// error or refusal, or when memory or open files grew more than --max-growth after the
    /// warm-up (scripts/soak runs it against a real server).
    Soak(soak::SoakArgs),
    /// The TUF conformance suite's client-under-test protocol (init / refresh / download).
    TufClient(tuf_client::TufClientArgs),
}

async fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Device(args) => device::run(args, cli.json).await,
        Command::Run(args) => run::run(args, cli.json).await,
        Command::Demo(args) => demo::run(args, cli.json).await,
        Command::Attack(args) => attack::run(args, cli.json).await,
        Command::Soak(args) => soak::run(args, cli.json).await,
        // The conformance protocol wants 1 for any failure (docs/conformance.md).
        Command::TufClient(args) => tuf_client::run(args).await.map(|()| 0).map_err(|e| {
            airlock_cli::Failure::new(
                airlock_cli::ErrorClass::Error,
                airlock_cli::failure::message(&e),
            )
            .into()
        }),
    }
}

/// A device's refusal by the server carries the HTTP status; classed as the other binaries
/// class a server's answer (401: refused, 404: not found; docs/cli.md).
fn classed(e: anyhow::Error) -> anyhow::Error {
    use airlock_device::Error as DeviceError;
    let status = e
        .chain()
        .find_map(|c| match c.downcast_ref::<DeviceError>()? {
            DeviceError::CheckInRefused { status, .. }
            | DeviceError::EnrolRefused { status, .. } => Some(status.as_u16()),
            _ => None,
        });
    let Some(status) = status else {
        return e;
    };
    let refusal = airlock_cli::HttpRefusal {
        status,
        code: None,
        message: String::new(),
    };
    airlock_cli::Failure::new(refusal.class(), airlock_cli::failure::message(&e)).into()
}

fn main() -> std::process::ExitCode {
    airlock_cli::main(
        "warn",
        |_: &Cli| None,
        |cli| async { dispatch(cli).await.map_err(classed) },
    )
}
