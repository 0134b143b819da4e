//! `airlock-sim attack`: the attack drills, in a lab or against a server.
//!
//! The `--server` flags read `AIRLOCK_ATTACK_*` variables, not the device's `AIRLOCK_SERVER`
//! and friends: a shell or config file set up for `airlock-sim device` must not turn a lab
//! run into a run against that server.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use crate::attack::{self, AttackOptions, DeviceSpec, ServerTarget};
use crate::lab::read_token;

#[derive(Debug, Args)]
pub struct AttackArgs {
    /// Run every drill (the default when no NAME is given).
    #[arg(long, conflicts_with = "names", env = "AIRLOCK_ATTACK_ALL")]
    all: bool,
    /// Drills to run: arbitrary-software, rollback-timestamp, rollback-snapshot,
    /// rollback-targets, rollback-product-role, indefinite-freeze, endless-data,
    /// mix-and-match, wrong-signature, below-threshold, revoked-key, wrong-product-image,
    /// downgrade, below-floor, feature-after-window, sunset-only-after-support,
    /// hidden-end-of-support, requires-skipped, withheld-security-release, delta-altered,
    /// delta-other-source, delta-other-image, delta-endless.
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Run against this server instead of a lab (drills it cannot prepare are "not run").
    #[arg(long, requires_all = ["trusted_root", "product", "version", "security_version"], env = "AIRLOCK_ATTACK_SERVER")]
    server: Option<url::Url>,
    /// With --server: the pinned root metadata.
    #[arg(long, requires = "server", env = "AIRLOCK_ATTACK_TRUSTED_ROOT")]
    trusted_root: Option<PathBuf>,
    /// With --server: the simulated device's product.
    #[arg(long, requires = "server", env = "AIRLOCK_ATTACK_PRODUCT")]
    product: Option<String>,
    /// With --server: the simulated device's installed version.
    #[arg(long, requires = "server", env = "AIRLOCK_ATTACK_VERSION")]
    version: Option<semver::Version>,
    /// With --server: the simulated device's security version.
    #[arg(long, requires = "server", env = "AIRLOCK_ATTACK_SECURITY_VERSION")]
    security_version: Option<u64>,
    /// With --server: the admin token (scopes publish and devices), to re-sign when the server
    /// has only one timestamp and to make the run's drill enrolment token.
    #[arg(long, requires = "server", env = "AIRLOCK_ATTACK_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// With --server: a drill enrolment token for the product (`airlock enrolment-token create
    /// --drill`); the drill devices enrol with it, so the server keeps them out of its fleet
    /// figures. Without it, --admin-token-file makes one (and revokes it afterwards).
    #[arg(long, requires = "server", env = "AIRLOCK_ATTACK_ENROL_TOKEN")]
    enrol_token: Option<String>,
    /// With --server: CA certificates (PEM) to trust for an HTTPS server, instead of the
    /// system's roots.
    #[arg(long, requires = "server", env = "AIRLOCK_ATTACK_CA")]
    ca: Option<PathBuf>,
}

/// Exit code 3 when an attack succeeded (a drill failed).
pub async fn run(args: AttackArgs, json: bool) -> Result<u8> {
    let server = match (
        args.server,
        args.trusted_root,
        args.product,
        args.version,
        args.security_version,
    ) {
        (Some(url), Some(trusted_root), Some(product), Some(version), Some(sv)) => {
            let admin_token = args
                .admin_token_file
                .as_deref()
                .map(read_token)
                .transpose()?;
            Some(ServerTarget {
                url,
                trusted_root,
                device: DeviceSpec {
                    product,
                    version,
                    security_version: sv,
                },
                admin_token,
                enrol_token: args.enrol_token,
                ca: args.ca,
            })
        }
        (None, ..) => None,
        _ => anyhow::bail!(
            "--server needs --trusted-root, --product, --version and --security-version"
        ),
    };
    let summary = attack::run(&AttackOptions {
        drills: args.names,
        server,
    })
    .await?;
    super::print(json, &summary, attack::render)?;
    Ok(if summary.ok() { 0 } else { 3 })
}
