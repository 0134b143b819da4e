//! Fleet figures of one product, the evidence `airlock compliance report --server` asks for
//! (issue 7): devices by version, the share of devices on a supported security version (at or
//! above the signed floor), per release the median time from its signed release time to each
//! device's first install, and where its rollout stands.
//!
//! [`fleet`] reads the state store; [`summarise`] and [`history`] do the arithmetic and are
//! tested alone.

use std::collections::{BTreeMap, HashMap};

use airlock_core::api::{
    FleetHistoryPoint, FleetRelease, FleetReport, FleetVersion, RolloutOutcome,
};
use airlock_core::release::Release;

use crate::app::AppState;
use crate::storage::{FleetQueries, HistoryInstants, StateError};

/// Why a fleet report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("unknown product {0:?}")]
    UnknownProduct(String),
    #[error(transparent)]
    State(#[from] StateError),
}
use crate::storage::VersionCount;

/// The median of `values` (sorted in place): the middle value, or for an even count the mean
/// of the two middle values rounded down; `None` for no values.
pub fn median(values: &mut [u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        // no overflow: the mean of two u64 computed without adding them
        let (a, b) = (values[mid - 1], values[mid]);
        a / 2 + b / 2 + (a % 2 + b % 2) / 2
    })
}

/// Devices at or above the security floor, and their share of all devices in percent (`None`
/// when there are no devices: no share is invented for an empty fleet).
pub fn supported_share(versions: &[VersionCount], floor: u64) -> (u64, Option<f64>) {
    let total: u64 = versions.iter().map(|v| v.devices).sum();
    let supported: u64 = versions
        .iter()
        .filter(|v| v.security_version >= floor)
        .map(|v| v.devices)
        .sum();
    let share = (total > 0).then(|| supported as f64 * 100.0 / total as f64);
    (supported, share)
}

/// Whether a version string reported by a device names `release` (semver equality, so `1.2.0`
/// and `1.2.0+build` differ but surrounding spaces or a different spelling of the same
/// version do not matter; a string that is not semver matches only literally).
fn names_release(reported: &str, release: &Release) -> bool {
    match semver::Version::parse(reported.trim()) {
        Ok(v) => v == release.info.version,
        Err(_) => reported == release.info.version.to_string(),
    }
}

/// Seconds from the release's signed time to each device's first `installed` report of it;
/// a report earlier than the signed time (a release signed with a future date) counts as 0.
pub fn seconds_to_install(
    release: &Release,
    first_installs: &[(String, jiff::Timestamp)],
) -> Vec<u64> {
    first_installs
        .iter()
        .filter(|(version, _)| names_release(version, release))
        .map(|(_, at)| {
            let seconds = at.as_second() - release.info.released.as_second();
            seconds.max(0) as u64
        })
        .collect()
}

/// The median time to install `release` ([`median`] of [`seconds_to_install`]) from the kept
/// first installs, reading only the one or two in the middle: `counts` are the product's
/// first installs by version string ([`FleetQueries::first_install_counts`]). Whole seconds
/// and the clamp at 0 keep the order of instants, so the middle instants give the median.
pub async fn median_seconds_to_install(
    state: &dyn FleetQueries,
    product: &str,
    release: &Release,
    counts: &[(String, u64)],
) -> Result<Option<u64>, StateError> {
    let matching: Vec<&(String, u64)> = counts
        .iter()
        .filter(|(version, _)| names_release(version, release))
        .collect();
    let installs: u64 = matching.iter().map(|(_, n)| n).sum();
    if installs == 0 {
        return Ok(None);
    }
    let versions: Vec<String> = matching.iter().map(|(v, _)| v.clone()).collect();
    let (offset, count) = if installs % 2 == 1 {
        (installs / 2, 1)
    } else {
        (installs / 2 - 1, 2)
    };
    let middle = state
        .first_installs_in_order(product, &versions, offset, count)
        .await?;
    let mut seconds: Vec<u64> = middle
        .into_iter()
        .map(|ms| {
            let at = jiff::Timestamp::from_millisecond(ms)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                .as_second();
            (at - release.info.released.as_second()).max(0) as u64
        })
        .collect();
    Ok(median(&mut seconds))
}

/// How many instants the fleet history has: enough for a readable chart of a rollout, few
/// enough for a table in a report.
pub const HISTORY_POINTS: usize = 24;

/// Devices by version at `points` evenly spaced instants from the first installed report to
/// `now`, from every `installed` report (device, version, when) in time order: at each
/// instant a device counts once, on the version of its latest report at or before it. No
/// reports, no history; when every report is as new as `now` (or newer: clock skew), one point.
/// The server reads the same figures from what migration 11 keeps ([`kept_history`]); this
/// replay is what they are tested against.
pub fn history(
    installed: &[(String, String, jiff::Timestamp)],
    now: jiff::Timestamp,
    points: usize,
) -> Vec<FleetHistoryPoint> {
    let Some((_, _, first)) = installed.first() else {
        return Vec::new();
    };
    let instants = HistoryInstants::new(first.as_millisecond(), now.as_millisecond(), points);
    let mut current: HashMap<&str, &str> = HashMap::new();
    let mut next = 0;
    let mut out = Vec::with_capacity(instants.steps as usize + 1);
    for step in 0..=instants.steps {
        let instant = instants.at(step);
        while let Some((device, version, at)) = installed.get(next) {
            if at.as_millisecond() > instant {
                break;
            }
            current.insert(device, version);
            next += 1;
        }
        let mut versions = BTreeMap::new();
        for version in current.values() {
            *versions.entry((*version).to_string()).or_insert(0) += 1;
        }
        out.push(FleetHistoryPoint {
            at: jiff::Timestamp::from_millisecond(instant).unwrap_or(*first),
            versions,
        });
    }
    out
}

/// The fleet history at `instants` from the kept changes (version, step, change in devices;
/// see [`FleetQueries::history_changes`]): at each instant, the running sum of every change
/// at or before it, versions with no device left out.
pub fn history_from_changes(
    instants: &HistoryInstants,
    changes: &[(String, i64, i64)],
) -> Vec<FleetHistoryPoint> {
    let mut by_step: BTreeMap<i64, Vec<(&str, i64)>> = BTreeMap::new();
    for (version, step, devices) in changes {
        by_step
            .entry(*step)
            .or_default()
            .push((version.as_str(), *devices));
    }
    let first =
        jiff::Timestamp::from_millisecond(instants.start).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let mut running: BTreeMap<&str, i64> = BTreeMap::new();
    let mut out = Vec::with_capacity(instants.steps as usize + 1);
    for step in 0..=instants.steps {
        for (version, devices) in by_step.get(&step).into_iter().flatten() {
            *running.entry(version).or_insert(0) += devices;
        }
        out.push(FleetHistoryPoint {
            at: jiff::Timestamp::from_millisecond(instants.at(step)).unwrap_or(first),
            versions: running
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(v, n)| ((*v).to_string(), *n as u64))
                .collect(),
        });
    }
    out
}

/// `product`'s fleet history at `points` instants up to `now`, from the changes migration
/// 11's trigger keeps by time: two indexed queries whose result is a few rows per version,
/// instead of a replay of every installed report.
pub async fn kept_history(
    state: &dyn FleetQueries,
    product: &str,
    now: jiff::Timestamp,
    points: usize,
) -> Result<Vec<FleetHistoryPoint>, StateError> {
    let Some(start) = state.history_start(product).await? else {
        return Ok(Vec::new());
    };
    let instants = HistoryInstants::new(start, now.as_millisecond(), points);
    let changes = state.history_changes(product, &instants).await?;
    Ok(history_from_changes(&instants, &changes))
}

/// What the state store knows of one release.
#[derive(Debug, Clone)]
pub struct ReleaseFacts {
    pub release: Release,
    /// Distinct devices that ever reported it installed / failed.
    pub devices_installed: u64,
    pub devices_failed: u64,
    /// How the devices that reported it got it (docs/deltas.md).
    pub deltas: crate::storage::DeltaOutcomes,
    pub rollout: Option<RolloutOutcome>,
    /// From its signed release time to each device's first install.
    pub median_seconds_to_install: Option<u64>,
}

/// Order of versions in the table: newest semver first, then strings that are not semver.
fn version_order(a: &VersionCount, b: &VersionCount) -> std::cmp::Ordering {
    let parsed = |v: &VersionCount| semver::Version::parse(&v.version).ok();
    match (parsed(a), parsed(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.version.cmp(&b.version),
    }
    .then(b.security_version.cmp(&a.security_version))
}

/// The fleet report from what the store holds.
pub fn summarise(
    product: &str,
    now: jiff::Timestamp,
    floor: u64,
    mut versions: Vec<VersionCount>,
    mut releases: Vec<ReleaseFacts>,
    history: Vec<FleetHistoryPoint>,
) -> FleetReport {
    versions.sort_by(version_order);
    let (devices_supported, supported_percent) = supported_share(&versions, floor);
    releases.sort_by(|a, b| {
        (a.release.info.released, &a.release.info.version)
            .cmp(&(b.release.info.released, &b.release.info.version))
    });
    FleetReport {
        product: product.to_string(),
        generated_at: now,
        devices: versions.iter().map(|v| v.devices).sum(),
        min_security_version: floor,
        devices_supported,
        supported_percent,
        versions: versions
            .into_iter()
            .map(|v| FleetVersion {
                supported: v.security_version >= floor,
                version: v.version,
                security_version: v.security_version,
                devices: v.devices,
            })
            .collect(),
        releases: releases
            .into_iter()
            .map(|f| FleetRelease {
                median_seconds_to_install: f.median_seconds_to_install,
                version: f.release.info.version.to_string(),
                kind: f.release.info.kind,
                security_version: f.release.info.security_version,
                released: f.release.info.released,
                devices_installed: f.devices_installed,
                devices_failed: f.devices_failed,
                devices_by_delta: f.deltas.applied,
                delta_fallbacks: f.deltas.fell_back,
                rollout: f.rollout,
            })
            .collect(),
        history,
    }
}

/// The fleet report of `product` now.
pub async fn fleet(app: &AppState, product: &str) -> Result<FleetReport, FleetError> {
    let view = app.view();
    let p = view
        .products
        .get(product)
        .ok_or_else(|| FleetError::UnknownProduct(product.to_string()))?;
    // check-ins are written in batches: count the ones still queued too
    app.check_ins.flush().await;
    let versions = app.state.fleet_versions(product).await?;
    let first_installs = app.state.first_install_counts(product).await?;
    let rollouts = app.rollouts();
    let mut releases = Vec::with_capacity(p.releases.len());
    for release in &p.releases {
        let version = release.info.version.to_string();
        let (devices_installed, devices_failed) = app
            .state
            .outcome_counts(product, &version, jiff::Timestamp::UNIX_EPOCH)
            .await?;
        let rollout = match crate::rollouts::latest_for_target(&rollouts, &release.name) {
            Some(r) => {
                let (installed, failed) = app
                    .state
                    .outcome_counts(product, &version, r.started_at)
                    .await?;
                let deltas = app
                    .state
                    .delta_outcomes(product, &version, r.started_at)
                    .await?;
                Some(RolloutOutcome {
                    id: r.id.clone(),
                    state: r.state.as_str().to_string(),
                    reason: r.reason.clone(),
                    started_at: r.started_at,
                    installed,
                    failed,
                    installed_by_delta: deltas.applied,
                    delta_fallbacks: deltas.fell_back,
                })
            }
            None => None,
        };
        let median_seconds_to_install =
            median_seconds_to_install(&*app.state, product, release, &first_installs).await?;
        let deltas = app
            .state
            .delta_outcomes(product, &version, jiff::Timestamp::UNIX_EPOCH)
            .await?;
        releases.push(ReleaseFacts {
            release: release.clone(),
            devices_installed,
            devices_failed,
            deltas,
            rollout,
            median_seconds_to_install,
        });
    }
    let now = app.clock.now();
    // the exact time, not whole seconds: a report from this second counts at the last point
    let history = kept_history(&*app.state, product, now, HISTORY_POINTS).await?;
    Ok(summarise(
        product,
        airlock_core::whole_seconds(now),
        p.support.min_security_version,
        versions,
        releases,
        history,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use airlock_core::release::{ReleaseInfo, ReleaseKind};

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(second).unwrap()
    }

    fn release(version: &str, security_version: u64, released: i64) -> Release {
        Release {
            name: format!("acme-cam/fw-{version}.bin"),
            length: 1,
            sha256: "00".repeat(32),
            info: ReleaseInfo {
                product: "acme-cam".into(),
                version: version.parse().unwrap(),
                security_version,
                kind: ReleaseKind::Security,
                requires: None,
                released: at(released),
                advisories: Vec::new(),
            },
        }
    }

    fn count(version: &str, security_version: u64, devices: u64) -> VersionCount {
        VersionCount {
            version: version.into(),
            security_version,
            devices,
        }
    }

    #[test]
    fn median_of_odd_even_and_no_values() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7]), Some(7));
        assert_eq!(median(&mut [30, 10, 20]), Some(20));
        assert_eq!(median(&mut [40, 10, 30, 20]), Some(25));
        assert_eq!(median(&mut [1, 2]), Some(1), "rounded down");
        assert_eq!(
            median(&mut [u64::MAX, u64::MAX]),
            Some(u64::MAX),
            "no overflow"
        );
    }

    #[test]
    fn supported_share_counts_devices_at_or_above_the_floor() {
        let versions = [
            count("1.0.0", 1, 3),
            count("1.1.0", 2, 5),
            count("1.2.0", 3, 2),
        ];
        assert_eq!(supported_share(&versions, 2), (7, Some(70.0)));
        assert_eq!(supported_share(&versions, 0), (10, Some(100.0)));
        assert_eq!(supported_share(&versions, 4), (0, Some(0.0)));
        assert_eq!(supported_share(&[], 2), (0, None), "no devices, no share");
    }

    #[test]
    fn time_to_install_is_from_the_signed_release_time_to_each_first_install() {
        let r = release("1.2.0", 3, 1_000);
        let first = [
            ("1.2.0".to_string(), at(1_100)),
            ("1.2.0".to_string(), at(1_300)),
            ("1.2.0".to_string(), at(900)), // before the signed time: 0, never negative
            ("1.1.0".to_string(), at(5_000)), // another release
            ("garbage".to_string(), at(5_000)),
        ];
        let mut seconds = seconds_to_install(&r, &first);
        seconds.sort_unstable();
        assert_eq!(seconds, vec![0, 100, 300]);
        assert_eq!(median(&mut seconds), Some(100));
    }

    fn installed(device: &str, version: &str, second: i64) -> (String, String, jiff::Timestamp) {
        (device.into(), version.into(), at(second))
    }

    fn counts(point: &FleetHistoryPoint) -> Vec<(&str, u64)> {
        point
            .versions
            .iter()
            .map(|(v, n)| (v.as_str(), *n))
            .collect()
    }

    #[test]
    fn history_counts_each_device_on_its_latest_install_at_each_instant() {
        let reports = [
            installed("cam-1", "1.0.0", 1_000),
            installed("cam-2", "1.0.0", 1_000),
            installed("cam-3", "1.0.0", 1_200),
            installed("cam-1", "1.1.0", 1_500), // exactly on an instant: counts there
            installed("cam-2", "1.1.0", 1_700),
            installed("cam-1", "1.2.0", 2_000), // cam-1 moves on again, counted once
        ];
        let points = history(&reports, at(2_000), 3);
        let instants: Vec<i64> = points.iter().map(|p| p.at.as_second()).collect();
        assert_eq!(
            instants,
            [1_000, 1_500, 2_000],
            "evenly spaced, first report to now"
        );
        assert_eq!(counts(&points[0]), [("1.0.0", 2)]);
        assert_eq!(counts(&points[1]), [("1.0.0", 2), ("1.1.0", 1)]);
        assert_eq!(
            counts(&points[2]),
            [("1.0.0", 1), ("1.1.0", 1), ("1.2.0", 1)]
        );
    }

    #[test]
    fn history_of_no_reports_is_empty_and_of_one_instant_is_one_point() {
        assert!(history(&[], at(5_000), HISTORY_POINTS).is_empty());
        let reports = [installed("cam-1", "1.0.0", 5_000)];
        let now = history(&reports, at(5_000), HISTORY_POINTS);
        assert_eq!(now.len(), 1);
        assert_eq!(counts(&now[0]), [("1.0.0", 1)]);
        // a server clock behind the reports: still one point, nothing dropped
        let skewed = history(&reports, at(4_000), HISTORY_POINTS);
        assert_eq!(skewed.len(), 1);
        assert_eq!(counts(&skewed[0]), [("1.0.0", 1)]);
    }

    #[test]
    fn history_has_the_asked_number_of_points_ending_now() {
        let reports = [
            installed("cam-1", "1.0.0", 0),
            installed("cam-2", "1.1.0", 1_000),
        ];
        let points = history(&reports, at(2_300), HISTORY_POINTS);
        assert_eq!(points.len(), HISTORY_POINTS);
        assert_eq!(points[0].at, at(0));
        assert_eq!(points[HISTORY_POINTS - 1].at, at(2_300));
        assert!(points.windows(2).all(|w| w[0].at < w[1].at));
        assert_eq!(
            counts(&points[HISTORY_POINTS - 1]),
            [("1.0.0", 1), ("1.1.0", 1)]
        );
        let last_without_cam_2 = points.iter().rposition(|p| p.versions.len() == 1).unwrap();
        assert!(points[last_without_cam_2].at < at(1_000));
        assert!(points[last_without_cam_2 + 1].at >= at(1_000));
    }

    #[test]
    fn summary_orders_versions_and_releases_and_counts_the_fleet() {
        let rollout = RolloutOutcome {
            id: "r1".into(),
            state: "paused".into(),
            reason: Some("failures>=5% after 20 reports".into()),
            started_at: at(2_000),
            installed: 19,
            failed: 1,
            installed_by_delta: 12,
            delta_fallbacks: 2,
        };
        let report = summarise(
            "acme-cam",
            at(9_000),
            3,
            vec![
                count("1.2.0", 3, 4),
                count("not-semver", 0, 1),
                count("1.10.0", 5, 2),
                count("1.0.0", 1, 3),
            ],
            vec![
                ReleaseFacts {
                    release: release("1.10.0", 5, 2_000),
                    devices_installed: 2,
                    devices_failed: 1,
                    deltas: crate::storage::DeltaOutcomes {
                        applied: 1,
                        fell_back: 1,
                    },
                    rollout: Some(rollout),
                    median_seconds_to_install: Some(400),
                },
                ReleaseFacts {
                    release: release("1.2.0", 3, 1_000),
                    devices_installed: 1,
                    devices_failed: 0,
                    deltas: crate::storage::DeltaOutcomes::default(),
                    rollout: None,
                    median_seconds_to_install: Some(60),
                },
            ],
            Vec::new(),
        );
        assert_eq!(report.devices, 10);
        assert_eq!(report.devices_supported, 6);
        assert_eq!(report.supported_percent, Some(60.0));
        let order: Vec<&str> = report.versions.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(order, ["1.10.0", "1.2.0", "1.0.0", "not-semver"]);
        assert!(report.versions[0].supported && !report.versions[2].supported);
        let releases: Vec<&str> = report.releases.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(releases, ["1.2.0", "1.10.0"], "oldest first");
        assert_eq!(report.releases[0].median_seconds_to_install, Some(60));
        assert_eq!(report.releases[1].median_seconds_to_install, Some(400));
        assert_eq!(report.releases[1].rollout.as_ref().unwrap().state, "paused");
        assert!(report.releases[0].rollout.is_none());
    }
}
