//! The attacks: for each [`Attack`] of the drill table, what the proxy serves or answers,
//! prepared from what the repository serves, then one run of the device behind it. A drill
//! whose preconditions the repository lacks is "not run", with the reason.

use anyhow::{Context, Result};

use airlock_core::api::CheckInResponse;
use airlock_core::hold::{overdue_security_release, SECURITY_HOLD_LIMIT};
use airlock_core::release::Release;

use super::ctx::{offer, pick, Ctx, Run};
use super::drills::{Attack, DrillSpec, Metadata, Want};
use super::survey::{self, older_version};
use super::{DeviceSpec, DrillReport};
use crate::proxy::{Tamper, Where, ENDLESS_MAX_BYTES};

fn meta(name: &str) -> String {
    format!("/tuf/metadata/{name}")
}

/// Ok(value), or return "not run" with the reason.
macro_rules! need {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(why) => return Ok(Run::NotRun(why)),
        }
    };
}

impl Ctx {
    /// Runs one drill.
    pub async fn run(&self, spec: &DrillSpec) -> Result<Run> {
        let device = self.device_for(spec.name)?;
        match spec.attack {
            Attack::ReplaceImage => {
                let release = need!(self.installable(&device));
                let tamper = Tamper::Many(vec![
                    Tamper::CheckIn(offer(release)),
                    Tamper::ReplaceTargetBytes,
                ]);
                let note = format!("offered {}, bytes replaced", release.name);
                self.attack(spec, &device, tamper, None, Some(note)).await
            }
            Attack::ReplayOlderTimestamp => {
                let current = self.survey.timestamp.version;
                let old = need!(older_version(
                    &self.client,
                    &self.upstream,
                    "timestamp.json",
                    current
                )
                .await?
                .ok_or_else(|| format!(
                    "the server serves no timestamp older than version {current} (re-sign with --admin-token-file)"
                )));
                self.prime(spec.name, &device).await?;
                let note = format!("replayed timestamp v{} after v{current}", old.version);
                let tamper = Tamper::ReplayTimestamp(old.bytes);
                self.attack(spec, &device, tamper, None, Some(note)).await
            }
            Attack::ServeOlder(which) => self.serve_older(spec, &device, which).await,
            Attack::Freeze => {
                // The attacker freezes the device at the timestamp it serves now; the device's
                // clock then runs past that timestamp's expiry.
                let frozen = self.survey.timestamp.clone();
                let clock = self
                    .survey
                    .timestamp_expires
                    .checked_add(jiff::SignedDuration::from_hours(1))
                    .context("computing the device clock")?;
                let note = format!(
                    "timestamp v{} frozen; device clock {clock}, 1 h after it expired",
                    frozen.version
                );
                let tamper = Tamper::ReplayTimestamp(frozen.bytes);
                self.attack(spec, &device, tamper, Some(clock), Some(note))
                    .await
            }
            Attack::Endless => self.endless(spec, &device).await,
            Attack::MixAndMatch => self.mix_and_match(spec, &device).await,
            Attack::FlipTimestampSignature => {
                let tamper = Tamper::FlipSignature {
                    path: meta("timestamp.json"),
                };
                self.attack(spec, &device, tamper, None, None).await
            }
            Attack::DropProductSignatures => {
                let version = need!(self.product(&device)).role.version;
                let name = format!("{version}.{}.json", device.product);
                let note = format!("signatures removed from {name}");
                let tamper = Tamper::DropSignatures { path: meta(&name) };
                self.attack(spec, &device, tamper, None, Some(note)).await
            }
            Attack::RevokedKey => {
                let revoked = need!(self.revoked.as_ref().ok_or_else(|| {
                    "needs the private key of a revoked product delegation, which only the lab (no --server) holds".to_string()
                }));
                let view = need!(self
                    .survey
                    .products
                    .get(&revoked.product)
                    .ok_or_else(|| format!("the repository has no role {}", revoked.product)));
                let forged = revoked.forge(&view.role.bytes)?;
                let name = format!("{}.{}.json", view.role.version, revoked.product);
                let note = format!("{name} re-signed with revoked key {}", revoked.key_id);
                let tamper = Tamper::Serve {
                    path: meta(&name),
                    bytes: forged.into(),
                };
                self.attack(spec, &device, tamper, None, Some(note)).await
            }
            Attack::Offer {
                other_products,
                want,
                missing,
            } => {
                self.offer_drill(spec, &device, other_products, want, missing)
                    .await
            }
            Attack::HideEndOfSupport => {
                let support = need!(self.support(&device));
                if support.security_window_open(jiff::Timestamp::now()) {
                    return Ok(Run::NotRun(format!(
                        "the signed support record of {} says security updates until {}: support has not ended",
                        device.product, support.security_updates_until
                    )));
                }
                let tamper = Tamper::CheckIn(CheckInResponse::UpToDate { deferred: None });
                self.attack(spec, &device, tamper, None, None).await
            }
            Attack::WithholdSecurityRelease => self.withhold(spec, &device).await,
            Attack::Delta(which) => self.delta_drill(spec, &device, which).await,
        }
    }

    /// The server answers up_to_date while the signed metadata lists a security release the
    /// device may install, held back past its limit: the device must install exactly that one.
    async fn withhold(&self, spec: &DrillSpec, device: &DeviceSpec) -> Result<Run> {
        let support = need!(self.support(device));
        let releases = &need!(self.product(device)).releases;
        let now = jiff::Timestamp::now();
        let Some(release) = overdue_security_release(&device.state(), releases, support, now)
        else {
            return Ok(Run::NotRun(format!(
                "no signed security release that the device ({} {} security_version {}) may install was released more than {} h ago",
                device.product,
                device.version,
                device.security_version,
                SECURITY_HOLD_LIMIT.as_hours()
            )));
        };
        let note = format!(
            "answered up_to_date; the signed metadata lists {} (security_version {}, released {})",
            release.name, release.info.security_version, release.info.released
        );
        let tamper = Tamper::CheckIn(CheckInResponse::UpToDate { deferred: None });
        let mut report = self
            .attack_in(spec.name, spec, device, tamper, None, Some(note))
            .await?;
        // Installing another release than the withheld one is not the check firing.
        if report.passed && !report.reason.contains(&format!("({})", release.name)) {
            report.passed = false;
            report.observed = "installed another release".into();
        }
        Ok(Run::Done(report))
    }

    /// An older version of a metadata file served under the current name, after an honest
    /// refresh.
    async fn serve_older(
        &self,
        spec: &DrillSpec,
        device: &DeviceSpec,
        which: Metadata,
    ) -> Result<Run> {
        let (file, current, missing) = match which {
            Metadata::Snapshot => (
                "snapshot.json".to_string(),
                self.survey.snapshot.version,
                "(re-sign with --admin-token-file)",
            ),
            Metadata::Targets => (
                "targets.json".to_string(),
                self.survey.targets.version,
                "(needs a second signed targets.json, e.g. after a product was added)",
            ),
            Metadata::ProductRole => (
                format!("{}.json", device.product),
                need!(self.product(device)).role.version,
                "(needs a second signed version of the role)",
            ),
        };
        let old = need!(older_version(&self.client, &self.upstream, &file, current)
            .await?
            .ok_or_else(|| {
                let what = match which {
                    Metadata::Snapshot => "snapshot",
                    _ => file.as_str(),
                };
                format!("the server serves no {what} older than version {current} {missing}")
            }));
        self.prime(spec.name, device).await?;
        let note = match which {
            Metadata::Snapshot => format!("snapshot v{} served as {current}.{file}", old.version),
            Metadata::Targets => format!("targets v{} served as {current}.{file}", old.version),
            Metadata::ProductRole => format!(
                "{} v{} served as {current}.{file}",
                device.product, old.version
            ),
        };
        let tamper = Tamper::Serve {
            path: meta(&format!("{current}.{file}")),
            bytes: old.bytes,
        };
        self.attack(spec, device, tamper, None, Some(note)).await
    }

    /// The check-in drills: a compromised server offers a signed release that the device's own
    /// rules must refuse.
    async fn offer_drill(
        &self,
        spec: &DrillSpec,
        device: &DeviceSpec,
        other_products: bool,
        want: Want,
        missing: &str,
    ) -> Result<Run> {
        let support = need!(self.support(device));
        let candidates: Vec<&Release> = if other_products {
            self.survey
                .products
                .iter()
                .filter(|(name, _)| **name != device.product)
                .flat_map(|(_, v)| v.releases.iter())
                .collect()
        } else {
            need!(self.product(device)).releases.iter().collect()
        };
        let now = jiff::Timestamp::now();
        let Some(release) = pick(&device.state(), &candidates, support, now, want) else {
            return Ok(Run::NotRun(format!(
                "{missing} (device {} {} security_version {})",
                device.product, device.version, device.security_version
            )));
        };
        let note = format!(
            "offered {} ({} {}, security_version {})",
            release.name, release.info.kind, release.info.version, release.info.security_version
        );
        self.attack(
            spec,
            device,
            Tamper::CheckIn(offer(release)),
            None,
            Some(note),
        )
        .await
    }

    /// Two endless responses: timestamp.json, then the image.
    async fn endless(&self, spec: &DrillSpec, device: &DeviceSpec) -> Result<Run> {
        let mut parts = Vec::new();
        let phase = |served: u64| {
            if served >= ENDLESS_MAX_BYTES {
                "the proxy hit its own cap: the client did not stop".to_string()
            } else {
                format!("{} KiB sent before the client hung up", served / 1024)
            }
        };
        self.proxy.reset_endless_served();
        let tamper = Tamper::Endless(Where::Path("/tuf/metadata/timestamp.json".into()));
        let ts = self
            .attack_in("endless-data-timestamp", spec, device, tamper, None, None)
            .await?;
        let served = self.proxy.endless_served();
        parts.push((
            "timestamp.json",
            ts,
            served < ENDLESS_MAX_BYTES,
            phase(served),
        ));
        match self.installable(device) {
            Ok(release) => {
                self.proxy.reset_endless_served();
                let tamper = Tamper::Many(vec![
                    Tamper::CheckIn(offer(release)),
                    Tamper::Endless(Where::Firmware),
                ]);
                let image = self
                    .attack_in("endless-data-image", spec, device, tamper, None, None)
                    .await?;
                let served = self.proxy.endless_served();
                parts.push(("image", image, served < ENDLESS_MAX_BYTES, phase(served)));
            }
            Err(why) => {
                let mut skipped = DrillReport::not_run(spec, why);
                skipped.passed = true;
                parts.push(("image (not run)", skipped, true, String::new()));
            }
        }
        let passed = parts.iter().all(|(_, r, stopped, _)| r.passed && *stopped);
        let observed = parts
            .iter()
            .find(|(_, r, stopped, _)| !(r.passed && *stopped))
            .map(|(_, r, _, _)| r.observed.clone())
            .unwrap_or_else(|| spec.expected.as_str().to_string());
        let observed = if !passed && observed == spec.expected.as_str() {
            "refused only when the server stopped".to_string()
        } else {
            observed
        };
        let reason = parts
            .iter()
            .map(|(what, r, _, served)| {
                if served.is_empty() {
                    format!("{what}: {}", r.reason)
                } else {
                    format!("{what}: {} [{served}]", r.reason)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Run::Done(DrillReport::ran(spec, observed, reason, passed)))
    }

    /// `<version>.<role>.json` as the real server serves it; `None` when it no longer does.
    async fn upstream_metadata(&self, version: u64, role: &str) -> Result<Option<bytes::Bytes>> {
        survey::fetch_metadata(
            &self.client,
            &self.upstream,
            &format!("{version}.{role}.json"),
        )
        .await
    }

    /// A fresh device gets an older (unexpired) timestamp and its snapshot, combined with the
    /// current targets / product role served under the names that old snapshot lists.
    async fn mix_and_match(&self, spec: &DrillSpec, device: &DeviceSpec) -> Result<Run> {
        let current = &self.survey.listed;
        let now = jiff::Timestamp::now();
        let top = self.survey.timestamp.version;
        let lowest = top.saturating_sub(survey::MAX_LOOKBACK).max(1);
        for version in (lowest..top).rev() {
            let Some(ts_bytes) = self.upstream_metadata(version, "timestamp").await? else {
                continue;
            };
            let ts = survey::parse_timestamp(&ts_bytes)?;
            if ts.signed.expires <= now {
                continue;
            }
            let snapshot_version = survey::snapshot_version_of(&ts)?;
            let Some(snapshot) = self.upstream_metadata(snapshot_version, "snapshot").await? else {
                continue;
            };
            let old = survey::listed_versions(&snapshot)?;
            let mut serve = Vec::new();
            let mut mixed = Vec::new();
            for role in ["targets", device.product.as_str()] {
                let (Some(old_v), Some(cur_v)) = (old.get(role), current.get(role)) else {
                    continue;
                };
                if old_v == cur_v {
                    continue;
                }
                let bytes = if role == "targets" {
                    self.survey.targets.bytes.clone()
                } else {
                    match self.survey.products.get(role) {
                        Some(v) => v.role.bytes.clone(),
                        None => continue,
                    }
                };
                serve.push(Tamper::Serve {
                    path: format!("/tuf/metadata/{old_v}.{role}.json"),
                    bytes,
                });
                mixed.push(format!("{role} v{cur_v} as v{old_v}"));
            }
            if serve.is_empty() {
                continue;
            }
            let mut tampers = vec![Tamper::ReplayTimestamp(ts_bytes)];
            tampers.extend(serve);
            let note = format!(
                "timestamp v{version} + snapshot v{snapshot_version} with {}",
                mixed.join(", ")
            );
            return self
                .attack(spec, device, Tamper::Many(tampers), None, Some(note))
                .await;
        }
        Ok(Run::NotRun(format!(
            "no unexpired older timestamp names a snapshot whose targets or {} version differs from the current one",
            device.product
        )))
    }
}
