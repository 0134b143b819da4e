//! Following the other replicas at once. A replica over PostgreSQL listens on one connection
//! of its own for the change notices every replica sends when it commits a publish, a rollout
//! change or a device credential change ([`crate::storage::changes`]), and refreshes exactly
//! that part of what it keeps in memory: the published view with its rollouts and online key
//! ([`follow_head`]), the rollouts, or one device's credential. A notice sent while the
//! connection was down is lost, so every (re)connection starts with a full sync; the periodic
//! sync ([`crate::spawn_sync`], `--sync-seconds`) stays as the fallback for anything else.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::app::AppState;
use crate::background::{follow_head, sync_from_store};
use crate::storage::changes::{Change, CHANNEL};

/// Longest wait between two attempts to (re)connect the listening connection.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// More device notices than this in one batch reload every credential in one query instead.
const DEVICES_ONE_BY_ONE: usize = 256;

/// The notices received together, merged: each part is refreshed once however many came.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// The highest generation announced.
    pub head: Option<u64>,
    pub rollouts: bool,
    pub devices: BTreeSet<String>,
    /// A notice this version does not understand (a newer replica's): sync everything.
    pub unknown: bool,
}

impl Pending {
    pub fn add(&mut self, payload: &str) {
        match Change::parse(payload) {
            Some(Change::Head { generation }) => {
                self.head = Some(self.head.map_or(generation, |g| g.max(generation)));
            }
            Some(Change::Rollouts) => self.rollouts = true,
            Some(Change::Device(id)) => {
                self.devices.insert(id);
            }
            None => self.unknown = true,
        }
    }
}

/// Refreshes what `pending` names.
pub async fn apply(app: &AppState, pending: Pending) -> Result<()> {
    if pending.unknown {
        sync_from_store(app).await?;
        return Ok(());
    }
    if let Some(generation) = pending.head {
        // a replica's own notice, or one for a head it has already followed, changes nothing
        if generation != app.view().generation {
            follow_head(app).await?;
        } else if pending.rollouts {
            reload_rollouts(app).await?;
        }
    } else if pending.rollouts {
        reload_rollouts(app).await?;
    }
    if pending.devices.len() > DEVICES_ONE_BY_ONE {
        let all = app
            .state
            .credentials()
            .await
            .context("loading device credentials")?;
        app.credentials.replace(all);
    } else {
        for id in &pending.devices {
            match app
                .state
                .credential(id)
                .await
                .with_context(|| format!("loading the credential of device {id}"))?
            {
                Some(credential) => app.credentials.set(credential),
                None => app.credentials.forget(id),
            }
        }
    }
    Ok(())
}

async fn reload_rollouts(app: &AppState) -> Result<()> {
    // under the publish lock, as every reload (see AppState::reload_rollouts)
    let _guard = app.publish_lock.lock().await;
    app.reload_rollouts().await.context("loading rollouts")
}

/// A listening connection of its own (not one of the pool's: it stays checked out).
async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(url)?;
    let mut listener = PgListener::connect_with(&pool).await?;
    // a lost connection ends `try_recv` with `None`: reconnecting is this module's, so that a
    // full sync follows every reconnection
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The wait before reconnection attempt `attempt` (0, 1, ...): 100 ms doubling, at most
/// [`MAX_RECONNECT_DELAY`].
pub fn reconnect_delay(attempt: u32) -> Duration {
    Duration::from_millis(100)
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_RECONNECT_DELAY)
}

/// Listens for the other replicas' change notices on `url` (the shared PostgreSQL database)
/// for as long as the server runs, reconnecting with a bounded backoff after the connection is
/// lost (a database restart, a network cut) and syncing fully after each (re)connection.
pub fn spawn_follow(app: AppState, url: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures: u32 = 0;
        loop {
            let mut listener = match connect(&url).await {
                Ok(l) => l,
                Err(e) => {
                    if failures == 0 {
                        tracing::warn!(error = %e, "cannot listen for the other replicas' change notices; retrying (the periodic sync goes on)");
                    }
                    tokio::time::sleep(reconnect_delay(failures)).await;
                    failures = failures.saturating_add(1);
                    continue;
                }
            };
            // notices sent while nothing listened are lost: catch up before taking new ones
            match sync_from_store(&app).await {
                Ok(_) => {
                    if failures > 0 {
                        tracing::info!(
                            attempts = failures,
                            "listening for change notices again; synced in full"
                        );
                    } else {
                        tracing::info!("listening for the other replicas' change notices");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "full sync after connecting failed; reconnecting");
                    tokio::time::sleep(reconnect_delay(failures)).await;
                    failures = failures.saturating_add(1);
                    continue;
                }
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(first)) => {
                        let mut pending = Pending::default();
                        pending.add(first.payload());
                        while let Some(more) = listener.next_buffered() {
                            pending.add(more.payload());
                        }
                        if let Err(e) = apply(&app, pending).await {
                            tracing::warn!(error = %format!("{e:#}"), "following a change notice failed (the next sync catches up)");
                        }
                    }
                    Ok(None) => {
                        tracing::warn!("the change-notice connection was lost; reconnecting");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the change-notice connection failed; reconnecting");
                        break;
                    }
                }
            }
            drop(listener);
            // the first attempt at once-ish; `failures` counts the attempts since the loss
            tokio::time::sleep(reconnect_delay(0)).await;
            failures = 1;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_received_together_are_merged() {
        let mut p = Pending::default();
        for payload in [
            "head:7",
            "device:cam-1",
            "head:9",
            "rollouts",
            "device:cam-1",
            "head:8",
            "device:cam-2",
        ] {
            p.add(payload);
        }
        assert_eq!(
            p,
            Pending {
                head: Some(9),
                rollouts: true,
                devices: ["cam-1".to_string(), "cam-2".to_string()].into(),
                unknown: false,
            }
        );
        p.add("something-newer");
        assert!(p.unknown);
    }

    #[test]
    fn reconnecting_backs_off_to_a_bound() {
        assert_eq!(reconnect_delay(0), Duration::from_millis(100));
        assert_eq!(reconnect_delay(1), Duration::from_millis(200));
        assert_eq!(reconnect_delay(5), Duration::from_millis(3200));
        assert_eq!(reconnect_delay(6), MAX_RECONNECT_DELAY);
        assert_eq!(reconnect_delay(u32::MAX), MAX_RECONNECT_DELAY);
    }
}
