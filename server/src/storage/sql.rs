//! The one state database: SQLite (embedded default) or PostgreSQL (several replicas), through
//! the same SQL with sqlx's `Any` driver. Opening it brings its schema up to date
//! ([`super::migrations`]). The concerns it stores are traits in their own files.

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};
use std::path::Path;
use thiserror::Error;

use super::migrations::{AppliedMigration, SchemaPolicy};

#[derive(Debug, Error)]
pub enum StateError {
    #[error("the repository changed since this publish started (generation {expected} expected, found {found})")]
    Conflict { expected: u64, found: u64 },
    #[error("metadata file {0} already exists")]
    FileExists(String),
    #[error("state database: {0}")]
    Db(sqlx::Error),
    /// The database cannot be reached or cannot take writes for now (connection lost, locked
    /// longer than the busy timeout, disk full, read-only): the request may be retried.
    #[error("state database unavailable: {0}")]
    Unavailable(String),
    #[error("state database schema: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A newer airlock-server migrated the database: this one does not know its schema.
    #[error("the state database has schema migrations {} that this airlock-server does not know (it knows versions up to {known}): a newer airlock-server wrote it; upgrade airlock-server to that release or newer", join_versions(unknown))]
    SchemaNewer { unknown: Vec<i64>, known: i64 },
    /// Migrations are pending and the server was told not to apply them.
    #[error("the state database is at schema version {at} and lacks migrations {} that this airlock-server needs; with --no-migrate (AIRLOCK_NO_MIGRATE) the server does not apply them: run `airlock-server migrate` first", join_versions(pending))]
    SchemaOutdated { at: i64, pending: Vec<i64> },
    #[error("state database holds invalid data: {0}")]
    Corrupt(String),
    #[error("state database holds invalid data: unsupported state database URL {0:?}: use postgres://... or sqlite://PATH")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for StateError {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            StateError::Unavailable(e.to_string())
        } else {
            StateError::Db(e)
        }
    }
}

fn join_versions(versions: &[i64]) -> String {
    versions
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl StateError {
    /// Whether the failure is the store's condition rather than the request's or the data's
    /// (answered 503 with Retry-After: the same request may succeed later).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StateError::Unavailable(_))
    }
}

/// Whether a database error is a condition of the database that passes (connection lost or
/// refused, server restarting, locked, disk full, read-only), not a fault of the query or data.
fn is_transient(e: &sqlx::Error) -> bool {
    use sqlx::error::DatabaseError;
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                // primary result codes (the low byte of an extended code): BUSY 5, LOCKED 6,
                // NOMEM 7, READONLY 8, IOERR 10, FULL 13, CANTOPEN 14
                let code = sqlite
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .unwrap_or(0);
                return matches!(code & 0xff, 5 | 6 | 7 | 8 | 10 | 13 | 14);
            }
            // PostgreSQL SQLSTATE: 08 connection exception, 53 insufficient resources (disk
            // full, too many connections), 57P01-03 shutting down / starting up, 25006
            // read-only transaction (a standby), 40001/40P01 serialization failure / deadlock
            let code = db.code().unwrap_or_default();
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || matches!(code.as_ref(), "25006" | "40001" | "40P01")
        }
        _ => false,
    }
}

/// Times are stored as Unix milliseconds (BIGINT) in every table.
pub(crate) fn ms(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

pub(crate) fn from_ms(v: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(v).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A 0/1 flag column (`revoked`) as a bool: SQLite has no BOOLEAN, so every table stores
/// flags as integers.
pub(crate) fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// A non-negative integer column (a count, a security version) as u64.
pub(crate) fn count(row: &sqlx::any::AnyRow, column: &str) -> Result<u64, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)?.max(0) as u64)
}

/// A query of the `Any` driver with its bound parameters, as `sqlx::query(..).bind(..)` makes.
pub(crate) type SqlQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The state store: implements every storage trait of [`super`].
#[derive(Debug, Clone)]
pub struct SqlState {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

/// Which database a [`SqlState`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl SqlState {
    /// Runs `query` and reads every row it returns with `read`.
    pub(crate) async fn fetch_all_as<T>(
        &self,
        query: SqlQuery<'_>,
        read: impl Fn(&sqlx::any::AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, StateError> {
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
    }

    /// Begins a transaction that writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a writer waits its turn under `busy_timeout`: a deferred
    /// transaction that read first and then writes gets SQLITE_BUSY at once, without waiting,
    /// whenever another connection wrote in between (SQLite's deadlock avoidance).
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Opens (creating if needed) a SQLite database file, bringing its schema up to date.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StateError> {
        Ok(Self::open_sqlite_with(path, SchemaPolicy::Migrate).await?.0)
    }

    /// Opens (creating if needed) a SQLite database file; returns the migrations `policy`
    /// applied.
    pub async fn open_sqlite_with(
        path: &Path,
        policy: SchemaPolicy,
    ) -> Result<(Self, Vec<AppliedMigration>), StateError> {
        let url = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .to_url_lossy();
        Self::connect(url.as_str(), Backend::Sqlite, 4, policy).await
    }

    /// Opens a state database by URL: `postgres://user:password@host:port/db` (or
    /// `postgresql://`), or `sqlite://PATH`. The schema is created or brought up to date.
    pub async fn open_url(url: &str, max_connections: u32) -> Result<Self, StateError> {
        Ok(
            Self::open_url_with(url, max_connections, SchemaPolicy::Migrate)
                .await?
                .0,
        )
    }

    /// Opens a state database by URL; returns the migrations `policy` applied.
    pub async fn open_url_with(
        url: &str,
        max_connections: u32,
        policy: SchemaPolicy,
    ) -> Result<(Self, Vec<AppliedMigration>), StateError> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StateError::UnsupportedUrl(redact_url(url)));
        };
        Self::connect(url, backend, max_connections, policy).await
    }

    async fn connect(
        url: &str,
        backend: Backend,
        max: u32,
        policy: SchemaPolicy,
    ) -> Result<(Self, Vec<AppliedMigration>), StateError> {
        sqlx::any::install_default_drivers();
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(max.max(1))
            .acquire_timeout(std::time::Duration::from_secs(10))
            // A connection whose transaction could not be rolled back is closed, not handed
            // out again. SQLite rolls a transaction back by itself on some errors (SQLITE_FULL
            // on a full disk, SQLITE_IOERR); the ROLLBACK sqlx then sends fails ("no
            // transaction is active") and sqlx keeps counting the transaction as open, so
            // every later BEGIN on that connection failed with "attempted to call begin_with
            // at non-zero transaction depth" until the server was restarted. The pool pings
            // an idle connection before this check (test_before_acquire), so a rollback still
            // queued when the connection was returned has run by then.
            .before_acquire(|conn, _meta| {
                Box::pin(async move {
                    let usable = !conn.is_in_transaction();
                    if !usable {
                        tracing::warn!(
                            "closing a database connection left inside a transaction that could not be rolled back"
                        );
                    }
                    Ok(usable)
                })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // durable commits, concurrent readers, and waiting instead of failing
                        // while another connection writes
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let applied = super::migrations::run(&pool, backend, policy).await?;
        Ok((SqlState { pool, backend }, applied))
    }

    /// The schema versions applied to this database.
    pub async fn schema_versions(&self) -> Result<Vec<i64>, StateError> {
        super::migrations::applied_versions(&self.pool, self.backend).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// A database URL with its password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparseable URL>".to_string(),
    }
}

/// Whether the database answers (for /readyz).
#[async_trait]
pub trait Readiness: Send + Sync {
    async fn check(&self) -> Result<(), StateError>;
}

#[async_trait]
impl Readiness for SqlState {
    async fn check(&self) -> Result<(), StateError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::tests::postgres_db;
    use crate::storage::*;
    use airlock_core::api::DeviceReport;
    use airlock_core::rollout::{Rollout, RolloutState};

    /// SQLite rolls a transaction back by itself on a full disk (SQLITE_FULL); the ROLLBACK
    /// sqlx sends when the transaction is dropped then fails and sqlx kept counting the
    /// transaction as open. Such a connection must be closed, not handed out again: with one
    /// connection in the pool, every later write failed with "attempted to call begin_with at
    /// non-zero transaction depth" until a restart (seen in tests/tests/faults.rs).
    #[tokio::test]
    async fn a_transaction_sqlite_rolled_back_by_itself_does_not_poison_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
        let db = SqlState::open_url(&url, 1).await.unwrap();
        {
            let mut tx = db.begin_write().await.unwrap();
            // what SQLite does on SQLITE_FULL: the transaction ends under sqlx's feet
            sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
            // dropped: sqlx's own ROLLBACK fails ("no transaction is active")
        }
        for _ in 0..3 {
            let tx = db
                .begin_write()
                .await
                .expect("a new transaction after the failed one");
            tx.commit().await.unwrap();
        }
    }

    /// Every concern's round trip on PostgreSQL (SQLite runs them through the service tests).
    #[tokio::test]
    async fn postgres_devices_tokens_rollouts_round_trip() {
        let Some(url) = postgres_db("postgres_devices_tokens_rollouts_round_trip").await else {
            return;
        };
        let db = SqlState::open_url(&url, 4).await.unwrap();
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let token = EnrolmentToken {
            id: "t1".into(),
            token_sha256: "h1".into(),
            product: "acme-cam".into(),
            device_id: None,
            created: now,
            expires: now + jiff::SignedDuration::from_hours(1),
            uses_left: Some(1),
            revoked: false,
            drill: false,
        };
        db.insert_enrolment_token(&token).await.unwrap();
        assert_eq!(db.enrolment_tokens().await.unwrap(), vec![token]);
        let cred = DeviceCredential {
            device_id: "cam-1".into(),
            product: "acme-cam".into(),
            credential_sha256: "c1".into(),
            revoked: false,
            drill: false,
        };
        assert_eq!(
            db.enrol_with_token("h1", &cred, now).await.unwrap(),
            EnrolOutcome::Enrolled { drill: false }
        );
        // the same credential again: a repeat whose answer was lost, answered, nothing used
        assert_eq!(
            db.enrol_with_token("h1", &cred, now).await.unwrap(),
            EnrolOutcome::Repeated { drill: false }
        );
        let other = DeviceCredential {
            credential_sha256: "c2".into(),
            ..cred.clone()
        };
        assert_eq!(
            db.enrol_with_token("h1", &other, now).await.unwrap(),
            EnrolOutcome::NoUsableToken
        );
        assert!(db.revoke_device("cam-1").await.unwrap());
        assert!(db.credentials().await.unwrap()[0].revoked);
        assert!(db.reinstate_device("cam-1").await.unwrap());
        assert!(db.credentials().await.unwrap().is_empty());
        assert!(
            db.revoke_enrolment_token("t1")
                .await
                .unwrap()
                .unwrap()
                .revoked
        );
        db.record_check_ins(&[CheckInRecord {
            device_id: "cam-1".into(),
            product: "acme-cam".into(),
            version: "1.0.0".into(),
            security_version: 1,
            decision: "update".into(),
            at: now,
            policy: None,
            offered: Some("1.1.0".into()),
        }])
        .await
        .unwrap();
        for status in ["installed", "failed"] {
            let report: DeviceReport = serde_json::from_value(serde_json::json!({
                "status": status, "version": "1.1.0", "code": null
            }))
            .unwrap();
            db.record_report("cam-1", &report, now).await.unwrap();
        }
        assert_eq!(
            db.outcome_counts("acme-cam", "1.1.0", now).await.unwrap(),
            (0, 1),
            "one vote per device: both reports in the same instant, failed wins"
        );
        db.insert_admin_token("h1", "ci", "publish,read", now)
            .await
            .unwrap();
        assert_eq!(
            db.admin_token("h1").await.unwrap(),
            Some(("ci".to_string(), "publish,read".to_string()))
        );
        assert_eq!(db.revoke_admin_token("ci").await.unwrap(), 1);
        assert_eq!(db.admin_token("h1").await.unwrap(), None);
        let rollout = Rollout {
            id: "r1".into(),
            product: "acme-cam".into(),
            target: "acme-cam/fw-1.1.0.bin".into(),
            version: "1.1.0".parse().unwrap(),
            waves: airlock_core::rollout::parse_waves("10%@0h,100%@24h").unwrap(),
            health: Some(
                airlock_core::rollout::parse_health_rule("failures>=5% after 20 reports").unwrap(),
            ),
            state: RolloutState::Active,
            started_at: now,
            reason: None,
        };
        db.insert_rollout(&rollout).await.unwrap();
        db.set_rollout_state("r1", RolloutState::Paused, Some("failures"), now)
            .await
            .unwrap();
        let listed = db.list_rollouts().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].state, RolloutState::Paused);
        assert_eq!(listed[0].waves, rollout.waves);
        assert_eq!(listed[0].reason.as_deref(), Some("failures"));
        db.audit(now, "test", "x", &serde_json::json!({"a": 1}))
            .await
            .unwrap();
        db.check().await.unwrap();
    }
}
