//! The rollout service: start, pause, resume, abort, status; the check-in gate; and the
//! health rule that pauses a rollout by itself when devices report failures.

use airlock_core::api::{RolloutRequest, RolloutStatus};
use airlock_core::release::{Release, ReleaseKind};
use airlock_core::rollout::{
    format_percent, parse_health_rule, parse_waves, Rollout, RolloutState, BUCKETS,
};

use crate::app::AppState;
use crate::storage::{FleetQueries, RolloutFigures, RolloutKey, StateError};
use thiserror::Error;

/// Why a rollout request was refused.
#[derive(Debug, Error)]
pub enum RolloutError {
    #[error("version {version:?}: {reason}")]
    BadVersion { version: String, reason: String },
    #[error("unknown product {0:?}")]
    UnknownProduct(String),
    #[error("{product} {version} is not published")]
    UnknownRelease { product: String, version: String },
    /// Malformed waves or health rule.
    #[error("{0}")]
    BadRule(String),
    #[error("rollout id {0:?}: use 1-64 of a-z, 0-9 and -")]
    BadId(String),
    #[error("a rollout with id {0} exists already: rollout ids are never reused")]
    IdTaken(String),
    #[error("a rollout of {product} {version} is already {state} (id {id}); abort it before starting a new one")]
    InProgress {
        product: String,
        version: String,
        state: &'static str,
        id: String,
    },
    #[error("{product} {version} has no rollout")]
    NoRollout { product: String, version: String },
    #[error("cannot {action} a rollout that is {state}")]
    NotApplicable { action: String, state: &'static str },
    #[error("unknown rollout action {0:?} (pause, resume, abort)")]
    UnknownAction(String),
    #[error(transparent)]
    State(#[from] StateError),
}

/// The newest rollout of a target, if any.
pub fn latest_for_target<'a>(rollouts: &'a [Rollout], target: &str) -> Option<&'a Rollout> {
    latest_where(rollouts, |r| r.target == target)
}

/// The newest of the rollouts `wanted` selects.
fn latest_where(rollouts: &[Rollout], wanted: impl Fn(&Rollout) -> bool) -> Option<&Rollout> {
    rollouts
        .iter()
        .filter(|r| wanted(r))
        // a held rollout is made at publish, before any rollout of the release is started:
        // at the same instant (a simulated clock) the started one is the newer
        .max_by_key(|r| (r.started_at, r.state != RolloutState::Held, r.id.clone()))
}

/// The rollouts that decide something now: the newest of each target, unless it has ended. A
/// held rollout a started one replaced ([`replaced_by`]), and ended rollouts, are history (the
/// list shows them as such; `/metrics` leaves them out).
pub fn current(rollouts: &[Rollout]) -> Vec<&Rollout> {
    rollouts
        .iter()
        .filter(|r| !r.state.is_ended() && replaced_by(rollouts, r).is_none())
        .collect()
}

/// The state `rollout list` shows for a rollout [`replaced_by`] a newer one of its release: it
/// decides nothing any more, though its stored state (`held`) never changed.
pub const REPLACED: &str = "replaced";

/// The newer rollout of the same release that took over from `r` (a held rollout once a
/// rollout of its release is started), when `r` has not ended by itself.
pub fn replaced_by<'a>(rollouts: &'a [Rollout], r: &Rollout) -> Option<&'a Rollout> {
    if r.state.is_ended() {
        return None;
    }
    latest_for_target(rollouts, &r.target).filter(|latest| latest.id != r.id)
}

/// Whether `release` is offered to `device_id` at `now`: by its newest rollout, or to the
/// whole fleet when it never had one.
pub fn released_to(
    rollouts: &[Rollout],
    release: &Release,
    device_id: &str,
    now: jiff::Timestamp,
) -> bool {
    match latest_for_target(rollouts, &release.name) {
        Some(r) => r.released_to(device_id, now),
        None => true,
    }
}

fn random_id() -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn parse_version(version: &str) -> Result<semver::Version, RolloutError> {
    version
        .parse()
        .map_err(|e: semver::Error| RolloutError::BadVersion {
            version: version.to_string(),
            reason: e.to_string(),
        })
}

fn find_release(app: &AppState, product: &str, version: &str) -> Result<Release, RolloutError> {
    let version = parse_version(version)?;
    let view = app.view();
    let p = view
        .products
        .get(product)
        .ok_or_else(|| RolloutError::UnknownProduct(product.to_string()))?;
    p.releases
        .iter()
        .find(|r| r.info.version == version)
        .cloned()
        .ok_or_else(|| RolloutError::UnknownRelease {
            product: product.to_string(),
            version: version.to_string(),
        })
}

/// The status of each of `rollouts` at `now`: their figures in one query.
pub async fn statuses<S: FleetQueries + ?Sized>(
    store: &S,
    rollouts: &[&Rollout],
    now: jiff::Timestamp,
) -> Result<Vec<RolloutStatus>, StateError> {
    let keys: Vec<RolloutKey> = rollouts
        .iter()
        .map(|r| RolloutKey {
            product: r.product.clone(),
            version: r.version.to_string(),
            since: r.started_at,
        })
        .collect();
    let figures = store.rollout_figures(&keys).await?;
    Ok(rollouts
        .iter()
        .zip(figures)
        .map(|(r, f)| status_with(r, f, now))
        .collect())
}

fn status_with(r: &Rollout, f: RolloutFigures, now: jiff::Timestamp) -> RolloutStatus {
    let total = f.installed + f.failed;
    RolloutStatus {
        id: r.id.clone(),
        product: r.product.clone(),
        version: r.version.to_string(),
        target: r.target.clone(),
        state: r.state.as_str().to_string(),
        reason: r.reason.clone(),
        started_at: r.started_at,
        waves: r
            .waves
            .iter()
            .map(|w| {
                format!(
                    "{}%@{}h",
                    format_percent(w.basis_points),
                    w.after_seconds / 3600
                )
            })
            .collect(),
        reached_percent: f64::from(r.reached(now)) * 100.0 / f64::from(BUCKETS),
        pause_if: r.health.map(|h| h.describe()),
        installed: f.installed,
        failed: f.failed,
        failure_rate_percent: if total == 0 {
            0.0
        } else {
            f.failed as f64 * 100.0 / total as f64
        },
        devices_offered: f.offered,
        fleet_devices: f.fleet,
        installed_by_delta: f.deltas.applied,
        delta_fallbacks: f.deltas.fell_back,
        delta_fallback_percent: fallback_percent(f.deltas),
    }
}

/// Fallbacks in percent of the devices that reported how a delta went; absent when none did.
pub fn fallback_percent(d: crate::storage::DeltaOutcomes) -> Option<f64> {
    let tried = d.applied + d.fell_back;
    (tried > 0).then(|| d.fell_back as f64 * 100.0 / tried as f64)
}

async fn status_of(app: &AppState, r: &Rollout) -> Result<RolloutStatus, RolloutError> {
    let mut one = statuses(app.state.as_ref(), &[r], app.clock.now()).await?;
    one.pop()
        .ok_or_else(|| RolloutError::State(StateError::Corrupt("no rollout figures".into())))
}

pub async fn start(
    app: &AppState,
    req: RolloutRequest,
    actor: &str,
) -> Result<RolloutStatus, RolloutError> {
    let waves = parse_waves(&req.waves).map_err(|e| RolloutError::BadRule(e.to_string()))?;
    let health = req
        .pause_if
        .as_deref()
        .map(parse_health_rule)
        .transpose()
        .map_err(|e| RolloutError::BadRule(e.to_string()))?;
    let release = find_release(app, &req.product, &req.version)?;
    if let Some(id) = &req.id {
        let well_formed = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed {
            return Err(RolloutError::BadId(id.clone()));
        }
    }
    let _guard = app.publish_lock.lock().await;
    if let Some(id) = &req.id {
        if app.rollouts().iter().any(|r| &r.id == id) {
            return Err(RolloutError::IdTaken(id.clone()));
        }
    }
    if let Some(current) = latest_for_target(&app.rollouts(), &release.name) {
        if matches!(current.state, RolloutState::Active | RolloutState::Paused) {
            return Err(RolloutError::InProgress {
                product: req.product.clone(),
                version: req.version.clone(),
                state: current.state.as_str(),
                id: current.id.clone(),
            });
        }
    }
    let now = app.clock.now();
    let rollout = Rollout {
        id: req.id.clone().unwrap_or_else(random_id),
        product: req.product.clone(),
        target: release.name.clone(),
        version: release.info.version.clone(),
        waves,
        health,
        state: RolloutState::Active,
        started_at: now,
        reason: None,
    };
    app.state.insert_rollout(&rollout).await?;
    app.reload_rollouts().await?;
    app.state
        .audit(
            now,
            actor,
            "rollout.start",
            &serde_json::to_value(&req).unwrap_or_default(),
        )
        .await?;
    tracing::info!(product = %rollout.product, version = %rollout.version, id = %rollout.id, "rollout started");
    status_of(app, &rollout).await
}

/// The newest rollout of a release, also once the release has been withdrawn (its final
/// state); an unknown product or release, or a release without rollouts, is an error.
fn rollout_of(app: &AppState, product: &str, version: &str) -> Result<Rollout, RolloutError> {
    let parsed = parse_version(version)?;
    let rollouts = app.rollouts();
    if let Some(r) = latest_where(&rollouts, |r| r.product == product && r.version == parsed) {
        return Ok(r.clone());
    }
    find_release(app, product, version)?;
    Err(RolloutError::NoRollout {
        product: product.to_string(),
        version: version.to_string(),
    })
}

pub async fn status(
    app: &AppState,
    product: &str,
    version: &str,
) -> Result<RolloutStatus, RolloutError> {
    let r = rollout_of(app, product, version)?;
    status_of(app, &r).await
}

/// Every rollout, oldest first, ended ones included (one query for all their figures); one a
/// newer rollout of its release replaced is shown as [`REPLACED`], as `/metrics` leaves it out.
pub async fn list(app: &AppState) -> Result<Vec<RolloutStatus>, RolloutError> {
    let rollouts = app.rollouts();
    let all: Vec<&Rollout> = rollouts.iter().collect();
    let mut list = statuses(app.state.as_ref(), &all, app.clock.now()).await?;
    mark_replaced(&rollouts, &mut list);
    Ok(list)
}

/// One page of the dashboard's rollout list: every current rollout, and `limit` ended ones
/// (newest first) after the first `skip`.
pub struct ListPage {
    pub current: Vec<RolloutStatus>,
    pub ended: Vec<RolloutStatus>,
    /// Ended rollouts in all (the page shows at most `limit` of them).
    pub ended_total: usize,
}

/// [`list`] for one page: figures only for the rollouts shown (a store with a thousand ended
/// rollouts does not count a thousand rollouts' votes for one page). A rollout a newer one
/// replaced counts as ended, as [`list`] shows it.
pub async fn list_page(
    app: &AppState,
    skip: usize,
    limit: usize,
) -> Result<ListPage, RolloutError> {
    let rollouts = app.rollouts();
    let (current, ended, ended_total) = split_for_page(&rollouts, skip, limit);
    let now = app.clock.now();
    let current_statuses = statuses(app.state.as_ref(), &current, now).await?;
    let mut ended_statuses = statuses(app.state.as_ref(), &ended, now).await?;
    for (r, s) in ended.iter().zip(ended_statuses.iter_mut()) {
        if let Some(newer) = replaced_by(&rollouts, r) {
            s.state = REPLACED.to_string();
            s.reason = Some(format!(
                "replaced by rollout {} started {}",
                newer.id, newer.started_at
            ));
        }
    }
    Ok(ListPage {
        current: current_statuses,
        ended: ended_statuses,
        ended_total,
    })
}

/// The current rollouts and the ended ones from the `skip`-th newest on (at most `limit`),
/// newest first, and how many ended in all; a rollout a newer one replaced has ended.
fn split_for_page(
    rollouts: &[Rollout],
    skip: usize,
    limit: usize,
) -> (Vec<&Rollout>, Vec<&Rollout>, usize) {
    let (mut current, mut ended): (Vec<&Rollout>, Vec<&Rollout>) = rollouts.iter().partition(|r| {
        replaced_by(rollouts, r).is_none()
            && matches!(
                r.state,
                RolloutState::Active | RolloutState::Paused | RolloutState::Held
            )
    });
    current.reverse();
    ended.reverse();
    let total = ended.len();
    let ended = ended.into_iter().skip(skip).take(limit).collect();
    (current, ended, total)
}

/// Shows each status of `rollouts` whose rollout a newer one replaced as [`REPLACED`], with
/// the replacing rollout in its reason.
fn mark_replaced(rollouts: &[Rollout], list: &mut [RolloutStatus]) {
    for (r, s) in rollouts.iter().zip(list.iter_mut()) {
        if let Some(newer) = replaced_by(rollouts, r) {
            s.state = REPLACED.to_string();
            s.reason = Some(format!(
                "replaced by rollout {} started {}",
                newer.id, newer.started_at
            ));
        }
    }
}

/// The current rollouts' status (for `/metrics`): one query.
pub async fn current_statuses(app: &AppState) -> Result<Vec<RolloutStatus>, RolloutError> {
    let rollouts = app.rollouts();
    Ok(statuses(app.state.as_ref(), &current(&rollouts), app.clock.now()).await?)
}

/// pause | resume | abort, by an operator.
pub async fn act(
    app: &AppState,
    product: &str,
    version: &str,
    action: &str,
    reason: Option<String>,
    actor: &str,
) -> Result<RolloutStatus, RolloutError> {
    let _guard = app.publish_lock.lock().await;
    let r = rollout_of(app, product, version)?;
    let next = match (action, r.state) {
        ("pause", RolloutState::Active) => RolloutState::Paused,
        ("resume", RolloutState::Paused) => RolloutState::Active,
        ("abort", RolloutState::Active | RolloutState::Paused) => RolloutState::Aborted,
        ("pause" | "resume" | "abort", state) => {
            return Err(RolloutError::NotApplicable {
                action: action.to_string(),
                state: state.as_str(),
            })
        }
        _ => return Err(RolloutError::UnknownAction(action.to_string())),
    };
    let now = app.clock.now();
    let reason = reason.unwrap_or_else(|| format!("{action} by operator"));
    app.state
        .set_rollout_state(&r.id, next, Some(&reason), now)
        .await?;
    app.reload_rollouts().await?;
    app.state
        .audit(
            now,
            actor,
            &format!("rollout.{action}"),
            &serde_json::json!({"id": r.id, "product": product, "version": version, "reason": reason}),
        )
        .await?;
    tracing::info!(%product, %version, id = %r.id, action, "rollout state changed");
    let updated = Rollout {
        state: next,
        reason: Some(reason),
        ..r
    };
    status_of(app, &updated).await
}

/// After a device report: pause the active rollout of that version when its health rule trips.
pub async fn after_report(
    app: &AppState,
    device_id: &str,
    version: &str,
) -> Result<(), RolloutError> {
    let Ok(version) = version.parse::<semver::Version>() else {
        return Ok(());
    };
    let rollouts = app.rollouts();
    let candidates: Vec<&Rollout> = rollouts
        .iter()
        .filter(|r| r.state == RolloutState::Active && r.version == version && r.health.is_some())
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    for r in candidates {
        // only the newest rollout of its target counts
        if latest_for_target(&rollouts, &r.target).map(|l| &l.id) != Some(&r.id) {
            continue;
        }
        let Some(rule) = r.health else { continue };
        let (installed, failed) = app
            .state
            .outcome_counts(&r.product, &r.version.to_string(), r.started_at)
            .await?;
        if !rule.trips(installed, failed) {
            continue;
        }
        let _guard = app.publish_lock.lock().await;
        // re-check under the lock: another report may have paused it already
        let still_active = app
            .rollouts()
            .iter()
            .any(|x| x.id == r.id && x.state == RolloutState::Active);
        if !still_active {
            continue;
        }
        let reason = format!(
            "health rule {} tripped: {failed} failed of {} reports ({:.1}%), last from device {device_id}",
            rule.describe(),
            installed + failed,
            failed as f64 * 100.0 / (installed + failed) as f64
        );
        let now = app.clock.now();
        app.state
            .set_rollout_state(&r.id, RolloutState::Paused, Some(&reason), now)
            .await?;
        app.reload_rollouts().await?;
        app.state
            .audit(
                now,
                "server",
                "rollout.auto_pause",
                &serde_json::json!({"id": r.id, "product": r.product, "version": r.version.to_string(), "reason": reason}),
            )
            .await?;
        tracing::warn!(product = %r.product, version = %r.version, id = %r.id, %reason, "rollout paused by its health rule");
    }
    Ok(())
}

/// The current rollouts the published releases have overtaken, with the state that ends each
/// and why: a release no longer published was withdrawn; a release older than a published
/// security release of its product is superseded by it (devices are offered the newer one).
pub fn overtaken(
    view: &crate::view::RepoView,
    rollouts: &[Rollout],
) -> Vec<(Rollout, RolloutState, String)> {
    current(rollouts)
        .into_iter()
        .filter_map(|r| {
            let releases = view
                .products
                .get(&r.product)
                .map(|p| p.releases.as_slice())
                .unwrap_or_default();
            if !releases.iter().any(|x| x.name == r.target) {
                let reason = format!(
                    "{} {} was withdrawn: it is no longer in the published metadata",
                    r.product, r.version
                );
                return Some((r.clone(), RolloutState::Withdrawn, reason));
            }
            let newer = releases
                .iter()
                .filter(|x| x.info.kind == ReleaseKind::Security && x.info.version > r.version)
                .max_by(|a, b| a.info.version.cmp(&b.info.version))?;
            let reason = format!(
                "superseded by {} {}, a newer security release",
                r.product, newer.info.version
            );
            Some((r.clone(), RolloutState::Superseded, reason))
        })
        .collect()
}

/// Ends the rollouts the published releases have overtaken ([`overtaken`]): state, reason,
/// an audit entry (`rollout.withdrawn`, `rollout.superseded`) and a log line each. Run after
/// every publish and at start; takes the publish lock.
pub async fn end_overtaken(app: &AppState) -> Result<usize, RolloutError> {
    let _guard = app.publish_lock.lock().await;
    // most publishes overtake nothing: then no query at all (a rollout another replica
    // started within its last --sync-seconds is ended by the next publish or start)
    if overtaken(&app.view(), &app.rollouts()).is_empty() {
        return Ok(0);
    }
    // rollouts other replicas started, read before the head: a head newer than this view
    // would hold releases this view lacks, and their rollouts would look withdrawn
    app.reload_rollouts().await?;
    let view = app.view();
    let head = app.state.load_head().await?.map_or(0, |h| h.generation);
    if !view.is_published() || head != view.generation {
        return Ok(0);
    }
    let ended = overtaken(&view, &app.rollouts());
    let now = app.clock.now();
    for (r, state, reason) in &ended {
        app.state
            .set_rollout_state(&r.id, *state, Some(reason), now)
            .await?;
        app.state
            .audit(
                now,
                "server",
                &format!("rollout.{}", state.as_str()),
                &serde_json::json!({"id": r.id, "product": r.product, "version": r.version.to_string(), "reason": reason}),
            )
            .await?;
        tracing::info!(product = %r.product, version = %r.version, id = %r.id, state = state.as_str(), %reason, "rollout ended");
    }
    if !ended.is_empty() {
        app.reload_rollouts().await?;
    }
    Ok(ended.len())
}

/// The releases in `after` that were not in `before`.
pub fn new_releases<'a>(
    before: &crate::view::RepoView,
    after: &'a crate::view::RepoView,
) -> impl Iterator<Item = &'a Release> + 'a {
    let known: std::collections::HashSet<String> = before
        .products
        .values()
        .flat_map(|p| p.releases.iter().map(|r| r.name.clone()))
        .collect();
    after
        .products
        .values()
        .flat_map(|p| p.releases.iter())
        .filter(move |release| !known.contains(&release.name))
}

/// `publish --hold`: a held rollout for every release in `after` that was not in `before`, so
/// no device is offered it until an operator starts a rollout. The publish commits them in the
/// transaction that switches the head (never after: in between, the release would be offered
/// to the whole fleet).
pub fn held_rollouts(
    before: &crate::view::RepoView,
    after: &crate::view::RepoView,
    now: jiff::Timestamp,
) -> Vec<Rollout> {
    new_releases(before, after)
        .map(|release| Rollout {
            id: random_id(),
            product: release.info.product.clone(),
            target: release.name.clone(),
            version: release.info.version.clone(),
            waves: vec![airlock_core::rollout::Wave {
                basis_points: BUCKETS,
                after_seconds: 0,
            }],
            health: None,
            state: RolloutState::Held,
            started_at: now,
            reason: Some("held at publish until a rollout is started".into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(id: &str, state: RolloutState, at: i64) -> Rollout {
        Rollout {
            id: id.into(),
            product: "acme-cam".into(),
            target: "acme-cam/fw.bin".into(),
            version: "1.3.0".parse().unwrap(),
            waves: Vec::new(),
            health: None,
            state,
            started_at: jiff::Timestamp::from_second(at).unwrap(),
            reason: None,
        }
    }

    #[test]
    fn a_started_rollout_supersedes_the_hold_made_at_the_same_instant() {
        // ids are random: whichever sorts last, the started rollout is the current one
        for (held_id, started_id) in [("zzz", "aaa"), ("aaa", "zzz")] {
            let list = vec![
                rollout(held_id, RolloutState::Held, 100),
                rollout(started_id, RolloutState::Active, 100),
            ];
            assert_eq!(
                latest_for_target(&list, "acme-cam/fw.bin").unwrap().id,
                started_id
            );
        }
        // later is newer, whatever the state
        let list = vec![
            rollout("a", RolloutState::Active, 100),
            rollout("b", RolloutState::Held, 200),
        ];
        assert_eq!(latest_for_target(&list, "acme-cam/fw.bin").unwrap().id, "b");
    }

    #[test]
    fn the_rollout_list_pages_through_ended_rollouts_newest_first() {
        // 120 ended rollouts of other releases, then a hold that a started rollout replaced
        let mut all: Vec<Rollout> = (0..120)
            .map(|i| {
                let mut r = rollout(&format!("old-{i}"), RolloutState::Aborted, i);
                r.target = format!("acme-cam/fw-0.{i}.0.bin");
                r
            })
            .collect();
        all.push(rollout("held", RolloutState::Held, 500));
        all.push(rollout("started", RolloutState::Active, 600));
        let (current, ended, total) = split_for_page(&all, 0, 50);
        let ids = |v: &[&Rollout]| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&current), ["started"]);
        assert_eq!(total, 121, "the replaced hold has ended");
        assert_eq!(ended.len(), 50);
        assert_eq!(ended[0].id, "held", "newest first");
        assert_eq!(ended[1].id, "old-119");
        let mut seen = Vec::new();
        for skip in (0..total).step_by(50) {
            seen.extend(ids(&split_for_page(&all, skip, 50).1));
        }
        assert_eq!(seen.len(), 121);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 121, "every ended rollout on exactly one page");
        assert!(split_for_page(&all, 500, 50).1.is_empty());
    }

    #[test]
    fn a_hold_a_started_rollout_replaced_is_listed_as_replaced_and_is_not_current() {
        let rollouts = vec![
            rollout("held", RolloutState::Held, 100),
            rollout("next", RolloutState::Active, 100),
            // another release's hold, not replaced
            Rollout {
                target: "acme-cam/other.bin".into(),
                ..rollout("other", RolloutState::Held, 100)
            },
        ];
        let status = |r: &Rollout| status_with(r, RolloutFigures::default(), r.started_at);
        let mut list: Vec<RolloutStatus> = rollouts.iter().map(status).collect();
        mark_replaced(&rollouts, &mut list);
        let shown: Vec<(&str, &str)> = list
            .iter()
            .map(|s| (s.id.as_str(), s.state.as_str()))
            .collect();
        assert_eq!(
            shown,
            vec![("held", "replaced"), ("next", "active"), ("other", "held")]
        );
        assert_eq!(
            list[0].reason.as_deref(),
            Some("replaced by rollout next started 1970-01-01T00:01:40Z")
        );
        // what the list calls replaced, /metrics leaves out
        let current: Vec<&str> = current(&rollouts).iter().map(|r| r.id.as_str()).collect();
        assert_eq!(current, vec!["next", "other"]);
    }

    fn release(version: &str, kind: &str) -> Release {
        serde_json::from_value(serde_json::json!({
            "name": format!("acme-cam/fw-{version}.bin"), "length": 1, "sha256": "00",
            "product": "acme-cam", "version": version, "security_version": 3, "kind": kind,
            "released": "2026-01-02T03:04:05Z"
        }))
        .unwrap()
    }

    fn view(releases: Vec<Release>) -> crate::view::RepoView {
        let support = serde_json::from_value(serde_json::json!({
            "product": "acme-cam", "support_start": "2025-01-01",
            "feature_updates_until": "2027-06-30", "security_updates_until": "2030-12-31",
            "min_security_version": 2, "statement": "s"
        }))
        .unwrap();
        let mut view = crate::view::RepoView {
            generation: 3,
            ..Default::default()
        };
        view.products.insert(
            "acme-cam".into(),
            crate::view::ProductView {
                support,
                releases,
                sboms: Vec::new(),
            },
        );
        view
    }

    fn rollout_of_release(id: &str, version: &str, state: RolloutState, at: i64) -> Rollout {
        Rollout {
            target: format!("acme-cam/fw-{version}.bin"),
            version: version.parse().unwrap(),
            ..rollout(id, state, at)
        }
    }

    #[test]
    fn rollouts_of_withdrawn_or_superseded_releases_end() {
        let published = view(vec![
            release("1.3.0", "feature"),
            release("1.3.1", "security"),
            release("1.4.0", "feature"),
        ]);
        let rollouts = vec![
            // overtaken by the security release 1.3.1
            rollout_of_release("staged", "1.3.0", RolloutState::Active, 100),
            // the newest release: nothing overtakes it, even though 1.3.1 is security
            rollout_of_release("newest", "1.4.0", RolloutState::Paused, 100),
            // no longer published
            rollout_of_release("gone", "1.2.9", RolloutState::Held, 100),
            // ended already, or not the newest of its release: left alone
            rollout_of_release("old", "1.2.8", RolloutState::Aborted, 100),
            rollout_of_release("replaced", "1.3.1", RolloutState::Held, 100),
            rollout_of_release("started", "1.3.1", RolloutState::Active, 100),
        ];
        let ended: Vec<(String, RolloutState, String)> = overtaken(&published, &rollouts)
            .into_iter()
            .map(|(r, state, reason)| (r.id, state, reason))
            .collect();
        assert_eq!(
            ended,
            vec![
                (
                    "staged".into(),
                    RolloutState::Superseded,
                    "superseded by acme-cam 1.3.1, a newer security release".into()
                ),
                (
                    "gone".into(),
                    RolloutState::Withdrawn,
                    "acme-cam 1.2.9 was withdrawn: it is no longer in the published metadata"
                        .into()
                ),
            ]
        );
        // a feature release overtakes nothing: devices may stay on a staged older one
        let features = view(vec![
            release("1.3.0", "feature"),
            release("1.4.0", "feature"),
        ]);
        assert!(overtaken(&features, &rollouts[..1]).is_empty());
    }

    /// Counts the fleet queries a caller makes (each is one SQL statement or more).
    struct Counting<'a> {
        db: &'a crate::storage::SqlState,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Counting<'_> {
        fn count(&self) {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[async_trait::async_trait]
    impl FleetQueries for Counting<'_> {
        async fn rollout_figures(
            &self,
            keys: &[RolloutKey],
        ) -> Result<Vec<RolloutFigures>, StateError> {
            self.count();
            self.db.rollout_figures(keys).await
        }
        async fn outcome_counts(
            &self,
            product: &str,
            version: &str,
            since: jiff::Timestamp,
        ) -> Result<(u64, u64), StateError> {
            self.count();
            self.db.outcome_counts(product, version, since).await
        }
        async fn fleet_versions(
            &self,
            product: &str,
        ) -> Result<Vec<crate::storage::VersionCount>, StateError> {
            self.count();
            self.db.fleet_versions(product).await
        }
        async fn first_installs(
            &self,
            product: &str,
        ) -> Result<Vec<(String, jiff::Timestamp)>, StateError> {
            self.count();
            self.db.first_installs(product).await
        }
        async fn first_install_counts(
            &self,
            product: &str,
        ) -> Result<Vec<(String, u64)>, StateError> {
            self.count();
            self.db.first_install_counts(product).await
        }
        async fn first_installs_in_order(
            &self,
            product: &str,
            versions: &[String],
            offset: u64,
            count: u64,
        ) -> Result<Vec<i64>, StateError> {
            self.count();
            self.db
                .first_installs_in_order(product, versions, offset, count)
                .await
        }
        async fn history_start(&self, product: &str) -> Result<Option<i64>, StateError> {
            self.count();
            self.db.history_start(product).await
        }
        async fn history_changes(
            &self,
            product: &str,
            instants: &crate::storage::HistoryInstants,
        ) -> Result<Vec<(String, i64, i64)>, StateError> {
            self.count();
            self.db.history_changes(product, instants).await
        }
        async fn installed_reports(
            &self,
            product: &str,
        ) -> Result<Vec<(String, String, jiff::Timestamp)>, StateError> {
            self.count();
            self.db.installed_reports(product).await
        }
        async fn delta_outcomes(
            &self,
            product: &str,
            version: &str,
            since: jiff::Timestamp,
        ) -> Result<crate::storage::DeltaOutcomes, StateError> {
            self.count();
            self.db.delta_outcomes(product, version, since).await
        }
    }

    /// Issue 12, item 10: the rollout list and `/metrics` read every rollout's figures with
    /// one query, however many rollouts there are.
    #[tokio::test]
    async fn the_figures_of_many_rollouts_are_one_query() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::tests::sqlite(&dir).await;
        let rollouts: Vec<Rollout> = (0..200)
            .map(|i| {
                rollout_of_release(
                    &format!("r{i}"),
                    &format!("1.{i}.0"),
                    RolloutState::Active,
                    100,
                )
            })
            .collect();
        let counting = Counting {
            db: &db,
            calls: 0.into(),
        };
        let all: Vec<&Rollout> = rollouts.iter().collect();
        let now = jiff::Timestamp::from_second(1000).unwrap();
        let list = statuses(&counting, &all, now).await.unwrap();
        assert_eq!(list.len(), 200);
        assert_eq!(list[199].version, "1.199.0");
        assert_eq!(counting.calls.into_inner(), 1, "one query for 200 rollouts");
    }
}
