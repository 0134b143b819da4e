//! `airlock-sim attack`: attack drills. A simulated device (the real [`crate::device`] code)
//! runs behind the tampering [`crate::proxy`], which plays a man in the middle or a
//! compromised server; every attack must end with nothing installed and a specific reason.
//!
//! Without a server the drills run in a lab built in a temporary directory ([`lab`]), where
//! every precondition exists. With `--server` they run against that server, for the device the
//! command line describes; a drill whose preconditions that server lacks is reported as
//! "not run", with the reason.

pub mod lab;
pub mod survey;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

use airlock_core::api::CheckInResponse;
use airlock_core::decision::{eligible, Decision, DeviceState, OfferRefused};
use airlock_core::release::Release;
use airlock_core::support::SupportRecord;

use crate::device::{run_device, DeviceConfig, DeviceRun, Outcome};
use crate::proxy::{Proxy, Tamper, Where, ENDLESS_MAX_BYTES};
use survey::{older_version, Survey};

/// What a drill must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The device refuses, with the drill's specific reason.
    Refused,
    /// The device shows the signed end-of-support notice.
    NoticeShown,
}

impl Expected {
    pub fn as_str(self) -> &'static str {
        match self {
            Expected::Refused => "refused",
            Expected::NoticeShown => "notice shown",
        }
    }
}

/// One drill: what it simulates, what must happen, and which check must be the one that fires.
#[derive(Debug, Clone, Copy)]
pub struct DrillSpec {
    pub name: &'static str,
    pub simulates: &'static str,
    pub expected: Expected,
    /// The check that must refuse it.
    pub check: &'static str,
    /// The refusal reason must contain all of these (case-insensitive)...
    pub reason_all: &'static [&'static str],
    /// ...and, if not empty, one of these.
    pub reason_any: &'static [&'static str],
}

impl DrillSpec {
    /// Whether a refusal reason is the one this drill expects (and not some other failure).
    pub fn reason_matches(&self, reason: &str) -> bool {
        let reason = reason.to_lowercase();
        self.reason_all.iter().all(|p| reason.contains(p))
            && (self.reason_any.is_empty() || self.reason_any.iter().any(|p| reason.contains(p)))
    }
}

const fn refused(
    name: &'static str,
    simulates: &'static str,
    check: &'static str,
    reason_all: &'static [&'static str],
    reason_any: &'static [&'static str],
) -> DrillSpec {
    DrillSpec {
        name,
        simulates,
        expected: Expected::Refused,
        check,
        reason_all,
        reason_any,
    }
}

/// Every drill, in the order they run.
pub const DRILLS: &[DrillSpec] = &[
    refused(
        "arbitrary-software",
        "the image bytes are replaced in transit (same length)",
        "device::download: sha256 of the image against the product role's signed hash (TUF 5.7.3), before anything is installed",
        &["hash mismatch"],
        &[],
    ),
    refused(
        "rollback-timestamp",
        "an older, validly signed timestamp is replayed to a device that knows a newer one",
        "tough: timestamp version not lower than the trusted one (TUF 5.4.3.1)",
        &["timestamp metadata when we had previously fetched"],
        &[],
    ),
    refused(
        "rollback-snapshot",
        "an older, validly signed snapshot is served under the newer snapshot's name",
        "tough: the timestamp pins the snapshot's length and sha256 (TUF 5.5.2)",
        &["snapshot.json"],
        &["hash mismatch", "maximum size"],
    ),
    refused(
        "rollback-targets",
        "an older, validly signed targets.json is served under the newer name",
        "tough: targets version must equal the snapshot's (TUF 5.6.4)",
        &["targets metadata version mismatch"],
        &[],
    ),
    refused(
        "rollback-product-role",
        "an older, validly signed product role is served under the newer name",
        "tough: delegated role version must equal the snapshot's (TUF 5.6.4 via 5.6.7)",
        &[],
        &["targets metadata version mismatch", "signature threshold"],
    ),
    refused(
        "indefinite-freeze",
        "the attacker keeps serving the same metadata after it expired (device clock past the timestamp's expiry)",
        "device::refresh: no verified metadata may have expired by the device's clock (TUF 5.4.4); tough checks the system clock the same way",
        &["expired"],
        &[],
    ),
    refused(
        "endless-data",
        "an endless response for timestamp.json and for the image",
        "tough: 1 MiB limit for timestamp.json; device::download: the signed length for the image (TUF 5.4.1, 5.7.3)",
        &["maximum size"],
        &[],
    ),
    refused(
        "mix-and-match",
        "an older timestamp and snapshot combined with newer targets / product role metadata",
        "tough: each role's version must equal the one the snapshot lists (TUF 5.6.4)",
        &["version mismatch"],
        &[],
    ),
    refused(
        "wrong-signature",
        "one byte of timestamp.json's signature is flipped",
        "tough: timestamp signed by the root's threshold of timestamp keys (TUF 5.4.2)",
        &["signature threshold", "timestamp"],
        &[],
    ),
    refused(
        "below-threshold",
        "the product role's signatures are removed",
        "tough: product role signed by the delegation's threshold (TUF 5.6.3 via 5.6.7)",
        &["signature threshold", "(0 valid signatures)"],
        &[],
    ),
    refused(
        "revoked-key",
        "the product role re-signed with the product key that a newer delegation revoked",
        "tough: only keys the current targets delegation lists count (TUF 5.6.3 via 5.6.7)",
        &["signature threshold", "(0 valid signatures)"],
        &[],
    ),
    refused(
        "wrong-product-image",
        "the check-in offers another product's signed image",
        "device::decide_and_install: the offer must be a target of the device's own product role",
        &["does not list"],
        &[],
    ),
    refused(
        "downgrade",
        "the check-in offers an older signed release",
        "check_offer (core/src/decision.rs eligible): never older",
        &["not newer than the installed"],
        &[],
    ),
    refused(
        "below-floor",
        "the check-in offers a signed release below the product's security floor",
        "check_offer (eligible): never below the signed floor",
        &["below the product's floor"],
        &[],
    ),
    refused(
        "feature-after-window",
        "the check-in offers a feature release after the feature window closed",
        "check_offer (eligible, SupportRecord::kind_allowed): feature window",
        &["feature updates ended"],
        &[],
    ),
    refused(
        "sunset-only-after-support",
        "the check-in offers a security release after the security window closed",
        "check_offer (eligible, SupportRecord::kind_allowed): only sunset images after support",
        &["only a sunset image may be installed"],
        &[],
    ),
    DrillSpec {
        name: "hidden-end-of-support",
        simulates: "the server answers up_to_date though the signed record says support ended",
        expected: Expected::NoticeShown,
        check: "device::decide_and_install: the notice comes from the signed support record, not from the server's answer",
        reason_all: &[],
        reason_any: &[],
    },
    refused(
        "requires-skipped",
        "the check-in offers a release whose `requires` the device does not meet",
        "check_offer (eligible): requires",
        &["requires version"],
        &[],
    ),
];

pub fn drill_spec(name: &str) -> Option<&'static DrillSpec> {
    DRILLS.iter().find(|d| d.name == name)
}

/// The drills to run: all of them (none named), or the named ones in the table's order.
pub fn select(names: &[String]) -> Result<Vec<&'static DrillSpec>> {
    if names.is_empty() {
        return Ok(DRILLS.iter().collect());
    }
    for n in names {
        if drill_spec(n).is_none() {
            let known: Vec<&str> = DRILLS.iter().map(|d| d.name).collect();
            bail!("unknown drill {n:?}; drills: {}", known.join(", "));
        }
    }
    Ok(DRILLS
        .iter()
        .filter(|d| names.iter().any(|n| n == d.name))
        .collect())
}

/// Which release a check-in drill offers, given what `eligible` says about it.
type Want = fn(&Release, &Result<(), OfferRefused>) -> bool;

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

/// The check-in answer a compromised server sends to push `release`: exactly as signed.
pub fn offer(release: &Release) -> CheckInResponse {
    CheckInResponse::from_decision(Decision::Update {
        release: release.clone(),
        urgent: false,
    })
}

/// A device as the drills run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub product: String,
    pub version: semver::Version,
    pub security_version: u64,
}

impl DeviceSpec {
    fn new(product: &str, version: &str, security_version: u64) -> Result<Self> {
        Ok(DeviceSpec {
            product: product.into(),
            version: version
                .parse()
                .with_context(|| format!("parsing version {version}"))?,
            security_version,
        })
    }

    fn state(&self) -> DeviceState {
        DeviceState {
            product: self.product.clone(),
            version: self.version.clone(),
            security_version: self.security_version,
        }
    }
}

/// The device each drill uses in the lab: one that the attack would matter to.
pub fn lab_device(drill: &str) -> Result<DeviceSpec> {
    use lab::{CAM, DOORBELL, HUB};
    match drill {
        "arbitrary-software" | "endless-data" | "wrong-product-image" => {
            DeviceSpec::new(CAM, "1.0.0", 1)
        }
        "rollback-product-role" => DeviceSpec::new(HUB, "2.2.0", 3),
        "below-floor" | "feature-after-window" | "requires-skipped" => {
            DeviceSpec::new(HUB, "1.0.0", 1)
        }
        "sunset-only-after-support" | "hidden-end-of-support" => {
            DeviceSpec::new(DOORBELL, "3.0.0", 5)
        }
        // Metadata attacks: an up-to-date camera, so nothing would be installed anyway and only
        // the TUF checks are exercised.
        _ => DeviceSpec::new(CAM, "1.2.0", 3),
    }
}

/// `--server` mode: the server and the device to run.
#[derive(Debug, Clone)]
pub struct ServerTarget {
    pub url: url::Url,
    pub trusted_root: PathBuf,
    pub device: DeviceSpec,
    pub admin_token: Option<String>,
    /// For servers that require device authentication: drill devices enrol with it.
    pub enrol_token: Option<String>,
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
    fn not_run(spec: &DrillSpec, why: String) -> Self {
        DrillReport {
            attack: spec.name.into(),
            expected: spec.expected.as_str().into(),
            observed: "not run".into(),
            reason: why,
            ran: false,
            passed: false,
            simulates: spec.simulates.into(),
            check: spec.check.into(),
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

/// What a device run showed, before it is compared with the expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub observed: &'static str,
    pub reason: String,
}

/// What the run shows: installed (whatever the outcome says, if the device's state changed),
/// refused, up to date, or the notice.
pub fn observe(run: &DeviceRun, installed: bool) -> Observation {
    match &run.outcome {
        Outcome::Installed { to, target, .. } => Observation {
            observed: "installed",
            reason: format!("installed {to} ({target})"),
        },
        _ if installed => Observation {
            observed: "installed",
            reason: format!("the device now runs {}", run.version),
        },
        Outcome::Refused { reason } => Observation {
            observed: "refused",
            reason: reason.clone(),
        },
        Outcome::Interrupted {
            version,
            received,
            length,
        } => Observation {
            observed: "interrupted",
            reason: format!("download of {version} cut off at {received} of {length} bytes"),
        },
        Outcome::Failed { version, code } => Observation {
            observed: "failed",
            reason: format!("{version} did not boot ({code})"),
        },
        Outcome::UpToDate { version } => Observation {
            observed: "up to date",
            reason: format!("accepted the metadata; stays at {version}"),
        },
        Outcome::EndOfSupport {
            statement,
            security_updates_until,
            ..
        } => Observation {
            observed: "notice shown",
            reason: format!(
                "signed notice: security updates ended {security_updates_until}: {statement}"
            ),
        },
    }
}

/// Compares an observation with the drill's expectation; a refusal for another reason than
/// the drill's check is not a pass (it would hide a check that did not fire).
pub fn judge(spec: &DrillSpec, obs: Observation, note: Option<String>) -> DrillReport {
    let mut observed = obs.observed.to_string();
    if observed == "refused"
        && spec.expected == Expected::Refused
        && !spec.reason_matches(&obs.reason)
    {
        observed = "refused by another check".into();
    }
    let passed = observed == spec.expected.as_str();
    let reason = match note {
        Some(n) => format!("{} [{n}]", obs.reason),
        None => obs.reason,
    };
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

fn firmware_present(state_dir: &Path) -> Result<bool> {
    let dir = state_dir.join("firmware");
    if !dir.is_dir() {
        return Ok(false);
    }
    let mut entries =
        std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
    Ok(entries.next().is_some())
}

struct Ctx {
    upstream: url::Url,
    proxy: Proxy,
    client: reqwest::Client,
    trusted_root: PathBuf,
    work: PathBuf,
    revoked: Option<lab::Revoked>,
    /// Device ids are `<prefix>-<drill state>`; unique per run against a real server, so drill
    /// devices never collide with earlier enrolments.
    id_prefix: String,
    enrol_token: Option<String>,
    /// `--server` mode: the one device the command line describes.
    device: Option<DeviceSpec>,
    survey: Survey,
}

enum Run {
    Done(DrillReport),
    NotRun(String),
}

impl Ctx {
    fn device_for(&self, drill: &str) -> Result<DeviceSpec> {
        match &self.device {
            Some(d) => Ok(d.clone()),
            None => lab_device(drill),
        }
    }

    /// Runs the real device code once behind the proxy, in `<work>/<state>`.
    async fn device(
        &self,
        state: &str,
        spec: &DeviceSpec,
        now: Option<jiff::Timestamp>,
    ) -> Result<(DeviceRun, bool)> {
        let state_dir = self.work.join(state);
        let cfg = DeviceConfig {
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
            boot_fails: Vec::new(),
            interrupt_download_at: None,
            network: Default::default(),
        };
        let run = run_device(&cfg, &self.client)
            .await
            .with_context(|| format!("running the {state} device"))?;
        let installed = matches!(run.outcome, Outcome::Installed { .. })
            || run.version != spec.version.to_string()
            || firmware_present(&state_dir)?;
        Ok((run, installed))
    }

    /// One honest refresh, so the device trusts the newest metadata before the attack. The
    /// check-in is answered up_to_date so that nothing is installed.
    async fn prime(&self, state: &str, spec: &DeviceSpec) -> Result<()> {
        self.proxy.set(Tamper::CheckIn(CheckInResponse::UpToDate {
            deferred: None,
        }));
        let (run, _) = self.device(state, spec, None).await?;
        self.proxy.set(Tamper::None);
        if let Outcome::Refused { reason } = &run.outcome {
            bail!("the device could not refresh before the attack: {reason}");
        }
        Ok(())
    }

    async fn attack(
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

    async fn attack_in(
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

    fn product(&self, device: &DeviceSpec) -> Result<&survey::ProductView, String> {
        self.survey.products.get(&device.product).ok_or_else(|| {
            format!(
                "the repository has no signed role for product {}",
                device.product
            )
        })
    }

    fn support(&self, device: &DeviceSpec) -> Result<&SupportRecord, String> {
        self.product(device)?.support.as_ref().ok_or_else(|| {
            format!(
                "the repository has no signed support record for {}",
                device.product
            )
        })
    }

    /// A release of the device's product that the device would install now.
    fn installable(&self, device: &DeviceSpec) -> Result<&Release, String> {
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

    async fn run(&self, spec: &DrillSpec) -> Result<Run> {
        let device = self.device_for(spec.name)?;
        let meta = |name: &str| format!("/tuf/metadata/{name}");
        macro_rules! need {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(why) => return Ok(Run::NotRun(why)),
                }
            };
        }
        match spec.name {
            "arbitrary-software" => {
                let release = need!(self.installable(&device));
                let tamper = Tamper::Many(vec![
                    Tamper::CheckIn(offer(release)),
                    Tamper::ReplaceTargetBytes,
                ]);
                let note = format!("offered {}, bytes replaced", release.name);
                self.attack(spec, &device, tamper, None, Some(note)).await
            }
            "rollback-timestamp" => {
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
            "rollback-snapshot" => {
                let current = self.survey.snapshot.version;
                let old = need!(older_version(
                    &self.client,
                    &self.upstream,
                    "snapshot.json",
                    current
                )
                .await?
                .ok_or_else(|| format!(
                    "the server serves no snapshot older than version {current} (re-sign with --admin-token-file)"
                )));
                self.prime(spec.name, &device).await?;
                let note = format!(
                    "snapshot v{} served as {current}.snapshot.json",
                    old.version
                );
                let tamper = Tamper::Serve {
                    path: meta(&format!("{current}.snapshot.json")),
                    bytes: old.bytes,
                };
                self.attack(spec, &device, tamper, None, Some(note)).await
            }
            "rollback-targets" => {
                let current = self.survey.targets.version;
                let old = need!(older_version(
                    &self.client,
                    &self.upstream,
                    "targets.json",
                    current
                )
                .await?
                .ok_or_else(|| format!(
                    "the server serves no targets.json older than version {current} (needs a second signed targets.json, e.g. after a product was added)"
                )));
                self.prime(spec.name, &device).await?;
                let note = format!("targets v{} served as {current}.targets.json", old.version);
                let tamper = Tamper::Serve {
                    path: meta(&format!("{current}.targets.json")),
                    bytes: old.bytes,
                };
                self.attack(spec, &device, tamper, None, Some(note)).await
            }
            "rollback-product-role" => {
                let current = need!(self.product(&device)).role.version;
                let file = format!("{}.json", device.product);
                let old = need!(older_version(&self.client, &self.upstream, &file, current)
                    .await?
                    .ok_or_else(|| format!(
                        "the server serves no {file} older than version {current} (needs a second signed version of the role)"
                    )));
                self.prime(spec.name, &device).await?;
                let note = format!(
                    "{} v{} served as {current}.{file}",
                    device.product, old.version
                );
                let tamper = Tamper::Serve {
                    path: meta(&format!("{current}.{file}")),
                    bytes: old.bytes,
                };
                self.attack(spec, &device, tamper, None, Some(note)).await
            }
            "indefinite-freeze" => {
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
            "endless-data" => self.endless(spec, &device).await,
            "mix-and-match" => self.mix_and_match(spec, &device).await,
            "wrong-signature" => {
                let tamper = Tamper::FlipSignature {
                    path: meta("timestamp.json"),
                };
                self.attack(spec, &device, tamper, None, None).await
            }
            "below-threshold" => {
                let version = need!(self.product(&device)).role.version;
                let name = format!("{version}.{}.json", device.product);
                let note = format!("signatures removed from {name}");
                let tamper = Tamper::DropSignatures { path: meta(&name) };
                self.attack(spec, &device, tamper, None, Some(note)).await
            }
            "revoked-key" => {
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
            "hidden-end-of-support" => {
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
            _ => self.offer_drill(spec, &device).await,
        }
    }

    /// The check-in drills: a compromised server offers a signed release that the device's own
    /// rules must refuse.
    async fn offer_drill(&self, spec: &DrillSpec, device: &DeviceSpec) -> Result<Run> {
        let support = match self.support(device) {
            Ok(s) => s,
            Err(why) => return Ok(Run::NotRun(why)),
        };
        let own: Vec<&Release> = match self.product(device) {
            Ok(v) => v.releases.iter().collect(),
            Err(why) => return Ok(Run::NotRun(why)),
        };
        let others: Vec<&Release> = self
            .survey
            .products
            .iter()
            .filter(|(name, _)| **name != device.product)
            .flat_map(|(_, v)| v.releases.iter())
            .collect();
        let now = jiff::Timestamp::now();
        let state = device.state();
        let (candidates, want, missing): (&[&Release], Want, &str) = match spec.name {
            "wrong-product-image" => (
                &others,
                |_, r| matches!(r, Err(OfferRefused::WrongProduct { .. })),
                "no other product has a signed release",
            ),
            "downgrade" => (
                &own,
                |_, r| matches!(r, Err(OfferRefused::NotNewer { offered, installed, .. }) if offered < installed),
                "no signed release is older than the device's version",
            ),
            "below-floor" => (
                &own,
                |_, r| matches!(r, Err(OfferRefused::BelowFloor { .. })),
                "no signed release is newer than the device's but below the product's floor",
            ),
            "feature-after-window" => (
                &own,
                |_, r| matches!(r, Err(OfferRefused::FeatureWindowClosed { .. })),
                "no signed feature release passes every other rule after a closed feature window",
            ),
            "sunset-only-after-support" => (
                &own,
                |_, r| matches!(r, Err(OfferRefused::SecurityWindowClosed { .. })),
                "no signed non-sunset release passes every other rule after a closed security window",
            ),
            "requires-skipped" => (
                &own,
                |_, r| matches!(r, Err(OfferRefused::RequiresNotMet { .. })),
                "no signed release requires a version newer than the device's",
            ),
            other => bail!("no such drill {other}"),
        };
        let Some(release) = pick(&state, candidates, support, now, want) else {
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
        Ok(Run::Done(DrillReport {
            attack: spec.name.into(),
            expected: spec.expected.as_str().into(),
            observed,
            reason,
            ran: true,
            passed,
            simulates: spec.simulates.into(),
            check: spec.check.into(),
        }))
    }

    /// A fresh device gets an older (unexpired) timestamp and its snapshot, combined with the
    /// current targets / product role served under the names that old snapshot lists.
    async fn mix_and_match(&self, spec: &DrillSpec, device: &DeviceSpec) -> Result<Run> {
        let current = &self.survey.listed;
        let now = jiff::Timestamp::now();
        let top = self.survey.timestamp.version;
        let lowest = top.saturating_sub(survey::MAX_LOOKBACK).max(1);
        for version in (lowest..top).rev() {
            let Some(ts_bytes) = survey::fetch_metadata(
                &self.client,
                &self.upstream,
                &format!("{version}.timestamp.json"),
            )
            .await?
            else {
                continue;
            };
            let ts = survey::parse_timestamp(&ts_bytes)?;
            if ts.signed.expires <= now {
                continue;
            }
            let snapshot_version = survey::snapshot_version_of(&ts)?;
            let Some(snapshot) = survey::fetch_metadata(
                &self.client,
                &self.upstream,
                &format!("{snapshot_version}.snapshot.json"),
            )
            .await?
            else {
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
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .context("building the HTTP client")?;
    let (reports, mode, server) = match &opts.server {
        None => {
            let (lab, revoked) = lab::build().await?;
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
                id_prefix: {
                    use rand_core::RngCore;
                    format!("attack-{:08x}", rand_core::OsRng.next_u32())
                },
                enrol_token: target.enrol_token.clone(),
                device: Some(target.device.clone()),
                survey,
            };
            (
                run_drills(&ctx, &specs).await,
                "server",
                target.url.to_string(),
            )
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

/// A reason shortened for the table (the JSON keeps it whole): no repeated transport
/// wrapper, no scheme and host in URLs, sha256 digests cut to 8 hex digits.
pub fn tidy_reason(reason: &str) -> String {
    let mut s = reason.to_string();
    const WRAP: &str = "Transport 'other' error fetching '";
    while let Some(i) = s.find(WRAP) {
        match s[i + WRAP.len()..].find("': ") {
            Some(j) => s.replace_range(i..i + WRAP.len() + j + 3, ""),
            None => break,
        }
    }
    for scheme in ["http://", "https://"] {
        while let Some(i) = s.find(scheme) {
            let rest = &s[i + scheme.len()..];
            let end = rest.find('/').unwrap_or(rest.len());
            s.replace_range(i..i + scheme.len() + end, "");
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 64 {
            out.push_str(&run[..8]);
            out.push('…');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The table: attack, expected, observed, reason.
pub fn render(s: &AttackSummary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "attack drills against {}:", s.server);
    let _ = writeln!(
        out,
        "  {:<26} {:<13} {:<13} reason",
        "attack", "expected", "observed"
    );
    for d in &s.drills {
        let mark = match (d.ran, d.passed) {
            (false, _) => " ",
            (true, true) => " ",
            (true, false) => "!",
        };
        let _ = writeln!(
            out,
            "{mark} {:<26} {:<13} {:<13} {}",
            d.attack,
            d.expected,
            d.observed,
            tidy_reason(&d.reason)
        );
    }
    let _ = writeln!(
        out,
        "\n{} drills: {} as expected, {} failed (attack succeeded or check did not fire), {} not run: {}",
        s.drills.len(),
        s.passed,
        s.failed,
        s.not_run,
        if s.ok() { "OK" } else { "FAILED" }
    );
    out
}

#[cfg(test)]
mod tests;
