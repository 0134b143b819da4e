//! Background work of a serving replica: renewing snapshot and timestamp (and warning about
//! offline-signed metadata that expires soon), and following the shared state of replicas.

use anyhow::{Context, Result};

use crate::app::AppState;
use crate::{publish, view};

/// Renews snapshot and timestamp in the background, checking every `every`, and warns (once
/// an hour) about offline-signed metadata that expires within `warn_within`: the server cannot
/// renew root, targets or product roles, so their key holders must re-sign in time.
pub fn spawn_renewal(
    app: AppState,
    every: std::time::Duration,
    warn_within: jiff::SignedDuration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut last_warning: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            app.limits.forget_idle();
            if let Err(e) = publish::renew_if_due(&app).await {
                tracing::error!(error = %e, "renewing snapshot and timestamp failed");
            }
            if last_warning.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(3600)) {
                last_warning = Some(std::time::Instant::now());
                for (role, expires) in
                    expiring_offline_roles(&app.view(), app.clock.now(), warn_within)
                {
                    tracing::warn!(%role, %expires, "offline-signed metadata expires soon: re-sign and publish it");
                }
            }
        }
    })
}

/// Root, targets and product roles that expire before `now + within`.
pub fn expiring_offline_roles(
    view: &view::RepoView,
    now: jiff::Timestamp,
    within: jiff::SignedDuration,
) -> Vec<(String, jiff::Timestamp)> {
    let limit = now.checked_add(within).unwrap_or(now);
    let mut out = Vec::new();
    if let Some(root) = view.latest_root() {
        out.push(("root".to_string(), root.signed.signed.expires));
    }
    if let Some(t) = &view.published.targets {
        out.push(("targets".to_string(), t.signed.signed.expires));
    }
    for (name, role) in &view.published.roles {
        out.push((name.clone(), role.signed.signed.expires));
    }
    out.retain(|(_, e)| *e <= limit);
    out
}

/// Brings this replica up to date with what other replicas committed to the shared state:
/// the published head, rollouts and device credentials. Returns whether the head changed.
pub async fn sync_from_store(app: &AppState) -> Result<bool> {
    sync_from_store_with(app, true).await
}

/// [`sync_from_store`], re-reading every device credential only if `credentials` (a full read
/// of the credentials table: seconds and a rebuilt map at 1,000,000 devices).
async fn sync_from_store_with(app: &AppState, credentials: bool) -> Result<bool> {
    let changed = follow_head(app).await?;
    if !credentials {
        return Ok(changed);
    }
    let credentials = app
        .state
        .credentials()
        .await
        .context("loading device credentials")?;
    app.credentials.replace(credentials);
    Ok(changed)
}

/// Follows a publish another replica committed, if the store's head is newer than the one
/// served (one read of the head row otherwise). Returns whether the view changed.
pub async fn catch_up(app: &AppState) -> Result<bool, crate::storage::StateError> {
    let generation = app.state.load_head().await?.map_or(0, |h| h.generation);
    if generation <= app.view().generation {
        return Ok(false);
    }
    let _guard = app.publish_lock.lock().await;
    if generation <= app.view().generation {
        return Ok(true); // followed meanwhile
    }
    app.follow_store().await?;
    tracing::info!(
        to = app.view().generation,
        "caught up with a publish made by another replica (a device asked for its metadata)"
    );
    Ok(true)
}

/// Follows the published head and the rollouts. Returns whether the head changed.
/// Under the publish lock: a rollout list read before a local publish committed must not
/// replace the one that publish set (its holds), and a new head is switched only together with
/// the rollouts committed with it ([`AppState::follow_store`]).
pub async fn follow_head(app: &AppState) -> Result<bool> {
    let head = app
        .state
        .load_head()
        .await
        .context("reading the published head")?;
    let generation = head.map_or(0, |h| h.generation);
    let _guard = app.publish_lock.lock().await;
    if generation != app.view().generation {
        let from = app.view().generation;
        app.follow_store()
            .await
            .context("loading the published repository and rollouts")?;
        tracing::info!(
            from,
            to = app.view().generation,
            "following a publish made by another replica"
        );
        Ok(true)
    } else {
        app.reload_rollouts().await.context("loading rollouts")?;
        Ok(false)
    }
}

/// How many periodic syncs re-read the head and rollouts for each one that also re-reads every
/// device credential, while change notices are followed: the notices bring each enrolment and
/// revocation at once and every reconnection syncs in full, so the periodic full read only
/// guards against a notice lost without the connection dropping. Re-reading 1,000,000
/// credentials every 5 s kept a PostgreSQL replica busy (11-34 s per read on a debug build,
/// 2.7 GiB; docs/benchmarks.md "Check-ins at 1,000,000 devices").
pub const CREDENTIALS_EVERY_WITH_NOTICES: u64 = 60;

/// Whether periodic sync number `tick` (0, 1, ...) re-reads every device credential.
pub fn credentials_due(tick: u64, every: u64) -> bool {
    every <= 1 || tick.is_multiple_of(every)
}

/// Follows the shared state every `every` (replicas over one PostgreSQL database), re-reading
/// every device credential on one sync in `credentials_every` (1: on each).
pub fn spawn_sync(
    app: AppState,
    every: std::time::Duration,
    credentials_every: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // the server loaded every credential as it started (and the change-notice listener
        // syncs in full as it connects): the first periodic re-read is one period of
        // `credentials_every` away, not at once (three full reads of 1,000,000 credentials in
        // the first seconds kept a starting replica at 40-55 % of a core, docs/benchmarks.md)
        let mut n: u64 = 1;
        loop {
            tick.tick().await;
            let credentials = credentials_due(n, credentials_every);
            n = n.wrapping_add(1);
            if let Err(e) = sync_from_store_with(&app, credentials).await {
                tracing::error!(error = %format!("{e:#}"), "following the shared state failed");
            }
        }
    })
}

#[cfg(test)]
mod sync_tests {
    use super::credentials_due;

    #[test]
    fn credentials_are_reread_on_one_sync_in_every() {
        let due: Vec<u64> = (0..200).filter(|&t| credentials_due(t, 60)).collect();
        assert_eq!(due, vec![0, 60, 120, 180]);
        assert!(
            (0..10).all(|t| credentials_due(t, 1)),
            "without notices: every sync"
        );
        assert!((0..10).all(|t| credentials_due(t, 0)));
    }
}
