//! The step loop: the simulated clock advances one step at a time; in each step the releases
//! and events due happen, the server renews its metadata, the devices due check in (with the
//! faults drawn for them), the server restarts if one is due, and the fleet is sampled.

use anyhow::{Context, Result};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};

use super::events::{apply_event, publish_release};
use super::setup::{at, SimDevice, Stage};
use super::spec::{self, draw, Offset, Scenario};
use super::{RolloutSample, Sample};
use crate::device::{run_device, DeviceConfig, DeviceRun, Network, Outcome};

/// What the loop counted.
#[derive(Default)]
pub struct Tally {
    pub samples: Vec<Sample>,
    pub cycles: usize,
    /// `product@version` -> devices that installed it, devices on which it failed.
    pub outcomes: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    /// Devices that showed the end-of-support notice.
    pub eos_devices: BTreeSet<String>,
    /// 206 answers of the server instances stopped so far.
    pub range_responses: u64,
    /// Image and delta bytes on the wire (`DeviceRun::image_bytes`): per device id, and per
    /// `product@version` the bytes were fetched for (a rollout releases one version).
    pub wire_bytes: WireBytes,
}

/// Bytes on the wire for images and deltas (docs/deltas.md), for a scenario's summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WireBytes {
    pub total: u64,
    pub per_device: BTreeMap<String, u64>,
    /// `product@version` -> bytes fetched to install it (complete or not).
    pub per_release: BTreeMap<String, u64>,
    /// Installs rebuilt from a delta, and deltas refused for the full image.
    pub delta_installs: usize,
    pub delta_fallbacks: usize,
    /// Per group of the fleet mix ([`spec::MixEntry::group`]): its devices and what they
    /// fetched, to compare devices that update through deltas with devices that cannot.
    pub per_group: BTreeMap<String, GroupBytes>,
}

/// Bytes on the wire of one group of devices.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GroupBytes {
    pub devices: usize,
    pub bytes: u64,
    /// Installs of the group, those rebuilt from a delta, and deltas refused for the full image.
    pub installs: usize,
    pub delta_installs: usize,
    pub delta_fallbacks: usize,
}

impl GroupBytes {
    /// Bytes per installing device, rounded down; `None` before any install.
    pub fn bytes_per_install(&self) -> Option<u64> {
        (self.installs > 0).then(|| self.bytes / self.installs as u64)
    }
}

impl Tally {
    /// Devices that installed / failed `product@version`.
    pub fn counts(&self, key: &str) -> (usize, usize) {
        self.outcomes
            .get(key)
            .map_or((0, 0), |(installed, failed)| {
                (installed.len(), failed.len())
            })
    }
}

/// What is still to come, in time order.
struct Agenda<'a> {
    releases: Vec<&'a spec::ReleaseSpec>,
    events: Vec<&'a spec::EventSpec>,
    restarts: Vec<Offset>,
    corrupted: bool,
}

fn progress_bar(show: bool, steps: i64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps as u64 + 1);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} simulated {msg} [{bar:30}] {pos}/{len} steps, {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

pub async fn run(
    scn: &Scenario,
    stage: &mut Stage,
    devices: &mut [SimDevice],
    progress: bool,
) -> Result<Tally> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()?;
    let steps = scn.duration.0 / scn.step.0;
    let bar = progress_bar(progress, steps);
    let mut agenda = Agenda {
        releases: scn.releases.iter().filter(|r| r.at.0 > 0).collect(),
        events: scn.events.iter().collect(),
        restarts: scn.faults.server_restarts.clone(),
        corrupted: false,
    };
    agenda.releases.sort_by_key(|r| r.at);
    agenda.events.sort_by_key(|e| e.at);
    agenda.restarts.sort();
    let mut tally = Tally::default();
    for d in devices.iter() {
        tally
            .wire_bytes
            .per_group
            .entry(d.group.clone())
            .or_default()
            .devices += 1;
    }
    for step in 0..=steps {
        let offset = step * scn.step.0;
        bar.set_message(format!("{:.0}h", offset as f64 / 3_600_000.0));
        run_step(
            scn,
            stage,
            devices,
            &mut agenda,
            &mut tally,
            &client,
            offset,
        )
        .await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(tally)
}

async fn run_step(
    scn: &Scenario,
    stage: &mut Stage,
    devices: &mut [SimDevice],
    agenda: &mut Agenda<'_>,
    tally: &mut Tally,
    client: &reqwest::Client,
    offset: i64,
) -> Result<()> {
    let now = at(stage.start, Offset(offset))?;
    stage.clock.set(now);
    // A restart within this step cuts off the downloads in flight in it.
    let restarting = agenda
        .restarts
        .first()
        .is_some_and(|r| r.0 < offset + scn.step.0);
    while let Some(r) = agenda
        .releases
        .first()
        .copied()
        .filter(|r| r.at.0 <= offset)
    {
        agenda.releases.remove(0);
        publish_release(scn, stage, r, now).await?;
    }
    while let Some(e) = agenda.events.first().copied().filter(|e| e.at.0 <= offset) {
        agenda.events.remove(0);
        apply_event(stage, e, now)
            .await
            .with_context(|| format!("event {} at {}", e.action, now))?;
    }
    if !agenda.corrupted && scn.faults.corrupt_share > 0.0 && scn.faults.corrupt_at.0 <= offset {
        agenda.corrupted = true;
        for d in devices.iter().filter(|d| d.corrupt) {
            let _ = std::fs::remove_dir_all(d.cfg.agent.state_dir.join("tuf"));
            stage.timeline.log(
                now,
                &d.cfg.agent.id,
                "trusted_metadata_lost",
                d.version(),
                None,
            );
        }
    }
    // The real server checks every minute whether to renew; here it checks once a step, as
    // of the step's end (plus the largest clock skew), so that no device meets metadata the
    // real server would have renewed already.
    stage.clock.set(at(
        stage.start,
        Offset(offset + scn.step.0 + scn.faults.clock_skew.0),
    )?);
    let renewed = stage.lab.renew_if_due().await;
    stage.clock.set(now);
    renewed?;

    let due: Vec<usize> = (0..devices.len())
        .filter(|&i| devices[i].next_ms < offset + scn.step.0)
        .collect();
    let work = due_work(scn, stage, devices, &due, offset, restarting)?;
    // what a lying device reports failed: every release under an active rollout
    let rolling: Vec<(String, String)> = stage
        .lab
        .rollouts()
        .into_iter()
        .filter(|r| r.state == airlock_core::rollout::RolloutState::Active)
        .map(|r| (r.product, r.version.to_string()))
        .collect();
    let rolling = &rolling;
    let results: Vec<(usize, bool, Result<DeviceRun>, Vec<String>)> = futures::stream::iter(work)
        .map(|(i, dropped, cfg)| {
            let client = client.clone();
            let liar = devices[i].false_reporter;
            async move {
                if dropped {
                    return (i, true, Err(anyhow::anyhow!("network dropped")), Vec::new());
                }
                let result = run_device(&cfg, &client).await;
                let lies = match &result {
                    Ok(run) if liar && matches!(run.outcome, Outcome::UpToDate { .. }) => {
                        false_reports(&cfg, &client, rolling, &run.version).await
                    }
                    _ => Vec::new(),
                };
                (i, false, result, lies)
            }
        })
        .buffer_unordered(scn.concurrency.max(1))
        .collect()
        .await;
    for (i, dropped, result, lies) in results {
        tally.cycles += usize::from(!dropped);
        let t = at(stage.start, Offset(devices[i].next_ms.max(offset)))?;
        for version in lies {
            let detail = Some("reported failed without being offered it".to_string());
            stage.timeline.log(
                t,
                &devices[i].cfg.agent.id,
                "false_report",
                &version,
                detail,
            );
        }
        record(stage, tally, &mut devices[i], t, dropped, result);
    }
    while agenda
        .restarts
        .first()
        .is_some_and(|r| r.0 < offset + scn.step.0)
    {
        agenda.restarts.remove(0);
        tally.range_responses += stage.lab.range_responses();
        stage.lab.restart_server().await?;
        stage
            .timeline
            .log(now, "server", "server_restarted", "", None);
    }
    let interval = scn.fleet.check_in_every.0;
    for &i in &due {
        let d = &mut devices[i];
        let jitter = scn.fleet.jitter.0 as f64
            * (draw(
                scn.seed,
                &format!("jitter/{}/{}", d.cfg.agent.id, d.next_ms),
            ) * 2.0
                - 1.0);
        d.next_ms += (interval + jitter as i64).max(scn.step.0.min(interval));
    }
    tally
        .samples
        .push(sample(stage, devices, tally, offset, now));
    Ok(())
}

/// A lying device (`faults.false_report_share`) that was offered nothing reports every release
/// under an active rollout of its product `failed`; the versions it reported.
async fn false_reports(
    cfg: &DeviceConfig,
    client: &reqwest::Client,
    rolling: &[(String, String)],
    running: &str,
) -> Vec<String> {
    let agent = &cfg.agent;
    let mut lies = Vec::new();
    for (product, version) in rolling {
        if *product != agent.product || version == running {
            continue;
        }
        airlock_device::server::send_report(
            agent,
            client,
            &airlock_device::retry::Retries::default(),
            airlock_core::api::ReportStatus::Failed,
            version,
            Some("false_report".into()),
        )
        .await;
        lies.push(version.clone());
    }
    lies
}

/// The check-ins of this step: each due device that is online, whether the network drops
/// it, and its configuration for the cycle (clock, link, download cut-off).
fn due_work(
    scn: &Scenario,
    stage: &Stage,
    devices: &[SimDevice],
    due: &[usize],
    offset: i64,
    restarting: bool,
) -> Result<Vec<(usize, bool, DeviceConfig)>> {
    let mut work = Vec::new();
    for &i in due {
        let d = &devices[i];
        let t = d.next_ms.max(offset);
        if d.offline.is_some_and(|(from, to)| t >= from && t < to) {
            continue;
        }
        let id = &d.cfg.agent.id;
        let dropped = draw(scn.seed, &format!("drop/{id}/{t}")) < scn.faults.drop_rate;
        let mut cfg = d.cfg.clone();
        cfg.network = Network {
            latency: std::time::Duration::from_millis(scn.faults.latency.0.max(0) as u64),
            bytes_per_second: (draw(scn.seed, &format!("slow/{id}")) < scn.faults.slow_link_share)
                .then_some(scn.faults.slow_link_bytes_per_second),
        };
        cfg.agent.now = Some(at(stage.start, Offset(t + d.skew_ms))?);
        let cut =
            restarting || draw(scn.seed, &format!("cut/{id}/{t}")) < scn.faults.interrupt_rate;
        cfg.interrupt_download_at = cut.then(|| draw(scn.seed, &format!("cut-at/{id}/{t}")));
        work.push((i, dropped, cfg));
    }
    Ok(work)
}

/// What a device's cycle changed, on the device, in the tally and on the timeline.
fn record(
    stage: &mut Stage,
    tally: &mut Tally,
    d: &mut SimDevice,
    t: jiff::Timestamp,
    dropped: bool,
    result: Result<DeviceRun>,
) {
    let id = d.cfg.agent.id.clone();
    let product = d.cfg.agent.product.clone();
    let r = match result {
        Err(_) if dropped => {
            let v = d.version().to_string();
            return stage.timeline.log(t, &id, "network_error", &v, None);
        }
        Err(e) => {
            let v = d.version().to_string();
            return stage
                .timeline
                .log(t, &id, "error", &v, Some(format!("{e:#}")));
        }
        Ok(r) => r,
    };
    if r.image_bytes > 0 {
        let w = &mut tally.wire_bytes;
        w.total += r.image_bytes;
        *w.per_device.entry(id.clone()).or_default() += r.image_bytes;
        let fetched = match &r.outcome {
            Outcome::Interrupted { version, .. } | Outcome::Failed { version, .. } => {
                version.clone()
            }
            _ => r.version.clone(),
        };
        *w.per_release
            .entry(format!("{product}@{fetched}"))
            .or_default() += r.image_bytes;
    }
    match &r.delta {
        Some(u) if u.applied => tally.wire_bytes.delta_installs += 1,
        Some(_) => tally.wire_bytes.delta_fallbacks += 1,
        None => {}
    }
    let group = tally
        .wire_bytes
        .per_group
        .entry(d.group.clone())
        .or_default();
    group.bytes += r.image_bytes;
    if matches!(r.outcome, Outcome::Installed { .. }) {
        group.installs += 1;
        match &r.delta {
            Some(u) if u.applied => group.delta_installs += 1,
            Some(_) => group.delta_fallbacks += 1,
            None => {}
        }
    }
    d.running = format!("{product}@{}", r.version);
    let was_interrupted = d.interrupted;
    d.interrupted = matches!(r.outcome, Outcome::Interrupted { .. });
    if was_interrupted && matches!(r.outcome, Outcome::Installed { .. }) {
        stage
            .timeline
            .log(t, &id, "download_resumed", &r.version, None);
    }
    let (event, detail) = match &r.outcome {
        Outcome::Installed { from, urgent, .. } => {
            let key = format!("{product}@{}", r.version);
            tally.outcomes.entry(key).or_default().0.insert(id.clone());
            let urgent = if *urgent { ", urgent" } else { "" };
            ("installed", Some(format!("from {from}{urgent}")))
        }
        Outcome::UpToDate { .. } => ("up_to_date", None),
        // a notice shown again on every later check-in is not news
        Outcome::EndOfSupport { .. } if tally.eos_devices.insert(id.clone()) => {
            ("end_of_support", None)
        }
        Outcome::EndOfSupport { .. } => ("up_to_date", None),
        Outcome::Refused { reason, .. } => ("refused", Some(reason.clone())),
        Outcome::Interrupted {
            version,
            received,
            length,
        } => (
            "download_interrupted",
            Some(format!("{version}: {received} of {length} bytes")),
        ),
        Outcome::Failed { version, code } => {
            let key = format!("{product}@{version}");
            tally.outcomes.entry(key).or_default().1.insert(id.clone());
            ("failed", Some(format!("{version}: {code}")))
        }
    };
    // up-to-date cycles are most of a long run: only changes go to the timeline
    if event != "up_to_date" {
        stage.timeline.log(t, &id, event, &r.version, detail);
    }
}

/// The fleet and rollouts at the end of a step (for the charts).
fn sample(
    stage: &Stage,
    devices: &[SimDevice],
    tally: &Tally,
    offset: i64,
    now: jiff::Timestamp,
) -> Sample {
    let mut versions: BTreeMap<String, usize> = BTreeMap::new();
    for d in devices {
        *versions.entry(d.running.clone()).or_default() += 1;
    }
    let rollouts = stage
        .lab
        .rollouts()
        .into_iter()
        .map(|r| {
            let key = format!("{}@{}", r.product, r.version);
            let (installed, failed) = tally.counts(&key);
            RolloutSample {
                rollout: key,
                state: r.state.as_str().to_string(),
                reached_percent: f64::from(r.reached(now)) / 100.0,
                installed,
                failed,
                threshold_percent: r
                    .health
                    .map(|h| f64::from(h.max_failure_basis_points) / 100.0),
                reason: r.reason.clone(),
            }
        })
        .collect();
    Sample {
        hours: offset as f64 / 3_600_000.0,
        versions,
        rollouts,
        wire_bytes: tally
            .wire_bytes
            .per_group
            .iter()
            .map(|(group, g)| (group.clone(), g.bytes))
            .collect(),
    }
}
