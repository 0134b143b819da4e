//! `airlock-sim attack`: attack drills. A simulated device (the real [`crate::device`] code)
//! runs behind the tampering [`crate::proxy`], which plays a man in the middle or a
//! compromised server; every attack must end with nothing installed and a refusal of the
//! drill's own kind ([`airlock_device::Refusal`]).
//!
//! Without a server the drills run in a lab built in a temporary directory
//! ([`crate::lab::catalogue::drills`]), where every precondition exists. With `--server` they
//! run against that server, for the device the command line describes; a drill whose
//! preconditions that server lacks is reported as "not run", with the reason. There the drill
//! devices enrol as drill devices ([`enrol`]), so the server keeps them out of its fleet figures.
//!
//! - [`drills`]: the drill table (name, attack, lab device, expected refusal kinds);
//! - [`attacks`]: what the proxy does for each attack;
//! - [`deltas`]: the delta drills (a spoiled delta, with the full image as fallback);
//! - [`ctx`]: the proxy, the survey and device runs behind the proxy;
//! - [`judge`](mod@judge): observation, verdict and the table;
//! - [`survey`]: what the repository serves, read as an attacker would.

pub mod attacks;
pub mod ctx;
pub mod deltas;
pub mod drills;
pub mod enrol;
pub mod judge;
pub mod survey;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::PathBuf;

use airlock_core::decision::DeviceState;

pub use ctx::{offer, pick};
pub use drills::{drill_spec, lab_device, select, Attack, DrillSpec, Expected, DRILLS};
pub use judge::{judge, observe, render, tidy_reason, Observation};

use crate::proxy::{Proxy, Tamper};
use ctx::{Ctx, Run};
use survey::older_version;

/// A device as the drills run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub product: String,
    pub version: semver::Version,
    pub security_version: u64,
}

impl DeviceSpec {
    pub fn new(product: &str, version: &str, security_version: u64) -> Result<Self> {
        Ok(DeviceSpec {
            product: product.into(),
            version: version
                .parse()
                .with_context(|| format!("parsing version {version}"))?,
            security_version,
        })
    }

    pub fn state(&self) -> DeviceState {
        DeviceState {
            product: self.product.clone(),
            version: self.version.clone(),
            security_version: self.security_version,
        }
    }
}

/// `--server` mode: the server and the device to run.
#[derive(Debug, Clone)]
pub struct ServerTarget {
    pub url: url::Url,
    pub trusted_root: PathBuf,
    pub device: DeviceSpec,
    pub admin_token: Option<String>,
    /// A drill enrolment token (`airlock enrolment-token create --drill`) the drill devices
    /// enrol with; without it the command makes one with `admin_token`.
    pub enrol_token: Option<String>,
    /// CA certificates (PEM) to trust for an HTTPS server, instead of the system's roots.
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct AttackOptions {
    /// Drill names; empty = all.
    pub drills: Vec<String>,
    pub server: Option<ServerTarget>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub attack: String,
    pub expected: String,
    pub observed: String,
    pub reason: String,
    /// Whether the drill ran (a drill whose preconditions are missing did not).
    pub ran: bool,
    /// Ran, and the observed result is the expected one.
    pub passed: bool,
    pub simulates: String,
    pub check: String,
}

impl DrillReport {
    /// A drill that ran: what was observed, why, and whether that is what it expects.
    pub fn ran(spec: &DrillSpec, observed: String, reason: String, passed: bool) -> Self {
        DrillReport {
            attack: spec.name.into(),
            expected: spec.expected.as_str().into(),
            observed,
            reason,
            ran: true,
            passed,
            simulates: spec.simulates.into(),
            check: spec.check.into(),
        }
    }

    pub fn not_run(spec: &DrillSpec, why: String) -> Self {
        DrillReport {
            ran: false,
            ..DrillReport::ran(spec, "not run".into(), why, false)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AttackSummary {
    /// `lab` or `server`.
    pub mode: String,
    pub server: String,
    pub drills: Vec<DrillReport>,
    pub passed: usize,
    /// Drills that ran and did not end as expected: an attack succeeded.
    pub failed: usize,
    pub not_run: usize,
}

impl AttackSummary {
    pub fn ok(&self) -> bool {
        self.failed == 0
    }
}

/// POST /v1/admin/resign: new snapshot and timestamp versions.
async fn resign(client: &reqwest::Client, server: &url::Url, token: &str) -> Result<()> {
    let url = server
        .join("v1/admin/resign")
        .context("building the resign URL")?;
    let resp = client
        .post(url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("re-signing on {server}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        bail!("re-signing on {server} failed ({status}): {}", text.trim());
    }
    Ok(())
}

async fn run_drills(ctx: &Ctx, specs: &[&'static DrillSpec]) -> Vec<DrillReport> {
    let mut reports = Vec::new();
    for spec in specs {
        let report = match ctx.run(spec).await {
            Ok(Run::Done(r)) => r,
            Ok(Run::NotRun(why)) => DrillReport::not_run(spec, why),
            Err(e) => {
                ctx.proxy.set(Tamper::None);
                let mut r = DrillReport::not_run(spec, format!("error: {e:#}"));
                r.observed = "error".into();
                r.ran = true;
                r
            }
        };
        reports.push(report);
    }
    reports
}

/// Runs the drills (in a lab, or against `opts.server`).
pub async fn run(opts: &AttackOptions) -> Result<AttackSummary> {
    let specs = select(&opts.drills)?;
    let tls = airlock_device::TlsConfig {
        ca: opts.server.as_ref().and_then(|s| s.ca.clone()),
        ..Default::default()
    };
    let client = tls
        .client_builder()?
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .context("building the HTTP client")?;
    let (reports, mode, server) = match &opts.server {
        None => {
            let (lab, revoked) = crate::lab::catalogue::drills("airlock-attack-").await?;
            let result = async {
                // At least two timestamp versions, the newest from a re-sign.
                resign(&client, &lab.server_url, &lab.token).await?;
                let survey = survey::survey(&client, &lab.server_url).await?;
                let ctx = Ctx {
                    upstream: lab.server_url.clone(),
                    proxy: Proxy::start(lab.server_url.clone(), client.clone()).await?,
                    client: client.clone(),
                    trusted_root: lab.trusted_root.clone(),
                    work: lab.dir.join("devices"),
                    revoked: Some(revoked),
                    id_prefix: "attack".to_string(),
                    enrol_token: None,
                    device: None,
                    survey,
                };
                Ok::<_, anyhow::Error>(run_drills(&ctx, &specs).await)
            }
            .await;
            lab.stop(false).await;
            (result?, "lab", "lab (temporary)".to_string())
        }
        Some(target) => {
            let id_prefix = {
                use rand_core::RngCore;
                format!("attack-{:08x}", rand_core::OsRng.next_u32())
            };
            // before anything changes on the server
            let enrolment =
                enrol::drill_enrolment(&client, target, &id_prefix, specs.len()).await?;
            let result = async {
                let work = tempfile::Builder::new()
                    .prefix("airlock-attack-devices-")
                    .tempdir()
                    .context("creating a temporary directory")?;
                let mut survey = survey::survey(&client, &target.url).await?;
                if let Some(token) = &target.admin_token {
                    let has_older = older_version(
                        &client,
                        &target.url,
                        "timestamp.json",
                        survey.timestamp.version,
                    )
                    .await?
                    .is_some();
                    if !has_older {
                        resign(&client, &target.url, token).await?;
                        survey = survey::survey(&client, &target.url).await?;
                    }
                }
                let ctx = Ctx {
                    upstream: target.url.clone(),
                    proxy: Proxy::start(target.url.clone(), client.clone()).await?,
                    client: client.clone(),
                    trusted_root: target.trusted_root.clone(),
                    work: work.path().to_path_buf(),
                    revoked: None,
                    id_prefix,
                    enrol_token: Some(enrolment.token.clone()),
                    device: Some(target.device.clone()),
                    survey,
                };
                Ok::<_, anyhow::Error>(run_drills(&ctx, &specs).await)
            }
            .await;
            enrol::finish(&client, target, &enrolment).await;
            (result?, "server", target.url.to_string())
        }
    };
    let passed = reports.iter().filter(|r| r.passed).count();
    let not_run = reports.iter().filter(|r| !r.ran).count();
    let failed = reports.iter().filter(|r| r.ran && !r.passed).count();
    Ok(AttackSummary {
        mode: mode.into(),
        server,
        drills: reports,
        passed,
        failed,
        not_run,
    })
}

#[cfg(test)]
mod tests;
