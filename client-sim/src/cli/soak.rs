//! `airlock-sim soak`: a fleet of real device agents checking in on a schedule against a
//! running server for a bounded time, while the memory and open files of the processes it
//! watches (the server's pid) are sampled. The verdict: no errors, no refusals, and neither
//! memory nor open files grew more than `--max-growth` percent after the warm-up.
//!
//! `scripts/soak` sets up a repository and a server, publishes a new release every few
//! minutes and runs this (docs/benchmarks.md, "Soak").

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::device::{run_device, AgentConfig, DeviceConfig, DeviceRun, Outcome};

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Server base URL.
    #[arg(long, env = "AIRLOCK_SERVER")]
    server: url::Url,
    /// CA certificates (PEM) to trust for an HTTPS server, instead of the system's roots.
    #[arg(long, env = "AIRLOCK_CA")]
    ca: Option<PathBuf>,
    /// The pinned root metadata (e.g. REPO/metadata/1.root.json).
    #[arg(long, env = "AIRLOCK_TRUSTED_ROOT")]
    trusted_root: PathBuf,
    #[arg(long, env = "AIRLOCK_PRODUCT")]
    product: String,
    /// A product enrolment token with enough uses for every device (each enrols once).
    #[arg(long, env = "AIRLOCK_ENROL_TOKEN")]
    enrol_token: Option<String>,
    /// Directory for the devices' state (one subdirectory per device; created).
    #[arg(long, env = "AIRLOCK_SIM_STATE")]
    state: PathBuf,
    /// Number of devices.
    #[arg(long, default_value_t = 10_000, env = "AIRLOCK_SIM_DEVICES")]
    devices: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 600, env = "AIRLOCK_SIM_SECONDS")]
    seconds: u64,
    /// Each device runs one update cycle every this many seconds (spread evenly).
    #[arg(long, default_value_t = 60, env = "AIRLOCK_SIM_INTERVAL")]
    interval: u64,
    /// Cycles in flight at most (the rest wait; the wait shows as lag).
    #[arg(long, default_value_t = 64, env = "AIRLOCK_SIM_CONCURRENCY")]
    concurrency: usize,
    /// Seconds of warm-up: growth is measured from the first sample after it.
    #[arg(long, default_value_t = 120, env = "AIRLOCK_SIM_WARM_UP")]
    warm_up: u64,
    /// A process to watch (memory and open files), e.g. the server's pid; repeatable. This
    /// process is always watched.
    #[arg(
        long = "watch-pid",
        env = "AIRLOCK_SIM_WATCH_PID",
        value_delimiter = ','
    )]
    watch_pid: Vec<u32>,
    /// Largest allowed growth after the warm-up, in percent, of memory and of open files.
    #[arg(long, default_value_t = 10.0, env = "AIRLOCK_SIM_MAX_GROWTH")]
    max_growth: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10, env = "AIRLOCK_SIM_SAMPLE_EVERY")]
    sample_every: u64,
    /// Write every sample as CSV to this file.
    #[arg(long, env = "AIRLOCK_SIM_SAMPLES")]
    samples: Option<PathBuf>,
    /// The version every device starts on.
    #[arg(long, default_value = "1.0.0", env = "AIRLOCK_DEVICE_VERSION")]
    version: semver::Version,
    #[arg(long, default_value_t = 1, env = "AIRLOCK_SECURITY_VERSION")]
    security_version: u64,
}

/// What one sample saw of one process.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ProcSample {
    pub pid: u32,
    pub rss_kib: u64,
    pub open_files: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub seconds: f64,
    pub cycles: u64,
    pub errors: u64,
    /// How far the scheduler ran behind the devices' timetable, in milliseconds.
    pub lag_ms: u64,
    pub procs: Vec<ProcSample>,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub cycles: u64,
    pub installed: u64,
    pub up_to_date: u64,
    pub end_of_support: u64,
    pub refused: u64,
    pub failed: u64,
    pub interrupted: u64,
    pub errors: u64,
    /// Requests retried after a passing failure (no connection, 502/503/504, 429), in cycles
    /// that ended with an answer.
    pub retried: u64,
    /// Reports the devices sent, and those of them the server never took.
    pub reports: u64,
    pub reports_undelivered: u64,
}

impl Counts {
    /// Cycles that ended other than installed, up to date or at end of support, and reports
    /// the server never took.
    fn problems(&self) -> u64 {
        self.refused + self.failed + self.interrupted + self.errors + self.reports_undelivered
    }
}

/// Growth of one process's memory and open files after the warm-up.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Growth {
    pub pid: u32,
    /// Median of the first quarter of the samples after the warm-up.
    pub rss_kib_after_warm_up: u64,
    /// Median of the last quarter.
    pub rss_kib_at_end: u64,
    pub rss_kib_peak: u64,
    pub rss_growth_percent: f64,
    pub open_files_after_warm_up: u64,
    pub open_files_at_end: u64,
    pub open_files_peak: u64,
    pub open_files_growth_percent: f64,
}

#[derive(Debug, Serialize)]
pub struct SoakSummary {
    pub devices: usize,
    pub seconds: f64,
    pub cycles_per_second: f64,
    pub counts: Counts,
    pub first_errors: Vec<String>,
    pub growth: Vec<Growth>,
    pub max_growth_percent: f64,
    pub passed: bool,
    pub verdict: String,
}

/// Growth of each watched process after the warm-up: the median of the last quarter of the
/// samples taken after `warm_up` seconds against the median of the first quarter (at least one
/// sample each), so a level that stays flat passes while single peaks (a burst of connections,
/// a publish) do not count as growth; the peak is reported too. `None` without at least two
/// samples after the warm-up.
pub fn growth(samples: &[Sample], warm_up: f64) -> Option<Vec<Growth>> {
    let start = samples.iter().position(|s| s.seconds >= warm_up)?;
    let after = &samples[start..];
    if after.len() < 2 {
        return None;
    }
    let quarter = (after.len() / 4).max(1);
    let (first, last) = (&after[..quarter], &after[after.len() - quarter..]);
    let pct = |to: u64, from: u64| {
        if from == 0 {
            0.0
        } else {
            (to as f64 / from as f64 - 1.0) * 100.0
        }
    };
    Some(
        after[0]
            .procs
            .iter()
            .map(|p| {
                let of = |window: &[Sample], field: fn(&ProcSample) -> u64| {
                    let mut v: Vec<u64> = window
                        .iter()
                        .flat_map(|s| s.procs.iter().filter(|q| q.pid == p.pid).map(field))
                        .collect();
                    v.sort_unstable();
                    v.get(v.len() / 2).copied().unwrap_or(0)
                };
                let peak = |field: fn(&ProcSample) -> u64| {
                    after
                        .iter()
                        .flat_map(|s| s.procs.iter().filter(|q| q.pid == p.pid).map(field))
                        .max()
                        .unwrap_or(0)
                };
                let rss = |q: &ProcSample| q.rss_kib;
                let files = |q: &ProcSample| q.open_files;
                let (rss_from, rss_to) = (of(first, rss), of(last, rss));
                let (files_from, files_to) = (of(first, files), of(last, files));
                Growth {
                    pid: p.pid,
                    rss_kib_after_warm_up: rss_from,
                    rss_kib_at_end: rss_to,
                    rss_kib_peak: peak(rss),
                    rss_growth_percent: pct(rss_to, rss_from),
                    open_files_after_warm_up: files_from,
                    open_files_at_end: files_to,
                    open_files_peak: peak(files),
                    open_files_growth_percent: pct(files_to, files_from),
                }
            })
            .collect(),
    )
}

/// Resident memory (`VmRSS`) and open file descriptors of `pid`, from /proc.
fn proc_sample(pid: u32) -> Result<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone (or /proc is not mounted)"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let open_files = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("cannot list /proc/{pid}/fd"))?
        .count() as u64;
    Ok(ProcSample {
        pid,
        rss_kib,
        open_files,
    })
}

struct Shared {
    counts: Mutex<Counts>,
    first_errors: Mutex<Vec<String>>,
    lag_ms: AtomicU64,
}

impl Shared {
    fn record(&self, result: Result<DeviceRun>) {
        let Ok(mut c) = self.counts.lock() else {
            return;
        };
        c.cycles += 1;
        let result = result.map(|run| {
            c.retried += u64::from(run.requests.retried);
            c.reports += u64::from(run.requests.reports);
            c.reports_undelivered += u64::from(run.requests.reports_undelivered);
            run.outcome
        });
        let error = match result {
            Ok(Outcome::Installed { .. }) => {
                c.installed += 1;
                None
            }
            Ok(Outcome::UpToDate { .. }) => {
                c.up_to_date += 1;
                None
            }
            Ok(Outcome::EndOfSupport { .. }) => {
                c.end_of_support += 1;
                None
            }
            Ok(Outcome::Refused { reason, .. }) => {
                c.refused += 1;
                Some(format!("refused: {reason}"))
            }
            Ok(Outcome::Failed { version, code }) => {
                c.failed += 1;
                Some(format!("{version} failed: {code}"))
            }
            Ok(Outcome::Interrupted { version, .. }) => {
                c.interrupted += 1;
                Some(format!("download of {version} interrupted"))
            }
            Err(e) => {
                c.errors += 1;
                Some(format!("{e:#}"))
            }
        };
        drop(c);
        if let (Some(e), Ok(mut first)) = (error, self.first_errors.lock()) {
            if first.len() < 10 {
                first.push(e);
            }
        }
    }

    fn problems(&self) -> u64 {
        self.counts.lock().map(|c| c.problems()).unwrap_or(u64::MAX)
    }
}

fn device_config(args: &SoakArgs, i: usize) -> DeviceConfig {
    let id = format!("soak-{i:05}");
    DeviceConfig::new(AgentConfig {
        tuf_base: args.server.clone(),
        server: args.server.clone(),
        trusted_root: args.trusted_root.clone(),
        state_dir: args.state.join(&id),
        id,
        product: args.product.clone(),
        version: args.version.clone(),
        security_version: args.security_version,
        now: None,
        enrol_token: args.enrol_token.clone(),
        retry: airlock_device::Backoff::default(),
    })
}

/// Exit code 3 when the soak failed its verdict.
/// The longest --seconds, --interval and --sample-every: a century. The timetable adds
/// `round * interval` to an Instant, which overflows (a panic) for values near u64::MAX.
const LONGEST_SECONDS: u64 = 100 * 365 * 86_400;

fn check_spans(args: &SoakArgs) -> Result<()> {
    for (flag, seconds) in [
        ("--seconds", args.seconds),
        ("--interval", args.interval),
        ("--sample-every", args.sample_every),
    ] {
        if seconds > LONGEST_SECONDS {
            return Err(airlock_cli::Failure::usage(format!(
                "{flag} {seconds} is too long: give at most {LONGEST_SECONDS} seconds"
            ))
            .into());
        }
    }
    Ok(())
}

pub async fn run(args: SoakArgs, json: bool) -> Result<u8> {
    anyhow::ensure!(args.devices > 0, "--devices must be at least 1");
    anyhow::ensure!(args.interval > 0, "--interval must be at least 1 second");
    check_spans(&args)?;
    std::fs::create_dir_all(&args.state)
        .with_context(|| format!("cannot create {}", args.state.display()))?;
    let mut pids = vec![std::process::id()];
    pids.extend(args.watch_pid.iter().copied());
    for pid in &pids {
        proc_sample(*pid)?;
    }
    let configs: Arc<Vec<DeviceConfig>> =
        Arc::new((0..args.devices).map(|i| device_config(&args, i)).collect());
    let tls = airlock_device::TlsConfig {
        ca: args.ca.clone(),
        ..Default::default()
    };
    let client = tls
        .client_builder()?
        .timeout(Duration::from_secs(120))
        .build()
        .context("building the HTTP client (--ca)")?;
    let shared = Arc::new(Shared {
        counts: Mutex::new(Counts::default()),
        first_errors: Mutex::new(Vec::new()),
        lag_ms: AtomicU64::new(0),
    });
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let sampler = tokio::spawn(sample_loop(
        pids,
        shared.clone(),
        start,
        end,
        Duration::from_secs(args.sample_every.max(1)),
    ));

    // The timetable: device i runs at start + round * interval + i * interval / devices.
    let permits = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let step = Duration::from_secs(args.interval).as_secs_f64() / args.devices as f64;
    let mut tasks = tokio::task::JoinSet::new();
    'rounds: for round in 0u64.. {
        for i in 0..args.devices {
            let due =
                start + Duration::from_secs_f64((round * args.interval) as f64 + i as f64 * step);
            if due >= end {
                break 'rounds;
            }
            tokio::time::sleep_until(due.into()).await;
            let permit = permits.clone().acquire_owned().await?;
            let lag = Instant::now().saturating_duration_since(due).as_millis() as u64;
            shared.lag_ms.store(lag, Ordering::Relaxed);
            let (configs, client, shared) = (configs.clone(), client.clone(), shared.clone());
            tasks.spawn(async move {
                let result = run_device(&configs[i], &client).await;
                shared.record(result);
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
    }
    while tasks.join_next().await.is_some() {}
    let seconds = start.elapsed().as_secs_f64();
    let samples = sampler.await??;

    if let Some(path) = &args.samples {
        write_csv(path, &samples)?;
    }
    let counts = std::mem::take(&mut *shared.counts.lock().map_err(|_| poisoned())?);
    let first_errors = std::mem::take(&mut *shared.first_errors.lock().map_err(|_| poisoned())?);
    let growth = growth(&samples, args.warm_up as f64).unwrap_or_default();
    let summary = verdict(
        args.devices,
        seconds,
        counts,
        first_errors,
        growth,
        args.max_growth,
    );
    super::print(json, &summary, render)?;
    Ok(if summary.passed { 0 } else { 3 })
}

fn poisoned() -> anyhow::Error {
    anyhow::anyhow!("a device task panicked while recording its outcome")
}

fn verdict(
    devices: usize,
    seconds: f64,
    counts: Counts,
    first_errors: Vec<String>,
    growth: Vec<Growth>,
    max_growth: f64,
) -> SoakSummary {
    let problems = counts.problems();
    let grew: Vec<String> = growth
        .iter()
        .flat_map(|g| {
            let mut v = Vec::new();
            if g.rss_growth_percent > max_growth {
                v.push(format!(
                    "memory of pid {} grew {:.1}%",
                    g.pid, g.rss_growth_percent
                ));
            }
            if g.open_files_growth_percent > max_growth {
                v.push(format!(
                    "open files of pid {} grew {:.1}%",
                    g.pid, g.open_files_growth_percent
                ));
            }
            v
        })
        .collect();
    let verdict = if growth.is_empty() {
        "no sample after the warm-up: run longer than --warm-up".to_string()
    } else if problems > 0 {
        format!(
            "{problems} cycles ended in an error, refusal, failure or interruption, or reports \
             were not delivered"
        )
    } else if !grew.is_empty() {
        grew.join("; ")
    } else {
        format!("no errors; memory and open files grew at most {max_growth}% after the warm-up")
    };
    SoakSummary {
        devices,
        seconds,
        cycles_per_second: counts.cycles as f64 / seconds.max(f64::EPSILON),
        passed: !growth.is_empty() && problems == 0 && grew.is_empty(),
        counts,
        first_errors,
        growth,
        max_growth_percent: max_growth,
        verdict,
    }
}

async fn sample_loop(
    pids: Vec<u32>,
    shared: Arc<Shared>,
    start: Instant,
    end: Instant,
    every: Duration,
) -> Result<Vec<Sample>> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let procs = pids
            .iter()
            .map(|p| proc_sample(*p))
            .collect::<Result<Vec<_>>>()?;
        let cycles = shared.counts.lock().map(|c| c.cycles).unwrap_or(0);
        let sample = Sample {
            seconds: start.elapsed().as_secs_f64(),
            cycles,
            errors: shared.problems(),
            lag_ms: shared.lag_ms.load(Ordering::Relaxed),
            procs,
        };
        eprintln!(
            "soak {:>5.0}s cycles {:>8} problems {:>4} lag {:>6} ms {}",
            sample.seconds,
            sample.cycles,
            sample.errors,
            sample.lag_ms,
            sample
                .procs
                .iter()
                .map(|p| format!(
                    "[pid {} {} MiB {} fds]",
                    p.pid,
                    p.rss_kib / 1024,
                    p.open_files
                ))
                .collect::<Vec<_>>()
                .join(" ")
        );
        samples.push(sample);
        if Instant::now() >= end {
            return Ok(samples);
        }
    }
}

fn write_csv(path: &Path, samples: &[Sample]) -> Result<()> {
    let mut out = String::from("seconds,cycles,problems,lag_ms,pid,rss_kib,open_files\n");
    for s in samples {
        for p in &s.procs {
            out.push_str(&format!(
                "{:.1},{},{},{},{},{},{}\n",
                s.seconds, s.cycles, s.errors, s.lag_ms, p.pid, p.rss_kib, p.open_files
            ));
        }
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

fn render(s: &SoakSummary) -> String {
    let c = &s.counts;
    let mut out = format!(
        "soak: {} devices, {:.0} s, {} cycles ({:.1}/s): {} installed, {} up to date, {} end of \
         support, {} refused, {} failed, {} interrupted, {} errors\n",
        s.devices,
        s.seconds,
        c.cycles,
        s.cycles_per_second,
        c.installed,
        c.up_to_date,
        c.end_of_support,
        c.refused,
        c.failed,
        c.interrupted,
        c.errors
    );
    out.push_str(&format!(
        "requests retried: {}; reports: {} sent, {} not delivered\n",
        c.retried, c.reports, c.reports_undelivered
    ));
    for g in &s.growth {
        out.push_str(&format!(
            "pid {}: memory {:.1} -> {:.1} MiB ({:+.1}%, peak {:.1}), open files {} -> {} ({:+.1}%, peak {})\n",
            g.pid,
            g.rss_kib_after_warm_up as f64 / 1024.0,
            g.rss_kib_at_end as f64 / 1024.0,
            g.rss_growth_percent,
            g.rss_kib_peak as f64 / 1024.0,
            g.open_files_after_warm_up,
            g.open_files_at_end,
            g.open_files_growth_percent,
            g.open_files_peak
        ));
    }
    for e in &s.first_errors {
        out.push_str(&format!("  e.g. {e}\n"));
    }
    out.push_str(&format!(
        "{}: {}\n",
        if s.passed { "PASSED" } else { "FAILED" },
        s.verdict
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        soak: SoakArgs,
    }

    fn soak_args(extra: &[&str]) -> SoakArgs {
        use clap::Parser;
        let base = [
            "soak",
            "--server",
            "http://127.0.0.1:9/",
            "--trusted-root",
            "1.root.json",
            "--product",
            "acme-cam",
            "--state",
            "state",
        ];
        Cli::try_parse_from(base.iter().chain(extra)).unwrap().soak
    }

    #[test]
    fn spans_past_a_century_are_usage_errors() {
        check_spans(&soak_args(&[])).unwrap();
        check_spans(&soak_args(&["--seconds", "3153600000", "--interval", "1"])).unwrap();
        for flag in ["--seconds", "--interval", "--sample-every"] {
            for value in ["3153600001", "18446744073709551615"] {
                let e = check_spans(&soak_args(&[flag, value])).unwrap_err();
                assert_eq!(
                    airlock_cli::failure::classify(&e),
                    airlock_cli::ErrorClass::Usage,
                    "{flag} {value}"
                );
                assert!(e.to_string().contains(flag), "{e}");
            }
        }
    }

    fn sample(seconds: f64, rss_kib: u64, open_files: u64) -> Sample {
        Sample {
            seconds,
            cycles: 0,
            errors: 0,
            lag_ms: 0,
            procs: vec![ProcSample {
                pid: 7,
                rss_kib,
                open_files,
            }],
        }
    }

    #[test]
    fn growth_compares_the_level_after_the_warm_up_with_the_level_at_the_end() {
        // The warm-up's own rise (10 -> 100) does not count; a single peak (200) does not
        // either; the level moved from 100 (first quarter) to 105 (last quarter): 5%.
        let samples = [
            sample(0.0, 10, 5),
            sample(60.0, 100, 40),
            sample(120.0, 100, 50),
            sample(130.0, 200, 90),
            sample(140.0, 101, 50),
            sample(150.0, 105, 60),
        ];
        let g = growth(&samples, 120.0).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(
            (g[0].rss_kib_after_warm_up, g[0].rss_kib_at_end),
            (100, 105)
        );
        assert_eq!(g[0].rss_kib_peak, 200);
        assert!((g[0].rss_growth_percent - 5.0).abs() < 1e-9);
        assert_eq!(
            (g[0].open_files_after_warm_up, g[0].open_files_at_end),
            (50, 60)
        );
        assert!((g[0].open_files_growth_percent - 20.0).abs() < 1e-9);
        assert!(growth(&samples, 150.0).is_none(), "one sample is no trend");
        // Steady growth shows however it is sampled.
        let leak: Vec<Sample> = (0..40).map(|i| sample(i as f64, 100 + 5 * i, 10)).collect();
        assert!(growth(&leak, 0.0).unwrap()[0].rss_growth_percent > 100.0);
    }

    #[test]
    fn the_verdict_fails_on_any_problem_or_growth_and_passes_otherwise() {
        let flat = growth(&[sample(0.0, 100, 10), sample(10.0, 104, 10)], 0.0).unwrap();
        let ok = verdict(10, 10.0, Counts::default(), vec![], flat.clone(), 10.0);
        assert!(ok.passed, "{}", ok.verdict);
        let errors = Counts {
            errors: 1,
            ..Counts::default()
        };
        let bad = verdict(10, 10.0, errors, vec![], flat, 10.0);
        assert!(!bad.passed);
        let grew = growth(&[sample(0.0, 100, 10), sample(10.0, 120, 10)], 0.0).unwrap();
        let bad = verdict(10, 10.0, Counts::default(), vec![], grew, 10.0);
        assert!(!bad.passed);
        assert!(
            bad.verdict.contains("memory of pid 7 grew 20.0%"),
            "{}",
            bad.verdict
        );
        let none = verdict(10, 10.0, Counts::default(), vec![], vec![], 10.0);
        assert!(!none.passed, "no sample after the warm-up is no verdict");
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = proc_sample(std::process::id()).unwrap();
        assert!(s.rss_kib > 0 && s.open_files > 0, "{s:?}");
        assert!(proc_sample(u32::MAX).is_err());
    }
}
