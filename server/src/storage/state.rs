//! Server state: metadata files, the published head (one row, switched in one transaction)
//! and device records.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

use airlock_core::api::DeviceReport;
use airlock_core::rollout::{Rollout, RolloutState};
use airlock_core::support::SupportRecord;

#[derive(Debug, Error)]
pub enum StateError {
    #[error("the repository changed since this publish started (generation {expected} expected, found {found})")]
    Conflict { expected: u64, found: u64 },
    #[error("metadata file {0} already exists")]
    FileExists(String),
    #[error("state database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("state database holds invalid data: {0}")]
    Corrupt(String),
}

/// Which metadata versions are current; stored with the head.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RepoIndex {
    pub root_version: u64,
    pub targets_version: u64,
    pub roles: BTreeMap<String, u64>,
    pub snapshot_version: u64,
    pub timestamp_version: u64,
    pub snapshot_expires: Option<jiff::Timestamp>,
    pub timestamp_expires: Option<jiff::Timestamp>,
    /// The verified support record of each product.
    pub supports: BTreeMap<String, SupportRecord>,
}

/// The published head: what devices see.
#[derive(Debug, Clone)]
pub struct Head {
    /// Incremented by every commit; publishes use it for optimistic concurrency.
    pub generation: u64,
    pub timestamp: Vec<u8>,
    pub index: RepoIndex,
}

/// One device check-in, as recorded.
#[derive(Debug, Clone)]
pub struct CheckInRecord {
    pub device_id: String,
    pub product: String,
    pub version: String,
    pub security_version: u64,
    pub decision: String,
    pub at: jiff::Timestamp,
    /// The device's update policy (JSON), when it sent one.
    pub policy: Option<String>,
}

#[async_trait]
pub trait StateStore: Send + Sync {
    async fn load_head(&self) -> Result<Option<Head>, StateError>;
    /// A metadata file by its published name (e.g. `3.targets.json`).
    async fn metadata(&self, name: &str) -> Result<Option<Vec<u8>>, StateError>;
    /// Adds `files` and switches the head, atomically, if the head is still at
    /// `expected_generation` (0 = nothing published yet).
    async fn commit(
        &self,
        expected_generation: u64,
        files: Vec<(String, Vec<u8>)>,
        head: &Head,
    ) -> Result<(), StateError>;
    async fn record_check_in(&self, record: &CheckInRecord) -> Result<(), StateError> {
        self.record_check_ins(std::slice::from_ref(record)).await
    }
    /// Records several check-ins in one transaction.
    async fn record_check_ins(&self, records: &[CheckInRecord]) -> Result<(), StateError>;
    async fn record_report(
        &self,
        device_id: &str,
        report: &DeviceReport,
        at: jiff::Timestamp,
    ) -> Result<(), StateError>;
    /// Whether the database answers (for /readyz).
    async fn check(&self) -> Result<(), StateError>;
    async fn list_rollouts(&self) -> Result<Vec<Rollout>, StateError>;
    async fn insert_rollout(&self, rollout: &Rollout) -> Result<(), StateError>;
    async fn set_rollout_state(
        &self,
        id: &str,
        state: RolloutState,
        reason: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<(), StateError>;
    /// Devices of `product` that reported `version` installed / failed since `since`.
    async fn outcome_counts(
        &self,
        product: &str,
        version: &str,
        since: jiff::Timestamp,
    ) -> Result<(u64, u64), StateError>;
    async fn insert_enrolment_token(
        &self,
        token: &EnrolmentToken,
        at: jiff::Timestamp,
    ) -> Result<(), StateError>;
    async fn enrolment_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<EnrolmentToken>, StateError>;
    /// Stores a device's credential; fails with `FileExists` if the device is enrolled already.
    async fn insert_credential(
        &self,
        credential: &DeviceCredential,
        at: jiff::Timestamp,
    ) -> Result<(), StateError>;
    async fn credentials(&self) -> Result<Vec<DeviceCredential>, StateError>;
    /// Marks a device's credential revoked; false if the device is not enrolled.
    async fn revoke_device(&self, device_id: &str) -> Result<bool, StateError>;
    /// Stores a scoped admin token (its digest); `scopes` is a comma-separated list.
    async fn insert_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        scopes: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StateError>;
    /// The scopes and name of a live admin token, by digest.
    async fn admin_token(&self, token_sha256: &str)
        -> Result<Option<(String, String)>, StateError>;
    /// (name, scopes, revoked) of every admin token.
    async fn admin_tokens(&self) -> Result<Vec<(String, String, bool)>, StateError>;
    /// Revokes the admin tokens called `name`; the number revoked.
    async fn revoke_admin_token(&self, name: &str) -> Result<u64, StateError>;
    /// Appends to the audit log of admin actions.
    async fn audit(
        &self,
        at: jiff::Timestamp,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StateError>;
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS metadata (
        name TEXT PRIMARY KEY,
        content BLOB NOT NULL,
        generation BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation BIGINT NOT NULL,
        timestamp_json BLOB NOT NULL,
        index_json TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS devices (
        id TEXT PRIMARY KEY,
        product TEXT NOT NULL,
        version TEXT NOT NULL,
        security_version BIGINT NOT NULL,
        last_decision TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        policy TEXT
    )",
    "CREATE TABLE IF NOT EXISTS reports (
        device_id TEXT NOT NULL,
        product TEXT,
        status TEXT NOT NULL,
        version TEXT NOT NULL,
        code TEXT,
        at_ms BIGINT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS reports_by_version ON reports (product, version, status, at_ms)",
    "CREATE TABLE IF NOT EXISTS rollouts (
        id TEXT PRIMARY KEY,
        product TEXT NOT NULL,
        target TEXT NOT NULL,
        version TEXT NOT NULL,
        waves_json TEXT NOT NULL,
        health_json TEXT,
        state TEXT NOT NULL,
        reason TEXT,
        started_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS audit (
        at_ms BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS enrolment_tokens (
        token_sha256 TEXT PRIMARY KEY,
        product TEXT NOT NULL,
        device_id TEXT,
        created_ms BIGINT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS admin_tokens (
        token_sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS device_credentials (
        device_id TEXT PRIMARY KEY,
        product TEXT NOT NULL,
        credential_sha256 TEXT NOT NULL,
        enrolled_ms BIGINT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    )",
];

/// An enrolment token as stored (the token itself only as its sha256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentToken {
    pub token_sha256: String,
    pub product: String,
    /// Set for a per-device token; `None` for a per-product token.
    pub device_id: Option<String>,
    pub revoked: bool,
}

/// A device's credential as stored (its sha256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCredential {
    pub device_id: String,
    pub product: String,
    pub credential_sha256: String,
    pub revoked: bool,
}

fn ms(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

fn from_ms(v: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(v).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The SQLite state store (embedded default).
#[derive(Debug, Clone)]
pub struct SqlState {
    pool: SqlitePool,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqlState {
    /// Opens (creating if needed) a SQLite database file.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StateError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        for stmt in SCHEMA {
            sqlx::query(stmt).execute(&pool).await?;
        }
        Ok(SqlState { pool })
    }
}

#[async_trait]
impl StateStore for SqlState {
    async fn load_head(&self) -> Result<Option<Head>, StateError> {
        let row =
            sqlx::query("SELECT generation, timestamp_json, index_json FROM head WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let generation: i64 = row.try_get("generation")?;
        let timestamp: Vec<u8> = row.try_get("timestamp_json")?;
        let index_json: String = row.try_get("index_json")?;
        let index: RepoIndex = serde_json::from_str(&index_json)
            .map_err(|e| StateError::Corrupt(format!("head index: {e}")))?;
        Ok(Some(Head {
            generation: generation.max(0) as u64,
            timestamp,
            index,
        }))
    }

    async fn metadata(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        let row = sqlx::query("SELECT content FROM metadata WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("content")?),
            None => None,
        })
    }

    async fn commit(
        &self,
        expected_generation: u64,
        files: Vec<(String, Vec<u8>)>,
        head: &Head,
    ) -> Result<(), StateError> {
        let index_json = serde_json::to_string(&head.index)
            .map_err(|e| StateError::Corrupt(format!("head index: {e}")))?;
        let mut tx = self.pool.begin().await?;
        let found: Option<i64> = sqlx::query_scalar("SELECT generation FROM head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
        let found = found.unwrap_or(0).max(0) as u64;
        if found != expected_generation {
            return Err(StateError::Conflict {
                expected: expected_generation,
                found,
            });
        }
        for (name, content) in files {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT generation FROM metadata WHERE name = $1")
                    .bind(&name)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() {
                return Err(StateError::FileExists(name));
            }
            sqlx::query("INSERT INTO metadata (name, content, generation) VALUES ($1, $2, $3)")
                .bind(&name)
                .bind(content)
                .bind(to_i64(head.generation))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO head (id, generation, timestamp_json, index_json, updated_at)
             VALUES (1, $1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET generation = excluded.generation,
                 timestamp_json = excluded.timestamp_json, index_json = excluded.index_json,
                 updated_at = excluded.updated_at",
        )
        .bind(to_i64(head.generation))
        .bind(&head.timestamp)
        .bind(index_json)
        .bind(jiff::Timestamp::now().to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_check_ins(&self, records: &[CheckInRecord]) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await?;
        for r in records {
            sqlx::query(
            "INSERT INTO devices (id, product, version, security_version, last_decision, last_seen, policy)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET product = excluded.product, version = excluded.version,
                 security_version = excluded.security_version,
                 last_decision = excluded.last_decision, last_seen = excluded.last_seen,
                 policy = excluded.policy",
        )
            .bind(&r.device_id)
            .bind(&r.product)
            .bind(&r.version)
            .bind(to_i64(r.security_version))
            .bind(&r.decision)
            .bind(r.at.to_string())
            .bind(&r.policy)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_report(
        &self,
        device_id: &str,
        report: &DeviceReport,
        at: jiff::Timestamp,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO reports (device_id, product, status, version, code, at_ms)
             VALUES ($1, (SELECT product FROM devices WHERE id = $1), $2, $3, $4, $5)",
        )
        .bind(device_id)
        .bind(report.status.as_str())
        .bind(&report.version)
        .bind(&report.code)
        .bind(ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

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
        let waves =
            serde_json::to_string(&r.waves).map_err(|e| StateError::Corrupt(e.to_string()))?;
        let health = r
            .health
            .map(|h| serde_json::to_string(&h))
            .transpose()
            .map_err(|e| StateError::Corrupt(e.to_string()))?;
        sqlx::query(
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
        .bind(ms(r.started_at))
        .execute(&self.pool)
        .await?;
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
        Ok(())
    }

    async fn outcome_counts(
        &self,
        product: &str,
        version: &str,
        since: jiff::Timestamp,
    ) -> Result<(u64, u64), StateError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(DISTINCT device_id) AS devices FROM reports
             WHERE product = $1 AND version = $2 AND at_ms >= $3
               AND status IN ('installed', 'failed')
             GROUP BY status",
        )
        .bind(product)
        .bind(version)
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        let (mut installed, mut failed) = (0u64, 0u64);
        for row in rows {
            let status: String = row.try_get("status")?;
            let n: i64 = row.try_get("devices")?;
            match status.as_str() {
                "installed" => installed = n.max(0) as u64,
                "failed" => failed = n.max(0) as u64,
                _ => {}
            }
        }
        Ok((installed, failed))
    }

    async fn insert_enrolment_token(
        &self,
        t: &EnrolmentToken,
        at: jiff::Timestamp,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO enrolment_tokens (token_sha256, product, device_id, created_ms, revoked)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.token_sha256)
        .bind(&t.product)
        .bind(&t.device_id)
        .bind(ms(at))
        .bind(i64::from(t.revoked))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn enrolment_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<EnrolmentToken>, StateError> {
        let row = sqlx::query(
            "SELECT token_sha256, product, device_id, revoked FROM enrolment_tokens WHERE token_sha256 = $1",
        )
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => None,
            Some(r) => Some(EnrolmentToken {
                token_sha256: r.try_get("token_sha256")?,
                product: r.try_get("product")?,
                device_id: r.try_get("device_id")?,
                revoked: r.try_get::<i64, _>("revoked")? != 0,
            }),
        })
    }

    async fn insert_credential(
        &self,
        c: &DeviceCredential,
        at: jiff::Timestamp,
    ) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT revoked FROM device_credentials WHERE device_id = $1")
                .bind(&c.device_id)
                .fetch_optional(&mut *tx)
                .await?;
        match existing {
            Some(0) => return Err(StateError::FileExists(format!("device {}", c.device_id))),
            Some(_) => {
                // a revoked device may enrol again (a repaired or re-provisioned unit)
                sqlx::query("DELETE FROM device_credentials WHERE device_id = $1")
                    .bind(&c.device_id)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {}
        }
        sqlx::query(
            "INSERT INTO device_credentials (device_id, product, credential_sha256, enrolled_ms, revoked)
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(&c.device_id)
        .bind(&c.product)
        .bind(&c.credential_sha256)
        .bind(ms(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn credentials(&self) -> Result<Vec<DeviceCredential>, StateError> {
        let rows = sqlx::query(
            "SELECT device_id, product, credential_sha256, revoked FROM device_credentials",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DeviceCredential {
                    device_id: r.try_get("device_id")?,
                    product: r.try_get("product")?,
                    credential_sha256: r.try_get("credential_sha256")?,
                    revoked: r.try_get::<i64, _>("revoked")? != 0,
                })
            })
            .collect()
    }

    async fn insert_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        scopes: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StateError> {
        sqlx::query("INSERT INTO admin_tokens (token_sha256, name, scopes, created_ms, revoked) VALUES ($1, $2, $3, $4, 0)")
            .bind(token_sha256)
            .bind(name)
            .bind(scopes)
            .bind(ms(at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn admin_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<(String, String)>, StateError> {
        let row = sqlx::query(
            "SELECT name, scopes FROM admin_tokens WHERE token_sha256 = $1 AND revoked = 0",
        )
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("name")?, r.try_get("scopes")?)),
            None => None,
        })
    }

    async fn admin_tokens(&self) -> Result<Vec<(String, String, bool)>, StateError> {
        let rows =
            sqlx::query("SELECT name, scopes, revoked FROM admin_tokens ORDER BY created_ms")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get("name")?,
                    r.try_get("scopes")?,
                    r.try_get::<i64, _>("revoked")? != 0,
                ))
            })
            .collect()
    }

    async fn revoke_admin_token(&self, name: &str) -> Result<u64, StateError> {
        let done =
            sqlx::query("UPDATE admin_tokens SET revoked = 1 WHERE name = $1 AND revoked = 0")
                .bind(name)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    async fn revoke_device(&self, device_id: &str) -> Result<bool, StateError> {
        let done = sqlx::query("UPDATE device_credentials SET revoked = 1 WHERE device_id = $1")
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

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

    async fn check(&self) -> Result<(), StateError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(generation: u64) -> Head {
        Head {
            generation,
            timestamp: format!("ts{generation}").into_bytes(),
            index: RepoIndex {
                timestamp_version: generation,
                ..RepoIndex::default()
            },
        }
    }

    #[tokio::test]
    async fn commit_is_all_or_nothing_and_checks_generation() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqlState::open_sqlite(&dir.path().join("s.db"))
            .await
            .unwrap();
        assert!(db.load_head().await.unwrap().is_none());
        db.commit(0, vec![("1.root.json".into(), b"r1".to_vec())], &head(1))
            .await
            .unwrap();
        assert_eq!(db.load_head().await.unwrap().unwrap().generation, 1);
        // a racing publish that started from generation 0 loses
        assert!(matches!(
            db.commit(0, vec![("2.root.json".into(), b"r2".to_vec())], &head(1))
                .await,
            Err(StateError::Conflict {
                expected: 0,
                found: 1
            })
        ));
        assert!(db.metadata("2.root.json").await.unwrap().is_none());
        // an existing file name aborts the whole commit
        assert!(matches!(
            db.commit(
                1,
                vec![
                    ("1.targets.json".into(), b"t".to_vec()),
                    ("1.root.json".into(), b"x".to_vec())
                ],
                &head(2)
            )
            .await,
            Err(StateError::FileExists(_))
        ));
        assert!(db.metadata("1.targets.json").await.unwrap().is_none());
        assert_eq!(db.load_head().await.unwrap().unwrap().generation, 1);
        assert_eq!(db.metadata("1.root.json").await.unwrap().unwrap(), b"r1");
    }
}
