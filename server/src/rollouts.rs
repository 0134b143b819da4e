//! The rollout service: start, pause, resume, abort, status; the check-in gate; and the
//! health rule that pauses a rollout by itself when devices report failures.

use airlock_core::api::{RolloutRequest, RolloutStatus};
use airlock_core::release::Release;
use airlock_core::rollout::{
    format_percent, parse_health_rule, parse_waves, Rollout, RolloutState, BUCKETS,
};

use crate::app::AppState;
use crate::storage::StateError;
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
    rollouts
        .iter()
        .filter(|r| r.target == target)
        // a held rollout is made at publish, before any rollout of the release is started:
        // at the same instant (a simulated clock) the started one is the newer
        .max_by_key(|r| (r.started_at, r.state != RolloutState::Held, r.id.clone()))
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

fn find_release(app: &AppState, product: &str, version: &str) -> Result<Release, RolloutError> {
    let version: semver::Version =
        version
            .parse()
            .map_err(|e: semver::Error| RolloutError::BadVersion {
                version: version.to_string(),
                reason: e.to_string(),
            })?;
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

async fn status_of(app: &AppState, r: &Rollout) -> Result<RolloutStatus, RolloutError> {
    let (installed, failed) = app
        .state
        .outcome_counts(&r.product, &r.version.to_string(), r.started_at)
        .await?;
    let now = app.clock.now();
    let total = installed + failed;
    Ok(RolloutStatus {
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
        installed,
        failed,
        failure_rate_percent: if total == 0 {
            0.0
        } else {
            failed as f64 * 100.0 / total as f64
        },
    })
}

pub async fn start(app: &AppState, req: RolloutRequest) -> Result<RolloutStatus, RolloutError> {
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
            "admin",
            "rollout.start",
            &serde_json::to_value(&req).unwrap_or_default(),
        )
        .await?;
    tracing::info!(product = %rollout.product, version = %rollout.version, id = %rollout.id, "rollout started");
    status_of(app, &rollout).await
}

fn current(app: &AppState, product: &str, version: &str) -> Result<Rollout, RolloutError> {
    let release = find_release(app, product, version)?;
    latest_for_target(&app.rollouts(), &release.name)
        .cloned()
        .ok_or_else(|| RolloutError::NoRollout {
            product: product.to_string(),
            version: version.to_string(),
        })
}

pub async fn status(
    app: &AppState,
    product: &str,
    version: &str,
) -> Result<RolloutStatus, RolloutError> {
    let r = current(app, product, version)?;
    status_of(app, &r).await
}

pub async fn list(app: &AppState) -> Result<Vec<RolloutStatus>, RolloutError> {
    let mut out = Vec::new();
    for r in app.rollouts().iter() {
        out.push(status_of(app, r).await?);
    }
    Ok(out)
}

/// pause | resume | abort, by an operator.
pub async fn act(
    app: &AppState,
    product: &str,
    version: &str,
    action: &str,
    reason: Option<String>,
) -> Result<RolloutStatus, RolloutError> {
    let _guard = app.publish_lock.lock().await;
    let r = current(app, product, version)?;
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
            "admin",
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
}
