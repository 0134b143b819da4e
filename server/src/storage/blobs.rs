//! Firmware blobs, content-addressed by lowercase hex sha256.

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWriteExt};

use airlock_core::names::is_sha256_hex;

#[derive(Debug, Error)]
pub enum BlobError {
    #[error("{0:?} is not a sha256 digest (64 lowercase hex characters)")]
    BadDigest(String),
    #[error("uploaded content has sha256 {actual}, not {expected}")]
    HashMismatch { expected: String, actual: String },
    #[error("upload exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("upload interrupted: {0}")]
    Interrupted(String),
    #[error("blob storage: {0}")]
    Io(std::io::Error),
    /// The store cannot take or serve blobs for now (disk full, read-only, the S3 service
    /// failing or not answering): the request may be retried.
    #[error("blob storage unavailable: {0}")]
    Unavailable(std::io::Error),
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::TimedOut
            | ErrorKind::ResourceBusy => BlobError::Unavailable(e),
            _ => BlobError::Io(e),
        }
    }
}

impl BlobError {
    /// Whether the failure is the store's condition rather than the request's (answered 503
    /// with Retry-After: the same request may succeed later).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BlobError::Unavailable(_))
    }
}

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores a blob, streaming, verifying that its sha256 is `sha256` and that it is at most
    /// `limit` bytes. Nothing is visible under `sha256` unless it is complete and correct.
    /// Returns its length.
    async fn put(&self, sha256: &str, body: ByteStream, limit: u64) -> Result<u64, BlobError>;
    /// The length of a stored blob.
    async fn stat(&self, sha256: &str) -> Result<Option<u64>, BlobError>;
    /// Opens a stored blob for reading.
    async fn open(&self, sha256: &str) -> Result<Option<(u64, BlobReader)>, BlobError> {
        self.open_at(sha256, 0).await
    }
    /// Opens a stored blob for reading from byte `offset` (resumed downloads); returns the
    /// blob's total length.
    async fn open_at(
        &self,
        sha256: &str,
        offset: u64,
    ) -> Result<Option<(u64, BlobReader)>, BlobError>;
    /// Reads a small blob whole (support records), refusing more than `limit` bytes.
    async fn read_small(&self, sha256: &str, limit: u64) -> Result<Option<Vec<u8>>, BlobError> {
        use tokio::io::AsyncReadExt;
        let Some((len, mut reader)) = self.open(sha256).await? else {
            return Ok(None);
        };
        if len > limit {
            return Err(BlobError::TooLarge { limit });
        }
        let mut buf = Vec::with_capacity(len as usize);
        reader.read_to_end(&mut buf).await?;
        Ok(Some(buf))
    }
    /// Whether the store is reachable (for /readyz).
    async fn check(&self) -> Result<(), BlobError>;
}

/// Blobs in a local directory: `<root>/sha256/<first two hex>/<hex>`, written through a
/// temporary file in `<root>/tmp` that is renamed into place only once verified.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    pub async fn open_dir(root: &Path) -> Result<Self, BlobError> {
        tokio::fs::create_dir_all(root.join("sha256")).await?;
        tokio::fs::create_dir_all(root.join("tmp")).await?;
        // Uploads interrupted by a crash left partial files here; nothing refers to them.
        let mut entries = tokio::fs::read_dir(root.join("tmp")).await?;
        while let Some(entry) = entries.next_entry().await? {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
        Ok(LocalBlobs {
            root: root.to_path_buf(),
        })
    }

    fn path_of(&self, sha256: &str) -> Result<PathBuf, BlobError> {
        // The digest is the only thing that ever becomes part of a path, and only once it is
        // known to be 64 hex characters: no traversal is possible.
        if !is_sha256_hex(sha256) {
            return Err(BlobError::BadDigest(sha256.to_string()));
        }
        Ok(self.root.join("sha256").join(&sha256[..2]).join(sha256))
    }
}

static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A fresh temporary file name in `dir` for an upload of `sha256`.
pub(crate) fn temp_path(dir: &Path, sha256: &str) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{sha256}.{}.{n}", std::process::id()))
}

/// Streams an upload into `tmp` (fsynced), checking that it stays within `limit` bytes and
/// that its sha256 is `sha256`. Returns its length. The caller removes `tmp` on error.
pub(crate) async fn spool_verified(
    tmp: &Path,
    sha256: &str,
    mut body: ByteStream,
    limit: u64,
) -> Result<u64, BlobError> {
    let mut file = tokio::fs::File::create(tmp).await?;
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BlobError::Interrupted(e.to_string()))?;
        len += chunk.len() as u64;
        if len > limit {
            return Err(BlobError::TooLarge { limit });
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    let actual = hex::encode(hasher.finalize());
    if actual != sha256 {
        return Err(BlobError::HashMismatch {
            expected: sha256.to_string(),
            actual,
        });
    }
    file.sync_all().await?;
    Ok(len)
}

#[cfg(test)]
static SYNCED_DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// fsyncs a directory, making the names created in it durable.
async fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    #[cfg(test)]
    if let Ok(mut synced) = SYNCED_DIRS.lock() {
        synced.push(dir.to_path_buf());
    }
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
    Ok(())
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn put(&self, sha256: &str, body: ByteStream, limit: u64) -> Result<u64, BlobError> {
        let dest = self.path_of(sha256)?;
        let tmp = temp_path(&self.root.join("tmp"), sha256);
        let result = async {
            let len = spool_verified(&tmp, sha256, body, limit).await?;
            let dir = dest.parent().unwrap_or(&self.root);
            let fresh_dir = tokio::fs::metadata(dir).await.is_err();
            tokio::fs::create_dir_all(dir).await?;
            tokio::fs::rename(&tmp, &dest).await?;
            // The rename is durable only once the directory holding the new name is on disk
            // (and a new fan-out directory's own entry in `sha256/`): a publish may name this
            // blob as soon as we answer.
            sync_dir(dir).await?;
            if fresh_dir {
                sync_dir(&self.root.join("sha256")).await?;
            }
            Ok(len)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    async fn stat(&self, sha256: &str) -> Result<Option<u64>, BlobError> {
        match tokio::fs::metadata(self.path_of(sha256)?).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn open_at(
        &self,
        sha256: &str,
        offset: u64,
    ) -> Result<Option<(u64, BlobReader)>, BlobError> {
        use tokio::io::AsyncSeekExt;
        match tokio::fs::File::open(self.path_of(sha256)?).await {
            Ok(mut f) => {
                let len = f.metadata().await?.len();
                if offset > 0 {
                    f.seek(std::io::SeekFrom::Start(offset.min(len))).await?;
                }
                Ok(Some((len, Box::pin(f))))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn check(&self) -> Result<(), BlobError> {
        tokio::fs::metadata(self.root.join("sha256")).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(data: &'static [u8]) -> ByteStream {
        Box::pin(futures::stream::iter(vec![Ok(Bytes::from_static(data))]))
    }

    #[tokio::test]
    async fn put_verifies_hash_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::open_dir(dir.path()).await.unwrap();
        let sha = hex::encode(Sha256::digest(b"firmware"));
        assert_eq!(
            store.put(&sha, stream_of(b"firmware"), 100).await.unwrap(),
            8
        );
        assert_eq!(store.stat(&sha).await.unwrap(), Some(8));
        assert_eq!(
            store.read_small(&sha, 100).await.unwrap().unwrap(),
            b"firmware"
        );

        let other = hex::encode(Sha256::digest(b"other"));
        assert!(matches!(
            store.put(&other, stream_of(b"tampered"), 100).await,
            Err(BlobError::HashMismatch { .. })
        ));
        assert_eq!(store.stat(&other).await.unwrap(), None);
        assert!(matches!(
            store.put(&other, stream_of(b"other"), 3).await,
            Err(BlobError::TooLarge { .. })
        ));
        // nothing left behind in tmp
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn a_stored_blob_name_is_made_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::open_dir(dir.path()).await.unwrap();
        let sha = hex::encode(Sha256::digest(b"durable"));
        store.put(&sha, stream_of(b"durable"), 100).await.unwrap();
        let synced = SYNCED_DIRS.lock().unwrap().clone();
        let fan_out = dir.path().join("sha256").join(&sha[..2]);
        assert!(synced.contains(&fan_out), "the renamed-into directory");
        assert!(
            synced.contains(&dir.path().join("sha256")),
            "the new fan-out directory's parent"
        );
    }

    #[tokio::test]
    async fn digests_are_the_only_path_component() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::open_dir(dir.path()).await.unwrap();
        for bad in ["../../etc/passwd", "%2e%2e", "/abs", "AB", &"g".repeat(64)] {
            assert!(matches!(
                store.stat(bad).await,
                Err(BlobError::BadDigest(_))
            ));
        }
    }
}
