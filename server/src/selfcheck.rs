//! Before a new repository becomes visible, the server loads it with tough's client as a
//! device would (from the pinned root, over an in-memory transport). A repository that a TUF
//! client could not load is never published.
//!
//! Expiry is not enforced here: tough would refuse the whole load when any one product's
//! role has expired, and the server would then stop renewing snapshot and timestamp for every
//! product. Snapshot and timestamp were just signed; root, targets and product roles are
//! checked for expiry when they are published (`airlock_core::verify`), devices check the
//! roles they rely on at their own clock, and the server warns before any role expires.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use tough::{Transport, TransportError, TransportErrorKind};
use url::Url;

#[derive(Debug, Clone)]
struct MemoryTransport {
    files: Arc<HashMap<String, Bytes>>,
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn fetch(&self, url: Url) -> Result<tough::TransportStream, TransportError> {
        let name = url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        match self.files.get(&name) {
            Some(bytes) => {
                let bytes = bytes.clone();
                Ok(Box::pin(futures::stream::once(async move { Ok(bytes) })))
            }
            None => Err(TransportError::new(TransportErrorKind::FileNotFound, url)),
        }
    }
}

/// Loads the repository made of `files` (published metadata names -> bytes) from `root_v1`.
pub async fn load_like_a_device(
    root_v1: &[u8],
    files: HashMap<String, Bytes>,
) -> Result<(), String> {
    let transport = MemoryTransport {
        files: Arc::new(files),
    };
    let metadata = Url::parse("memory:///metadata/").map_err(|e| e.to_string())?;
    let targets = Url::parse("memory:///targets/").map_err(|e| e.to_string())?;
    let root = root_v1.to_vec();
    tough::RepositoryLoader::new(&root, metadata, targets)
        .expiration_enforcement(tough::ExpirationEnforcement::Unsafe)
        .transport(transport)
        .load()
        .await
        .map(|_| ())
        .map_err(|e| airlock_core::error_chain(&e))
}
