//! Fleet rollout rehearsals: `airlock-sim run scenario.toml`.
//!
//! The server (in-process, embedded default, on a loopback port) and every simulated device run
//! on one simulated clock that the runner advances step by step, so weeks of waves take seconds
//! or minutes. Each device is the same real TUF client as `airlock-sim device` (its own trusted
//! metadata, verification of every offer and image); the runner only decides when it checks in
//! and which faults it meets, all drawn from the scenario's seed, so a run is reproducible.

pub mod chart;
pub mod spec;

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use airlock_core::api::RolloutRequest;
use airlock_core::release::ReleaseKind;
use airlock_core::rollout::RolloutState;
use airlock_signer::repo::Repo;
use airlock_signer::{init, product, publish, release, support};

use crate::device::{run_device, DeviceConfig, Outcome};
pub use spec::{draw, Offset, Scenario};

/// The clock shared by the server and the devices.
#[derive(Debug)]
pub struct SimClock(AtomicI64);

impl SimClock {
    pub fn new(t: jiff::Timestamp) -> Self {
        SimClock(AtomicI64::new(t.as_millisecond()))
    }
    pub fn set(&self, t: jiff::Timestamp) {
        self.0.store(t.as_millisecond(), Ordering::SeqCst);
    }
}

impl airlock_server::Clock for SimClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.0.load(Ordering::SeqCst))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }
}

pub struct RunOptions {
    /// Where to write timeline.jsonl, timeline.csv, summary.json and the charts.
    pub out: Option<PathBuf>,
    pub progress: bool,
    /// Keep the working directory (server data, repository, device states).
    pub keep: bool,
}

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    pub hours: f64,
    pub at: jiff::Timestamp,
    /// A device id, or `server` / `release-team` for what happens around the fleet.
    pub device: String,
    pub event: String,
    /// The version the device runs after the event (or the release concerned).
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The fleet and rollouts at one step (for the charts).
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub hours: f64,
    /// `product@version` -> devices running it.
    pub versions: BTreeMap<String, usize>,
    pub rollouts: Vec<RolloutSample>,
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
    pub checks: Vec<Check>,
    pub ok: bool,
    pub peak_rss_mib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
}

struct SimDevice {
    cfg: DeviceConfig,
    next_ms: i64,
    skew_ms: i64,
    offline: Option<(i64, i64)>,
    corrupt: bool,
    /// `product@version` it runs.
    running: String,
    /// Its last download was cut off (the next one resumes it).
    interrupted: bool,
}

impl SimDevice {
    /// The version it runs.
    fn version(&self) -> &str {
        self.running.split('@').nth(1).unwrap_or("")
    }
}

/// Devices that installed / failed `product@version`, from the run's outcomes.
fn counts(
    outcomes: &BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    key: &str,
) -> (usize, usize) {
    outcomes.get(key).map_or((0, 0), |(installed, failed)| {
        (installed.len(), failed.len())
    })
}

struct Server {
    app: airlock_server::AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<()>>,
}

async fn start_server(
    srv: &Path,
    token: &str,
    clock: Arc<SimClock>,
    addr: std::net::SocketAddr,
) -> Result<(Server, std::net::SocketAddr)> {
    let app = airlock_server::open(
        srv,
        &airlock_server::Storage::default(),
        airlock_server::ServeConfig {
            // every simulated device shares 127.0.0.1: no per-client limits
            device_rate: None,
            admin_rate: None,
            device_auth: airlock_server::deviceauth::DeviceAuth::Open,
            ..airlock_server::ServeConfig::default()
        },
        token,
        clock,
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr} for the server"))?;
    let bound = listener.local_addr()?;
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(airlock_server::serve(listener, app.clone(), async {
        let _ = rx.await;
    }));
    Ok((Server { app, stop, task }, bound))
}

impl Server {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn firmware(label: &str, len: usize) -> Vec<u8> {
    use sha2::Digest;
    let mut out = Vec::with_capacity(len + 32);
    let mut block = sha2::Sha256::digest(label.as_bytes());
    while out.len() < len {
        out.extend_from_slice(&block);
        block = sha2::Sha256::digest(block);
    }
    out.truncate(len);
    out
}

fn kind_of(text: &str) -> Result<ReleaseKind> {
    Ok(match text {
        "security" => ReleaseKind::Security,
        "feature" => ReleaseKind::Feature,
        "sunset" => ReleaseKind::Sunset,
        other => bail!("release kind {other:?}: expected security, feature or sunset"),
    })
}

fn at(start: jiff::Timestamp, o: Offset) -> Result<jiff::Timestamp> {
    start
        .checked_add(jiff::SignedDuration::from_millis(o.0))
        .context("time out of range")
}

/// Resident memory of this process now and at its peak (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

struct Run {
    start: jiff::Timestamp,
    dir: PathBuf,
    repo: Repo,
    server_url: url::Url,
    token: String,
    timeline: Vec<TimelineEvent>,
    /// Target name -> sha256 of everything published (to check installs against).
    signed: BTreeMap<String, String>,
}

impl Run {
    fn log(
        &mut self,
        t: jiff::Timestamp,
        device: &str,
        event: &str,
        version: &str,
        detail: Option<String>,
    ) {
        self.timeline.push(TimelineEvent {
            hours: (t.as_millisecond() - self.start.as_millisecond()) as f64 / 3_600_000.0,
            at: t,
            device: device.to_string(),
            event: event.to_string(),
            version: version.to_string(),
            detail,
        });
    }

    async fn add_release(
        &mut self,
        r: &spec::ReleaseSpec,
        released: jiff::Timestamp,
    ) -> Result<()> {
        let file = self
            .dir
            .join("firmware")
            .join(format!("{}-fw-{}.bin", r.product, r.version));
        std::fs::create_dir_all(self.dir.join("firmware"))?;
        std::fs::write(
            &file,
            firmware(&format!("{}-{}", r.product, r.version), r.size),
        )?;
        let report = release::add(
            &self.repo,
            &release::ReleaseOptions {
                product: r.product.clone(),
                file,
                name: None,
                version: r.version.clone(),
                security_version: r.security_version,
                kind: kind_of(&r.kind)?,
                requires: None,
                released: Some(released),
                advisories: Vec::new(),
            },
        )
        .await
        .with_context(|| format!("adding release {} {}", r.product, r.version))?;
        self.signed
            .insert(report.target.clone(), report.sha256.clone());
        Ok(())
    }

    async fn publish(&self, hold: bool) -> Result<()> {
        publish::publish(
            &self.repo,
            &publish::PublishOptions {
                server: self.server_url.clone(),
                admin_token: self.token.clone(),
                hold,
                progress: false,
            },
        )
        .await
        .map(|_| ())
    }
}

/// Runs a scenario to the end.
pub async fn run(scn: &Scenario, opts: &RunOptions) -> Result<Summary> {
    let wall = std::time::Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix("airlock-scenario-")
        .tempdir()
        .context("creating a temporary directory")?;
    let dir = tmp.path().to_path_buf();
    // The simulated run starts now (whole hour), so that offline-signed metadata (valid for a
    // year from now) holds through it.
    let start = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() / 3600 * 3600)?;
    let clock = Arc::new(SimClock::new(start));

    let srv = dir.join("srv");
    airlock_server::init_data_dir(&srv, &airlock_server::Storage::default()).await?;
    let (token, _) = airlock_server::load_or_create_admin_token(&dir.join("admin.token"))?;
    let (mut server, addr) =
        start_server(&srv, &token, clock.clone(), "127.0.0.1:0".parse()?).await?;
    let server_url = url::Url::parse(&format!("http://{addr}/"))?;

    // The repository: products, and the releases published before the start.
    let repo_dir = dir.join("repo");
    init::init(&init::InitOptions {
        dir: repo_dir.clone(),
        online_key_file: airlock_server::DataDir::new(&srv).online_pub(),
        root_threshold: 1,
        root_keys: 1,
        targets_threshold: 1,
        targets_keys: 1,
        expiry_days: 365,
    })
    .await?;
    let repo = Repo::open(&repo_dir)?;
    for p in &scn.products {
        product::add(
            &repo,
            &product::ProductOptions {
                id: p.id.clone(),
                support_start: p.support_start.resolve(start)?,
                feature_until: p.feature_until.resolve(start)?,
                security_until: p.security_until.resolve(start)?,
                min_security_version: p.min_security_version,
                notice_url: Some(format!("https://vendor.example/support/{}", p.id)),
                statement: p.statement.clone(),
                successor: p.successor.clone(),
                security_contact: Some("mailto:security@vendor.example".into()),
                disclosure_policy: None,
                updatable: true,
                rationale: p.rationale.clone(),
                keys: 1,
                threshold: 1,
            },
        )
        .await
        .with_context(|| format!("adding product {}", p.id))?;
    }
    let mut run = Run {
        start,
        dir: dir.clone(),
        repo,
        server_url: server_url.clone(),
        token: token.clone(),
        timeline: Vec::new(),
        signed: BTreeMap::new(),
    };
    for r in scn.releases.iter().filter(|r| r.at.0 <= 0) {
        run.add_release(r, at(start, r.at)?).await?;
    }
    run.publish(false)
        .await
        .context("publishing the initial repository")?;
    let trusted_root = run.repo.metadata_dir().join("1.root.json");

    // The fleet: versions by share, check-in phase, skew and faults, all from the seed.
    let total_share: f64 = scn.fleet.mix.iter().map(|m| m.share).sum();
    let mut devices = Vec::with_capacity(scn.fleet.devices);
    let interval = scn.fleet.check_in_every.0;
    for i in 0..scn.fleet.devices {
        let id = format!("dev-{i:06}");
        let mut pick = draw(scn.seed, &format!("mix/{id}")) * total_share;
        let mut member = &scn.fleet.mix[scn.fleet.mix.len() - 1];
        for m in &scn.fleet.mix {
            if pick < m.share {
                member = m;
                break;
            }
            pick -= m.share;
        }
        let boot_fails = scn
            .releases
            .iter()
            .filter(|r| r.product == member.product && r.failure_rate > 0.0)
            .filter(|r| draw(scn.seed, &format!("boot/{id}/{}", r.version)) < r.failure_rate)
            .map(|r| r.version.to_string())
            .collect();
        let f = &scn.faults;
        let offline = (draw(scn.seed, &format!("offline/{id}")) < f.offline_share).then_some((
            f.offline_from.0,
            f.offline_from.0.saturating_add(f.offline_for.0),
        ));
        let skew_ms =
            ((draw(scn.seed, &format!("skew/{id}")) * 2.0 - 1.0) * f.clock_skew.0 as f64) as i64;
        devices.push(SimDevice {
            cfg: DeviceConfig {
                server: server_url.clone(),
                tuf_base: server_url.clone(),
                trusted_root: trusted_root.clone(),
                state_dir: dir.join("devices").join(&id),
                id: id.clone(),
                product: member.product.clone(),
                version: member.version.clone(),
                security_version: member.security_version,
                now: None,
                enrol_token: None,
                boot_fails,
                interrupt_download_at: None,
                network: Default::default(),
            },
            next_ms: (draw(scn.seed, &format!("phase/{id}")) * interval as f64) as i64,
            skew_ms,
            offline,
            corrupt: draw(scn.seed, &format!("corrupt/{id}")) < f.corrupt_share,
            running: format!("{}@{}", member.product, member.version),
            interrupted: false,
        });
    }

    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()?;
    let admin = airlock_signer::rollout::AdminClient::new(server_url.clone(), token.clone())?;
    let steps = scn.duration.0 / scn.step.0;
    let bar = if opts.progress {
        let bar = indicatif::ProgressBar::new(steps as u64 + 1);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} simulated {msg} [{bar:30}] {pos}/{len} steps, {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut pending_releases: Vec<&spec::ReleaseSpec> =
        scn.releases.iter().filter(|r| r.at.0 > 0).collect();
    pending_releases.sort_by_key(|r| r.at);
    let mut pending_events: Vec<&spec::EventSpec> = scn.events.iter().collect();
    pending_events.sort_by_key(|e| e.at);
    let mut restarts: Vec<Offset> = scn.faults.server_restarts.clone();
    restarts.sort();
    let mut corrupted = false;
    let mut samples = Vec::new();
    let mut cycles = 0usize;
    let mut outcomes: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    let mut eos_devices = BTreeSet::new();
    let mut range_responses = 0u64;

    for step in 0..=steps {
        let offset = step * scn.step.0;
        let now = at(start, Offset(offset))?;
        clock.set(now);
        bar.set_message(format!("{:.0}h", offset as f64 / 3_600_000.0));

        // A restart within this step cuts off the downloads in flight in it.
        let restarting = restarts.first().is_some_and(|r| r.0 < offset + scn.step.0);
        while let Some(r) = pending_releases
            .first()
            .copied()
            .filter(|r| r.at.0 <= offset)
        {
            pending_releases.remove(0);
            run.add_release(r, now).await?;
            run.publish(r.rollout.is_some())
                .await
                .with_context(|| format!("publishing {} {}", r.product, r.version))?;
            run.log(
                now,
                "release-team",
                "published",
                &r.version.to_string(),
                Some(r.product.clone()),
            );
            if let Some(ro) = &r.rollout {
                admin
                    .start(&RolloutRequest {
                        product: r.product.clone(),
                        version: r.version.to_string(),
                        waves: ro.waves.clone(),
                        pause_if: ro.pause_if.clone(),
                        // buckets follow from the seed: the same scenario gives the same waves
                        id: Some(rollout_id(scn, &r.product, &r.version.to_string())),
                    })
                    .await
                    .with_context(|| {
                        format!("starting the rollout of {} {}", r.product, r.version)
                    })?;
                run.log(
                    now,
                    "release-team",
                    "rollout_started",
                    &r.version.to_string(),
                    Some(ro.waves.clone()),
                );
            }
        }
        while let Some(e) = pending_events.first().copied().filter(|e| e.at.0 <= offset) {
            pending_events.remove(0);
            apply_event(&mut run, &admin, e, now)
                .await
                .with_context(|| format!("event {} at {}", e.action, now))?;
        }
        if !corrupted && scn.faults.corrupt_share > 0.0 && scn.faults.corrupt_at.0 <= offset {
            corrupted = true;
            for d in devices.iter().filter(|d| d.corrupt) {
                let _ = std::fs::remove_dir_all(d.cfg.state_dir.join("tuf"));
                run.log(now, &d.cfg.id, "trusted_metadata_lost", d.version(), None);
            }
        }
        // The real server checks every minute whether to renew; here it checks once a step, as
        // of the step's end (plus the largest clock skew), so that no device meets metadata the
        // real server would have renewed already.
        clock.set(at(
            start,
            Offset(offset + scn.step.0 + scn.faults.clock_skew.0),
        )?);
        let renewed = airlock_server::publish::renew_if_due(&server.app).await;
        clock.set(now);
        if let Err(e) = renewed {
            bail!(
                "the server could not renew snapshot/timestamp: {}",
                e.message
            );
        }

        // The devices due in this step.
        let until = offset + scn.step.0;
        let due: Vec<usize> = (0..devices.len())
            .filter(|&i| devices[i].next_ms < until)
            .collect();
        let mut work = Vec::new();
        for &i in &due {
            let d = &devices[i];
            let t = d.next_ms.max(offset);
            if d.offline.is_some_and(|(from, to)| t >= from && t < to) {
                continue;
            }
            let dropped = draw(scn.seed, &format!("drop/{}/{t}", d.cfg.id)) < scn.faults.drop_rate;
            let mut cfg = d.cfg.clone();
            cfg.network = crate::device::Network {
                latency: std::time::Duration::from_millis(scn.faults.latency.0.max(0) as u64),
                bytes_per_second: (draw(scn.seed, &format!("slow/{}", d.cfg.id))
                    < scn.faults.slow_link_share)
                    .then_some(scn.faults.slow_link_bytes_per_second),
            };
            cfg.now = Some(at(start, Offset(t + d.skew_ms))?);
            let cut = restarting
                || draw(scn.seed, &format!("cut/{}/{t}", d.cfg.id)) < scn.faults.interrupt_rate;
            cfg.interrupt_download_at =
                cut.then(|| draw(scn.seed, &format!("cut-at/{}/{t}", d.cfg.id)));
            work.push((i, dropped, cfg));
        }
        let results: Vec<(usize, bool, Result<crate::device::DeviceRun>)> =
            futures::stream::iter(work)
                .map(|(i, dropped, cfg)| {
                    let client = client.clone();
                    async move {
                        if dropped {
                            return (i, true, Err(anyhow::anyhow!("network dropped")));
                        }
                        (i, false, run_device(&cfg, &client).await)
                    }
                })
                .buffer_unordered(scn.concurrency.max(1))
                .collect()
                .await;
        for (i, dropped, result) in results {
            cycles += usize::from(!dropped);
            let t = at(start, Offset(devices[i].next_ms.max(offset)))?;
            let id = devices[i].cfg.id.clone();
            let product = devices[i].cfg.product.clone();
            match result {
                Err(_) if dropped => {
                    let v = devices[i].version().to_string();
                    run.log(t, &id, "network_error", &v, None);
                }
                Err(e) => {
                    let v = devices[i].version().to_string();
                    run.log(t, &id, "error", &v, Some(format!("{e:#}")));
                }
                Ok(r) => {
                    devices[i].running = format!("{product}@{}", r.version);
                    let was_interrupted = devices[i].interrupted;
                    devices[i].interrupted = matches!(r.outcome, Outcome::Interrupted { .. });
                    if was_interrupted && matches!(r.outcome, Outcome::Installed { .. }) {
                        run.log(t, &id, "download_resumed", &r.version, None);
                    }
                    let (event, detail) = match &r.outcome {
                        Outcome::Installed { from, urgent, .. } => {
                            outcomes
                                .entry(format!("{product}@{}", r.version))
                                .or_default()
                                .0
                                .insert(id.clone());
                            (
                                "installed",
                                Some(format!(
                                    "from {from}{}",
                                    if *urgent { ", urgent" } else { "" }
                                )),
                            )
                        }
                        Outcome::UpToDate { .. } => ("up_to_date", None),
                        Outcome::EndOfSupport { .. } => {
                            // a notice shown again on every later check-in is not news
                            if eos_devices.insert(id.clone()) {
                                ("end_of_support", None)
                            } else {
                                ("up_to_date", None)
                            }
                        }
                        Outcome::Refused { reason } => ("refused", Some(reason.clone())),
                        Outcome::Interrupted {
                            version,
                            received,
                            length,
                        } => (
                            "download_interrupted",
                            Some(format!("{version}: {received} of {length} bytes")),
                        ),
                        Outcome::Failed { version, code } => {
                            outcomes
                                .entry(format!("{product}@{version}"))
                                .or_default()
                                .1
                                .insert(id.clone());
                            ("failed", Some(format!("{version}: {code}")))
                        }
                    };
                    // up-to-date cycles are most of a long run: only changes go to the timeline
                    if event != "up_to_date" {
                        run.log(t, &id, event, &r.version, detail);
                    }
                }
            }
        }
        while restarts.first().is_some_and(|r| r.0 < offset + scn.step.0) {
            restarts.remove(0);
            range_responses += partial_responses(&server.app);
            server.stop().await;
            let (fresh, _) = start_server(&srv, &token, clock.clone(), addr).await?;
            server = fresh;
            run.log(now, "server", "server_restarted", "", None);
        }
        for &i in &due {
            let d = &mut devices[i];
            let jitter = scn.fleet.jitter.0 as f64
                * (draw(scn.seed, &format!("jitter/{}/{}", d.cfg.id, d.next_ms)) * 2.0 - 1.0);
            d.next_ms += (interval + jitter as i64).max(scn.step.0.min(interval));
        }

        // A sample of the fleet and rollouts.
        let mut versions: BTreeMap<String, usize> = BTreeMap::new();
        for d in &devices {
            *versions.entry(d.running.clone()).or_default() += 1;
        }
        let rollouts = current_rollouts(&server.app)
            .into_iter()
            .map(|r| {
                let key = format!("{}@{}", r.product, r.version);
                let (ok, failed) = counts(&outcomes, &key);
                RolloutSample {
                    rollout: key,
                    state: r.state.as_str().to_string(),
                    reached_percent: f64::from(r.reached(now)) / 100.0,
                    installed: ok,
                    failed,
                    threshold_percent: r
                        .health
                        .map(|h| f64::from(h.max_failure_basis_points) / 100.0),
                }
            })
            .collect();
        samples.push(Sample {
            hours: offset as f64 / 3_600_000.0,
            versions,
            rollouts,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();

    // Pause / resume reasons recorded by the server go on the timeline too.
    let end = clock_now(&clock);
    let final_rollouts: Vec<RolloutOutcome> = current_rollouts(&server.app)
        .into_iter()
        .map(|r| {
            let key = format!("{}@{}", r.product, r.version);
            let (ok, failed) = counts(&outcomes, &key);
            RolloutOutcome {
                product: r.product.clone(),
                version: r.version.to_string(),
                state: r.state.as_str().to_string(),
                reason: r.reason.clone(),
                installed: ok,
                failed,
            }
        })
        .collect();
    for r in &final_rollouts {
        if r.state == RolloutState::Paused.as_str() {
            run.log(
                end,
                "server",
                "rollout_paused",
                &r.version,
                r.reason.clone(),
            );
        }
    }
    range_responses += partial_responses(&server.app);
    server.stop().await;

    // Nothing installed that is not exactly a signed target.
    let mut unverified = 0;
    for d in &devices {
        let Ok(text) = std::fs::read_to_string(d.cfg.state_dir.join("device.json")) else {
            continue;
        };
        let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if let (Some(target), Some(sha)) = (state["target"].as_str(), state["sha256"].as_str()) {
            if run.signed.get(target).map(String::as_str) != Some(sha) {
                unverified += 1;
            }
        }
    }

    let mut checks = vec![Check {
        what: "no device installed an unverified image".into(),
        ok: unverified == 0,
    }];
    for key in &scn.expect.paused {
        let ok = final_rollouts
            .iter()
            .any(|r| format!("{}@{}", r.product, r.version) == *key && r.state == "paused");
        checks.push(Check {
            what: format!("the rollout of {key} paused by itself"),
            ok,
        });
    }
    for c in &scn.expect.converged {
        let online: Vec<&SimDevice> = devices
            .iter()
            .filter(|d| d.cfg.product == c.product)
            .filter(|d| {
                !d.offline
                    .is_some_and(|(from, to)| scn.duration.0 >= from && scn.duration.0 < to)
            })
            .collect();
        let on = online
            .iter()
            .filter(|d| d.running == format!("{}@{}", c.product, c.version))
            .count();
        let share = if online.is_empty() {
            0.0
        } else {
            on as f64 / online.len() as f64
        };
        checks.push(Check {
            what: format!(
                "{} of the online {} fleet runs {} (at least {:.0}%): {:.1}%",
                on,
                c.product,
                c.version,
                c.share * 100.0,
                share * 100.0
            ),
            ok: share >= c.share,
        });
    }
    if scn.expect.end_of_support_share > 0.0 {
        let share = eos_devices.len() as f64 / devices.len().max(1) as f64;
        checks.push(Check {
            what: format!(
                "{} devices ({:.1}%) showed the signed end-of-support notice (at least {:.0}%)",
                eos_devices.len(),
                share * 100.0,
                scn.expect.end_of_support_share * 100.0
            ),
            ok: share >= scn.expect.end_of_support_share,
        });
    }

    // Devices within a step run concurrently: order the timeline so that it reads the same
    // from run to run.
    run.timeline.sort_by(|a, b| {
        a.hours
            .total_cmp(&b.hours)
            .then_with(|| a.device.cmp(&b.device))
            .then_with(|| a.event.cmp(&b.event))
    });
    let mut events: BTreeMap<String, usize> = BTreeMap::new();
    for e in &run.timeline {
        *events.entry(e.event.clone()).or_default() += 1;
    }
    let wall_seconds = wall.elapsed().as_secs_f64();
    let summary = Summary {
        name: scn.name.clone(),
        seed: scn.seed,
        devices: scn.fleet.devices,
        simulated_hours: scn.duration.hours(),
        wall_seconds,
        device_cycles: cycles,
        cycles_per_second: cycles as f64 / wall_seconds.max(1e-9),
        final_versions: samples
            .last()
            .map(|s| s.versions.clone())
            .unwrap_or_default(),
        events,
        rollouts: final_rollouts,
        unverified_installs: unverified,
        range_responses,
        ok: checks.iter().all(|c| c.ok),
        checks,
        peak_rss_mib: peak_rss_mib(),
        workdir: opts.keep.then(|| dir.clone()),
    };
    if let Some(out) = &opts.out {
        write_outputs(out, &run.timeline, &samples, &summary)?;
    }
    if opts.keep {
        let _ = tmp.keep();
    }
    Ok(summary)
}

/// A rollout id derived from the scenario and its seed (so that runs are reproducible).
fn rollout_id(scn: &Scenario, product: &str, version: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{}/{}/{product}/{version}", scn.name, scn.seed));
    format!("sim-{}", hex::encode(&digest[..8]))
}

/// How many 206 (partial content) answers the server's metrics count.
fn partial_responses(app: &airlock_server::AppState) -> u64 {
    app.metrics
        .encode()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("status=\"206\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The current rollout of each release (a started rollout supersedes the hold made at publish).
fn current_rollouts(app: &airlock_server::AppState) -> Vec<airlock_core::rollout::Rollout> {
    let all = app.rollouts();
    let targets: BTreeSet<&str> = all.iter().map(|r| r.target.as_str()).collect();
    targets
        .into_iter()
        .filter_map(|t| airlock_server::rollouts::latest_for_target(&all, t).cloned())
        .collect()
}

fn clock_now(clock: &SimClock) -> jiff::Timestamp {
    airlock_server::Clock::now(clock)
}

async fn apply_event(
    run: &mut Run,
    admin: &airlock_signer::rollout::AdminClient,
    e: &spec::EventSpec,
    now: jiff::Timestamp,
) -> Result<()> {
    let reason = e
        .reason
        .clone()
        .unwrap_or_else(|| format!("scenario event {}", e.action));
    match e.action.as_str() {
        "extend-support" => {
            let security = e
                .security_until
                .as_ref()
                .context("extend-support needs security_until")?
                .resolve(run.start)?;
            let feature = e
                .feature_until
                .as_ref()
                .map(|f| f.resolve(run.start))
                .transpose()?;
            support::extend(&run.repo, &e.product, security, feature, &reason).await?;
            run.publish(false).await?;
            run.log(
                now,
                "release-team",
                "support_extended",
                "",
                Some(format!("{}: security updates until {security}", e.product)),
            );
        }
        "set-floor" => {
            let floor = e.floor.context("set-floor needs floor")?;
            support::set_floor(&run.repo, &e.product, floor, Some(&reason)).await?;
            run.publish(false).await?;
            run.log(
                now,
                "release-team",
                "floor_raised",
                "",
                Some(format!("{}: security version floor {floor}", e.product)),
            );
        }
        "rotate-product-key" => {
            product::rotate_key(&run.repo, &e.product).await?;
            run.publish(false).await?;
            run.log(
                now,
                "release-team",
                "product_key_rotated",
                "",
                Some(e.product.clone()),
            );
        }
        "pause-rollout" | "resume-rollout" => {
            let version = e.version.clone().context("needs version")?;
            let action = if e.action == "pause-rollout" {
                "pause"
            } else {
                "resume"
            };
            admin
                .act(&e.product, &version, action, Some(reason.clone()))
                .await?;
            run.log(
                now,
                "operator",
                &format!("rollout_{action}d"),
                &version,
                Some(reason),
            );
        }
        other => bail!("unknown event action {other:?}"),
    }
    Ok(())
}

fn write_outputs(
    out: &Path,
    timeline: &[TimelineEvent],
    samples: &[Sample],
    summary: &Summary,
) -> Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = out.join(name);
        let tmp = out.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    };
    let mut jsonl = Vec::new();
    for e in timeline {
        serde_json::to_writer(&mut jsonl, e)?;
        jsonl.push(b'\n');
    }
    write("timeline.jsonl", &jsonl)?;
    let mut csv = Vec::new();
    writeln!(csv, "hours,at,device,event,version,detail")?;
    for e in timeline {
        let detail = e.detail.clone().unwrap_or_default().replace('"', "\"\"");
        writeln!(
            csv,
            "{:.3},{},{},{},{},\"{}\"",
            e.hours, e.at, e.device, e.event, e.version, detail
        )?;
    }
    write("timeline.csv", &csv)?;
    write("samples.json", &serde_json::to_vec(samples)?)?;
    write("summary.json", &serde_json::to_vec_pretty(summary)?)?;
    write(
        "versions.svg",
        chart::versions(samples, &summary.name)?.as_bytes(),
    )?;
    write(
        "rollouts.svg",
        chart::rollouts(samples, &summary.name)?.as_bytes(),
    )?;
    write(
        "failures.svg",
        chart::failures(samples, &summary.name)?.as_bytes(),
    )?;
    Ok(())
}

/// The terminal summary.
pub fn render(s: &Summary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {:?} (seed {}): {} devices, {:.0} simulated hours in {:.1} s ({} device cycles, {:.0}/s){}",
        s.name,
        s.seed,
        s.devices,
        s.simulated_hours,
        s.wall_seconds,
        s.device_cycles,
        s.cycles_per_second,
        s.peak_rss_mib.map(|m| format!(", peak memory {m:.0} MiB")).unwrap_or_default()
    );
    let _ = writeln!(out, "\n{:<28} {:>8}", "running at the end", "devices");
    for (v, n) in &s.final_versions {
        let _ = writeln!(out, "{v:<28} {n:>8}");
    }
    let _ = writeln!(out, "\n{:<28} {:>8}", "event", "count");
    for (e, n) in &s.events {
        let _ = writeln!(out, "{e:<28} {n:>8}");
    }
    if !s.rollouts.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<24} {:<9} {:>9} {:>7}  reason",
            "rollout", "state", "installed", "failed"
        );
        for r in &s.rollouts {
            let _ = writeln!(
                out,
                "{:<24} {:<9} {:>9} {:>7}  {}",
                format!("{}@{}", r.product, r.version),
                r.state,
                r.installed,
                r.failed,
                r.reason.as_deref().unwrap_or("")
            );
        }
    }
    let _ = writeln!(out);
    for c in &s.checks {
        let _ = writeln!(out, "{} {}", if c.ok { "ok  " } else { "FAIL" }, c.what);
    }
    if let Some(w) = &s.workdir {
        let _ = writeln!(out, "\nworking directory kept: {}", w.display());
    }
    out
}
