//! `airlock-sim demo`: the whole story on the embedded default (local directory + SQLite),
//! in a temporary directory, with no services to set up:
//! keys and a repository with two products (one in support, one past its security window),
//! airlock-server on a free 127.0.0.1 port, a publish, a fleet of devices at mixed versions,
//! and two drills: a tampered image and a rolled-back timestamp, both of which must be refused.

use anyhow::{Context, Result};
use futures::StreamExt;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock_core::release::ReleaseKind;
use airlock_signer::{init, product, publish, release, repo::Repo};

use crate::device::{run_device, DeviceConfig, DeviceRun, Outcome};
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

const CAM: &str = "acme-cam";
const DOORBELL: &str = "acme-doorbell";

/// Deterministic pseudo-random firmware bytes.
fn firmware(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn date(s: &str) -> Result<jiff::civil::Date> {
    s.parse().with_context(|| format!("parsing date {s}"))
}

async fn build_repository(dir: &Path, online_pub: &Path) -> Result<Repo> {
    let repo_dir = dir.join("repo");
    init::init(&init::InitOptions {
        dir: repo_dir.clone(),
        online_key_file: online_pub.to_path_buf(),
        root_threshold: 1,
        root_keys: 1,
        targets_threshold: 1,
        targets_keys: 1,
        expiry_days: 365,
    })
    .await?;
    let repo = Repo::open(&repo_dir)?;
    product::add(
        &repo,
        &product::ProductOptions {
            id: CAM.into(),
            support_start: date("2025-01-01")?,
            feature_until: date("2027-06-30")?,
            security_until: date("2030-12-31")?,
            min_security_version: 1,
            notice_url: Some("https://acme.example/support/acme-cam".into()),
            statement: None,
            successor: None,
            security_contact: Some("mailto:security@acme.example".into()),
            disclosure_policy: None,
            updatable: true,
            rationale: None,
            keys: 1,
            threshold: 1,
        },
    )
    .await?;
    product::add(
        &repo,
        &product::ProductOptions {
            id: DOORBELL.into(),
            support_start: date("2019-01-01")?,
            feature_until: date("2022-12-31")?,
            security_until: date("2025-12-31")?,
            min_security_version: 0,
            notice_url: Some("https://acme.example/support/acme-doorbell".into()),
            statement: Some(
                "acme-doorbell reached the end of its security support on 2025-12-31. \
                 It keeps working locally; replace it with acme-doorbell-2 for continued updates."
                    .into(),
            ),
            successor: Some("acme-doorbell-2".into()),
            security_contact: Some("mailto:security@acme.example".into()),
            disclosure_policy: None,
            updatable: true,
            rationale: None,
            keys: 1,
            threshold: 1,
        },
    )
    .await?;
    let fw_dir = dir.join("firmware");
    std::fs::create_dir_all(&fw_dir)?;
    let releases: [(&str, &str, u64, ReleaseKind, &str); 4] = [
        (
            CAM,
            "1.0.0",
            1,
            ReleaseKind::Security,
            "2025-02-01T09:00:00Z",
        ),
        (
            CAM,
            "1.1.0",
            2,
            ReleaseKind::Feature,
            "2025-09-01T09:00:00Z",
        ),
        (
            CAM,
            "1.2.0",
            3,
            ReleaseKind::Security,
            "2026-03-01T09:00:00Z",
        ),
        (
            DOORBELL,
            "3.4.0",
            7,
            ReleaseKind::Security,
            "2025-06-01T09:00:00Z",
        ),
    ];
    for (i, (product_id, version, sv, kind, released)) in releases.into_iter().enumerate() {
        let file = fw_dir.join(format!("{product_id}-fw-{version}.bin"));
        std::fs::write(&file, firmware(i as u64 + 1, 64 * 1024 + i * 1000))?;
        release::add(
            &repo,
            &release::ReleaseOptions {
                product: product_id.into(),
                file,
                name: None,
                version: version.parse()?,
                security_version: sv,
                kind,
                requires: None,
                released: Some(released.parse()?),
                advisories: Vec::new(),
            },
        )
        .await?;
    }
    Ok(repo)
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

/// A running lab: a temporary directory with airlock-server (embedded default: local directory +
/// SQLite) on a free loopback port and the demo repository (two products, four releases),
/// published once. `demo` runs a fleet against it; `attack` extends it and runs drills.
pub struct Lab {
    tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub app: airlock_server::AppState,
    pub server_url: url::Url,
    pub repo: Repo,
    pub token: String,
    pub token_file: PathBuf,
    /// The pinned root devices start from (`repo/metadata/1.root.json`).
    pub trusted_root: PathBuf,
    stop_tx: tokio::sync::oneshot::Sender<()>,
    server_task: tokio::task::JoinHandle<Result<()>>,
}

impl Lab {
    /// Creates the temporary directory (named `<prefix>XXXX`), starts the server, builds the
    /// demo repository and publishes it.
    pub async fn start(prefix: &str) -> Result<Lab> {
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .context("creating a temporary directory")?;
        let dir = tmp.path().to_path_buf();

        // The server, embedded default: local directory + SQLite, on a free loopback port.
        let srv = dir.join("srv");
        airlock_server::init_data_dir(&srv, &airlock_server::Storage::default()).await?;
        let token_file = dir.join("admin.token");
        let (token, _) = airlock_server::load_or_create_admin_token(&token_file)?;
        let app = airlock_server::open(
            &srv,
            &airlock_server::Storage::default(),
            airlock_server::ServeConfig {
                // every simulated device shares 127.0.0.1: no per-client limits in the lab
                device_rate: None,
                admin_rate: None,
                // lab devices check in without enrolling (see docs/operations.md for enrolment)
                device_auth: airlock_server::deviceauth::DeviceAuth::Open,
                ..airlock_server::ServeConfig::default()
            },
            &token,
            Arc::new(airlock_server::SystemClock),
        )
        .await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a loopback port for the server")?;
        let addr = listener.local_addr()?;
        let server_url = url::Url::parse(&format!("http://{addr}/"))?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server_task = tokio::spawn(airlock_server::serve(listener, app.clone(), async {
            let _ = stop_rx.await;
        }));

        let repo = build_repository(&dir, &airlock_server::DataDir::new(&srv).online_pub()).await?;
        let lab = Lab {
            trusted_root: repo.metadata_dir().join("1.root.json"),
            tmp,
            dir,
            app,
            server_url,
            repo,
            token,
            token_file,
            stop_tx,
            server_task,
        };
        lab.publish()
            .await
            .context("publishing the demo repository")?;
        Ok(lab)
    }

    /// Publishes the lab repository as it is on disk.
    pub async fn publish(&self) -> Result<airlock_core::api::PublishResponse> {
        publish::publish(
            &self.repo,
            &publish::PublishOptions {
                server: self.server_url.clone(),
                admin_token: self.token.clone(),
                hold: false,
                progress: false,
            },
        )
        .await
    }

    /// Stops the server; keeps the directory (returning its path) or deletes it.
    pub async fn stop(self, keep: bool) -> Option<PathBuf> {
        let _ = self.stop_tx.send(());
        let _ = self.server_task.await;
        if keep {
            Some(self.tmp.keep())
        } else {
            None
        }
    }
}

pub async fn run(opts: &DemoOptions) -> Result<DemoSummary> {
    let lab = Lab::start("airlock-demo-").await?;
    let dir = lab.dir.clone();
    let server_url = lab.server_url.clone();
    let trusted_root = lab.trusted_root.clone();
    let app = lab.app.clone();

    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let device = |id: String,
                  product: &str,
                  version: &str,
                  sv: u64,
                  tuf: &url::Url|
     -> Result<DeviceConfig> {
        Ok(DeviceConfig {
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
            boot_fails: Vec::new(),
            interrupt_download_at: None,
            network: Default::default(),
        })
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
    airlock_server::publish::resign(&app)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
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
    let cfg = DeviceConfig {
        tuf_base: proxy.url.clone(),
        ..cfg
    };
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
        Outcome::Refused { reason } => ("refused", Some(reason.clone())),
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
