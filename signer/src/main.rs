//! `airlock`: parses the command line (clap, the `--config` file, the global options) and
//! dispatches to [`cmd`], one module per command group.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

mod cmd;

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "Offline TUF signing for firmware: keys, products, releases, support windows, publishing",
    long_about = concat!("airlock keeps a TUF repository for a vendor's firmware: offline root and targets keys, \
one delegated role per product, firmware targets with signed release metadata, product support \
windows, and publishing to airlock-server.\n\n", airlock_cli::exit_codes_help!())
)]
struct Cli {
    /// TOML file of settings (keys are flag names, e.g. `server`, `admin-token-file`).
    #[arg(long, global = true, env = "AIRLOCK_CONFIG")]
    config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true, env = "AIRLOCK_JSON")]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a repository: offline root and targets keys under REPO/keys (0600), signed v1 root
    /// and targets metadata naming the server's online key for snapshot and timestamp.
    Init(cmd::init::Args),
    /// Products (one delegated TUF role each, with a signed support record).
    Product {
        #[command(subcommand)]
        command: cmd::product::Command,
    },
    /// Firmware releases.
    Release {
        #[command(subcommand)]
        command: cmd::release::Command,
    },
    /// Upload the repository to airlock-server (which verifies it and serves it), or with --out
    /// write a complete static repository for any web server.
    Publish(cmd::publish::Args),
    /// Verify a repository like a device would and print each problem: a server URL, a
    /// directory (or file:// URL) of a static TUF repository such as `publish --out` or
    /// `tuftool create` write, or this signer's repository.
    Verify(cmd::verify::Args),
    /// Roles, keys, versions, expiry dates, products and releases.
    Status(cmd::status::Args),
    /// Re-sign root, targets or product roles with a new expiry, changing nothing else (what
    /// `status --check` asks for); with --within only those expiring soon. Exit 0 when every
    /// role due was renewed (or none was due), 1 on an error (e.g. keys held elsewhere).
    Renew(cmd::renew::Args),
    /// A product's support record: extend it, raise its security floor, show it.
    Support {
        #[command(subcommand)]
        command: cmd::support::Command,
    },
    /// Add your signature to a proposal (e.g. from `airlock root propose`).
    Sign(cmd::sign::Args),
    /// Evidence for regulators.
    Compliance {
        #[command(subcommand)]
        command: cmd::compliance::Command,
    },
    /// Security advisories from the signed releases: CSAF 2.0 documents in a provider
    /// directory; signed VEX "not affected" statements.
    Advisory {
        #[command(subcommand)]
        command: cmd::advisory::Command,
    },
    /// The CRA Art. 14 reporting clock: open an incident (actively exploited vulnerability or
    /// severe incident), list its deadlines (`status --check` exits 2 when one is due within
    /// 12 hours), record what was sent, draft the early warning and notification.
    Incident {
        #[command(subcommand)]
        command: cmd::incident::Command,
    },
    /// Root metadata: key rotation.
    Root {
        #[command(subcommand)]
        command: cmd::root::Command,
    },
    /// The top-level targets role when its keys are held by several people: propose the staged
    /// change, holders sign it with `airlock sign`, apply it once the threshold is met.
    Targets {
        #[command(subcommand)]
        command: cmd::targets::Command,
    },
    /// Staged rollouts on the server (admin API).
    Rollout {
        #[command(subcommand)]
        command: cmd::rollout::Command,
    },
    /// The server's audit log: publishes (accepted, or refused and why), rollout actions,
    /// tokens, device revocations; newest first, with filters (admin API, scope `read`).
    Audit(cmd::audit::Args),
    /// Tokens devices enrol with: create, list, revoke (admin API).
    EnrolmentToken {
        #[command(subcommand)]
        command: cmd::enrolment_token::Command,
    },
    /// Enrolled devices: revoke, reinstate (admin API).
    Device {
        #[command(subcommand)]
        command: cmd::device::Command,
    },
}

async fn run(cli: Cli) -> Result<()> {
    let globals = cmd::Globals::new(cli.json);
    let g = &globals;
    match cli.command {
        Command::Init(args) => cmd::init::run(args, g).await,
        Command::Product { command } => cmd::product::run(command, g).await,
        Command::Release { command } => cmd::release::run(command, g).await,
        Command::Publish(args) => cmd::publish::run(args, g).await,
        Command::Verify(args) => cmd::verify::run(args, g).await,
        Command::Status(args) => cmd::status::run(args, g),
        Command::Renew(args) => cmd::renew::run(args, g).await,
        Command::Support { command } => cmd::support::run(command, g).await,
        Command::Sign(args) => cmd::sign::run(args, g),
        Command::Compliance { command } => cmd::compliance::run(command).await,
        Command::Incident { command } => cmd::incident::run(command, g),
        Command::Advisory { command } => cmd::advisory::run(command, g).await,
        Command::Root { command } => cmd::root::run(command, g).await,
        Command::Targets { command } => cmd::targets::run(command, g),
        Command::Rollout { command } => cmd::rollout::run(command, g).await,
        Command::Audit(args) => cmd::audit::run(args, g).await,
        Command::EnrolmentToken { command } => cmd::enrolment_token::run(command, g).await,
        Command::Device { command } => cmd::device::run(command, g).await,
    }
}

/// See signer/Cargo.toml: measured faster than glibc's allocator for large repositories.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    airlock_cli::main(
        "warn",
        |_: &Cli| None,
        |cli| async {
            match run(cli).await {
                Ok(()) => Ok(0),
                // The command printed its output and chose the exit code.
                Err(e) => {
                    let code = e
                        .chain()
                        .find_map(|c| c.downcast_ref::<cmd::ExitWith>())
                        .map(|x| x.0);
                    code.ok_or(e)
                }
            }
        },
    )
}
