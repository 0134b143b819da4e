//! Where state and blobs live (the embedded default, or PostgreSQL and S3 shared by replicas),
//! and opening them.

use anyhow::{Context, Result};
use std::sync::Arc;

use crate::data_dir::DataDir;
use crate::storage;

/// Where state and blobs live. The default (everything `None`) is the embedded one: SQLite
/// `airlock.db` and `blobs/` in the data directory. Replicas share a PostgreSQL database
/// (`state_url`) and an S3 bucket (`blobs`); each keeps its own data directory for the online
/// key and the upload spool.
#[derive(Debug, Clone, Default)]
pub struct Storage {
    /// `postgres://...` (or `sqlite://PATH`).
    pub state_url: Option<String>,
    pub blobs: Option<storage::S3Config>,
    /// What opening the state database does to its schema (`serve --no-migrate` refuses a
    /// schema that lacks migrations instead of applying them).
    pub schema: storage::SchemaPolicy,
}

impl Storage {
    /// Whether several replicas may share this storage (then each replica follows the
    /// others' publishes, rollouts and enrolments; see [`spawn_sync`]).
    pub fn is_shared(&self) -> bool {
        self.state_url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres"))
    }

    pub fn describe(&self, dir: &DataDir) -> (String, String) {
        let state = match &self.state_url {
            Some(url) => storage::redact_url(url),
            None => dir.database().display().to_string(),
        };
        let blobs = match &self.blobs {
            Some(c) => format!("s3://{}/{}", c.bucket, c.prefix),
            None => dir.blobs().display().to_string(),
        };
        (state, blobs)
    }

    pub async fn open_state(&self, dir: &DataDir) -> Result<storage::SqlState> {
        Ok(self.open_state_reporting(dir).await?.0)
    }

    /// Opens the state database; returns the migrations applied on the way.
    pub async fn open_state_reporting(
        &self,
        dir: &DataDir,
    ) -> Result<(storage::SqlState, Vec<storage::AppliedMigration>)> {
        match &self.state_url {
            Some(url) => storage::SqlState::open_url_with(url, 16, self.schema)
                .await
                .with_context(|| {
                    format!("opening the state database {}", storage::redact_url(url))
                }),
            None => storage::SqlState::open_sqlite_with(&dir.database(), self.schema)
                .await
                .with_context(|| format!("opening {}", dir.database().display())),
        }
    }

    pub async fn open_blobs(&self, dir: &DataDir) -> Result<Arc<dyn storage::BlobStore>> {
        match &self.blobs {
            Some(config) => {
                let blobs = storage::S3Blobs::open(config.clone(), &dir.root.join("spool"))
                    .await
                    .with_context(|| format!("opening the blob bucket s3://{}", config.bucket))?;
                Ok(Arc::new(blobs))
            }
            None => {
                let blobs = storage::LocalBlobs::open_dir(&dir.blobs())
                    .await
                    .with_context(|| format!("opening {}", dir.blobs().display()))?;
                Ok(Arc::new(blobs))
            }
        }
    }
}
