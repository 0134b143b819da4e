//! A scenario's shares as exact counts of the fleet it runs with, and the smallest fleet its
//! expectations can hold for (issue 14: `--devices 50` must not turn "8% fail to boot" into one
//! device in fifty, nor run a fleet too small for the health rule it expects to trip).
//!
//! Shares of the mix, of boot failures, of offline, corrupted and lying devices are counts
//! (`share × devices`, rounded; the mix by largest remainder so it adds up); which devices they
//! are is still drawn from the seed.

use anyhow::{bail, Context, Result};

use airlock_core::rollout::parse_health_rule;

use super::spec::{draw, Scenario};

/// How many of `n` devices each share gets: proportional, rounded so that the counts add up to
/// `n` (largest remainder; ties to the earlier entry).
pub fn apportion(shares: &[f64], n: usize) -> Vec<usize> {
    let total: f64 = shares.iter().sum();
    if shares.is_empty() || total <= 0.0 {
        return vec![0; shares.len()];
    }
    let exact: Vec<f64> = shares.iter().map(|s| s / total * n as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut left = n.saturating_sub(counts.iter().sum());
    let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
    by_remainder.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in by_remainder.into_iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

/// `round(share × candidates)`: how many of the candidates a share picks.
pub fn share_of(share: f64, candidates: usize) -> usize {
    ((share * candidates as f64).round() as usize).min(candidates)
}

/// The candidates in the order of their draws (`label` names each draw).
pub fn by_draw(seed: u64, candidates: &[usize], label: impl Fn(usize) -> String) -> Vec<usize> {
    let mut keyed: Vec<(f64, usize)> = candidates
        .iter()
        .map(|&i| (draw(seed, &label(i)), i))
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Exactly [`share_of`] the candidates, those with the lowest draws: `picked[i]` for each of
/// the `n` devices.
pub fn pick(
    seed: u64,
    n: usize,
    candidates: &[usize],
    share: f64,
    label: impl Fn(usize) -> String,
) -> Vec<bool> {
    let mut picked = vec![false; n];
    let take = share_of(share, candidates.len());
    for i in by_draw(seed, candidates, label).into_iter().take(take) {
        if let Some(p) = picked.get_mut(i) {
            *p = true;
        }
    }
    picked
}

/// Devices of `product` in a fleet of `n` (the mix apportioned).
fn product_devices(scn: &Scenario, product: &str, n: usize) -> usize {
    let shares: Vec<f64> = scn.fleet.mix.iter().map(|m| m.share).collect();
    apportion(&shares, n)
        .iter()
        .zip(&scn.fleet.mix)
        .filter(|(_, m)| m.product == product)
        .map(|(c, _)| c)
        .sum()
}

/// Fleets are checked up to this size for the smallest one from which an expectation holds.
const LARGEST_CHECKED: usize = 20_000;

/// The smallest fleet for which every `[expect] paused` can hold: the product's devices must
/// be at least the health rule's `after N reports`, and its failing devices (the release's
/// `failure_rate`, counted) must reach the rule's share, at that size and every larger one.
/// 1 for a scenario that expects no pause. With the reason, for the error message.
pub fn minimum_devices(scn: &Scenario) -> Result<(usize, Option<String>)> {
    let mut minimum = (1, None);
    for key in &scn.expect.paused {
        let (product, version) = key
            .split_once('@')
            .with_context(|| format!("[expect] paused {key:?}: expected product@version"))?;
        let release = scn
            .releases
            .iter()
            .find(|r| r.product == product && r.version.to_string() == version)
            .with_context(|| format!("[expect] paused {key:?}: no such release"))?;
        let Some(rule_text) = release.rollout.as_ref().and_then(|r| r.pause_if.as_deref()) else {
            bail!("[expect] paused {key:?}: its rollout has no pause_if, so nothing pauses it");
        };
        let rule = parse_health_rule(rule_text)
            .with_context(|| format!("release {key}: pause_if {rule_text:?}"))?;
        let holds = |n: usize| {
            let devices = product_devices(scn, product, n);
            let failing = share_of(release.failure_rate, devices);
            rule.trips((devices - failing) as u64, failing as u64)
        };
        let Some(last_short) = (1..=LARGEST_CHECKED).rev().find(|&n| !holds(n)) else {
            continue;
        };
        if last_short == LARGEST_CHECKED {
            bail!(
                "[expect] paused {key:?} cannot hold: {:.1}% of {product} failing never trips \
                 \"{rule_text}\" reliably",
                release.failure_rate * 100.0
            );
        }
        if last_short + 1 > minimum.0 {
            minimum = (
                last_short + 1,
                Some(format!(
                    "its [expect] wants the rollout of {key} paused by the health rule \
                     \"{rule_text}\", which cannot trip with fewer {product} devices ({:.1}% of \
                     them failing to boot)",
                    release.failure_rate * 100.0
                )),
            );
        }
    }
    Ok(minimum)
}

/// Refuses a fleet smaller than [`minimum_devices`], naming the minimum.
pub fn check_fleet_size(scn: &Scenario) -> Result<()> {
    let (minimum, why) = minimum_devices(scn)?;
    if scn.fleet.devices < minimum {
        bail!(
            "scenario {} needs at least {minimum} devices (--devices {minimum} or more), not {}: {}",
            scn.name,
            scn.fleet.devices,
            why.unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportioned_counts_add_up_and_follow_the_shares() {
        assert_eq!(apportion(&[0.3, 0.7], 10), vec![3, 7]);
        assert_eq!(apportion(&[0.3, 0.7], 1), vec![0, 1]);
        assert_eq!(apportion(&[1.0, 1.0, 1.0], 4), vec![2, 1, 1]);
        assert_eq!(apportion(&[1.0], 0), vec![0]);
        for n in 0..200 {
            assert_eq!(
                apportion(&[0.25, 0.5, 0.125, 0.125], n)
                    .iter()
                    .sum::<usize>(),
                n
            );
        }
    }

    #[test]
    fn a_share_picks_exactly_its_count() {
        let all: Vec<usize> = (0..50).collect();
        let picked = pick(11, 50, &all, 0.08, |i| format!("boot/{i}"));
        assert_eq!(picked.iter().filter(|p| **p).count(), 4);
        assert_eq!(picked, pick(11, 50, &all, 0.08, |i| format!("boot/{i}")));
        let odd: Vec<usize> = (0..50).filter(|i| i % 2 == 1).collect();
        let picked = pick(11, 50, &odd, 0.5, |i| format!("x/{i}"));
        assert_eq!(picked.iter().filter(|p| **p).count(), 13);
        assert!(picked.iter().enumerate().all(|(i, p)| !p || i % 2 == 1));
    }

    #[test]
    fn bad_release_needs_as_many_devices_as_its_health_rule_counts_reports() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/scenarios/bad-release.toml"
        );
        let mut scn = Scenario::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(minimum_devices(&scn).unwrap().0, 20);
        scn.fleet.devices = 19;
        let err = check_fleet_size(&scn).unwrap_err().to_string();
        assert!(
            err.contains("at least 20 devices (--devices 20 or more), not 19"),
            "{err}"
        );
        assert!(err.contains("failures>=5% after 20 reports"), "{err}");
        scn.fleet.devices = 50;
        assert!(check_fleet_size(&scn).is_ok());
        // a failure rate below the rule's share can never pause it
        scn.releases[1].failure_rate = 0.04;
        assert!(minimum_devices(&scn).is_err());
        // no pause expected: any fleet
        scn.expect.paused.clear();
        assert_eq!(minimum_devices(&scn).unwrap().0, 1);
    }
}
