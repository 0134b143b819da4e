//! The storage flags shared by every command: where state and blobs live.

use anyhow::Result;

use airlock_server::Storage;

/// Where state and blobs live (default: SQLite and a blob directory inside --data).
#[derive(clap::Args)]
pub struct StorageArgs {
    /// State database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB, shared by several replicas
    /// (default: SQLite airlock.db in the data directory).
    #[arg(long, global = true, env = "AIRLOCK_STATE_URL")]
    state_url: Option<String>,
    /// Firmware blobs in an S3 bucket: s3://BUCKET[/PREFIX] (default: blobs/ in the data
    /// directory). Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
    #[arg(long, global = true, env = "AIRLOCK_BLOBS")]
    blobs: Option<String>,
    /// Endpoint of an S3-protocol server (MinIO, Ceph, Garage...), e.g. http://10.0.0.5:9000.
    #[arg(long, global = true, env = "AIRLOCK_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, global = true, env = "AWS_REGION", default_value = "us-east-1")]
    s3_region: String,
    /// Path-style bucket addressing (most self-hosted S3 servers need it).
    #[arg(long, global = true, env = "AIRLOCK_S3_PATH_STYLE")]
    s3_path_style: bool,
    /// Seconds one request to the S3 service may take to connect and to answer (uploads: a
    /// second more per MiB); beyond that the blob store counts as unavailable (503 with
    /// Retry-After) and the request is retried (3 attempts in all).
    #[arg(long, global = true, env = "AIRLOCK_S3_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    s3_timeout_seconds: u64,
}

impl StorageArgs {
    /// The bucket of `url` (`s3://BUCKET[/PREFIX]`, named by `flag` in errors), reached with the
    /// S3 flags.
    pub fn s3_config(&self, flag: &str, url: &str) -> Result<airlock_server::storage::S3Config> {
        let mut c = airlock_server::storage::S3Config::parse(url)
            .map_err(|e| airlock_cli::Failure::usage(format!("{flag}: {e}")))?;
        c.endpoint = self.s3_endpoint.clone();
        c.region = self.s3_region.clone();
        c.path_style = self.s3_path_style;
        c.timeout = std::time::Duration::from_secs(self.s3_timeout_seconds);
        Ok(c)
    }

    pub fn storage(&self) -> Result<Storage> {
        let blobs = match &self.blobs {
            None => None,
            Some(url) => Some(self.s3_config("--blobs", url)?),
        };
        Ok(Storage {
            state_url: self.state_url.clone(),
            blobs,
            schema: Default::default(),
        })
    }
}

/// A state database whose schema this binary must not use (newer than it knows, or lacking
/// migrations under `--no-migrate`) ends the command as "refused" (exit 4, docs/cli.md), with
/// the store's message naming the fix.
pub fn schema_refusal(e: anyhow::Error) -> anyhow::Error {
    use airlock_server::storage::StateError;
    let schema = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<StateError>(),
            Some(StateError::SchemaNewer { .. } | StateError::SchemaOutdated { .. })
        )
    });
    if schema {
        airlock_cli::Failure::refused(airlock_cli::failure::message(&e)).into()
    } else {
        e
    }
}
