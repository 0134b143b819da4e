//! Fleet rollout rehearsals: `airlock-sim run scenario.toml`.
//!
//! The server (in-process, embedded default, on a loopback port) and every simulated device run
//! on one simulated clock that the runner advances step by step, so weeks of waves take seconds
//! or minutes. Each device is the same real TUF client as `airlock-sim device` (its own trusted
//! metadata, verification of every offer and image); the runner only decides when it checks in
//! and which faults it meets, all drawn from the scenario's seed, so a run is reproducible.
//!
//! - [`spec`]: the scenario file;
//! - [`setup`]: the lab with the scenario's products and first releases, and the fleet, whose
//!   shares are exact counts ([`shares`], which also gives the smallest fleet a scenario needs);
//! - [`steps`]: the step loop, with [`events`] (releases, rollouts, support changes);
//! - [`expect`]: the checks a run ends with;
//! - [`output`]: the files of `--out` and the terminal summary, with [`chart`].

pub mod chart;
pub mod events;
pub mod expect;
pub mod output;
pub mod setup;
pub mod shares;
pub mod spec;
pub mod steps;
pub mod timeline;

use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

use airlock_core::rollout::RolloutState;

pub use crate::lab::SimClock;
pub use output::render;
pub use spec::{draw, Offset, Scenario};
pub use timeline::TimelineEvent;

pub struct RunOptions {
    /// Where to write timeline.jsonl, timeline.csv, summary.json and the charts.
    pub out: Option<PathBuf>,
    pub progress: bool,
    /// Keep the working directory (server data, repository, device states).
    pub keep: bool,
}

/// The fleet and rollouts at one step (for the charts).
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub hours: f64,
    /// `product@version` -> devices running it.
    pub versions: BTreeMap<String, usize>,
    pub rollouts: Vec<RolloutSample>,
    /// Group of the fleet mix -> image and delta bytes its devices fetched so far.
    pub wire_bytes: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RolloutSample {
    pub rollout: String,
    pub state: String,
    /// Share of the fleet the waves have reached, in percent.
    pub reached_percent: f64,
    /// Devices that reported the image installed / failed so far.
    pub installed: usize,
    pub failed: usize,
    /// The health rule's failure threshold, in percent.
    pub threshold_percent: Option<f64>,
    /// Why the state last changed (the health rule's figures, an operator's reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RolloutOutcome {
    pub product: String,
    pub version: String,
    pub state: String,
    pub reason: Option<String>,
    pub installed: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub what: String,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub name: String,
    pub seed: u64,
    pub devices: usize,
    pub simulated_hours: f64,
    pub wall_seconds: f64,
    pub device_cycles: usize,
    pub cycles_per_second: f64,
    /// `product@version` -> devices running it at the end.
    pub final_versions: BTreeMap<String, usize>,
    /// Event name -> count over the run.
    pub events: BTreeMap<String, usize>,
    pub rollouts: Vec<RolloutOutcome>,
    /// Devices whose installed image is not exactly a signed target: must be 0.
    pub unverified_installs: usize,
    /// 206 answers the server gave (downloads resumed with a Range request), from its metrics.
    pub range_responses: u64,
    /// Image and delta bytes on the wire, per device and per release (docs/deltas.md).
    pub wire_bytes: steps::WireBytes,
    pub checks: Vec<Check>,
    pub ok: bool,
    pub peak_rss_mib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
}

/// Resident memory of this process at its peak (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The simulated time (ms from the start) of the sample from which `rollout` stayed paused.
fn paused_since(samples: &[Sample], rollout: &str) -> Option<i64> {
    let mut since = None;
    for s in samples {
        let paused = s
            .rollouts
            .iter()
            .any(|r| r.rollout == rollout && r.state == RolloutState::Paused.as_str());
        since = match (paused, since) {
            (true, None) => Some((s.hours * 3_600_000.0).round() as i64),
            (true, kept) => kept,
            (false, _) => None,
        };
    }
    since
}

/// Runs a scenario to the end: setup, the step loop, the checks, the output.
pub async fn run(scn: &Scenario, opts: &RunOptions) -> Result<Summary> {
    shares::check_fleet_size(scn)?;
    let wall = std::time::Instant::now();
    let mut stage = setup::stage(scn).await?;
    let mut devices = setup::fleet(scn, &stage.lab);
    setup::keep_images(&stage, &devices)?;
    let mut tally = steps::run(scn, &mut stage, &mut devices, opts.progress).await?;

    // Pause / resume reasons recorded by the server go on the timeline too.
    let end = stage.clock.now();
    let rollouts: Vec<RolloutOutcome> = stage
        .lab
        .rollouts()
        .into_iter()
        .map(|r| {
            let (installed, failed) = tally.counts(&format!("{}@{}", r.product, r.version));
            RolloutOutcome {
                product: r.product.clone(),
                version: r.version.to_string(),
                state: r.state.as_str().to_string(),
                reason: r.reason.clone(),
                installed,
                failed,
            }
        })
        .collect();
    for r in &rollouts {
        if r.state == RolloutState::Paused.as_str() {
            // at the step the pause was seen, not at the end of the run
            let key = format!("{}@{}", r.product, r.version);
            let when = paused_since(&tally.samples, &key)
                .and_then(|offset| setup::at(stage.start, spec::Offset(offset)).ok())
                .unwrap_or(end);
            stage.timeline.log(
                when,
                "server",
                "rollout_paused",
                &r.version,
                r.reason.clone(),
            );
        }
    }
    tally.range_responses += stage.lab.range_responses();
    let unverified = expect::unverified_installs(&devices, &stage.signed);
    let checks = expect::checks(
        scn,
        &devices,
        &rollouts,
        unverified,
        tally.eos_devices.len(),
    );
    stage.timeline.sort();
    let wall_seconds = wall.elapsed().as_secs_f64();
    let workdir = stage.lab.stop(opts.keep).await;
    let summary = Summary {
        name: scn.name.clone(),
        seed: scn.seed,
        devices: scn.fleet.devices,
        simulated_hours: scn.duration.hours(),
        wall_seconds,
        device_cycles: tally.cycles,
        cycles_per_second: tally.cycles as f64 / wall_seconds.max(1e-9),
        final_versions: tally
            .samples
            .last()
            .map(|s| s.versions.clone())
            .unwrap_or_default(),
        events: stage.timeline.counts(),
        rollouts,
        unverified_installs: unverified,
        range_responses: tally.range_responses,
        wire_bytes: tally.wire_bytes.clone(),
        ok: checks.iter().all(|c| c.ok),
        checks,
        peak_rss_mib: peak_rss_mib(),
        workdir,
    };
    if let Some(out) = &opts.out {
        output::write_outputs(out, &stage.timeline.events, &tally.samples, &summary)?;
    }
    Ok(summary)
}
