//! The checks a run ends with: nothing installed that is not exactly a signed target (always),
//! and the scenario's `[expect]`.

use std::collections::BTreeMap;

use super::setup::SimDevice;
use super::spec::Scenario;
use super::{Check, RolloutOutcome};

/// Devices whose installed image (in their `device.json`) is not exactly a signed target.
pub fn unverified_installs(devices: &[SimDevice], signed: &BTreeMap<String, String>) -> usize {
    devices
        .iter()
        .filter(|d| {
            let Ok(text) = std::fs::read_to_string(d.cfg.agent.state_dir.join("device.json"))
            else {
                return false;
            };
            let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            match (state["target"].as_str(), state["sha256"].as_str()) {
                (Some(target), Some(sha)) => signed.get(target).map(String::as_str) != Some(sha),
                _ => false,
            }
        })
        .count()
}

pub fn checks(
    scn: &Scenario,
    devices: &[SimDevice],
    rollouts: &[RolloutOutcome],
    unverified: usize,
    eos_devices: usize,
) -> Vec<Check> {
    let mut checks = vec![Check {
        what: "no device installed an unverified image".into(),
        ok: unverified == 0,
    }];
    for key in &scn.expect.paused {
        let ok = rollouts
            .iter()
            .any(|r| format!("{}@{}", r.product, r.version) == *key && r.state == "paused");
        checks.push(Check {
            what: format!("the rollout of {key} paused by itself"),
            ok,
        });
    }
    for key in &scn.expect.active {
        let ok = rollouts
            .iter()
            .any(|r| format!("{}@{}", r.product, r.version) == *key && r.state == "active");
        checks.push(Check {
            what: format!("the rollout of {key} is still active"),
            ok,
        });
    }
    for c in &scn.expect.converged {
        let online: Vec<&SimDevice> = devices
            .iter()
            .filter(|d| d.cfg.agent.product == c.product)
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
        let share = eos_devices as f64 / devices.len().max(1) as f64;
        checks.push(Check {
            what: format!(
                "{} devices ({:.1}%) showed the signed end-of-support notice (at least {:.0}%)",
                eos_devices,
                share * 100.0,
                scn.expect.end_of_support_share * 100.0
            ),
            ok: share >= scn.expect.end_of_support_share,
        });
    }
    checks
}
