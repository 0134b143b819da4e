//! The upgrade test: a database written by the previous schema (a fixture the code of that
//! schema made, committed in `server/fixtures/schema-6/`: a SQLite file and a PostgreSQL dump)
//! opened by the current code, which migrates it; every row must survive.
//!
//! `scripts/upgrade-fixture` regenerates the fixture with [`write_upgrade_fixture`] (an ignored
//! test). Do that when a release ships with new migrations, into a new `schema-N` directory,
//! and point [`FIXTURE`] at it: the fixture is always the schema of the last release.

use sqlx::Row;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_core::api::DeviceReport;
use airlock_core::rollout::{parse_health_rule, parse_waves, Rollout, RolloutState};

use crate::storage::tests::postgres_db;
use crate::storage::*;

/// The fixture directory and the schema version it was written at.
const FIXTURE: &str = "schema-6";
const FIXTURE_SCHEMA: i64 = 6;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(FIXTURE)
}

fn t0() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_796_000_000).unwrap()
}

fn at(seconds: i64) -> jiff::Timestamp {
    t0() + jiff::SignedDuration::from_secs(seconds)
}

/// (name, content) of every metadata file, in the commits that wrote them.
fn metadata_commits() -> Vec<Vec<(String, Vec<u8>)>> {
    let file = |role: &str, version: u64| {
        (
            format!("{version}.{role}.json"),
            format!(r#"{{"signed":{{"_type":"{role}","version":{version}}},"signatures":[]}}"#)
                .into_bytes(),
        )
    };
    vec![
        vec![
            file("root", 1),
            file("targets", 1),
            file("acme-cam", 1),
            file("acme-lock", 1),
            file("snapshot", 1),
        ],
        vec![file("acme-cam", 2), file("snapshot", 2)],
        vec![file("root", 2), file("targets", 2), file("snapshot", 3)],
    ]
}

fn cam(i: usize) -> String {
    format!("cam-{i:03}")
}

fn token(id: &str, product: &str, device: Option<&str>, uses: Option<u64>) -> EnrolmentToken {
    EnrolmentToken {
        id: id.into(),
        token_sha256: format!("{id}-digest"),
        product: product.into(),
        device_id: device.map(str::to_string),
        created: at(10),
        expires: at(10 + 90 * 86_400),
        uses_left: uses,
        revoked: false,
        drill: false,
    }
}

/// Writes the fixture's data through the store's own code: metadata versions and the head,
/// devices' check-ins and offers, reports, rollouts, audit entries, enrolment tokens, device
/// credentials and admin tokens.
async fn fill(db: &SqlState) {
    for (generation, files) in metadata_commits().into_iter().enumerate() {
        let generation = generation as u64;
        let head = Head {
            generation: generation + 1,
            timestamp: format!("timestamp v{}", generation + 1).into_bytes(),
            index: RepoIndex {
                root_version: if generation < 2 { 1 } else { 2 },
                targets_version: if generation < 2 { 1 } else { 2 },
                snapshot_version: generation + 1,
                timestamp_version: generation + 1,
                ..RepoIndex::default()
            },
        };
        db.commit(generation, files, &head).await.unwrap();
    }
    let versions = ["1.0.0", "1.1.0", "1.2.0"];
    let mut check_ins = Vec::new();
    for i in 0..100 {
        check_ins.push(CheckInRecord {
            device_id: cam(i),
            product: "acme-cam".into(),
            version: versions[i % 3].into(),
            security_version: (i % 3) as u64 + 1,
            decision: if i % 3 == 2 { "up_to_date" } else { "update" }.into(),
            at: at(3600 + i as i64),
            policy: (i % 10 == 0).then(|| r#"{"postpone_days":3}"#.to_string()),
            offered: (i % 3 != 2).then(|| "1.2.0".to_string()),
        });
    }
    for i in 0..20 {
        check_ins.push(CheckInRecord {
            device_id: format!("lock-{i:03}"),
            product: "acme-lock".into(),
            version: "0.9.0".into(),
            security_version: 1,
            decision: "update".into(),
            at: at(3600 + i),
            policy: None,
            offered: Some("1.1.0".into()),
        });
    }
    db.record_check_ins(&check_ins).await.unwrap();
    for i in 0..60 {
        let failed = i % 4 == 0;
        let report: DeviceReport = serde_json::from_value(serde_json::json!({
            "status": if failed { "failed" } else { "installed" },
            "version": "1.2.0",
            "code": if failed { Some("E_FLASH") } else { None },
        }))
        .unwrap();
        db.record_report(&cam(i), &report, at(7200 + i as i64))
            .await
            .unwrap();
    }
    db.insert_rollout(&Rollout {
        id: "r-cam-1.2.0".into(),
        product: "acme-cam".into(),
        target: "acme-cam/fw-1.2.0.bin".into(),
        version: "1.2.0".parse().unwrap(),
        waves: parse_waves("10%@0h,100%@24h").unwrap(),
        health: Some(parse_health_rule("failures>=5% after 20 reports").unwrap()),
        state: RolloutState::Active,
        started_at: at(1800),
        reason: None,
    })
    .await
    .unwrap();
    db.insert_rollout(&Rollout {
        id: "r-lock-1.1.0".into(),
        product: "acme-lock".into(),
        target: "acme-lock/fw-1.1.0.bin".into(),
        version: "1.1.0".parse().unwrap(),
        waves: parse_waves("100%@0h").unwrap(),
        health: None,
        state: RolloutState::Active,
        started_at: at(1900),
        reason: None,
    })
    .await
    .unwrap();
    db.set_rollout_state(
        "r-lock-1.1.0",
        RolloutState::Paused,
        Some("operator"),
        at(2000),
    )
    .await
    .unwrap();
    let actions = ["publish", "rollout.start", "token.create"];
    for i in 0..25 {
        db.audit(
            at(i),
            if i % 2 == 0 { "cli" } else { "ci" },
            actions[i as usize % 3],
            &serde_json::json!({"n": i}),
        )
        .await
        .unwrap();
    }
    db.insert_enrolment_token(&token("factory0000000001", "acme-cam", None, None))
        .await
        .unwrap();
    db.insert_enrolment_token(&token(
        "device0000000002",
        "acme-cam",
        Some("cam-099"),
        Some(1),
    ))
    .await
    .unwrap();
    db.insert_enrolment_token(&EnrolmentToken {
        drill: true,
        ..token("drill00000000003", "acme-lock", None, Some(5))
    })
    .await
    .unwrap();
    db.insert_enrolment_token(&token("revoked000000004", "acme-lock", None, None))
        .await
        .unwrap();
    db.revoke_enrolment_token("revoked000000004")
        .await
        .unwrap()
        .unwrap();
    for i in 0..10 {
        let credential = DeviceCredential {
            device_id: cam(i),
            product: "acme-cam".into(),
            credential_sha256: format!("credential-{i}"),
            revoked: false,
            drill: false,
        };
        assert_eq!(
            db.enrol_with_token("factory0000000001-digest", &credential, at(100 + i as i64))
                .await
                .unwrap(),
            EnrolOutcome::Enrolled { drill: false }
        );
    }
    assert!(db.revoke_device(&cam(9)).await.unwrap());
    for (name, scopes) in [
        ("ci", "publish,read"),
        ("ops", "rollout,devices"),
        ("old", "read"),
    ] {
        db.insert_admin_token(&format!("{name}-digest"), name, scopes, at(50))
            .await
            .unwrap();
    }
    assert_eq!(db.revoke_admin_token("old").await.unwrap(), 1);
}

/// Rows per table (not the migrations' own table).
async fn table_counts(db: &SqlState) -> BTreeMap<String, i64> {
    let tables: Vec<String> = match db.backend() {
        Backend::Sqlite => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        ),
        Backend::Postgres => sqlx::query_scalar(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        ),
    }
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut counts = BTreeMap::new();
    for t in tables.into_iter().filter(|t| t != "_sqlx_migrations") {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {t}"))
            .fetch_one(&db.pool)
            .await
            .unwrap();
        counts.insert(t, n);
    }
    counts
}

/// What [`fill`] wrote, read back through the current code.
async fn samples_survive(db: &SqlState) {
    let head = db.load_head().await.unwrap().unwrap();
    assert_eq!(
        (head.generation, head.timestamp.as_slice()),
        (3, &b"timestamp v3"[..])
    );
    assert_eq!(
        (head.index.root_version, head.index.snapshot_version),
        (2, 3)
    );
    for (name, content) in metadata_commits().into_iter().flatten() {
        assert_eq!(db.metadata(&name).await.unwrap(), Some(content), "{name}");
    }
    let cams = db.fleet_versions("acme-cam").await.unwrap();
    let by_version: BTreeMap<_, _> = cams
        .iter()
        .map(|v| (v.version.as_str(), (v.security_version, v.devices)))
        .collect();
    assert_eq!(
        by_version,
        BTreeMap::from([("1.0.0", (1, 34)), ("1.1.0", (2, 33)), ("1.2.0", (3, 33))])
    );
    assert_eq!(db.fleet_versions("acme-lock").await.unwrap()[0].devices, 20);
    let last_seen: i64 = sqlx::query("SELECT last_seen_ms FROM devices WHERE id = 'cam-042'")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(last_seen, at(3642).as_millisecond());
    // migration 13: a device from before it has one run of check-ins, its last one
    let runs = db.device_history("cam-042", 10).await.unwrap().check_ins;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!((runs[0].since, runs[0].until), (at(3642), at(3642)));
    assert_eq!((runs[0].check_ins, runs[0].current), (1, true));
    // 60 reports of 1.2.0, every 4th failed; only the devices offered 1.2.0 count
    let offered = (0..60).filter(|i| i % 3 != 2);
    let failed = offered.clone().filter(|i| i % 4 == 0).count() as u64;
    let installed = offered.count() as u64 - failed;
    assert_eq!(
        db.outcome_counts("acme-cam", "1.2.0", at(0)).await.unwrap(),
        (installed, failed)
    );
    // migration 12: reports from before it carry no delta outcome, and none is counted
    let with_delta: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM reports WHERE delta_applied IS NOT NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(with_delta, 0);
    assert_eq!(
        db.delta_outcomes("acme-cam", "1.2.0", at(0)).await.unwrap(),
        DeltaOutcomes::default()
    );
    // migration 10's kept figures start from what the rows add up to
    let first_installs = db.first_installs("acme-cam").await.unwrap();
    assert!(!first_installs.is_empty());
    crate::storage::fleet_queries::kept_figures_tests::compare(
        db,
        &["acme-cam", "acme-lock", "acme-none"],
        &["1.0.0", "1.1.0", "1.2.0"],
        at(0).as_millisecond(),
    )
    .await;
    let rollouts = db.list_rollouts().await.unwrap();
    let states: BTreeMap<_, _> = rollouts
        .iter()
        .map(|r| (r.id.as_str(), (r.state, r.reason.clone())))
        .collect();
    assert_eq!(
        states,
        BTreeMap::from([
            ("r-cam-1.2.0", (RolloutState::Active, None)),
            (
                "r-lock-1.1.0",
                (RolloutState::Paused, Some("operator".to_string()))
            )
        ])
    );
    let cam_rollout = rollouts.iter().find(|r| r.id == "r-cam-1.2.0").unwrap();
    assert_eq!(cam_rollout.waves, parse_waves("10%@0h,100%@24h").unwrap());
    assert_eq!(cam_rollout.started_at, at(1800));
    let audit = db
        .list_audit(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 25);
    assert_eq!(
        (
            audit[0].id,
            audit[0].at,
            audit[0].actor.as_str(),
            audit[0].action.as_str()
        ),
        (25, at(24), "cli", "publish")
    );
    assert_eq!(audit[24].detail, serde_json::json!({"n": 0}));
    let tokens = db.enrolment_tokens().await.unwrap();
    let by_id: BTreeMap<_, _> = tokens.iter().map(|t| (t.id.as_str(), t)).collect();
    assert_eq!(by_id.len(), 4);
    assert_eq!(
        by_id["device0000000002"].device_id.as_deref(),
        Some("cam-099")
    );
    assert!(by_id["drill00000000003"].drill);
    assert!(by_id["revoked000000004"].revoked);
    assert_eq!(by_id["factory0000000001"].expires, at(10 + 90 * 86_400));
    let credentials = db.credentials().await.unwrap();
    assert_eq!(credentials.len(), 10);
    assert_eq!(
        credentials.iter().filter(|c| c.revoked).count(),
        1,
        "cam-009 stays revoked"
    );
    assert_eq!(
        db.admin_token("ci-digest").await.unwrap(),
        Some(("ci".into(), "publish,read".into()))
    );
    assert_eq!(db.admin_token("old-digest").await.unwrap(), None);
    assert_eq!(db.admin_tokens().await.unwrap().len(), 3);
}

/// The fixture's manifest: the schema it was written at and its rows per table.
fn manifest() -> (i64, BTreeMap<String, i64>) {
    let text = std::fs::read_to_string(fixture_dir().join("manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let counts = serde_json::from_value(v["rows"].clone()).unwrap();
    (v["schema_version"].as_i64().unwrap(), counts)
}

/// Opens the fixture database at `url` with the current code and checks every row.
async fn upgrade_keeps_every_row(url: &str) {
    let (schema, rows) = manifest();
    assert_eq!(schema, FIXTURE_SCHEMA);
    let (db, applied) = SqlState::open_url_with(url, 2, SchemaPolicy::Untouched)
        .await
        .unwrap();
    assert!(applied.is_empty());
    assert_eq!(
        db.schema_versions().await.unwrap(),
        (1..=FIXTURE_SCHEMA).collect::<Vec<_>>(),
        "the fixture is at the previous schema"
    );
    assert!(
        rows.values().sum::<i64>() > 250,
        "the fixture holds data: {rows:?}"
    );
    drop(db);
    let (db, applied) = SqlState::open_url_with(url, 2, SchemaPolicy::Migrate)
        .await
        .unwrap();
    let newer: Vec<i64> = migrations::known_versions()
        .into_iter()
        .filter(|v| *v > FIXTURE_SCHEMA)
        .collect();
    assert_eq!(applied.iter().map(|m| m.version).collect::<Vec<_>>(), newer);
    let now = table_counts(&db).await;
    for (table, n) in &rows {
        assert_eq!(now.get(table), Some(n), "rows of {table} after migrating");
    }
    samples_survive(&db).await;
}

#[tokio::test]
async fn sqlite_database_of_the_previous_schema_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("airlock.db");
    std::fs::copy(fixture_dir().join("airlock.db"), &path).unwrap();
    upgrade_keeps_every_row(&format!("sqlite://{}", path.display())).await;
}

#[tokio::test]
async fn postgres_database_of_the_previous_schema_keeps_every_row() {
    let Some(url) = postgres_db("postgres_database_of_the_previous_schema_keeps_every_row").await
    else {
        return;
    };
    let out = std::process::Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f"])
        .arg(fixture_dir().join("postgres.sql"))
        .output()
        .expect("running psql (Debian package postgresql-client)");
    assert!(
        out.status.success(),
        "loading postgres.sql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    upgrade_keeps_every_row(&url).await;
}

/// A database a newer airlock-server migrated (a version this binary does not know) is
/// refused before anything is written, naming the versions.
#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("airlock.db");
    drop(SqlState::open_sqlite(&path).await.unwrap());
    let url = format!("sqlite://{}", path.display());
    let newer = migrations::latest_version() + 1;
    let db = SqlState::open_url_with(&url, 1, SchemaPolicy::Untouched)
        .await
        .unwrap()
        .0;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, 'from the future', TRUE, x'00', 1)",
    )
    .bind(newer)
    .execute(&db.pool)
    .await
    .unwrap();
    db.pool.close().await;
    for policy in [
        SchemaPolicy::Migrate,
        SchemaPolicy::RequireCurrent,
        SchemaPolicy::Untouched,
    ] {
        match SqlState::open_url_with(&url, 1, policy).await {
            Err(StateError::SchemaNewer { unknown, known }) => {
                assert_eq!((unknown, known), (vec![newer], newer - 1));
            }
            other => panic!("{policy:?}: {other:?}"),
        }
    }
}

/// `serve --no-migrate` on a database lacking migrations refuses, naming them.
#[tokio::test]
async fn require_current_refuses_pending_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("airlock.db");
    std::fs::copy(fixture_dir().join("airlock.db"), &path).unwrap();
    let url = format!("sqlite://{}", path.display());
    let pending: Vec<i64> = migrations::known_versions()
        .into_iter()
        .filter(|v| *v > FIXTURE_SCHEMA)
        .collect();
    let result = SqlState::open_url_with(&url, 1, SchemaPolicy::RequireCurrent).await;
    if pending.is_empty() {
        assert!(result.is_ok());
    } else {
        match result {
            Err(e @ StateError::SchemaOutdated { .. }) => {
                assert!(e.to_string().contains("airlock-server migrate"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
    // an empty database lacks every migration
    let empty = dir.path().join("empty.db");
    std::fs::File::create(&empty).unwrap();
    let result = SqlState::open_url_with(
        &format!("sqlite://{}", empty.display()),
        1,
        SchemaPolicy::RequireCurrent,
    )
    .await;
    assert!(
        matches!(result, Err(StateError::SchemaOutdated { at: 0, .. })),
        "{result:?}"
    );
}

/// Regenerates the fixture (`scripts/upgrade-fixture`): writes `airlock.db`, `postgres.sql`
/// (pg_dump) and `manifest.json` into $AIRLOCK_FIXTURE_DIR with the current schema.
#[tokio::test]
#[ignore = "writes the upgrade fixture; run by scripts/upgrade-fixture"]
async fn write_upgrade_fixture() {
    let out = PathBuf::from(std::env::var("AIRLOCK_FIXTURE_DIR").expect("AIRLOCK_FIXTURE_DIR"));
    std::fs::create_dir_all(&out).unwrap();
    let db_path = out.join("airlock.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
    let sqlite = SqlState::open_sqlite(&db_path).await.unwrap();
    fill(&sqlite).await;
    let counts = table_counts(&sqlite).await;
    sqlite.pool.close().await;
    // one self-contained file: no write-ahead log beside it
    let single = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}", db_path.display()))
        .await
        .unwrap();
    for stmt in ["PRAGMA journal_mode = DELETE", "VACUUM"] {
        sqlx::query(stmt).execute(&single).await.unwrap();
    }
    single.close().await;

    let url = postgres_db("write_upgrade_fixture")
        .await
        .expect("AIRLOCK_TEST_POSTGRES_URL (scripts/postgres)");
    let pg = SqlState::open_url(&url, 2).await.unwrap();
    fill(&pg).await;
    assert_eq!(
        table_counts(&pg).await,
        counts,
        "SQLite and PostgreSQL agree"
    );
    pg.pool.close().await;
    let dump = std::process::Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges", "--inserts", "-d", &url])
        .output()
        .expect("running pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    // without pg_dump's \restrict lines (PostgreSQL 15.14+), which older psql cannot read
    let dump: String = String::from_utf8(dump.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(out.join("postgres.sql"), dump).unwrap();
    let manifest = serde_json::json!({
        "schema_version": migrations::latest_version(),
        "written_by": "scripts/upgrade-fixture (server/src/storage/upgrade_tests.rs, write_upgrade_fixture)",
        "rows": counts,
    });
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap() + "\n",
    )
    .unwrap();
}
