//! The schema as versioned migrations (sqlx's `_sqlx_migrations` table records which ran).
//! One set of versions in `server/migrations/`: a file serves both backends, with `{blob}` for
//! the binary column type, unless the SQL must differ (`N_name.sqlite.sql` and
//! `N_name.postgres.sql`, e.g. converting text times). Version 1 is the schema of the releases
//! before migrations, so their databases adopt it and keep their data.

use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::AnyPool;
use std::borrow::Cow;

use super::sql::{Backend, StateError};

/// (version, description, SQLite text, PostgreSQL text), in order; never edit one that was
/// released (sqlx refuses a database whose applied migration's checksum changed).
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "initial schema",
        include_str!("../../migrations/0001_initial_schema.sql"),
        include_str!("../../migrations/0001_initial_schema.sql"),
    ),
    (
        2,
        "times in milliseconds",
        include_str!("../../migrations/0002_times_in_milliseconds.sqlite.sql"),
        include_str!("../../migrations/0002_times_in_milliseconds.postgres.sql"),
    ),
    (
        3,
        "offers and unoffered reports",
        include_str!("../../migrations/0003_offers.sql"),
        include_str!("../../migrations/0003_offers.sql"),
    ),
    (
        4,
        "enrolment token limits",
        include_str!("../../migrations/0004_enrolment_token_limits.sql"),
        include_str!("../../migrations/0004_enrolment_token_limits.sql"),
    ),
    (
        5,
        "drill devices",
        include_str!("../../migrations/0005_drill_devices.sql"),
        include_str!("../../migrations/0005_drill_devices.sql"),
    ),
    (
        6,
        "audit entry ids",
        include_str!("../../migrations/0006_audit_ids.sqlite.sql"),
        include_str!("../../migrations/0006_audit_ids.postgres.sql"),
    ),
    (
        7,
        "revoked device ids",
        include_str!("../../migrations/0007_revoked_device_ids.sql"),
        include_str!("../../migrations/0007_revoked_device_ids.sql"),
    ),
    (
        8,
        "dashboard sessions",
        include_str!("../../migrations/0008_ui_sessions.sql"),
        include_str!("../../migrations/0008_ui_sessions.sql"),
    ),
    (
        9,
        "fleet indexes",
        include_str!("../../migrations/0009_fleet_indexes.sql"),
        include_str!("../../migrations/0009_fleet_indexes.sql"),
    ),
    (
        10,
        "fleet figures kept by triggers",
        include_str!("../../migrations/0010_fleet_figures.sqlite.sql"),
        include_str!("../../migrations/0010_fleet_figures.postgres.sql"),
    ),
    (
        11,
        "fleet history kept by a trigger",
        include_str!("../../migrations/0011_fleet_history.sqlite.sql"),
        include_str!("../../migrations/0011_fleet_history.postgres.sql"),
    ),
    (
        12,
        "delta outcomes of reports",
        include_str!("../../migrations/0012_delta_outcomes.sqlite.sql"),
        include_str!("../../migrations/0012_delta_outcomes.postgres.sql"),
    ),
    (
        13,
        "check-in runs of each device",
        include_str!("../../migrations/0013_check_in_runs.sqlite.sql"),
        include_str!("../../migrations/0013_check_in_runs.postgres.sql"),
    ),
];

/// The migrations of one backend, embedded in the binary.
#[derive(Debug)]
struct Embedded(Backend);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sqlite, postgres)| {
                let (sql, blob) = match self.0 {
                    Backend::Sqlite => (sqlite, "BLOB"),
                    Backend::Postgres => (postgres, "BYTEA"),
                };
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Owned(sql.replace("{blob}", blob)),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// What opening the state database does to its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaPolicy {
    /// Apply the migrations it lacks (the default at every start).
    #[default]
    Migrate,
    /// Refuse a schema that lacks migrations (`serve --no-migrate`: an operator runs
    /// `airlock-server migrate` as its own step, e.g. a Kubernetes Job before the rollout).
    RequireCurrent,
    /// Touch nothing but refuse a schema newer than this binary (`airlock-server migrate`
    /// applies the migrations itself, to report them).
    Untouched,
}

/// The versions this binary knows, in order.
pub fn known_versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.0).collect()
}

/// The newest schema version this binary knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// One migration applied by [`migrate`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
}

/// The versions recorded as applied (successfully) in `_sqlx_migrations`; none in a new
/// database.
pub async fn applied_versions(pool: &AnyPool, backend: Backend) -> Result<Vec<i64>, StateError> {
    let exists = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
        }
    };
    let found: i64 = sqlx::query_scalar(exists).fetch_one(pool).await?;
    if found == 0 {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?,
    )
}

/// Refuses a database that a newer airlock-server migrated: this binary does not know its
/// schema, and writing to it could lose what the newer one stores.
fn refuse_newer(applied: &[i64]) -> Result<(), StateError> {
    let known = known_versions();
    let unknown: Vec<i64> = applied
        .iter()
        .copied()
        .filter(|v| !known.contains(v))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(StateError::SchemaNewer {
        unknown,
        known: latest_version(),
    })
}

/// Applies `policy` to the database's schema (see [`SchemaPolicy`]); returns the migrations
/// applied now. On PostgreSQL, replicas starting together wait for each other (sqlx takes an
/// advisory lock), so none races on CREATE TABLE.
pub async fn run(
    pool: &AnyPool,
    backend: Backend,
    policy: SchemaPolicy,
) -> Result<Vec<AppliedMigration>, StateError> {
    let before = applied_versions(pool, backend).await?;
    refuse_newer(&before)?;
    let pending: Vec<i64> = known_versions()
        .into_iter()
        .filter(|v| !before.contains(v))
        .collect();
    match policy {
        SchemaPolicy::Untouched => return Ok(Vec::new()),
        SchemaPolicy::RequireCurrent if !pending.is_empty() => {
            return Err(StateError::SchemaOutdated {
                at: before.last().copied().unwrap_or(0),
                pending,
            })
        }
        SchemaPolicy::RequireCurrent => return Ok(Vec::new()),
        SchemaPolicy::Migrate if pending.is_empty() => return Ok(Vec::new()),
        SchemaPolicy::Migrate => {}
    }
    let migrator = Migrator::new(Embedded(backend)).await?;
    migrator.run(pool).await?;
    // (another replica may have applied some of them meanwhile)
    let after = applied_versions(pool, backend).await?;
    Ok(MIGRATIONS
        .iter()
        .filter(|m| after.contains(&m.0) && !before.contains(&m.0))
        .map(|m| AppliedMigration {
            version: m.0,
            description: m.1.to_string(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use sqlx::any::AnyPoolOptions;
    use sqlx::{AnyPool, Row};

    use crate::storage::tests::postgres_db;
    use crate::storage::*;

    /// The DDL of the releases before migrations, run at every start; `{blob}` is the binary
    /// column type.
    const OLD_SCHEMA: &[&str] = &[
        "CREATE TABLE IF NOT EXISTS metadata (name TEXT PRIMARY KEY, content {blob} NOT NULL,
            generation BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1),
            generation BIGINT NOT NULL, timestamp_json {blob} NOT NULL, index_json TEXT NOT NULL,
            updated_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, product TEXT NOT NULL,
            version TEXT NOT NULL, security_version BIGINT NOT NULL, last_decision TEXT NOT NULL,
            last_seen TEXT NOT NULL, policy TEXT)",
        "CREATE TABLE IF NOT EXISTS reports (device_id TEXT NOT NULL, product TEXT,
            status TEXT NOT NULL, version TEXT NOT NULL, code TEXT, at_ms BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS reports_by_version ON reports (product, version, status, at_ms)",
        "CREATE TABLE IF NOT EXISTS rollouts (id TEXT PRIMARY KEY, product TEXT NOT NULL,
            target TEXT NOT NULL, version TEXT NOT NULL, waves_json TEXT NOT NULL,
            health_json TEXT, state TEXT NOT NULL, reason TEXT, started_ms BIGINT NOT NULL,
            updated_ms BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS audit (at_ms BIGINT NOT NULL, actor TEXT NOT NULL,
            action TEXT NOT NULL, detail TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS enrolment_tokens (token_sha256 TEXT PRIMARY KEY,
            product TEXT NOT NULL, device_id TEXT, created_ms BIGINT NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS admin_tokens (token_sha256 TEXT PRIMARY KEY,
            name TEXT NOT NULL, scopes TEXT NOT NULL, created_ms BIGINT NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS device_credentials (device_id TEXT PRIMARY KEY,
            product TEXT NOT NULL, credential_sha256 TEXT NOT NULL, enrolled_ms BIGINT NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0)",
    ];

    const SEEN: &str = "2026-11-30T08:15:42.123456789Z";
    const SEEN_MS: i64 = 1_796_026_542_123;

    /// A database as the last release before migrations left it, with a row in each table.
    async fn old_database(url: &str, blob: &str) {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .unwrap();
        for stmt in OLD_SCHEMA {
            sqlx::query(&stmt.replace("{blob}", blob))
                .execute(&pool)
                .await
                .unwrap();
        }
        let index = serde_json::to_string(&RepoIndex {
            root_version: 1,
            timestamp_version: 3,
            ..RepoIndex::default()
        })
        .unwrap();
        let rows: &[(&str, Vec<&str>)] = &[
            ("INSERT INTO metadata VALUES ($1, $2, 3)", vec!["1.root.json"]),
            ("INSERT INTO devices VALUES ('cam-1', 'acme-cam', '1.0.0', 1, 'update', $1, NULL)", vec![SEEN]),
            ("INSERT INTO reports VALUES ('cam-1', 'acme-cam', 'installed', '1.1.0', NULL, 5)", vec![]),
            ("INSERT INTO device_credentials VALUES ('cam-1', 'acme-cam', 'c1', 5, 0)", vec![]),
            ("INSERT INTO admin_tokens VALUES ('h1', 'ci', 'read', 5, 0)", vec![]),
            ("INSERT INTO enrolment_tokens VALUES ('t1', 'acme-cam', NULL, 5, 0)", vec![]),
            ("INSERT INTO rollouts VALUES ('r1', 'acme-cam', 'acme-cam/fw-1.1.0.bin', '1.1.0', '[]', NULL, 'active', NULL, 5, 5)", vec![]),
            ("INSERT INTO audit VALUES (5, 'cli', 'x', '{}')", vec![]),
        ];
        for (sql, binds) in rows {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            if sql.contains("metadata") {
                q = q.bind(b"root-bytes".to_vec());
            }
            q.execute(&pool).await.unwrap();
        }
        sqlx::query("INSERT INTO head VALUES (1, 3, $1, $2, $3)")
            .bind(b"ts".to_vec())
            .bind(index)
            .bind(SEEN)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }

    async fn one_ms(pool: &AnyPool, sql: &str) -> i64 {
        sqlx::query(sql)
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    /// What [`old_database`] wrote, read back through the new code.
    async fn data_survives(url: &str) {
        for _ in 0..2 {
            // the second open finds every migration applied
            let db = SqlState::open_url(url, 2).await.unwrap();
            let head = db.load_head().await.unwrap().unwrap();
            assert_eq!(
                (head.generation, head.timestamp.as_slice()),
                (3, &b"ts"[..])
            );
            assert_eq!(head.index.timestamp_version, 3);
            assert_eq!(
                db.metadata("1.root.json").await.unwrap().unwrap(),
                b"root-bytes"
            );
            let versions = db.fleet_versions("acme-cam").await.unwrap();
            assert_eq!((versions.len(), versions[0].devices), (1, 1));
            assert_eq!(db.first_installs("acme-cam").await.unwrap().len(), 1);
            assert_eq!(db.credentials().await.unwrap()[0].device_id, "cam-1");
            // a token from before migration 4 expires 7 days after it was made
            let token = &db.enrolment_tokens().await.unwrap()[0];
            assert_eq!(
                (
                    token.id.as_str(),
                    token.expires.as_millisecond(),
                    token.uses_left
                ),
                ("t1", 5 + 7 * 86_400_000, None)
            );
            assert_eq!(
                db.admin_token("h1").await.unwrap(),
                Some(("ci".into(), "read".into()))
            );
            assert_eq!(db.list_rollouts().await.unwrap()[0].id, "r1");
            let audit = AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            };
            let audit = db.list_audit(&audit).await.unwrap();
            assert_eq!(
                (audit.len(), audit[0].id, audit[0].actor.as_str()),
                (1, 1, "cli")
            );
            // times that were RFC 3339 text are Unix milliseconds now
            let seen = one_ms(&db.pool, "SELECT last_seen_ms FROM devices").await;
            let updated = one_ms(&db.pool, "SELECT updated_ms FROM head").await;
            assert_eq!((seen, updated), (SEEN_MS, SEEN_MS));
            let applied = one_ms(&db.pool, "SELECT COUNT(*) FROM _sqlx_migrations").await;
            assert_eq!(applied, super::MIGRATIONS.len() as i64);
        }
        let db = SqlState::open_url(url, 2).await.unwrap();
        let at = jiff::Timestamp::from_millisecond(SEEN_MS + 1000).unwrap();
        db.commit(
            3,
            vec![("2.root.json".into(), b"r2".to_vec())],
            &Head {
                generation: 4,
                timestamp: b"ts4".to_vec(),
                index: RepoIndex::default(),
            },
        )
        .await
        .unwrap();
        db.record_check_in(&CheckInRecord {
            device_id: "cam-1".into(),
            product: "acme-cam".into(),
            version: "1.1.0".into(),
            security_version: 2,
            decision: "up_to_date".into(),
            at,
            policy: None,
            offered: None,
        })
        .await
        .unwrap();
        let seen = one_ms(&db.pool, "SELECT last_seen_ms FROM devices").await;
        assert_eq!(seen, SEEN_MS + 1000);
    }

    #[tokio::test]
    async fn database_of_the_release_before_migrations_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        std::fs::File::create(&path).unwrap();
        let url = format!("sqlite://{}", path.display());
        old_database(&url, "BLOB").await;
        data_survives(&url).await;
    }

    #[tokio::test]
    async fn postgres_database_of_the_release_before_migrations_keeps_its_data() {
        let Some(url) = postgres_db("postgres_database_of_the_release_before_migrations").await
        else {
            return;
        };
        old_database(&url, "BYTEA").await;
        data_survives(&url).await;
    }

    #[tokio::test]
    async fn every_time_column_holds_milliseconds() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::tests::sqlite(&dir).await;
        let columns: Vec<(String, String)> = sqlx::query(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name <> '_sqlx_migrations'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.try_get(0).unwrap(), r.try_get(1).unwrap()))
        .collect();
        let times: Vec<_> = columns
            .iter()
            .filter(|(_, c)| c.contains("_at") || c.contains("seen") || c.ends_with("_ms"))
            .collect();
        assert!(times.len() >= 8, "{times:?}");
        for (table, column) in times {
            assert!(
                column.ends_with("_ms"),
                "{table}.{column} is not in milliseconds"
            );
        }
    }
}
