//! `airlock-sim demo`: the whole story on the embedded default (local directory + SQLite),
//! in a temporary directory, with no services to set up: the demo [`Lab`] (keys, a repository
//! with two products, one in support and one past its security window, airlock-server on a
//! free 127.0.0.1 port, a publish), a fleet of devices at mixed versions, and two drills: a
//! tampered image and a rolled-back timestamp, both of which must be refused.

use anyhow::Result;
use futures::StreamExt;
use serde::Serialize;
use std::path::PathBuf;

use crate::device::{run_device, AgentConfig, DeviceConfig, DeviceRun, Outcome};
use crate::lab::{Lab, CAM, DOORBELL};
use crate::proxy::{Proxy, Tamper};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub devices: usize,
    pub concurrency: usize,
    /// Keep the working directory (printed) instead of deleting it.
    pub keep: bool,
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Drill {
    pub attack: String,
    pub expected: String,
    pub observed: String,
    pub reason: Option<String>,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// Fleet size.
    pub devices: usize,
    pub updated: usize,
    pub up_to_date: usize,
    pub end_of_support: usize,
    /// Devices (fleet and drills) that refused what they were given.
    pub refused: usize,
    /// Tampered images that a device installed (must be 0).
    pub installed_tampered: usize,
    /// Fleet devices that could not complete (network or state errors).
    pub errors: usize,
    pub drills: Vec<Drill>,
    pub workdir: Option<PathBuf>,
}

impl DemoSummary {
    pub fn ok(&self) -> bool {
        self.installed_tampered == 0 && self.errors == 0 && self.drills.iter().all(|d| d.passed)
    }
}

/// The fleet mix: 20% doorbells (past support), 30% cams on 1.0.0, 20% on 1.1.0, 30% on 1.2.0.
fn fleet_member(i: usize) -> (&'static str, &'static str, u64) {
    match i % 10 {
        0 | 1 => (DOORBELL, "3.4.0", 7),
        2..=4 => (CAM, "1.0.0", 1),
        5 | 6 => (CAM, "1.1.0", 2),
        _ => (CAM, "1.2.0", 3),
    }
}

pub async fn run(opts: &DemoOptions) -> Result<DemoSummary> {
    let lab = Lab::demo("airlock-demo-").await?;
    let dir = lab.dir.clone();
    let server_url = lab.server_url.clone();
    let trusted_root = lab.trusted_root.clone();

    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let device = |id: String,
                  product: &str,
                  version: &str,
                  sv: u64,
                  tuf: &url::Url|
     -> Result<DeviceConfig> {
        Ok(DeviceConfig::new(AgentConfig {
            server: server_url.clone(),
            tuf_base: tuf.clone(),
            trusted_root: trusted_root.clone(),
            state_dir: dir.join("devices").join(&id),
            id,
            product: product.into(),
            version: version.parse()?,
            security_version: sv,
            now: None,
            enrol_token: None,
            retry: airlock_device::Backoff::default(),
        }))
    };

    // The fleet.
    let configs = (0..opts.devices)
        .map(|i| {
            let (p, v, sv) = fleet_member(i);
            device(format!("dev-{i:05}"), p, v, sv, &server_url)
        })
        .collect::<Result<Vec<_>>>()?;
    let bar = if opts.progress {
        let bar = indicatif::ProgressBar::new(configs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} devices {pos}/{len} [{bar:30}] {per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let runs: Vec<Result<DeviceRun>> = futures::stream::iter(configs.iter())
        .map(|cfg| {
            let client = client.clone();
            let bar = bar.clone();
            async move {
                let r = run_device(cfg, &client).await;
                bar.inc(1);
                r
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    bar.finish_and_clear();

    let mut summary = DemoSummary {
        devices: opts.devices,
        updated: 0,
        up_to_date: 0,
        end_of_support: 0,
        refused: 0,
        installed_tampered: 0,
        errors: 0,
        drills: Vec::new(),
        workdir: opts.keep.then(|| dir.clone()),
    };
    for run in &runs {
        match run {
            Ok(r) => match r.outcome {
                Outcome::Installed { .. } => summary.updated += 1,
                Outcome::UpToDate { .. } => summary.up_to_date += 1,
                Outcome::EndOfSupport { .. } => summary.end_of_support += 1,
                Outcome::Refused { .. } => summary.refused += 1,
                Outcome::Failed { .. } | Outcome::Interrupted { .. } => summary.errors += 1,
            },
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "device failed");
                summary.errors += 1;
            }
        }
    }

    // Drill 1: the image is tampered with in transit (or on a compromised server).
    let proxy = Proxy::start(server_url.clone(), client.clone()).await?;
    proxy.set(Tamper::FlipTargetByte);
    let cfg = device("drill-tampered-image".into(), CAM, "1.0.0", 1, &proxy.url)?;
    let run = run_device(&cfg, &client).await?;
    let tampered_installed = matches!(run.outcome, Outcome::Installed { .. });
    if tampered_installed {
        summary.installed_tampered += 1;
    }
    summary.drills.push(drill("tampered image", &run.outcome));

    // Drill 2: an old, validly signed timestamp is replayed to a device that knows a newer one.
    let old_timestamp = client
        .get(server_url.join("tuf/metadata/timestamp.json")?)
        .send()
        .await?
        .bytes()
        .await?;
    lab.resign().await?;
    let cfg = device(
        "drill-rolled-back-timestamp".into(),
        CAM,
        "1.2.0",
        3,
        &server_url,
    )?;
    let first = run_device(&cfg, &client).await?;
    anyhow::ensure!(
        !first.outcome.is_refused(),
        "the rollback drill device could not refresh normally: {:?}",
        first.outcome
    );
    proxy.set(Tamper::ReplayTimestamp(old_timestamp));
    let mut cfg = cfg;
    cfg.agent.tuf_base = proxy.url.clone();
    let run = run_device(&cfg, &client).await?;
    summary
        .drills
        .push(drill("rolled-back timestamp", &run.outcome));
    summary.refused += summary
        .drills
        .iter()
        .filter(|d| d.observed == "refused")
        .count();

    drop(proxy);
    lab.stop(opts.keep).await;
    Ok(summary)
}

fn drill(attack: &str, outcome: &Outcome) -> Drill {
    let (observed, reason) = match outcome {
        Outcome::Refused { reason, .. } => ("refused", Some(reason.clone())),
        Outcome::Installed { .. } => ("installed", None),
        Outcome::UpToDate { .. } => ("up_to_date", None),
        Outcome::EndOfSupport { .. } => ("end_of_support", None),
        Outcome::Failed { code, .. } => ("failed", Some(code.clone())),
        Outcome::Interrupted { .. } => ("interrupted", None),
    };
    Drill {
        attack: attack.into(),
        expected: "refused".into(),
        observed: observed.into(),
        reason,
        passed: observed == "refused",
    }
}

/// Human-readable summary.
pub fn render(s: &DemoSummary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fleet of {} simulated devices (each a TUF client):",
        s.devices
    );
    let _ = writeln!(out, "  updated          {:>6}", s.updated);
    let _ = writeln!(out, "  up to date       {:>6}", s.up_to_date);
    let _ = writeln!(out, "  end of support   {:>6}", s.end_of_support);
    let _ = writeln!(out, "  errors           {:>6}", s.errors);
    let _ = writeln!(out, "\ndrills:");
    let _ = writeln!(
        out,
        "  {:<24} {:<9} {:<9} reason",
        "attack", "expected", "observed"
    );
    for d in &s.drills {
        let _ = writeln!(
            out,
            "  {:<24} {:<9} {:<9} {}",
            d.attack,
            d.expected,
            d.observed,
            d.reason.as_deref().unwrap_or("-")
        );
    }
    let _ = writeln!(
        out,
        "\nrefused {}, tampered images installed {}: {}",
        s.refused,
        s.installed_tampered,
        if s.ok() { "OK" } else { "FAILED" }
    );
    if let Some(dir) = &s.workdir {
        let _ = writeln!(out, "work directory kept at {}", dir.display());
    }
    out
}
