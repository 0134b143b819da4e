//! The audit log of admin actions (append only), and its filtered, paged view.

use async_trait::async_trait;
use sqlx::Row;

use airlock_core::api::AuditEntry;

use super::sql::{from_ms, ms, to_i64, SqlState, StateError};

/// Which entries `GET /v1/admin/audit` wants: every filter is optional; `before` pages back
/// from an earlier answer's `next_before`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Exactly this actor.
    pub actor: Option<String>,
    /// This action, or the actions under it: `rollout` matches `rollout.start` too.
    pub action: Option<String>,
    /// At or after.
    pub since: Option<jiff::Timestamp>,
    /// Before (exclusive).
    pub until: Option<jiff::Timestamp>,
    /// Entries with an id below this one.
    pub before: Option<u64>,
    /// At most this many (the caller bounds it).
    pub limit: u32,
}

/// Appends to and reads the audit log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends to the audit log of admin actions.
    async fn audit(
        &self,
        at: jiff::Timestamp,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StateError>;
    /// The entries `query` selects, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StateError>;
}

#[async_trait]
impl AuditLog for SqlState {
    async fn audit(
        &self,
        at: jiff::Timestamp,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StateError> {
        sqlx::query("INSERT INTO audit (at_ms, actor, action, detail) VALUES ($1, $2, $3, $4)")
            .bind(ms(at))
            .bind(actor)
            .bind(action)
            .bind(detail.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StateError> {
        // each filter adds a condition with its own numbered parameter, bound in that order
        let mut conditions = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if q.actor.is_some() {
            conditions.push(format!("actor = {}", next()));
        }
        if q.action.is_some() {
            let (exact, prefix) = (next(), next());
            conditions.push(format!(
                "(action = {exact} OR SUBSTR(action, 1, LENGTH({prefix})) = {prefix})"
            ));
        }
        if q.since.is_some() {
            conditions.push(format!("at_ms >= {}", next()));
        }
        if q.until.is_some() {
            conditions.push(format!("at_ms < {}", next()));
        }
        if q.before.is_some() {
            conditions.push(format!("id < {}", next()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT id, at_ms, actor, action, detail FROM audit {filter} ORDER BY id DESC LIMIT {}",
            next()
        );
        let mut query = sqlx::query(&sql);
        if let Some(actor) = &q.actor {
            query = query.bind(actor.clone());
        }
        if let Some(action) = &q.action {
            query = query.bind(action.clone()).bind(format!("{action}."));
        }
        if let Some(since) = q.since {
            query = query.bind(ms(since));
        }
        if let Some(until) = q.until {
            query = query.bind(ms(until));
        }
        if let Some(before) = q.before {
            query = query.bind(to_i64(before));
        }
        query = query.bind(i64::from(q.limit));
        self.fetch_all_as(query, |row| {
            let detail: String = row.try_get("detail")?;
            Ok(AuditEntry {
                id: row.try_get::<i64, _>("id")?.max(0) as u64,
                at: from_ms(row.try_get("at_ms")?),
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                // written by `audit` from a JSON value; anything else is shown as text
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    async fn ids(db: &SqlState, q: AuditQuery) -> Vec<u64> {
        let q = AuditQuery {
            limit: if q.limit == 0 { 100 } else { q.limit },
            ..q
        };
        db.list_audit(&q)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect()
    }

    #[tokio::test]
    async fn audit_entries_are_filtered_and_paged_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        filtered_and_paged(&crate::storage::tests::sqlite(&dir).await).await;
    }

    #[tokio::test]
    async fn postgres_audit_entries_are_filtered_and_paged_newest_first() {
        let test = "postgres_audit_entries_are_filtered_and_paged_newest_first";
        let Some(url) = crate::storage::tests::postgres_db(test).await else {
            return;
        };
        filtered_and_paged(&SqlState::open_url(&url, 2).await.unwrap()).await;
    }

    async fn filtered_and_paged(db: &SqlState) {
        let detail = serde_json::json!({"ok": false, "message": "bad signature"});
        for (second, actor, action) in [
            (0, "admin", "publish"),
            (10, "admin", "rollout.start"),
            (20, "server", "rollout.auto_pause"),
            (30, "admin", "rollouts"),
            (40, "admin", "publish"),
        ] {
            db.audit(at(second), actor, action, &detail).await.unwrap();
        }
        let all = db
            .list_audit(&AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|e| e.id).collect::<Vec<_>>(),
            [5, 4, 3, 2, 1]
        );
        assert_eq!((all[0].at, &all[0].detail), (at(40), &detail));
        let q = AuditQuery::default;
        let actor = |a: &str| AuditQuery {
            actor: Some(a.into()),
            ..q()
        };
        assert_eq!(ids(db, actor("server")).await, [3]);
        // an action names itself and the actions under it, not others that share its start
        let action = |a: &str| AuditQuery {
            action: Some(a.into()),
            ..q()
        };
        assert_eq!(ids(db, action("rollout")).await, [3, 2]);
        assert_eq!(ids(db, action("publish")).await, [5, 1]);
        let window = AuditQuery {
            since: Some(at(10)),
            until: Some(at(30)),
            ..q()
        };
        assert_eq!(ids(db, window).await, [3, 2]);
        let page = AuditQuery {
            before: Some(4),
            limit: 2,
            ..q()
        };
        assert_eq!(ids(db, page).await, [3, 2]);
    }
}
