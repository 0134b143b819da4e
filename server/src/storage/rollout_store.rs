//! Staged rollouts as stored: their waves, health rule and state.

use async_trait::async_trait;
use sqlx::Row;

use airlock_core::rollout::{Rollout, RolloutState};

use super::changes::Change;
use super::sql::{from_ms, ms, SqlQuery, SqlState, StateError};

/// The INSERT of one rollout, to run on the pool or in a transaction (a publish's).
pub(crate) fn insert_query(r: &Rollout) -> Result<SqlQuery<'_>, StateError> {
    let waves = serde_json::to_string(&r.waves).map_err(|e| StateError::Corrupt(e.to_string()))?;
    let health = r
        .health
        .map(|h| serde_json::to_string(&h))
        .transpose()
        .map_err(|e| StateError::Corrupt(e.to_string()))?;
    Ok(sqlx::query(
        "INSERT INTO rollouts (id, product, target, version, waves_json, health_json, state,
                               reason, started_ms, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(&r.id)
    .bind(&r.product)
    .bind(&r.target)
    .bind(r.version.to_string())
    .bind(waves)
    .bind(health)
    .bind(r.state.as_str())
    .bind(&r.reason)
    .bind(ms(r.started_at)))
}

/// Rollouts, oldest first.
#[async_trait]
pub trait RolloutStore: Send + Sync {
    async fn list_rollouts(&self) -> Result<Vec<Rollout>, StateError>;
    async fn insert_rollout(&self, rollout: &Rollout) -> Result<(), StateError>;
    async fn set_rollout_state(
        &self,
        id: &str,
        state: RolloutState,
        reason: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<(), StateError>;
}

#[async_trait]
impl RolloutStore for SqlState {
    async fn list_rollouts(&self) -> Result<Vec<Rollout>, StateError> {
        let rows = sqlx::query(
            "SELECT id, product, target, version, waves_json, health_json, state, reason, started_ms
             FROM rollouts ORDER BY started_ms, id",
        )
        .fetch_all(&self.pool)
        .await?;
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StateError::Corrupt(format!("rollout {what}: {e}"))
        };
        let mut out = Vec::new();
        for row in rows {
            let waves: String = row.try_get("waves_json")?;
            let health: Option<String> = row.try_get("health_json")?;
            let state: String = row.try_get("state")?;
            let version: String = row.try_get("version")?;
            out.push(Rollout {
                id: row.try_get("id")?,
                product: row.try_get("product")?,
                target: row.try_get("target")?,
                version: version.parse().map_err(|e| corrupt("version", &e))?,
                waves: serde_json::from_str(&waves).map_err(|e| corrupt("waves", &e))?,
                health: match health {
                    Some(h) => Some(serde_json::from_str(&h).map_err(|e| corrupt("rule", &e))?),
                    None => None,
                },
                state: RolloutState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
                started_at: from_ms(row.try_get("started_ms")?),
                reason: row.try_get("reason")?,
            });
        }
        Ok(out)
    }

    async fn insert_rollout(&self, r: &Rollout) -> Result<(), StateError> {
        insert_query(r)?.execute(&self.pool).await?;
        self.announce_committed(&Change::Rollouts).await;
        Ok(())
    }

    async fn set_rollout_state(
        &self,
        id: &str,
        state: RolloutState,
        reason: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<(), StateError> {
        sqlx::query("UPDATE rollouts SET state = $1, reason = $2, updated_ms = $3 WHERE id = $4")
            .bind(state.as_str())
            .bind(reason)
            .bind(ms(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.announce_committed(&Change::Rollouts).await;
        Ok(())
    }
}
