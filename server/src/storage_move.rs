//! Moving an embedded install (SQLite and a blob directory) onto shared storage (PostgreSQL and
//! S3), for `airlock-server migrate-storage`.
//!
//! Nothing is lost and an interrupted move is finished by running it again:
//! - every table of the source is copied whole, by its column names (so a table a later
//!   migration adds moves without changes here), in batches that commit as they go; a row
//!   already in the target with equal content is skipped, so a second run copies only what
//!   the first did not;
//! - before anything is written, the target is compared with the source: a row under the same
//!   key with other content, or a row the source does not hold, means the target holds other
//!   data, and the move is refused;
//! - blobs are content-addressed: one already in the bucket with its length is kept, others
//!   are uploaded (the store verifies their sha256);
//! - blobs go first and the published head last, so a server started on a half-moved target
//!   never serves a repository whose files are missing;
//! - at the end every table's rows are counted and digested on both sides, and every blob is
//!   read back from the bucket and hashed.

use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

use crate::storage::{BlobError, BlobStore, SqlState, StateError};

#[derive(Debug, Error)]
pub enum MoveError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("reading the blob directory {path}: {source}")]
    BlobDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("blob {sha256}: {source}")]
    Blob { sha256: String, source: BlobError },
    /// The target holds data the source does not: another install's, or changed since.
    #[error("the target holds other data than the source: {0}; refusing to mix them (use an empty database and bucket prefix, or the one an earlier run of this move filled)")]
    TargetDiffers(String),
    #[error("the target database lacks table {table} or its column {column} (its schema is older than the source's?)")]
    TargetSchema { table: String, column: String },
    /// The final comparison found a difference (the source changed during the move?).
    #[error("verification failed: {0}")]
    Verification(String),
}

impl From<sqlx::Error> for MoveError {
    fn from(e: sqlx::Error) -> Self {
        MoveError::State(e.into())
    }
}

/// One table, moved and verified.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub table: String,
    /// Rows in the source (and, verified, in the target).
    pub rows: u64,
    /// Rows written by this run (the rest were there already).
    pub copied: u64,
    /// sha256 over the table's rows (each row's digest, sorted), the same on both sides.
    pub sha256: String,
}

/// The blobs, moved and verified.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BlobReport {
    pub blobs: u64,
    pub bytes: u64,
    /// Blobs uploaded by this run (the rest were there already).
    pub copied: u64,
    /// Blobs read back from the target whose sha256 and length matched.
    pub verified: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MoveReport {
    pub tables: Vec<TableReport>,
    pub blobs: BlobReport,
}

/// What the move is doing, for a progress display.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    Rows {
        table: &'a str,
        done: u64,
        total: u64,
    },
    Blobs {
        done: u64,
        total: u64,
        bytes: u64,
        total_bytes: u64,
    },
    Verifying,
}

/// A column's kind, from its declared SQLite type (the same names the migrations give both
/// databases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Blob,
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    /// Sorted by name, so a row's digest does not depend on either database's column order.
    columns: Vec<(String, Kind)>,
    /// Indexes into `columns` of the primary key; empty = the whole row is the key.
    key: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn digest_into(&self, h: &mut Sha256) {
        match self {
            Value::Null => h.update([0u8]),
            Value::Int(v) => {
                h.update([1u8]);
                h.update(v.to_be_bytes());
            }
            Value::Text(s) => {
                h.update([2u8]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
            Value::Blob(b) => {
                h.update([3u8]);
                h.update((b.len() as u64).to_be_bytes());
                h.update(b);
            }
        }
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn read_row(table: &Table, row: &sqlx::any::AnyRow) -> Result<Vec<Value>, sqlx::Error> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            Ok(match kind {
                Kind::Int => row
                    .try_get::<Option<i64>, _>(i)?
                    .map_or(Value::Null, Value::Int),
                Kind::Text => row
                    .try_get::<Option<String>, _>(i)?
                    .map_or(Value::Null, Value::Text),
                Kind::Blob => row
                    .try_get::<Option<Vec<u8>>, _>(i)?
                    .map_or(Value::Null, Value::Blob),
            })
        })
        .collect()
}

type Digest32 = [u8; 32];

fn digest_of<'a>(values: impl Iterator<Item = &'a Value>) -> Digest32 {
    let mut h = Sha256::new();
    for v in values {
        v.digest_into(&mut h);
    }
    h.finalize().into()
}

fn row_digest(row: &[Value]) -> Digest32 {
    digest_of(row.iter())
}

fn key_digest(table: &Table, row: &[Value]) -> Digest32 {
    if table.key.is_empty() {
        row_digest(row)
    } else {
        digest_of(table.key.iter().map(|&i| &row[i]))
    }
}

/// Tables that the triggers of migrations 10, 11 and 12 fill as devices and reports are
/// written: the target's triggers rebuild them while those rows are copied, so a copy of them
/// would count twice. They are compared at the end; the change tables by what their rows add
/// up to (how the rows are folded, or in which order reports were written, differs between the
/// sides).
const DERIVED_TABLES: &[&str] = &[
    "delta_outcomes",
    "device_votes",
    "first_installs",
    "fleet_count_changes",
    "fleet_history_changes",
];
/// Derived tables kept as change rows, compared by their sums (see [`DERIVED_TABLES`]).
fn is_change_table(name: &str) -> bool {
    matches!(name, "fleet_count_changes" | "fleet_history_changes")
}

/// Count and digest of a table kept by triggers (see [`DERIVED_TABLES`]).
async fn derived_digest(state: &SqlState, table: &Table) -> Result<(u64, String), MoveError> {
    // the second column of the key: a security version, or an instant
    let sums_of = match table.name.as_str() {
        "fleet_count_changes" => {
            "SELECT product, version, security_version, CAST(SUM(devices) AS BIGINT) AS devices
             FROM fleet_count_changes GROUP BY product, version, security_version
             HAVING SUM(devices) <> 0"
        }
        "fleet_history_changes" => {
            "SELECT product, version, at_ms, CAST(SUM(devices) AS BIGINT) AS devices
             FROM fleet_history_changes GROUP BY product, version, at_ms
             HAVING SUM(devices) <> 0"
        }
        _ => return table_digest(state, table).await,
    };
    let sums: Vec<(String, String, i64, i64)> = sqlx::query(sums_of)
        .fetch_all(&state.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let mut lines: Vec<String> = sums
        .iter()
        .map(|(p, v, s, n)| format!("{p:?} {v:?} {s} {n}"))
        .collect();
    lines.sort_unstable();
    let mut h = Sha256::new();
    for line in &lines {
        h.update(line.as_bytes());
        h.update(b"\n");
    }
    Ok((lines.len() as u64, hex::encode(h.finalize())))
}

/// The tables of the source and their columns, from SQLite's catalogue; the published head
/// last (it names metadata files, which must be there before it).
async fn source_tables(source: &SqlState) -> Result<Vec<Table>, MoveError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         AND name <> '_sqlx_migrations' ORDER BY name = 'head', name",
    )
    .fetch_all(&source.pool)
    .await?;
    let mut tables = Vec::new();
    for name in names {
        let rows = sqlx::query("SELECT name, type, pk FROM pragma_table_info($1) ORDER BY name")
            .bind(&name)
            .fetch_all(&source.pool)
            .await?;
        let mut columns = Vec::new();
        let mut key = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let column: String = r.try_get(0)?;
            let declared: String = r.try_get::<String, _>(1)?.to_ascii_uppercase();
            let pk: i64 = r.try_get(2)?;
            let kind = if declared.contains("INT") {
                Kind::Int
            } else if declared.contains("BLOB") {
                Kind::Blob
            } else {
                Kind::Text
            };
            if pk > 0 {
                key.push(i);
            }
            columns.push((column, kind));
        }
        tables.push(Table { name, columns, key });
    }
    Ok(tables)
}

/// Fails unless the target has every table and column of the source.
async fn check_target_schema(target: &SqlState, tables: &[Table]) -> Result<(), MoveError> {
    let present: Vec<(String, String)> = sqlx::query(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns
         WHERE table_schema = current_schema()",
    )
    .fetch_all(&target.pool)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_, sqlx::Error>>()?;
    for t in tables {
        for (c, _) in &t.columns {
            if !present.iter().any(|(pt, pc)| pt == &t.name && pc == c) {
                return Err(MoveError::TargetSchema {
                    table: t.name.clone(),
                    column: c.clone(),
                });
            }
        }
    }
    Ok(())
}

fn select_all(table: &Table) -> String {
    let cols: Vec<String> = table.columns.iter().map(|(c, _)| quote(c)).collect();
    format!("SELECT {} FROM {}", cols.join(", "), quote(&table.name))
}

/// The target's rows of `table`: key digest -> (row digest, how many rows have that key).
async fn target_rows(
    target: &SqlState,
    table: &Table,
) -> Result<HashMap<Digest32, (Digest32, u64)>, MoveError> {
    let sql = select_all(table);
    let mut rows = sqlx::query(&sql).fetch(&target.pool);
    let mut map: HashMap<Digest32, (Digest32, u64)> = HashMap::new();
    while let Some(row) = rows.try_next().await? {
        let values = read_row(table, &row)?;
        let entry = map
            .entry(key_digest(table, &values))
            .or_insert((row_digest(&values), 0));
        entry.1 += 1;
    }
    Ok(map)
}

async fn count(state: &SqlState, table: &Table) -> Result<u64, MoveError> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(&table.name)))
        .fetch_one(&state.pool)
        .await?;
    Ok(n.max(0) as u64)
}

/// Walks the source's rows of `table` against the target's; with `write`, inserts the rows
/// the target lacks. Fails on a row of the target that differs or that the source lacks.
/// Returns the rows written.
async fn sync_table(
    source: &SqlState,
    target: &SqlState,
    table: &Table,
    write: bool,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<u64, MoveError> {
    let total = count(source, table).await?;
    let mut existing = target_rows(target, table).await?;
    let sql = select_all(table);
    let mut rows = sqlx::query(&sql).fetch(&source.pool);
    // PostgreSQL takes at most 65,535 parameters per statement
    let per_batch = (30_000 / table.columns.len().max(1)).clamp(1, 1000);
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per_batch);
    let (mut seen, mut written) = (0u64, 0u64);
    while let Some(row) = rows.try_next().await? {
        let values = read_row(table, &row)?;
        seen += 1;
        match existing.get_mut(&key_digest(table, &values)) {
            Some((digest, n)) if *n > 0 && *digest == row_digest(&values) => *n -= 1,
            Some((_, n)) if *n > 0 => {
                return Err(MoveError::TargetDiffers(format!(
                    "table {} holds a row under the same key with other content",
                    table.name
                )))
            }
            _ if write => batch.push(values),
            _ => {}
        }
        if batch.len() >= per_batch {
            written += insert(target, table, &batch).await?;
            batch.clear();
            progress(Progress::Rows {
                table: &table.name,
                done: seen,
                total,
            });
        }
    }
    drop(rows);
    written += insert(target, table, &batch).await?;
    progress(Progress::Rows {
        table: &table.name,
        done: seen,
        total,
    });
    if existing.values().any(|(_, n)| *n > 0) {
        return Err(MoveError::TargetDiffers(format!(
            "table {} holds rows the source does not",
            table.name
        )));
    }
    Ok(written)
}

async fn insert(target: &SqlState, table: &Table, rows: &[Vec<Value>]) -> Result<u64, MoveError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let cols: Vec<String> = table.columns.iter().map(|(c, _)| quote(c)).collect();
    let width = cols.len();
    let tuples: Vec<String> = (0..rows.len())
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        quote(&table.name),
        cols.join(", "),
        tuples.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        for (value, (_, kind)) in row.iter().zip(&table.columns) {
            query = match (value, kind) {
                (Value::Int(v), _) => query.bind(*v),
                (Value::Text(v), _) => query.bind(v.clone()),
                (Value::Blob(v), _) => query.bind(v.clone()),
                (Value::Null, Kind::Int) => query.bind(None::<i64>),
                (Value::Null, Kind::Text) => query.bind(None::<String>),
                (Value::Null, Kind::Blob) => query.bind(None::<Vec<u8>>),
            };
        }
    }
    let done = query.execute(&target.pool).await?;
    Ok(done.rows_affected())
}

/// Count and content digest of a table (its rows' digests, sorted).
async fn table_digest(state: &SqlState, table: &Table) -> Result<(u64, String), MoveError> {
    let sql = select_all(table);
    let mut rows = sqlx::query(&sql).fetch(&state.pool);
    let mut digests = Vec::new();
    while let Some(row) = rows.try_next().await? {
        digests.push(row_digest(&read_row(table, &row)?));
    }
    digests.sort_unstable();
    let mut h = Sha256::new();
    for d in &digests {
        h.update(d);
    }
    Ok((digests.len() as u64, hex::encode(h.finalize())))
}

/// After copying explicit ids into PostgreSQL, its sequences (audit ids) continue above them.
async fn advance_sequences(target: &SqlState, tables: &[Table]) -> Result<(), MoveError> {
    for t in tables {
        for (c, kind) in &t.columns {
            if *kind != Kind::Int {
                continue;
            }
            let seq: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                .bind(&t.name)
                .bind(c)
                .fetch_one(&target.pool)
                .await?;
            if let Some(seq) = seq {
                let sql = format!(
                    "SELECT setval($1, (SELECT COALESCE(MAX({c}), 0) + 1 FROM {t}), false)",
                    c = quote(c),
                    t = quote(&t.name)
                );
                sqlx::query(&sql).bind(seq).execute(&target.pool).await?;
            }
        }
    }
    Ok(())
}

/// The blobs of a local blob directory: (sha256, length), sorted.
pub fn local_blobs(dir: &Path) -> Result<Vec<(String, u64)>, MoveError> {
    let root = dir.join("sha256");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MoveError::BlobDir { path, source }
    };
    let mut blobs = Vec::new();
    if !root.exists() {
        return Ok(blobs);
    }
    for fan in std::fs::read_dir(&root).map_err(io(&root))? {
        let fan = fan.map_err(io(&root))?.path();
        if !fan.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&fan).map_err(io(&fan))? {
            let entry = entry.map_err(io(&fan))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if airlock_core::names::is_sha256_hex(&name) {
                let len = entry.metadata().map_err(io(&entry.path()))?.len();
                blobs.push((name, len));
            }
        }
    }
    blobs.sort();
    Ok(blobs)
}

async fn copy_blobs(
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    blobs: &[(String, u64)],
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<u64, MoveError> {
    let total_bytes: u64 = blobs.iter().map(|b| b.1).sum();
    let (mut copied, mut bytes) = (0u64, 0u64);
    for (i, (sha256, len)) in blobs.iter().enumerate() {
        let err = |source| MoveError::Blob {
            sha256: sha256.clone(),
            source,
        };
        match to.stat(sha256).await.map_err(err)? {
            Some(there) if there == *len => {}
            Some(there) => {
                return Err(MoveError::TargetDiffers(format!(
                    "blob {sha256} is {there} bytes in the target, {len} in the source"
                )))
            }
            None => {
                let Some((_, reader)) = from.open(sha256).await.map_err(err)? else {
                    return Err(MoveError::Verification(format!(
                        "blob {sha256} vanished from the source"
                    )));
                };
                let body = Box::pin(tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20));
                to.put(sha256, body, *len).await.map_err(err)?;
                copied += 1;
            }
        }
        bytes += len;
        progress(Progress::Blobs {
            done: i as u64 + 1,
            total: blobs.len() as u64,
            bytes,
            total_bytes,
        });
    }
    Ok(copied)
}

/// Reads every blob back from `to` and checks its sha256 and length.
async fn verify_blobs(to: &dyn BlobStore, blobs: &[(String, u64)]) -> Result<u64, MoveError> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 1 << 20];
    for (sha256, len) in blobs {
        let err = |source| MoveError::Blob {
            sha256: sha256.clone(),
            source,
        };
        let Some((_, mut reader)) = to.open(sha256).await.map_err(err)? else {
            return Err(MoveError::Verification(format!(
                "blob {sha256} is missing from the target"
            )));
        };
        let mut h = Sha256::new();
        let mut read = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .map_err(|e| err(BlobError::from(e)))?;
            if n == 0 {
                break;
            }
            read += n as u64;
            h.update(&buf[..n]);
        }
        if hex::encode(h.finalize()) != *sha256 || read != *len {
            return Err(MoveError::Verification(format!(
                "blob {sha256} reads back from the target with other content ({read} bytes)"
            )));
        }
    }
    Ok(blobs.len() as u64)
}

/// Moves everything from the embedded stores to the target ones (module documentation).
pub async fn move_storage(
    source: &SqlState,
    source_blobs: &dyn BlobStore,
    blob_list: &[(String, u64)],
    target: &SqlState,
    target_blobs: &dyn BlobStore,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<MoveReport, MoveError> {
    let (derived, tables): (Vec<Table>, Vec<Table>) = source_tables(source)
        .await?
        .into_iter()
        .partition(|t| DERIVED_TABLES.contains(&t.name.as_str()));
    check_target_schema(target, &tables).await?;
    check_target_schema(target, &derived).await?;
    // nothing is written before the whole target is known to hold nothing but source data
    for t in &tables {
        sync_table(source, target, t, false, &|_| {}).await?;
    }
    let copied_blobs = copy_blobs(source_blobs, target_blobs, blob_list, progress).await?;
    let mut copied = HashMap::new();
    for t in &tables {
        copied.insert(
            t.name.clone(),
            sync_table(source, target, t, true, progress).await?,
        );
    }
    advance_sequences(target, &tables).await?;
    progress(Progress::Verifying);
    let mut reports = Vec::new();
    for t in &tables {
        let (rows, sha256) = table_digest(source, t).await?;
        let (target_rows, target_sha256) = table_digest(target, t).await?;
        if (rows, &sha256) != (target_rows, &target_sha256) {
            return Err(MoveError::Verification(format!(
                "table {}: {rows} rows (sha256 {sha256}) in the source, {target_rows} (sha256 \
                 {target_sha256}) in the target",
                t.name
            )));
        }
        reports.push(TableReport {
            table: t.name.clone(),
            rows,
            copied: copied.get(&t.name).copied().unwrap_or(0),
            sha256,
        });
    }
    for t in &derived {
        let (rows, sha256) = derived_digest(source, t).await?;
        let (target_rows, target_sha256) = derived_digest(target, t).await?;
        if sha256 != target_sha256 {
            return Err(MoveError::Verification(format!(
                "table {} (kept by triggers): {rows} rows (sha256 {sha256}) in the source, \
                 {target_rows} (sha256 {target_sha256}) in the target",
                t.name
            )));
        }
        // the change rows of the fleet counts differ between the sides (only their sums agree):
        // a count of them would mislead
        if !is_change_table(&t.name) {
            reports.push(TableReport {
                table: t.name.clone(),
                rows,
                copied: 0,
                sha256,
            });
        }
    }
    let verified = verify_blobs(target_blobs, blob_list).await?;
    Ok(MoveReport {
        tables: reports,
        blobs: BlobReport {
            blobs: blob_list.len() as u64,
            bytes: blob_list.iter().map(|b| b.1).sum(),
            copied: copied_blobs,
            verified,
        },
    })
}
