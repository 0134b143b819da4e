//! The delta drills (docs/deltas.md). A device first installs a signed release (the delta's
//! source) through the proxy, so that it runs an image it can rebuild from; then it is offered a
//! newer release with a delta that the attacker spoils: bytes changed in transit, a signed delta
//! for another source, a signed delta that rebuilds another release, an endless response or a
//! decompression bomb. The metadata stays as signed: the attacker has no product key.
//!
//! Each phase runs on a fresh device and passes only if the device refused the delta (its run
//! and report say `applied: false`), fetched the delta only where the check comes after the
//! download, and then either installed exactly the signed full image (read back and hashed) or,
//! where the full image was spoiled too, installed nothing and refused it with one of the
//! drill's refusal kinds.

use anyhow::{bail, Result};
use sha2::Digest;

use airlock_core::api::{consistent_target_path, CheckInResponse, OfferedDelta};
use airlock_core::decision::{eligible, DeviceState};
use airlock_core::delta::Delta;
use airlock_core::names;
use airlock_core::release::Release;

use super::ctx::{offer, Ctx, Run};
use super::drills::{DeltaAttack, DrillSpec};
use super::{DeviceSpec, DrillReport};
use crate::device::{DeviceRun, Outcome};
use crate::proxy::{Tamper, Where, ENDLESS_MAX_BYTES};

/// A signed delta the device can be brought to use: it installs `source` first, then may
/// install `target`.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    pub source: &'a Release,
    pub target: &'a Release,
    pub delta: &'a Delta,
}

/// What a phase must end with besides the refused delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// The signed full image installed.
    FullImage,
    /// Nothing installed: the full image was spoiled too.
    Nothing,
}

/// One run of a spoiled delta.
struct Phase<'a> {
    label: &'static str,
    pair: Pair<'a>,
    /// The delta offered (the pair's, or another signed one).
    offered: &'a Delta,
    tamper: Tamper,
    /// Whether the device must have fetched the offered delta before refusing it.
    fetched: bool,
    after: After,
}

/// The URL path of a signed target (consistent-snapshot name), as the device requests it.
pub fn target_path(name: &str, sha256: &str) -> String {
    format!("/tuf/targets/{}", consistent_target_path(name, sha256))
}

/// The check-in answer of a compromised server: `release` exactly as signed, with `delta`.
pub fn offer_with_delta(release: &Release, delta: &Delta) -> CheckInResponse {
    let mut answer = offer(release);
    if let CheckInResponse::Update { target, .. } = &mut answer {
        target.delta = Some(Box::new(OfferedDelta::from_delta(delta)));
    }
    answer
}

/// A zstd frame of exactly `length` bytes that decompresses to about 32,768 times that:
/// RLE blocks of 128 KiB (4 bytes each) and a last raw block that makes up the length (RFC
/// 8878, 3.1.1). `None` below 9 bytes (a frame header and one block header).
pub fn zstd_bomb(length: u64) -> Option<Vec<u8>> {
    const BLOCK: u32 = 128 * 1024;
    let length = usize::try_from(length).ok()?;
    let body = length.checked_sub(9)?;
    let (rle_blocks, raw) = (body / 4, body % 4);
    let mut out = Vec::with_capacity(length);
    out.extend_from_slice(&0xFD2F_B528u32.to_le_bytes());
    // no content size, not single-segment, no checksum, no dictionary; window 2^17
    out.push(0x00);
    out.push((17 - 10) << 3);
    for _ in 0..rle_blocks {
        let header = (BLOCK << 3) | (1 << 1);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.push(0);
    }
    let last = ((raw as u32) << 3) | 1;
    out.extend_from_slice(&last.to_le_bytes()[..3]);
    out.extend(std::iter::repeat_n(0u8, raw));
    Some(out)
}

/// The state a device is in after installing `release`.
fn state_after(device: &DeviceSpec, release: &Release) -> DeviceState {
    DeviceState {
        product: device.product.clone(),
        version: release.info.version.clone(),
        security_version: release.info.security_version,
    }
}

impl Ctx {
    /// The signed deltas of the device's product whose source the device may install now and
    /// whose target it may install after that, newest target first.
    pub fn delta_pairs(&self, device: &DeviceSpec) -> Result<Vec<Pair<'_>>, String> {
        let view = self.product(device)?;
        let support = self.support(device)?;
        let now = jiff::Timestamp::now();
        let mut pairs: Vec<Pair<'_>> = view
            .deltas
            .iter()
            .filter_map(|delta| {
                let source = view.releases.iter().find(|r| {
                    r.sha256 == delta.info.source_sha256 && r.length == delta.info.source_length
                })?;
                let target = view.releases.iter().find(|r| {
                    r.name == delta.info.target && r.sha256 == delta.info.target_sha256
                })?;
                let ok = eligible(&device.state(), source, support, now).is_ok()
                    && eligible(&state_after(device, source), target, support, now).is_ok();
                ok.then_some(Pair {
                    source,
                    target,
                    delta,
                })
            })
            .collect();
        pairs.sort_by(|a, b| {
            (&b.target.info.version, &b.source.info.version)
                .cmp(&(&a.target.info.version, &a.source.info.version))
        });
        if pairs.is_empty() {
            return Err(format!(
                "no signed delta of {} has a source that a device at {} (security_version {}) may install and a target it may install after that",
                device.product, device.version, device.security_version
            ));
        }
        Ok(pairs)
    }

    /// Runs one delta drill: its phases, each on a fresh device.
    pub async fn delta_drill(
        &self,
        spec: &DrillSpec,
        device: &DeviceSpec,
        which: DeltaAttack,
    ) -> Result<Run> {
        let pairs = match self.delta_pairs(device) {
            Ok(p) => p,
            Err(why) => return Ok(Run::NotRun(why)),
        };
        let deltas = &match self.product(device) {
            Ok(v) => v,
            Err(why) => return Ok(Run::NotRun(why)),
        }
        .deltas;
        let first = pairs[0];
        let delta_path = |d: &Delta| target_path(&d.name, &d.sha256);
        let full_path = |r: &Release| target_path(&r.name, &r.sha256);
        let phases: Vec<Phase<'_>> = match which {
            DeltaAttack::Altered => vec![
                Phase {
                    label: "delta altered",
                    pair: first,
                    offered: first.delta,
                    tamper: Tamper::FlipByte(Where::Path(delta_path(first.delta))),
                    fetched: true,
                    after: After::FullImage,
                },
                Phase {
                    label: "delta and full image altered",
                    pair: first,
                    offered: first.delta,
                    tamper: Tamper::Many(vec![
                        Tamper::FlipByte(Where::Path(delta_path(first.delta))),
                        Tamper::FlipByte(Where::Path(full_path(first.target))),
                    ]),
                    fetched: true,
                    after: After::Nothing,
                },
            ],
            DeltaAttack::OtherSource => {
                // a signed delta to the same release from another image
                let found = pairs.iter().find_map(|p| {
                    deltas
                        .iter()
                        .find(|d| {
                            d.info.target == p.target.name
                                && d.info.source_sha256 != p.source.sha256
                        })
                        .map(|d| (*p, d))
                });
                let Some((pair, other)) = found else {
                    return Ok(Run::NotRun(format!(
                        "no release of {} has signed deltas from two sources that a device at {} could run",
                        device.product, device.version
                    )));
                };
                vec![Phase {
                    label: "delta for another source",
                    pair,
                    offered: other,
                    tamper: Tamper::None,
                    fetched: false,
                    after: After::FullImage,
                }]
            }
            DeltaAttack::OtherImage => {
                // a signed delta from the same image to another release
                let found = pairs.iter().find_map(|p| {
                    deltas
                        .iter()
                        .find(|d| {
                            d.info.source_sha256 == p.source.sha256
                                && d.info.target != p.target.name
                        })
                        .map(|d| (*p, d))
                });
                let Some((pair, other)) = found else {
                    return Ok(Run::NotRun(format!(
                        "no image of {} that a device at {} could run has signed deltas to two releases",
                        device.product, device.version
                    )));
                };
                vec![Phase {
                    label: "delta that rebuilds another release",
                    pair,
                    offered: other,
                    tamper: Tamper::None,
                    fetched: false,
                    after: After::FullImage,
                }]
            }
            DeltaAttack::Endless => {
                let mut phases = vec![Phase {
                    label: "endless delta",
                    pair: first,
                    offered: first.delta,
                    tamper: Tamper::Endless(Where::Path(delta_path(first.delta))),
                    fetched: true,
                    after: After::FullImage,
                }];
                if let Some(bomb) = zstd_bomb(first.delta.length) {
                    phases.push(Phase {
                        label: "decompression bomb",
                        pair: first,
                        offered: first.delta,
                        tamper: Tamper::Serve {
                            path: delta_path(first.delta),
                            bytes: bomb.into(),
                        },
                        fetched: true,
                        after: After::FullImage,
                    });
                }
                phases.push(Phase {
                    label: "endless delta and full image",
                    pair: first,
                    offered: first.delta,
                    tamper: Tamper::Many(vec![
                        Tamper::Endless(Where::Path(delta_path(first.delta))),
                        Tamper::Endless(Where::Path(full_path(first.target))),
                    ]),
                    fetched: true,
                    after: After::Nothing,
                });
                phases
            }
        };
        let mut results = Vec::new();
        for (i, phase) in phases.into_iter().enumerate() {
            let state = format!("{}-{}", spec.name, i + 1);
            results.push(self.delta_phase(spec, device, &state, phase).await?);
        }
        let passed = results.iter().all(|(ok, _, _)| *ok);
        let observed = results
            .iter()
            .find(|(ok, _, _)| !ok)
            .map(|(_, observed, _)| observed.clone())
            .unwrap_or_else(|| spec.expected.as_str().to_string());
        let reason = results
            .iter()
            .map(|(_, _, reason)| reason.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Run::Done(DrillReport::ran(spec, observed, reason, passed)))
    }

    /// One phase: installs the pair's source honestly, then runs the attack. Returns whether
    /// it ended as it must, what was observed, and why.
    async fn delta_phase(
        &self,
        spec: &DrillSpec,
        device: &DeviceSpec,
        state: &str,
        phase: Phase<'_>,
    ) -> Result<(bool, String, String)> {
        let Pair { source, target, .. } = phase.pair;
        // The source, offered as signed and without a delta.
        self.proxy.set(Tamper::CheckIn(offer(source)));
        let prepared = self.device(state, device, None).await;
        self.proxy.set(Tamper::None);
        let (run, _) = prepared?;
        if !matches!(&run.outcome, Outcome::Installed { target, .. } if *target == source.name) {
            bail!(
                "the device did not install the delta's source {} before the attack: {:?}",
                source.name,
                run.outcome
            );
        }
        let offered_path = target_path(&phase.offered.name, &phase.offered.sha256);
        self.proxy.take_requested();
        self.proxy.reset_endless_served();
        self.proxy.set(Tamper::Many(vec![
            Tamper::CheckIn(offer_with_delta(target, phase.offered)),
            phase.tamper,
        ]));
        let attacked = self.device(state, device, None).await;
        self.proxy.set(Tamper::None);
        let (run, _) = attacked?;
        let fetched = self.proxy.take_requested().contains(&offered_path);
        let endless = self.proxy.endless_served();

        let installed_sha256 = match &run.outcome {
            Outcome::Installed { target: t, .. } => firmware_file(&self.work.join(state), t)
                .and_then(|path| std::fs::read(path).ok())
                .map(|bytes| hex::encode(sha2::Sha256::digest(bytes))),
            _ => None,
        };
        let seen = Seen {
            fetched,
            endless_served: endless,
            installed_sha256,
        };
        let expect = Expect {
            label: phase.label,
            offered: &phase.offered.name,
            source,
            target,
            fetched: phase.fetched,
            after: phase.after,
        };
        Ok(verdict(spec, &expect, &run, &seen))
    }
}

/// What a phase must show (see [`verdict`]).
struct Expect<'a> {
    label: &'static str,
    /// The delta offered.
    offered: &'a str,
    source: &'a Release,
    target: &'a Release,
    fetched: bool,
    after: After,
}

/// What the proxy and the device's state showed besides the run.
struct Seen {
    /// The device requested the offered delta.
    fetched: bool,
    /// Bytes of endless bodies the proxy sent.
    endless_served: u64,
    /// sha256 of the installed image, read back from the device's `firmware/`.
    installed_sha256: Option<String>,
}

/// Judges one phase: whether it ended as it must, what was observed, and why.
fn verdict(
    spec: &DrillSpec,
    expect: &Expect<'_>,
    run: &DeviceRun,
    seen: &Seen,
) -> (bool, String, String) {
    let (source, target) = (expect.source, expect.target);
    let mut problems = Vec::new();
    let delta_note = match &run.delta {
        Some(u) if u.name != expect.offered => {
            problems.push(format!("the run names delta {}", u.name));
            String::new()
        }
        Some(u) if u.applied => {
            problems.push("the delta was applied".to_string());
            "applied".to_string()
        }
        Some(u) => format!(
            "refused ({})",
            u.reason.as_deref().unwrap_or("no reason given")
        ),
        None => {
            problems.push("the run reports no delta attempt".to_string());
            String::new()
        }
    };
    if seen.fetched != expect.fetched {
        problems.push(if seen.fetched {
            "the delta was downloaded although its signed metadata already rules it out".to_string()
        } else {
            "the delta was never downloaded: refused before the check this phase tests".to_string()
        });
    }
    if seen.endless_served >= ENDLESS_MAX_BYTES {
        problems.push("the proxy hit its own cap: the client did not stop".to_string());
    }
    let observed;
    let outcome_note = match (&run.outcome, expect.after) {
        (Outcome::Installed { target: t, .. }, After::FullImage) if *t == target.name => {
            if seen.installed_sha256.as_deref() != Some(target.sha256.as_str()) {
                problems.push(format!(
                    "the installed {} is not the signed image",
                    target.name
                ));
            }
            observed = "installed";
            format!("the signed full image {} installed", target.name)
        }
        (Outcome::Refused { kind, reason }, After::Nothing) => {
            if !spec.accepts(*kind) {
                problems.push(format!(
                    "the full image was refused by another check ({kind:?})"
                ));
            }
            if run.version != source.info.version.to_string() {
                problems.push(format!("the device now runs {}", run.version));
            }
            observed = "refused";
            format!(
                "the spoiled full image refused ({reason}); still runs {}",
                run.version
            )
        }
        (other, _) => {
            problems.push(format!("the device ended with {other:?}"));
            observed = match other {
                Outcome::Installed { .. } => "installed",
                Outcome::Refused { .. } => "refused",
                _ => "other",
            };
            String::new()
        }
    };
    let ok = problems.is_empty();
    let observed = if ok {
        spec.expected.as_str().to_string()
    } else if run.delta.as_ref().is_some_and(|u| u.applied) {
        "delta applied".to_string()
    } else {
        observed.to_string()
    };
    let mut reason = format!(
        "{}: {} offered with {}; delta {delta_note}; {outcome_note}",
        expect.label, expect.offered, target.name
    );
    if !ok {
        reason.push_str(&format!(" [{}]", problems.join("; ")));
    }
    (ok, observed, reason)
}

/// `<state>/firmware/<file>` of a target name.
fn firmware_file(state_dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    let (_, file) = names::split_target_name(name).ok()?;
    Some(airlock_device::state::firmware_dir(state_dir).join(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_device::Refusal;

    #[test]
    fn the_bomb_has_the_length_asked_for_and_is_a_bomb() {
        for length in [9u64, 10, 11, 12, 13, 100, 4099] {
            assert_eq!(zstd_bomb(length).unwrap().len() as u64, length);
        }
        assert!(zstd_bomb(8).is_none());
        // a real zstd frame: the device's own decoder takes it and stops at the signed length
        let bomb = zstd_bomb(4096).unwrap();
        let limit = 1 << 20;
        let mut out = Vec::new();
        let e = airlock_device::delta::apply(&[], &bomb[..], limit, &mut out).unwrap_err();
        assert!(
            matches!(e, airlock_device::delta::DeltaError::TooLong { .. }),
            "{e}"
        );
        assert_eq!(out.len() as u64, limit);
        // unbounded, it gives (4096 - 9) / 4 = 1,021 blocks of 128 KiB and 3 raw bytes
        let whole = zstd::stream::decode_all(&bomb[..]).unwrap();
        assert_eq!(whole.len(), 1021 * 128 * 1024 + 3);
    }

    fn rel(version: &str, sha: char) -> Release {
        Release {
            name: format!("acme-plug/fw-{version}.bin"),
            length: 1000,
            sha256: sha.to_string().repeat(64),
            info: airlock_core::release::ReleaseInfo {
                product: "acme-plug".into(),
                version: version.parse().unwrap(),
                security_version: 1,
                kind: airlock_core::release::ReleaseKind::Security,
                requires: None,
                released: "2026-01-01T00:00:00Z".parse().unwrap(),
                advisories: Vec::new(),
            },
        }
    }

    const DELTA: &str = "acme-plug/fw-1.2.0.bin.from-aaaaaaaaaaaaaaaa.zst";

    fn run(outcome: Outcome, version: &str, applied: Option<bool>) -> DeviceRun {
        DeviceRun {
            id: "d".into(),
            product: "acme-plug".into(),
            outcome,
            version: version.into(),
            security_version: 1,
            requests: Default::default(),
            image_bytes: 0,
            delta: applied.map(|applied| airlock_core::api::DeltaUse {
                name: DELTA.into(),
                applied,
                reason: (!applied).then(|| "hash mismatch".into()),
            }),
        }
    }

    fn installed(target: &Release) -> Outcome {
        Outcome::Installed {
            from: "1.1.0".into(),
            to: target.info.version.to_string(),
            target: target.name.clone(),
            urgent: false,
            withheld: false,
        }
    }

    /// The judge fails a phase for every way the attack could have worked or the wrong check
    /// could have fired, and passes only the refusal with the signed fallback.
    #[test]
    fn a_phase_passes_only_with_the_delta_refused_and_the_signed_image() {
        let spec = crate::attack::drill_spec("delta-altered").unwrap();
        let (source, target) = (rel("1.1.0", 'a'), rel("1.2.0", 'b'));
        let expect = |after, fetched| Expect {
            label: "phase",
            offered: DELTA,
            source: &source,
            target: &target,
            fetched,
            after,
        };
        let seen = |fetched, sha: Option<&str>| Seen {
            fetched,
            endless_served: 0,
            installed_sha256: sha.map(String::from),
        };
        let signed = target.sha256.clone();
        let good = seen(true, Some(&signed));
        let full = expect(After::FullImage, true);
        let ok = |r: (bool, String, String)| r.0;

        let fallback = run(installed(&target), "1.2.0", Some(false));
        let (passed, observed, reason) = verdict(spec, &full, &fallback, &good);
        assert!(passed, "{reason}");
        assert_eq!(observed, "delta refused");
        // the delta applied: the attack got through the delta path
        let (passed, observed, _) = verdict(
            spec,
            &full,
            &run(installed(&target), "1.2.0", Some(true)),
            &good,
        );
        assert!(!passed);
        assert_eq!(observed, "delta applied");
        // no delta attempt reported, or another image installed than the signed one
        assert!(!ok(verdict(
            spec,
            &full,
            &run(installed(&target), "1.2.0", None),
            &good
        )));
        assert!(!ok(verdict(
            spec,
            &full,
            &fallback,
            &seen(true, Some(&"c".repeat(64)))
        )));
        assert!(!ok(verdict(
            spec,
            &full,
            &run(installed(&source), "1.1.0", Some(false)),
            &good
        )));
        // refused at another stage than the one the phase tests
        assert!(!ok(verdict(
            spec,
            &full,
            &fallback,
            &seen(false, Some(&signed))
        )));
        assert!(!ok(verdict(
            spec,
            &expect(After::FullImage, false),
            &fallback,
            &good
        )));
        // the proxy, not the device, ended an endless body
        let capped = Seen {
            endless_served: ENDLESS_MAX_BYTES,
            ..seen(true, Some(&signed))
        };
        assert!(!ok(verdict(spec, &full, &fallback, &capped)));

        // the full image spoiled too: refused by its own check, still on the source
        let nothing = expect(After::Nothing, true);
        let refused = |kind| Outcome::Refused {
            kind,
            reason: "r".into(),
        };
        let spoiled = run(refused(Refusal::HashMismatch), "1.1.0", Some(false));
        assert!(ok(verdict(spec, &nothing, &spoiled, &seen(true, None))));
        let other_check = run(refused(Refusal::Unreachable), "1.1.0", Some(false));
        assert!(!ok(verdict(
            spec,
            &nothing,
            &other_check,
            &seen(true, None)
        )));
        let moved = run(refused(Refusal::HashMismatch), "1.2.0", Some(false));
        assert!(!ok(verdict(spec, &nothing, &moved, &seen(true, None))));
        assert!(!ok(verdict(spec, &nothing, &fallback, &good)));
    }

    #[test]
    fn an_offer_carries_the_signed_delta() {
        let release = Release {
            name: "acme-plug/fw-1.1.0.bin".into(),
            length: 1000,
            sha256: "b".repeat(64),
            info: airlock_core::release::ReleaseInfo {
                product: "acme-plug".into(),
                version: "1.1.0".parse().unwrap(),
                security_version: 2,
                kind: airlock_core::release::ReleaseKind::Security,
                requires: None,
                released: "2026-01-01T00:00:00Z".parse().unwrap(),
                advisories: Vec::new(),
            },
        };
        let delta = Delta {
            name: "acme-plug/fw-1.1.0.bin.from-aaaaaaaaaaaaaaaa.zst".into(),
            length: 50,
            sha256: "d".repeat(64),
            info: airlock_core::delta::DeltaInfo {
                algorithm: airlock_core::delta::ZSTD_PATCH_FROM.into(),
                source_sha256: "a".repeat(64),
                source_length: 900,
                target: release.name.clone(),
                target_sha256: release.sha256.clone(),
                target_length: release.length,
            },
        };
        let CheckInResponse::Update { target, .. } = offer_with_delta(&release, &delta) else {
            panic!("not an update");
        };
        let offered = target.delta.unwrap();
        assert_eq!(offered.name, delta.name);
        assert_eq!(offered.url, target_path(&delta.name, &delta.sha256));
        assert_eq!(target.hashes.get("sha256"), Some(&release.sha256));
    }
}
