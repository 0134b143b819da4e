//! Change notices between replicas. Each replica keeps the published head, the rollouts and the
//! device credentials in memory; when one replica commits a change to them on PostgreSQL it
//! also sends a notice (`NOTIFY airlock_changes`, in the same transaction where there is one,
//! so it is delivered exactly when the change is visible and never for a change rolled back),
//! and the others refresh that part at once ([`crate::follow`]). SQLite serves one machine:
//! nothing is sent. A notice is an optimisation, not the record: a replica that misses one
//! (its listening connection was down) catches up by a full sync on reconnecting, and the
//! periodic sync (`--sync-seconds`) stays as the fallback.

use super::sql::{Backend, SqlState};

/// The PostgreSQL channel the notices are sent on.
pub const CHANNEL: &str = "airlock_changes";

/// What changed in the shared state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// A new published head (publish, renewal, re-sign; a root naming a new online key).
    Head { generation: u64 },
    /// A rollout was started, or changed state (paused, resumed, aborted, ended).
    Rollouts,
    /// A device's credential was stored, revoked or forgotten.
    Device(String),
}

impl Change {
    /// The notice's payload: `head:<generation>`, `rollouts` or `device:<id>` (device ids are
    /// at most 128 characters, far below PostgreSQL's 8000-byte payload limit).
    pub fn payload(&self) -> String {
        match self {
            Change::Head { generation } => format!("head:{generation}"),
            Change::Rollouts => "rollouts".to_string(),
            Change::Device(id) => format!("device:{id}"),
        }
    }

    /// Reads a payload; `None` for one this version does not know (a newer replica's), which
    /// the listener answers with a full sync.
    pub fn parse(payload: &str) -> Option<Change> {
        if payload == "rollouts" {
            return Some(Change::Rollouts);
        }
        if let Some(g) = payload.strip_prefix("head:") {
            return g.parse().ok().map(|generation| Change::Head { generation });
        }
        payload
            .strip_prefix("device:")
            .filter(|id| !id.is_empty())
            .map(|id| Change::Device(id.to_string()))
    }
}

impl SqlState {
    /// Sends `change` to the other replicas through `executor` (a transaction: delivered when
    /// it commits; the pool: at once). Nothing on SQLite. `pg_notify` is wrapped in a query
    /// that returns an integer: its own result type (`void`) has no `Any` driver equivalent.
    pub(crate) async fn announce<'e, E>(
        &self,
        executor: E,
        change: &Change,
    ) -> Result<(), sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        sqlx::query("SELECT 1 AS sent FROM (SELECT pg_notify($1, $2)) AS notice")
            .bind(CHANNEL)
            .bind(change.payload())
            .execute(executor)
            .await?;
        Ok(())
    }

    /// [`Self::announce`] on the pool after a single-statement change that already committed:
    /// a failure is logged, not returned, because the change itself is done (the other
    /// replicas then see it at their next sync).
    pub(crate) async fn announce_committed(&self, change: &Change) {
        if let Err(e) = self.announce(&self.pool, change).await {
            tracing::warn!(error = %e, change = %change.payload(),
                "could not notify the other replicas (they follow at their next sync)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_unknown_ones_are_none() {
        for change in [
            Change::Head { generation: 42 },
            Change::Rollouts,
            Change::Device("cam-0001:a.b_c".into()),
        ] {
            assert_eq!(Change::parse(&change.payload()), Some(change));
        }
        for unknown in [
            "",
            "head:",
            "head:x",
            "device:",
            "admin-tokens",
            "rollouts:1",
        ] {
            assert_eq!(Change::parse(unknown), None, "{unknown:?}");
        }
    }
}
