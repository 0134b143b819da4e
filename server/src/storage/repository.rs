//! The published repository in the state database: metadata files by name and the head (one
//! row, switched in one transaction with the files it names).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;

use airlock_core::rollout::Rollout;
use airlock_core::support::SupportRecord;

use super::sql::{ms, to_i64, SqlState, StateError};

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
    /// Roles of removed products, at their last version: snapshot.json keeps listing them,
    /// since TUF clients refuse a snapshot that drops a role the previous one listed (TUF
    /// 5.5.5), and a product added again starts above that version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retired_roles: BTreeMap<String, u64>,
}

/// The published head: what devices see.
#[derive(Debug, Clone)]
pub struct Head {
    /// Incremented by every commit; publishes use it for optimistic concurrency.
    pub generation: u64,
    pub timestamp: Vec<u8>,
    pub index: RepoIndex,
}

/// Metadata files and the published head.
#[async_trait]
pub trait RepositoryStore: Send + Sync {
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
    ) -> Result<(), StateError> {
        self.commit_with_rollouts(expected_generation, files, head, &[])
            .await
    }
    /// [`Self::commit`], inserting `rollouts` in the same transaction: the held rollouts of
    /// `publish --hold` exist the instant the head that lists their releases does, on every
    /// replica (a publish that fails after the switch cannot leave a release unheld).
    async fn commit_with_rollouts(
        &self,
        expected_generation: u64,
        files: Vec<(String, Vec<u8>)>,
        head: &Head,
        rollouts: &[Rollout],
    ) -> Result<(), StateError>;
}

#[async_trait]
impl RepositoryStore for SqlState {
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

    async fn commit_with_rollouts(
        &self,
        expected_generation: u64,
        files: Vec<(String, Vec<u8>)>,
        head: &Head,
        rollouts: &[Rollout],
    ) -> Result<(), StateError> {
        let index_json = serde_json::to_string(&head.index)
            .map_err(|e| StateError::Corrupt(format!("head index: {e}")))?;
        let mut tx = self.begin_write().await?;
        // Switch the head first: the row lock it takes (PostgreSQL) or the write lock (SQLite)
        // serialises racing publishes, and the generation check makes the loser see a conflict
        // instead of overwriting the winner.
        let switched = if expected_generation == 0 {
            sqlx::query(
                "INSERT INTO head (id, generation, timestamp_json, index_json, updated_ms)
                 VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            )
            .bind(to_i64(head.generation))
            .bind(&head.timestamp)
            .bind(&index_json)
            .bind(ms(jiff::Timestamp::now()))
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query(
                "UPDATE head SET generation = $1, timestamp_json = $2, index_json = $3,
                     updated_ms = $4
                 WHERE id = 1 AND generation = $5",
            )
            .bind(to_i64(head.generation))
            .bind(&head.timestamp)
            .bind(&index_json)
            .bind(ms(jiff::Timestamp::now()))
            .bind(to_i64(expected_generation))
            .execute(&mut *tx)
            .await?
        };
        if switched.rows_affected() != 1 {
            drop(tx);
            let found: Option<i64> = sqlx::query_scalar("SELECT generation FROM head WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
            return Err(StateError::Conflict {
                expected: expected_generation,
                found: found.unwrap_or(0).max(0) as u64,
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
        for r in rollouts {
            super::rollout_store::insert_query(r)?
                .execute(&mut *tx)
                .await?;
        }
        // (the other replicas load the rollouts committed with a head together with it)
        let change = super::changes::Change::Head {
            generation: head.generation,
        };
        self.announce(&mut *tx, &change).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::{postgres_db, sqlite};
    use crate::storage::Backend;

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

    /// A fresh PostgreSQL database on the server named by AIRLOCK_TEST_POSTGRES_URL (started by
    #[tokio::test]
    async fn commit_is_all_or_nothing_and_checks_generation() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        assert_eq!(db.backend(), Backend::Sqlite);
        commit_rules(&db).await;
    }

    #[tokio::test]
    async fn postgres_commit_is_all_or_nothing_and_checks_generation() {
        let Some(url) = postgres_db("postgres_commit_is_all_or_nothing").await else {
            return;
        };
        let db = SqlState::open_url(&url, 4).await.unwrap();
        assert_eq!(db.backend(), Backend::Postgres);
        commit_rules(&db).await;
        // opening again (a second replica, an upgrade) keeps the data
        let again = SqlState::open_url(&url, 4).await.unwrap();
        assert_eq!(again.load_head().await.unwrap().unwrap().generation, 1);
    }

    /// Racing publishes from the same generation: exactly one wins, on both backends.
    async fn race(db: SqlState) {
        let base = db.load_head().await.unwrap().map_or(0, |h| h.generation);
        let mut tasks = Vec::new();
        for i in 0..8u64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.commit(
                    base,
                    vec![(format!("{}.race{i}.json", base + 1), vec![i as u8])],
                    &head(base + 1),
                )
                .await
            }));
        }
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => won += 1,
                Err(StateError::Conflict { expected, found }) => {
                    assert_eq!((expected, found), (base, base + 1))
                }
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(won, 1, "exactly one racing publish must win");
        assert_eq!(db.load_head().await.unwrap().unwrap().generation, base + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_commits_one_wins_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        race(db.clone()).await;
        race(db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_commits_one_wins_postgres() {
        let Some(url) = postgres_db("racing_commits_one_wins_postgres").await else {
            return;
        };
        let db = SqlState::open_url(&url, 8).await.unwrap();
        race(db.clone()).await;
        race(db).await;
    }

    async fn commit_rules(db: &SqlState) {
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
