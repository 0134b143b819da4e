//! Databases for the storage tests: a SQLite file, or a fresh PostgreSQL database.

use sqlx::any::AnyPoolOptions;

use super::SqlState;

/// A fresh SQLite state database in `dir`.
pub(crate) async fn sqlite(dir: &tempfile::TempDir) -> SqlState {
    SqlState::open_sqlite(&dir.path().join("s.db"))
        .await
        .unwrap()
}

/// Says loudly that `test` skipped (and adds it to the file named by AIRLOCK_SKIP_LOG, which
/// scripts/test totals), or fails it when skips are failures (CI, AIRLOCK_REQUIRE_ALL=1).
pub(crate) fn skip(test: &str, why: &str) {
    let strict = std::env::var("AIRLOCK_REQUIRE_ALL").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!strict, "{test}: {why}, and skips are failures here");
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
    if let Some(log) = std::env::var_os("AIRLOCK_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
        {
            let _ = writeln!(f, "{test}: {why}");
        }
    }
}

/// A fresh PostgreSQL database on the server named by AIRLOCK_TEST_POSTGRES_URL (started by
/// scripts/test); `None` (said loudly) when there is none, a failure when skips are failures.
pub(crate) async fn postgres_db(test: &str) -> Option<String> {
    let Ok(admin) = std::env::var("AIRLOCK_TEST_POSTGRES_URL") else {
        skip(
            &format!("{test} on PostgreSQL"),
            "AIRLOCK_TEST_POSTGRES_URL is not set (scripts/test sets it)",
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!(
        "airlock_unit_{}",
        crate::deviceauth::random_secret()[..12].to_lowercase()
    )
    .replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "x");
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    Some(url.to_string())
}
