//! Setup of a scenario run: the lab on the simulated clock with the scenario's products and
//! the releases it starts with, and the fleet with every device's mix, phase, skew and faults
//! drawn from the seed.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_core::release::ReleaseKind;

use super::shares::{apportion, by_draw, pick};
use super::spec::{self, draw, Offset, Scenario};
use super::timeline::Timeline;
use crate::device::{AgentConfig, DeviceConfig};
use crate::lab::{Lab, LabClock, NewRelease, Product, SimClock};

/// A device of the fleet, with what the runner decides for it.
pub struct SimDevice {
    pub cfg: DeviceConfig,
    pub next_ms: i64,
    pub skew_ms: i64,
    pub offline: Option<(i64, i64)>,
    pub corrupt: bool,
    /// It reports releases it was never offered as `failed` (`faults.false_report_share`).
    pub false_reporter: bool,
    /// `product@version` it runs.
    pub running: String,
    /// Its mix entry's group, for the bytes on the wire ([`spec::MixEntry::group`]).
    pub group: String,
    /// It starts with the signed image of its version kept ([`spec::MixEntry::image`]).
    pub kept_image: bool,
    /// Its last download was cut off (the next one resumes it).
    pub interrupted: bool,
}

impl SimDevice {
    /// The version it runs.
    pub fn version(&self) -> &str {
        self.running.split('@').nth(1).unwrap_or("")
    }
}

/// The running lab and what was signed in it.
pub struct Stage {
    pub lab: Lab,
    pub clock: Arc<SimClock>,
    pub start: jiff::Timestamp,
    pub timeline: Timeline,
    /// Target name -> sha256 of everything published (to check installs against).
    pub signed: BTreeMap<String, String>,
    /// `product@version` -> (target name, image) of every release signed so far.
    pub images: BTreeMap<String, (String, Vec<u8>)>,
    /// Product -> the image of its release signed last (what `change` starts from).
    pub last_image: BTreeMap<String, Vec<u8>>,
}

pub fn at(start: jiff::Timestamp, o: Offset) -> Result<jiff::Timestamp> {
    start
        .checked_add(jiff::SignedDuration::from_millis(o.0))
        .context("time out of range")
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

/// `previous` with `share` of its bytes rewritten in place, in four runs at places drawn from
/// `label`, and resized to `len` (new bytes at the end from `label`): a small change of a build.
fn changed(previous: &[u8], share: f64, label: &str, len: usize) -> Vec<u8> {
    let mut out = previous.to_vec();
    let fresh = firmware(label, len.max(1));
    out.resize(len, 0);
    if out.len() > previous.len() {
        let from = previous.len();
        out[from..].copy_from_slice(&fresh[from..len]);
    }
    let total = ((len as f64) * share).ceil() as usize;
    let run = (total / 4).max(1).min(len);
    for i in 0..4 {
        if len == 0 {
            break;
        }
        let at = (spec::draw(0, &format!("change/{label}/{i}")) * (len - run) as f64) as usize;
        out[at..at + run].copy_from_slice(&fresh[at..at + run]);
    }
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

impl Stage {
    /// Signs a release of the scenario (its image made from its product and version).
    pub async fn add_release(
        &mut self,
        r: &spec::ReleaseSpec,
        released: jiff::Timestamp,
    ) -> Result<()> {
        let dir = self.lab.dir.join("firmware");
        let file = dir.join(format!("{}-fw-{}.bin", r.product, r.version));
        std::fs::create_dir_all(&dir)?;
        let label = format!("{}-{}", r.product, r.version);
        let image = match (r.change, self.last_image.get(&r.product)) {
            (Some(share), Some(previous)) => changed(previous, share, &label, r.size),
            _ => firmware(&label, r.size),
        };
        std::fs::write(&file, &image)?;
        let signed = self
            .lab
            .repo
            .add_release(&NewRelease {
                product: r.product.clone(),
                file,
                version: r.version.clone(),
                security_version: r.security_version,
                kind: kind_of(&r.kind)?,
                requires: None,
                released,
                deltas_from: r.deltas_from,
            })
            .await
            .with_context(|| format!("adding release {} {}", r.product, r.version))?;
        self.images.insert(
            format!("{}@{}", r.product, r.version),
            (signed.target.clone(), image.clone()),
        );
        self.last_image.insert(r.product.clone(), image);
        self.signed.insert(signed.target, signed.sha256);
        Ok(())
    }
}

/// The lab with the scenario's products and initial releases, published. The simulated run
/// starts now (whole hour), so that offline-signed metadata (valid for a year from now) holds
/// through it.
pub async fn stage(scn: &Scenario) -> Result<Stage> {
    let start = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() / 3600 * 3600)?;
    let clock = Arc::new(SimClock::new(start));
    let lab = Lab::start("airlock-scenario-", LabClock::Simulated(clock.clone())).await?;
    for p in &scn.products {
        lab.repo
            .add_product(&Product {
                min_security_version: p.min_security_version,
                notice_url: Some(format!("https://vendor.example/support/{}", p.id)),
                statement: p.statement.clone(),
                successor: p.successor.clone(),
                security_contact: Some("mailto:security@vendor.example".into()),
                rationale: p.rationale.clone(),
                ..Product::new(
                    p.id.clone(),
                    p.support_start.resolve(start)?,
                    p.feature_until.resolve(start)?,
                    p.security_until.resolve(start)?,
                )
            })
            .await
            .with_context(|| format!("adding product {}", p.id))?;
    }
    let mut stage = Stage {
        lab,
        clock,
        start,
        timeline: Timeline::new(start),
        signed: BTreeMap::new(),
        images: BTreeMap::new(),
        last_image: BTreeMap::new(),
    };
    for r in scn.releases.iter().filter(|r| r.at.0 <= 0) {
        stage.add_release(r, at(start, r.at)?).await?;
    }
    stage
        .lab
        .publish(false)
        .await
        .context("publishing the initial repository")?;
    Ok(stage)
}

/// The fleet: versions by share, check-in phase, skew and faults, all from the seed. Shares are
/// exact counts of the fleet ([`super::shares`]), so they hold at any size.
pub fn fleet(scn: &Scenario, lab: &Lab) -> Vec<SimDevice> {
    let n = scn.fleet.devices;
    let ids: Vec<String> = (0..n).map(|i| format!("dev-{i:06}")).collect();
    let every: Vec<usize> = (0..n).collect();
    let interval = scn.fleet.check_in_every.0;
    let f = &scn.faults;
    // the mix: devices in the order of their draws, the first ones to the first entry, ...
    let mix_shares: Vec<f64> = scn.fleet.mix.iter().map(|m| m.share).collect();
    let mut member_of = vec![0; n];
    let mut in_order = by_draw(scn.seed, &every, |i| format!("mix/{}", ids[i])).into_iter();
    for (entry, count) in apportion(&mix_shares, n).into_iter().enumerate() {
        for i in in_order.by_ref().take(count) {
            member_of[i] = entry;
        }
    }
    let fleet_share =
        |share: f64, what: &str| pick(scn.seed, n, &every, share, |i| format!("{what}/{}", ids[i]));
    let offline = fleet_share(f.offline_share, "offline");
    let corrupt = fleet_share(f.corrupt_share, "corrupt");
    let false_reporter = fleet_share(f.false_report_share, "false-report");
    // each failing release fails on exactly its share of its product's devices
    let mut boot_fails: Vec<Vec<String>> = vec![Vec::new(); n];
    for r in scn.releases.iter().filter(|r| r.failure_rate > 0.0) {
        let of_product: Vec<usize> = every
            .iter()
            .copied()
            .filter(|&i| scn.fleet.mix[member_of[i]].product == r.product)
            .collect();
        let fails = pick(scn.seed, n, &of_product, r.failure_rate, |i| {
            format!("boot/{}/{}", ids[i], r.version)
        });
        for (i, list) in boot_fails.iter_mut().enumerate() {
            if fails[i] {
                list.push(r.version.to_string());
            }
        }
    }
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| {
            let member = &scn.fleet.mix[member_of[i]];
            let boot_fails = std::mem::take(&mut boot_fails[i]);
            let offline = offline[i].then_some((
                f.offline_from.0,
                f.offline_from.0.saturating_add(f.offline_for.0),
            ));
            let skew_ms = ((draw(scn.seed, &format!("skew/{id}")) * 2.0 - 1.0)
                * f.clock_skew.0 as f64) as i64;
            SimDevice {
                cfg: DeviceConfig {
                    boot_fails,
                    ..DeviceConfig::new(AgentConfig {
                        server: lab.server_url.clone(),
                        tuf_base: lab.server_url.clone(),
                        trusted_root: lab.trusted_root.clone(),
                        state_dir: lab.dir.join("devices").join(&id),
                        id: id.clone(),
                        product: member.product.clone(),
                        version: member.version.clone(),
                        security_version: member.security_version,
                        now: None,
                        enrol_token: None,
                        retry: airlock_device::Backoff::default(),
                    })
                },
                next_ms: (draw(scn.seed, &format!("phase/{id}")) * interval as f64) as i64,
                skew_ms,
                offline,
                corrupt: corrupt[i],
                false_reporter: false_reporter[i],
                running: format!("{}@{}", member.product, member.version),
                group: member.group(),
                kept_image: member.image,
                interrupted: false,
            }
        })
        .collect()
}

/// Gives the devices that keep their image ([`spec::MixEntry::image`]) the signed image of
/// their version and the record of having installed it, as the device agent writes both.
pub fn keep_images(stage: &Stage, devices: &[SimDevice]) -> Result<()> {
    for d in devices.iter().filter(|d| d.kept_image) {
        let agent = &d.cfg.agent;
        let Some((target, image)) = stage.images.get(&d.running) else {
            bail!(
                "no signed image of {} to give device {}",
                d.running,
                agent.id
            );
        };
        let (_, file) = airlock_core::names::split_target_name(target)?;
        let firmware = airlock_device::state::firmware_dir(&agent.state_dir);
        std::fs::create_dir_all(&firmware)
            .with_context(|| format!("creating {}", firmware.display()))?;
        std::fs::write(firmware.join(file), image)
            .with_context(|| format!("writing the image of {}", agent.id))?;
        let installed = airlock_device::Installed {
            id: agent.id.clone(),
            product: agent.product.clone(),
            version: agent.version.clone(),
            security_version: agent.security_version,
            target: Some(target.clone()),
            sha256: stage.signed.get(target).cloned(),
            installed_at: Some(stage.start),
            end_of_support_notice: None,
        };
        airlock_device::state::save_installed(&agent.state_dir, &installed)
            .with_context(|| format!("writing the state of {}", agent.id))?;
    }
    Ok(())
}
