//! `airlock-server migrate-storage`: move an embedded install (SQLite and the blob directory of
//! --data) onto PostgreSQL and S3 (the work is `airlock_server::storage_move`).

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use airlock_server::storage::{LocalBlobs, S3Blobs, SchemaPolicy, SqlState};
use airlock_server::storage_move::{self, MoveError, Progress};
use airlock_server::{DataDir, Storage};

use super::storage_args::StorageArgs;

#[derive(clap::Args)]
pub struct MigrateStorageArgs {
    /// The embedded install to move: its data directory (airlock.db and blobs/). Stop the
    /// server first: what it writes during the move would fail the final verification.
    #[arg(long, env = "AIRLOCK_DATA")]
    pub data: PathBuf,
    /// The PostgreSQL database to move the state into: postgres://USER[:PASSWORD]@HOST[:PORT]/DB
    /// (empty, or holding what an interrupted run of this move copied).
    #[arg(long, env = "AIRLOCK_TO_STATE_URL")]
    pub to_state: String,
    /// The bucket to move the blobs into: s3://BUCKET[/PREFIX], reached with --s3-endpoint,
    /// --s3-region, --s3-path-style and --s3-timeout-seconds as `serve` is.
    #[arg(long, env = "AIRLOCK_TO_BLOBS")]
    pub to_blobs: String,
}

pub async fn run(
    args: MigrateStorageArgs,
    storage: &Storage,
    flags: &StorageArgs,
    json: bool,
) -> Result<()> {
    if storage.state_url.is_some() || storage.blobs.is_some() {
        return Err(airlock_cli::Failure::usage(
            "migrate-storage moves the embedded storage of --data: give the target as --to-state \
             and --to-blobs, not --state-url / --blobs (unset AIRLOCK_STATE_URL and AIRLOCK_BLOBS)",
        )
        .into());
    }
    if !(args.to_state.starts_with("postgres://") || args.to_state.starts_with("postgresql://")) {
        return Err(airlock_cli::Failure::usage(
            "--to-state: give a PostgreSQL URL, postgres://USER[:PASSWORD]@HOST[:PORT]/DB",
        )
        .into());
    }
    let target_blobs_config = flags.s3_config("--to-blobs", &args.to_blobs)?;
    let dir = DataDir::new(&args.data);
    if !dir.database().is_file() {
        return Err(airlock_cli::Failure::not_found(format!(
            "{} does not exist: --data must be the data directory of an embedded install",
            dir.database().display()
        ))
        .into());
    }
    let (source, _) = SqlState::open_sqlite_with(&dir.database(), SchemaPolicy::Migrate)
        .await
        .with_context(|| format!("opening {}", dir.database().display()))?;
    let source_blobs = LocalBlobs::open_dir(&dir.blobs())
        .await
        .with_context(|| format!("opening {}", dir.blobs().display()))?;
    let target_url = airlock_server::storage::redact_url(&args.to_state);
    let (target, _) = SqlState::open_url_with(&args.to_state, 8, SchemaPolicy::Migrate)
        .await
        .with_context(|| format!("opening the target database {target_url}"))?;
    let target_blobs = S3Blobs::open(target_blobs_config, &dir.root.join("spool"))
        .await
        .with_context(|| format!("opening the target bucket {}", args.to_blobs))?;
    let blob_list = storage_move::local_blobs(&dir.blobs())?;

    let last = Mutex::new(Instant::now() - Duration::from_secs(1));
    let progress = |p: Progress<'_>| {
        let line = match p {
            Progress::Rows { table, done, total } => {
                // a line a second at most, and one when a table is done
                if done < total
                    && last
                        .lock()
                        .is_ok_and(|l| l.elapsed() < Duration::from_secs(1))
                {
                    return;
                }
                format!("copying {table}: {done}/{total} rows")
            }
            Progress::Blobs {
                done,
                total,
                bytes,
                total_bytes,
            } => {
                if done < total
                    && last
                        .lock()
                        .is_ok_and(|l| l.elapsed() < Duration::from_secs(1))
                {
                    return;
                }
                format!(
                    "copying blobs: {done}/{total} ({} of {} MiB)",
                    bytes >> 20,
                    total_bytes >> 20
                )
            }
            Progress::Verifying => "verifying: counting and hashing every table and blob".into(),
        };
        if let Ok(mut l) = last.lock() {
            *l = Instant::now();
        }
        eprintln!("migrate-storage: {line}");
    };
    let report = storage_move::move_storage(
        &source,
        &source_blobs,
        &blob_list,
        &target,
        &target_blobs,
        &progress,
    )
    .await
    .map_err(|e| match e {
        MoveError::TargetDiffers(_) => airlock_cli::Failure::refused(e.to_string()).into(),
        MoveError::Verification(_) => airlock_cli::Failure::verification(e.to_string()).into(),
        e => anyhow::Error::new(e),
    })
    .with_context(|| {
        format!(
            "moving {} to {target_url} and {}",
            args.data.display(),
            args.to_blobs
        )
    })?;

    if json {
        let mut value = serde_json::to_value(&report)?;
        value["to_state"] = target_url.into();
        value["to_blobs"] = args.to_blobs.clone().into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("table\trows\tcopied now\tsha256 (same in both)");
        for t in &report.tables {
            println!("{}\t{}\t{}\t{}", t.table, t.rows, t.copied, t.sha256);
        }
        let b = &report.blobs;
        println!(
            "blobs\t{}\t{}\t{} bytes, {} read back and hashed",
            b.blobs, b.copied, b.bytes, b.verified
        );
        println!(
            "moved and verified; next: serve with --state-url {target_url} --blobs {} (and the \
             same --s3-* flags)",
            args.to_blobs
        );
    }
    Ok(())
}
