//! The drills' working context: the tampering proxy in front of the server, what the survey
//! found, and runs of the real device code behind the proxy.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use airlock_core::api::CheckInResponse;
use airlock_core::decision::{eligible, Decision, DeviceState, OfferRefused};
use airlock_core::hold::SECURITY_HOLD_LIMIT;
use airlock_core::release::{Release, ReleaseKind};
use airlock_core::support::SupportRecord;

use super::drills::{lab_device, DrillSpec};
use super::judge::{judge, observe};
use super::survey::{self, Survey};
use super::{DeviceSpec, DrillReport};
use crate::device::{run_device, AgentConfig, DeviceConfig, DeviceRun, Outcome};
use crate::lab::Revoked;
use crate::proxy::{Proxy, Tamper};

/// The newest release (by version) for which `want` holds, given what `eligible` says about
/// installing it on `device`.
pub fn pick<'a>(
    device: &DeviceState,
    releases: &[&'a Release],
    support: &SupportRecord,
    now: jiff::Timestamp,
    want: impl Fn(&Release, &Result<(), OfferRefused>) -> bool,
) -> Option<&'a Release> {
    releases
        .iter()
        .copied()
        .filter(|r| want(r, &eligible(device, r, support, now)))
        .max_by(|a, b| a.info.version.cmp(&b.info.version))
}

/// A device clock at which no security release newer than `device`'s version is past its hold
/// yet (a second before the first hold runs out); `None` when none is at `now`.
pub fn prime_clock(
    device: &DeviceSpec,
    releases: &[Release],
    now: jiff::Timestamp,
) -> Option<jiff::Timestamp> {
    releases
        .iter()
        .filter(|r| r.info.kind == ReleaseKind::Security && r.info.version > device.version)
        .filter_map(|r| r.info.released.checked_add(SECURITY_HOLD_LIMIT).ok())
        .filter(|deadline| *deadline <= now)
        .min()
        .and_then(|deadline| {
            deadline
                .checked_sub(jiff::SignedDuration::from_secs(1))
                .ok()
        })
}

/// The check-in answer a compromised server sends to push `release`: exactly as signed.
pub fn offer(release: &Release) -> CheckInResponse {
    CheckInResponse::from_decision(Decision::Update {
        release: release.clone(),
        urgent: false,
    })
}

fn firmware_present(state_dir: &Path) -> Result<bool> {
    let dir = state_dir.join("firmware");
    if !dir.is_dir() {
        return Ok(false);
    }
    let mut entries =
        std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
    Ok(entries.next().is_some())
}

pub struct Ctx {
    pub upstream: url::Url,
    pub proxy: Proxy,
    pub client: reqwest::Client,
    pub trusted_root: PathBuf,
    pub work: PathBuf,
    pub revoked: Option<Revoked>,
    /// Device ids are `<prefix>-<drill state>`; unique per run against a real server, so drill
    /// devices never collide with earlier enrolments.
    pub id_prefix: String,
    pub enrol_token: Option<String>,
    /// `--server` mode: the one device the command line describes.
    pub device: Option<DeviceSpec>,
    pub survey: Survey,
}

pub enum Run {
    Done(DrillReport),
    NotRun(String),
}

impl Ctx {
    pub fn device_for(&self, drill: &str) -> Result<DeviceSpec> {
        match &self.device {
            Some(d) => Ok(d.clone()),
            None => lab_device(drill),
        }
    }

    /// Runs the real device code once behind the proxy, in `<work>/<state>`.
    pub(super) async fn device(
        &self,
        state: &str,
        spec: &DeviceSpec,
        now: Option<jiff::Timestamp>,
    ) -> Result<(DeviceRun, bool)> {
        let state_dir = self.work.join(state);
        let cfg = DeviceConfig::new(AgentConfig {
            server: self.proxy.url.clone(),
            tuf_base: self.proxy.url.clone(),
            trusted_root: self.trusted_root.clone(),
            state_dir: state_dir.clone(),
            id: format!("{}-{state}", self.id_prefix),
            product: spec.product.clone(),
            version: spec.version.clone(),
            security_version: spec.security_version,
            now,
            enrol_token: self.enrol_token.clone(),
            retry: airlock_device::Backoff::default(),
        });
        let run = run_device(&cfg, &self.client)
            .await
            .with_context(|| format!("running the {state} device"))?;
        let installed = matches!(run.outcome, Outcome::Installed { .. })
            || run.version != spec.version.to_string()
            || firmware_present(&state_dir)?;
        Ok((run, installed))
    }

    /// One honest refresh, so the device trusts the newest metadata before the attack. The
    /// check-in is answered up_to_date so that nothing is installed, at a device clock before
    /// any security release's hold ran out ([`prime_clock`]): the device would install a
    /// withheld one.
    pub async fn prime(&self, state: &str, spec: &DeviceSpec) -> Result<()> {
        self.proxy.set(Tamper::CheckIn(CheckInResponse::UpToDate {
            deferred: None,
        }));
        let clock = self
            .product(spec)
            .ok()
            .and_then(|view| prime_clock(spec, &view.releases, jiff::Timestamp::now()));
        let (run, _) = self.device(state, spec, clock).await?;
        self.proxy.set(Tamper::None);
        if let Outcome::Refused { reason, .. } = &run.outcome {
            bail!("the device could not refresh before the attack: {reason}");
        }
        Ok(())
    }

    pub async fn attack(
        &self,
        spec: &DrillSpec,
        device: &DeviceSpec,
        tamper: Tamper,
        now: Option<jiff::Timestamp>,
        note: Option<String>,
    ) -> Result<Run> {
        self.attack_in(spec.name, spec, device, tamper, now, note)
            .await
            .map(Run::Done)
    }

    pub async fn attack_in(
        &self,
        state: &str,
        spec: &DrillSpec,
        device: &DeviceSpec,
        tamper: Tamper,
        now: Option<jiff::Timestamp>,
        note: Option<String>,
    ) -> Result<DrillReport> {
        self.proxy.set(tamper);
        let result = self.device(state, device, now).await;
        self.proxy.set(Tamper::None);
        let (run, installed) = result?;
        Ok(judge(spec, observe(&run, installed), note))
    }

    pub fn product(&self, device: &DeviceSpec) -> Result<&survey::ProductView, String> {
        self.survey.products.get(&device.product).ok_or_else(|| {
            format!(
                "the repository has no signed role for product {}",
                device.product
            )
        })
    }

    pub fn support(&self, device: &DeviceSpec) -> Result<&SupportRecord, String> {
        self.product(device)?.support.as_ref().ok_or_else(|| {
            format!(
                "the repository has no signed support record for {}",
                device.product
            )
        })
    }

    /// A release of the device's product that the device would install now.
    pub fn installable(&self, device: &DeviceSpec) -> Result<&Release, String> {
        let view = self.product(device)?;
        let support = self.support(device)?;
        let releases: Vec<&Release> = view.releases.iter().collect();
        pick(
            &device.state(),
            &releases,
            support,
            jiff::Timestamp::now(),
            |_, r| r.is_ok(),
        )
        .ok_or_else(|| {
            format!(
                "no signed release of {} may be installed now on a device at {} (security_version {}), so there is no image to tamper with",
                device.product, device.version, device.security_version
            )
        })
    }
}
