//! One simulated device. It trusts nothing the server says that it cannot verify: the offer
//! from the check-in is re-checked against the device's own TUF-verified metadata with the same
//! rules the server used (`airlock_core::decision::check_offer`), and the image is verified by
//! length and sha256 while it streams (tough).

use anyhow::{Context, Result};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

use airlock_core::api::{CheckInRequest, CheckInResponse, DeviceReport, ReportStatus};
use airlock_core::decision::{check_offer, DeviceState};
use airlock_core::names;
use airlock_core::release::Release;
use airlock_core::support::SupportRecord;
use airlock_core::verify::read_product_targets;

use crate::transport::HttpTransport;

#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// Base URL used for the check-in and reports.
    pub server: url::Url,
    /// Base URL for TUF metadata and targets (normally the same server; a proxy in drills).
    pub tuf_base: url::Url,
    pub trusted_root: PathBuf,
    pub state_dir: PathBuf,
    pub id: String,
    pub product: String,
    pub version: semver::Version,
    pub security_version: u64,
    /// The device's clock; `None` is the system clock. It is the time at which the device judges
    /// its verified metadata fresh and an offer allowed (support windows). Drills set it to
    /// simulate a device that keeps running while an attacker freezes its metadata.
    pub now: Option<jiff::Timestamp>,
    /// Enrolment token, used once when the state directory holds no device credential yet.
    pub enrol_token: Option<String>,
    /// Versions that fail to boot on this device once installed (a simulated hardware or
    /// firmware fault, for fleet scenarios): the device verifies and writes the image, then
    /// reports `failed` with code `boot_failed` and keeps running its previous version.
    pub boot_fails: Vec<String>,
    /// A simulated network fault: the connection drops once this fraction (0..1) of an image
    /// has arrived. The partial image is kept and the next cycle resumes it with a Range
    /// request.
    pub interrupt_download_at: Option<f64>,
    /// Simulated network conditions: latency added before every request, and a bandwidth
    /// cap for image downloads (bytes per second).
    pub network: Network,
}

/// Simulated network conditions (real time).
#[derive(Debug, Clone, Copy, Default)]
pub struct Network {
    pub latency: std::time::Duration,
    pub bytes_per_second: Option<u64>,
}

impl Network {
    async fn delay(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    async fn throttle(&self, bytes: usize) {
        if let Some(bps) = self.bytes_per_second.filter(|b| *b > 0) {
            tokio::time::sleep(std::time::Duration::from_secs_f64(
                bytes as f64 / bps as f64,
            ))
            .await;
        }
    }
}

fn credential_file(dir: &Path) -> PathBuf {
    dir.join("credential")
}

/// The device credential kept in the state directory, if enrolled.
fn stored_credential(cfg: &DeviceConfig) -> Option<String> {
    std::fs::read_to_string(credential_file(&cfg.state_dir))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Enrols with the token if the device has no credential yet; returns the credential.
async fn ensure_enrolled(cfg: &DeviceConfig, client: &reqwest::Client) -> Result<Option<String>> {
    if let Some(c) = stored_credential(cfg) {
        return Ok(Some(c));
    }
    let Some(token) = &cfg.enrol_token else {
        return Ok(None);
    };
    let url = cfg
        .server
        .join(&format!("v1/devices/{}/enrol", cfg.id))
        .context("building the enrolment URL")?;
    let resp = client
        .post(url)
        .json(&airlock_core::api::EnrolRequest {
            token: token.clone(),
            product: cfg.product.clone(),
        })
        .send()
        .await
        .with_context(|| format!("enrolling with {}", cfg.server))?;
    let status = resp.status();
    let text = resp.text().await.context("reading the enrolment answer")?;
    if !status.is_success() {
        anyhow::bail!(
            "enrolment refused by the server ({status}): {}",
            text.trim()
        );
    }
    let answer: airlock_core::api::EnrolResponse =
        serde_json::from_str(&text).context("parsing the enrolment answer")?;
    let path = credential_file(&cfg.state_dir);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    opts.open(&path)
        .and_then(|mut f| f.write_all(answer.credential.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(answer.credential))
}

/// What the device has installed, persisted in `<state>/device.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installed {
    pub id: String,
    pub product: String,
    pub version: semver::Version,
    pub security_version: u64,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub installed_at: Option<jiff::Timestamp>,
    #[serde(default)]
    pub end_of_support_notice: Option<String>,
}

/// How a device run ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Installed {
        from: String,
        to: String,
        target: String,
        urgent: bool,
    },
    UpToDate {
        version: String,
    },
    EndOfSupport {
        statement: String,
        successor: Option<String>,
        notice_url: Option<String>,
        security_updates_until: jiff::civil::Date,
    },
    Refused {
        reason: String,
    },
    /// The verified image did not boot (simulated); the device rolled back to its version.
    Failed {
        version: String,
        code: String,
    },
    /// The image download was cut off (network, server restart); the part received is kept
    /// and the next cycle resumes from it. Nothing was installed.
    Interrupted {
        version: String,
        received: u64,
        length: u64,
    },
}

impl Outcome {
    pub fn is_refused(&self) -> bool {
        matches!(self, Outcome::Refused { .. })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceRun {
    pub id: String,
    pub product: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What the device runs afterwards.
    pub version: String,
    pub security_version: u64,
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("device.json")
}

fn load_installed(cfg: &DeviceConfig) -> Result<Installed> {
    let path = state_file(&cfg.state_dir);
    if path.is_file() {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let installed: Installed = serde_json::from_slice(&bytes)
            .with_context(|| format!("parsing {}", path.display()))?;
        if installed.product == cfg.product && installed.id == cfg.id {
            return Ok(installed);
        }
    }
    Ok(Installed {
        id: cfg.id.clone(),
        product: cfg.product.clone(),
        version: cfg.version.clone(),
        security_version: cfg.security_version,
        target: None,
        sha256: None,
        installed_at: None,
        end_of_support_notice: None,
    })
}

fn save_installed(dir: &Path, installed: &Installed) -> Result<()> {
    let path = state_file(dir);
    let tmp = dir.join("device.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(installed)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

/// The device's verified view of its product: releases and support record.
struct Verified {
    releases: Vec<Release>,
    support: SupportRecord,
}

use airlock_core::error_chain;

/// TUF refresh (TUF 5.3-5.6) from the device's trusted metadata, then its product's releases
/// and support record.
async fn refresh(
    cfg: &DeviceConfig,
    client: &reqwest::Client,
    now: jiff::Timestamp,
) -> Result<Verified, String> {
    let tuf_dir = cfg.state_dir.join("tuf");
    std::fs::create_dir_all(&tuf_dir)
        .map_err(|e| format!("creating {}: {e}", tuf_dir.display()))?;
    // Start from the newest root this device has verified before; the pinned root otherwise.
    let trusted = tuf_dir.join("root.json");
    let root_file = if trusted.is_file() {
        &trusted
    } else {
        &cfg.trusted_root
    };
    let root = std::fs::read(root_file)
        .map_err(|e| format!("reading trusted root {}: {e}", root_file.display()))?;
    let metadata_url = cfg
        .tuf_base
        .join("tuf/metadata/")
        .map_err(|e| e.to_string())?;
    let targets_url = cfg
        .tuf_base
        .join("tuf/targets/")
        .map_err(|e| e.to_string())?;
    let repo = tough::RepositoryLoader::new(&root, metadata_url, targets_url)
        .transport(HttpTransport::new(client.clone()).with_bearer(stored_credential(cfg)))
        .datastore(&tuf_dir)
        .load()
        .await
        .map_err(|e| format!("TUF verification failed: {}", error_chain(&e)))?;

    // The product role, reached through the delegation for exactly `<product>/*`.
    let delegations = repo
        .targets()
        .signed
        .delegations
        .as_ref()
        .ok_or("targets metadata has no delegations")?;
    let role = delegations
        .roles
        .iter()
        .find(|r| r.name == cfg.product)
        .ok_or_else(|| format!("no signed role for product {}", cfg.product))?;
    let expected = names::product_path_pattern(&cfg.product);
    match &role.paths {
        tough::schema::PathSet::Paths(p) if p.len() == 1 && p[0].value() == expected => {}
        _ => {
            return Err(format!(
                "the delegation of {} is not exactly {expected}",
                cfg.product
            ))
        }
    }
    let role_targets = role
        .targets
        .as_ref()
        .ok_or_else(|| format!("role {} was not loaded", cfg.product))?;
    // TUF 5.3.10, 5.4.4, 5.5.6, 5.6.5: nothing the device relies on may have expired by the
    // device's own clock (tough checked the system clock while loading). A repository or a man
    // in the middle that keeps serving the same metadata cannot freeze the device past this.
    let expiries = [
        ("root", repo.root().signed.expires),
        ("timestamp", repo.timestamp().signed.expires),
        ("snapshot", repo.snapshot().signed.expires),
        ("targets", repo.targets().signed.expires),
        (cfg.product.as_str(), role_targets.signed.expires),
    ];
    if let Some((role, expires)) = first_expired(&expiries, now) {
        return Err(format!(
            "freeze attack: {role} metadata expired at {expires} (device clock {now}); refusing stale metadata"
        ));
    }
    let releases = read_product_targets(&cfg.product, &role_targets.signed)
        .map(|t| t.releases)
        .map_err(|e| format!("signed metadata of {}: {e}", cfg.product))?;

    let support_name = tough::TargetName::new(names::support_target_name(&cfg.product))
        .map_err(|e| e.to_string())?;
    let stream = repo
        .read_target(&support_name)
        .await
        .map_err(|e| format!("support record: {}", error_chain(&e)))?
        .ok_or_else(|| format!("no signed support record for {}", cfg.product))?;
    let bytes = tough::IntoVec::into_vec(stream)
        .await
        .map_err(|e| format!("support record: {}", error_chain(&e)))?;
    let support: SupportRecord = serde_json::from_slice(&bytes)
        .map_err(|e| format!("support record of {} is invalid: {e}", cfg.product))?;
    Ok(Verified { releases, support })
}

/// The first role (in TUF order) whose metadata has expired at `now`.
fn first_expired<'a>(
    expiries: &[(&'a str, jiff::Timestamp)],
    now: jiff::Timestamp,
) -> Option<(&'a str, jiff::Timestamp)> {
    expiries
        .iter()
        .copied()
        .find(|(_, expires)| *expires <= now)
}

async fn send_report(
    cfg: &DeviceConfig,
    client: &reqwest::Client,
    status: ReportStatus,
    version: &str,
    code: Option<String>,
) {
    let Ok(url) = cfg.server.join(&format!("v1/devices/{}/reports", cfg.id)) else {
        return;
    };
    let report = DeviceReport {
        status,
        version: version.to_string(),
        code,
    };
    let mut req = client.post(url).json(&report);
    if let Some(c) = stored_credential(cfg) {
        req = req.bearer_auth(c);
    }
    if let Err(e) = req.send().await {
        tracing::warn!(device = %cfg.id, error = %e, "report not delivered");
    }
}

/// Runs one update cycle. `Err` is for failures that are not a security verdict (cannot reach
/// the server, cannot write state); refusals are `Ok(Outcome::Refused)`.
pub async fn run_device(cfg: &DeviceConfig, client: &reqwest::Client) -> Result<DeviceRun> {
    std::fs::create_dir_all(&cfg.state_dir)
        .with_context(|| format!("creating {}", cfg.state_dir.display()))?;
    let mut installed = load_installed(cfg)?;
    let device = DeviceState {
        product: installed.product.clone(),
        version: installed.version.clone(),
        security_version: installed.security_version,
    };
    let url = cfg
        .server
        .join(&format!("v1/devices/{}/check-in", cfg.id))
        .context("building the check-in URL")?;
    let credential = ensure_enrolled(cfg, client).await?;
    let mut req = client.post(url);
    if let Some(c) = &credential {
        req = req.bearer_auth(c);
    }
    cfg.network.delay().await;
    let resp = req
        .json(&CheckInRequest {
            product: device.product.clone(),
            version: device.version.to_string(),
            security_version: device.security_version,
            policy: None,
        })
        .send()
        .await
        .with_context(|| format!("checking in with {}", cfg.server))?;
    let status = resp.status();
    let text = resp.text().await.context("reading the check-in answer")?;
    if !status.is_success() {
        anyhow::bail!("check-in refused by the server ({status}): {}", text.trim());
    }
    let answer: CheckInResponse =
        serde_json::from_str(&text).context("parsing the check-in answer")?;

    let outcome = decide_and_install(cfg, client, &device, &mut installed, answer).await?;
    if let Outcome::EndOfSupport { statement, .. } = &outcome {
        installed.end_of_support_notice = Some(statement.clone());
    }
    save_installed(&cfg.state_dir, &installed)?;
    Ok(DeviceRun {
        id: cfg.id.clone(),
        product: cfg.product.clone(),
        outcome,
        version: installed.version.to_string(),
        security_version: installed.security_version,
    })
}

async fn decide_and_install(
    cfg: &DeviceConfig,
    client: &reqwest::Client,
    device: &DeviceState,
    installed: &mut Installed,
    answer: CheckInResponse,
) -> Result<Outcome> {
    let refused = |reason: String| Ok(Outcome::Refused { reason });
    let now = cfg.now.unwrap_or_else(jiff::Timestamp::now);
    let verified = match refresh(cfg, client, now).await {
        Ok(v) => v,
        Err(reason) => return refused(reason),
    };
    // Clocks differ: a server whose clock passed midnight of the last supported day a little
    // before this device's did tells the truth. Beyond this tolerance, an end-of-support claim
    // that the signed record contradicts is refused (a server hiding updates).
    let window_open_for_device = verified.support.security_window_open(now);
    let window_closed_within_tolerance = end_of_support_claim_plausible(&verified.support, now);
    match answer {
        CheckInResponse::UpToDate { .. } | CheckInResponse::EndOfSupport { .. }
            if !window_open_for_device =>
        {
            // The notice comes from the signed record, not from the server's words.
            let s = &verified.support;
            Ok(Outcome::EndOfSupport {
                statement: s.statement.clone(),
                successor: s.successor.clone(),
                notice_url: s.notice_url.clone(),
                security_updates_until: s.security_updates_until,
            })
        }
        CheckInResponse::EndOfSupport { .. } if window_closed_within_tolerance => {
            // The notice comes from the signed record, not from the server's words.
            let s = &verified.support;
            Ok(Outcome::EndOfSupport {
                statement: s.statement.clone(),
                successor: s.successor.clone(),
                notice_url: s.notice_url.clone(),
                security_updates_until: s.security_updates_until,
            })
        }
        CheckInResponse::EndOfSupport {
            security_updates_until,
            ..
        } => refused(format!(
            "the server claims support ended {security_updates_until}, but the signed support record says security updates until {}",
            verified.support.security_updates_until
        )),
        CheckInResponse::UpToDate { .. } => Ok(Outcome::UpToDate {
            version: device.version.to_string(),
        }),
        CheckInResponse::Update { urgent, target } => {
            // The offer must be a target the product role signed, exactly as signed.
            let Some(release) = verified.releases.iter().find(|r| r.name == target.name) else {
                return refused(format!(
                    "offered {} which the product's signed metadata does not list",
                    target.name
                ));
            };
            if release.info.version.to_string() != target.version
                || release.info.security_version != target.security_version
                || release.length != target.length
                || target.hashes.get("sha256") != Some(&release.sha256)
            {
                return refused(format!(
                    "the offer for {} does not match its signed metadata",
                    target.name
                ));
            }
            if let Err(e) = check_offer(device, release, &verified.support, now) {
                return refused(format!("offer refused: {e}"));
            }
            send_report(
                cfg,
                client,
                ReportStatus::Downloading,
                &release.info.version.to_string(),
                None,
            )
            .await;
            match download(cfg, client, release).await {
                Err(Download::Interrupted { received }) => Ok(Outcome::Interrupted {
                    version: release.info.version.to_string(),
                    received,
                    length: release.length,
                }),
                Ok(_) if cfg.boot_fails.contains(&release.info.version.to_string()) => {
                    send_report(
                        cfg,
                        client,
                        ReportStatus::Failed,
                        &release.info.version.to_string(),
                        Some("boot_failed".into()),
                    )
                    .await;
                    Ok(Outcome::Failed {
                        version: release.info.version.to_string(),
                        code: "boot_failed".into(),
                    })
                }
                Ok(path) => {
                    let from = installed.version.to_string();
                    installed.version = release.info.version.clone();
                    installed.security_version = release.info.security_version;
                    installed.target = Some(release.name.clone());
                    installed.sha256 = Some(release.sha256.clone());
                    installed.installed_at = Some(now);
                    tracing::debug!(device = %cfg.id, image = %path.display(), "installed");
                    send_report(
                        cfg,
                        client,
                        ReportStatus::Installed,
                        &release.info.version.to_string(),
                        None,
                    )
                    .await;
                    Ok(Outcome::Installed {
                        from,
                        to: release.info.version.to_string(),
                        target: release.name.clone(),
                        urgent,
                    })
                }
                Err(Download::Refused(reason)) => {
                    send_report(
                        cfg,
                        client,
                        ReportStatus::Failed,
                        &release.info.version.to_string(),
                        Some("verification_failed".into()),
                    )
                    .await;
                    refused(reason)
                }
            }
        }
    }
}

/// How far apart the server's and a device's clocks may be at the end of support.
const EOS_CLOCK_TOLERANCE: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Whether a server's end-of-support answer is consistent with the signed record, allowing
/// for clocks that differ by up to [`EOS_CLOCK_TOLERANCE`].
fn end_of_support_claim_plausible(support: &SupportRecord, now: jiff::Timestamp) -> bool {
    !support.security_window_open(now.checked_add(EOS_CLOCK_TOLERANCE).unwrap_or(now))
}

/// Why a download did not complete.
enum Download {
    /// The image failed verification (or could not be fetched as signed): nothing installed.
    Refused(String),
    /// The transfer stopped early; `<file>.part` keeps what arrived, for a Range resume.
    Interrupted { received: u64 },
}

/// Downloads the image into `<state>/firmware/<file>.part`, resuming a partial file with a
/// Range request (If-Range on the image's ETag, its sha256), and installs it (rename) only once
/// its length and sha256 are exactly those the product role signed (TUF 5.7.3). More bytes
/// than the signed length stop the transfer at once (endless data).
async fn download(
    cfg: &DeviceConfig,
    client: &reqwest::Client,
    release: &Release,
) -> Result<PathBuf, Download> {
    use sha2::Digest;
    let refused = |m: String| Download::Refused(m);
    let (dir_name, file) =
        names::split_target_name(&release.name).map_err(|e| refused(e.to_string()))?;
    let dir = cfg.state_dir.join("firmware");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| refused(format!("creating {}: {e}", dir.display())))?;
    let part = dir.join(format!("{file}.part"));
    let dest = dir.join(file);
    let length = release.length;
    // What an earlier, interrupted attempt left.
    let mut have = tokio::fs::metadata(&part).await.map_or(0, |m| m.len());
    let mut hasher = sha2::Sha256::new();
    if have > length {
        let _ = tokio::fs::remove_file(&part).await;
        have = 0;
    }
    if have > 0 {
        // hash what arrived before, streaming (images may be large)
        use tokio::io::AsyncReadExt;
        let read_err = |e: std::io::Error| refused(format!("reading {}: {e}", part.display()));
        let mut file = tokio::fs::File::open(&part).await.map_err(read_err)?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = file.read(&mut buf).await.map_err(read_err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    if have < length {
        let url = cfg
            .tuf_base
            .join("tuf/targets/")
            .and_then(|u| u.join(&format!("{dir_name}/{}.{file}", release.sha256)))
            .map_err(|e| refused(format!("image URL for {}: {e}", release.name)))?;
        let mut request = client.get(url);
        if let Some(c) = stored_credential(cfg) {
            request = request.bearer_auth(c);
        }
        if have > 0 {
            request = request
                .header(reqwest::header::RANGE, format!("bytes={have}-"))
                .header(reqwest::header::IF_RANGE, format!("\"{}\"", release.sha256));
        }
        cfg.network.delay().await;
        let resp = match request.send().await {
            Ok(r) => r,
            Err(_) => return Err(Download::Interrupted { received: have }),
        };
        let status = resp.status();
        let mut out = if status == reqwest::StatusCode::PARTIAL_CONTENT && have > 0 {
            tokio::fs::OpenOptions::new().append(true).open(&part).await
        } else if status.is_success() {
            // the whole image (a fresh start, or the server ignored the range)
            have = 0;
            hasher = sha2::Sha256::new();
            tokio::fs::File::create(&part).await
        } else if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE || status.is_server_error() {
            if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
                let _ = tokio::fs::remove_file(&part).await;
                have = 0;
            }
            return Err(Download::Interrupted { received: have });
        } else {
            return Err(refused(format!(
                "downloading {}: the server answered {status}",
                release.name
            )));
        }
        .map_err(|e| refused(format!("opening {}: {e}", part.display())))?;
        let cut = cfg
            .interrupt_download_at
            .map(|f| ((length as f64) * f.clamp(0.0, 1.0)) as u64)
            .filter(|c| *c > have && *c < length);
        let mut stream = resp.bytes_stream();
        let mut interrupted = false;
        while let Some(chunk) = stream.next().await {
            let Ok(mut chunk) = chunk else {
                interrupted = true;
                break;
            };
            if have + chunk.len() as u64 > length {
                drop(out);
                let _ = tokio::fs::remove_file(&part).await;
                return Err(refused(format!(
                    "image {} exceeds the maximum size its product role signed ({length} bytes)",
                    release.name
                )));
            }
            if let Some(c) = cut {
                if have + chunk.len() as u64 >= c {
                    chunk.truncate((c - have) as usize);
                    interrupted = true;
                }
            }
            cfg.network.throttle(chunk.len()).await;
            hasher.update(&chunk);
            out.write_all(&chunk)
                .await
                .map_err(|e| refused(format!("writing {}: {e}", part.display())))?;
            have += chunk.len() as u64;
            if interrupted {
                break;
            }
        }
        out.sync_all()
            .await
            .map_err(|e| refused(format!("writing {}: {e}", part.display())))?;
        if interrupted || have < length {
            return Err(Download::Interrupted { received: have });
        }
    }
    let actual = hex::encode(hasher.finalize());
    if actual != release.sha256 {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(refused(format!(
            "image {} failed verification: hash mismatch (sha256 {actual}, the product role signed {})",
            release.name, release.sha256
        )));
    }
    tokio::fs::rename(&part, &dest)
        .await
        .map_err(|e| refused(format!("installing {}: {e}", dest.display())))?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_support_claims_tolerate_an_hour_of_clock_skew_only() {
        let record: SupportRecord = serde_json::from_value(serde_json::json!({
            "product": "cam",
            "support_start": "2021-01-01",
            "feature_updates_until": "2025-06-30",
            "security_updates_until": "2026-11-29",
            "min_security_version": 1,
            "statement": "s"
        }))
        .unwrap();
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        // the last supported day, 30 minutes before midnight: the server may be ahead
        assert!(end_of_support_claim_plausible(
            &record,
            t("2026-11-29T23:30:00Z")
        ));
        // the same day at noon: a server claiming the end hides updates
        assert!(!end_of_support_claim_plausible(
            &record,
            t("2026-11-29T12:00:00Z")
        ));
        assert!(!end_of_support_claim_plausible(
            &record,
            t("2026-06-01T00:00:00Z")
        ));
    }

    #[test]
    fn first_expired_is_in_order_and_inclusive() {
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let list = [
            ("root", t("2030-01-01T00:00:00Z")),
            ("timestamp", t("2026-01-02T00:00:00Z")),
            ("snapshot", t("2026-01-01T00:00:00Z")),
        ];
        assert_eq!(first_expired(&list, t("2025-12-31T00:00:00Z")), None);
        assert_eq!(
            first_expired(&list, t("2026-01-01T00:00:00Z")),
            Some(("snapshot", t("2026-01-01T00:00:00Z")))
        );
        assert_eq!(
            first_expired(&list, t("2026-06-01T00:00:00Z")).map(|(r, _)| r),
            Some("timestamp")
        );
    }
}
