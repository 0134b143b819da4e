//! `airlock-server migrate`: bring the state database's schema up to date, as its own step
//! (before replicas started with `serve --no-migrate` roll out).

use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;

use airlock_server::storage::{migrations, AppliedMigration, SchemaPolicy};
use airlock_server::{DataDir, Storage};

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The data directory whose SQLite database to migrate (not needed with --state-url).
    #[arg(long, env = "AIRLOCK_DATA")]
    pub data: Option<PathBuf>,
}

#[derive(Serialize)]
struct MigrateReport {
    /// The migrations applied by this run, in order (empty when the schema was current).
    applied: Vec<AppliedMigration>,
    /// The schema version of the database now.
    schema_version: i64,
    /// The newest schema version this airlock-server knows.
    known_version: i64,
}

pub async fn run(args: MigrateArgs, storage: &Storage, json: bool) -> Result<()> {
    let data = match (&args.data, &storage.state_url) {
        (Some(data), _) => data.clone(),
        (None, Some(_)) => PathBuf::from("."),
        (None, None) => {
            return Err(airlock_cli::Failure::usage(
                "migrate needs --data DIR (its airlock.db) or --state-url postgres://...",
            )
            .into())
        }
    };
    let dir = DataDir::new(&data);
    if storage.state_url.is_none() && !dir.database().is_file() {
        return Err(airlock_cli::Failure::not_found(format!(
            "{} does not exist: not an airlock-server data directory (create one with \
             `airlock-server init --data {}`)",
            dir.database().display(),
            data.display()
        ))
        .into());
    }
    let storage = Storage {
        schema: SchemaPolicy::Migrate,
        ..storage.clone()
    };
    let (state, applied) = storage.open_state_reporting(&dir).await?;
    let report = MigrateReport {
        applied,
        schema_version: state.schema_versions().await?.last().copied().unwrap_or(0),
        known_version: migrations::latest_version(),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for m in &report.applied {
            println!("applied {} {}", m.version, m.description);
        }
        println!(
            "schema version {}{}",
            report.schema_version,
            if report.applied.is_empty() {
                " (up to date, nothing applied)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
