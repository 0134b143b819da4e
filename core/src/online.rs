//! Snapshot and timestamp: the two roles signed with the server's online key.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU64;

use thiserror::Error;
use tough::editor::signed::SignedRole;
use tough::schema::{Hashes, KeyHolder, Metafile, Root, Snapshot, Timestamp};

use crate::keys::{key_sources, SigningKey};
use crate::{whole_seconds, SPEC_VERSION};

#[derive(Debug, Error)]
#[error("signing {role}: {reason}")]
pub struct OnlineSignError {
    pub role: &'static str,
    pub reason: String,
}

/// What snapshot must list: the version of targets.json and of each delegated role.
#[derive(Debug, Clone)]
pub struct SnapshotContents {
    pub targets_version: NonZeroU64,
    pub roles: BTreeMap<String, NonZeroU64>,
}

/// A signed metadata file ready to publish.
#[derive(Debug, Clone)]
pub struct SignedFile {
    pub version: NonZeroU64,
    pub bytes: Vec<u8>,
    pub sha256: Vec<u8>,
    pub expires: jiff::Timestamp,
}

fn metafile(version: NonZeroU64) -> Metafile {
    Metafile {
        length: None,
        hashes: None,
        version,
        _extra: HashMap::new(),
    }
}

/// Signs one role with the online key; `name` says which in the error.
async fn sign_role<T: tough::schema::Role + serde::Serialize>(
    name: &'static str,
    role: T,
    holder: &KeyHolder,
    keys: &[Box<dyn tough::key_source::KeySource>],
) -> Result<SignedRole<T>, OnlineSignError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    SignedRole::new(role, holder, keys, &rng)
        .await
        .map_err(|e| OnlineSignError {
            role: name,
            reason: e.to_string(),
        })
}

fn signed_file<T: tough::schema::Role + serde::Serialize>(
    role: &SignedRole<T>,
    version: NonZeroU64,
    expires: jiff::Timestamp,
) -> SignedFile {
    SignedFile {
        version,
        bytes: role.buffer().clone(),
        sha256: role.sha256().to_vec(),
        expires,
    }
}

/// Signs snapshot (listing `contents`) and then timestamp (pointing at that snapshot by version,
/// length and sha256) with the online key, which `root` must authorise for both roles.
pub async fn sign_snapshot_and_timestamp(
    root: &Root,
    key: &SigningKey,
    contents: &SnapshotContents,
    snapshot_version: NonZeroU64,
    snapshot_expires: jiff::Timestamp,
    timestamp_version: NonZeroU64,
    timestamp_expires: jiff::Timestamp,
) -> Result<(SignedFile, SignedFile), OnlineSignError> {
    let holder = KeyHolder::Root(root.clone());
    let keys = key_sources(std::slice::from_ref(key));

    let snapshot_expires = whole_seconds(snapshot_expires);
    let mut snapshot = Snapshot::new(SPEC_VERSION.to_string(), snapshot_version, snapshot_expires);
    snapshot
        .meta
        .insert("targets.json".into(), metafile(contents.targets_version));
    for (role, version) in &contents.roles {
        snapshot
            .meta
            .insert(format!("{role}.json"), metafile(*version));
    }
    let snapshot = sign_role("snapshot", snapshot, &holder, &keys).await?;

    let timestamp_expires = whole_seconds(timestamp_expires);
    let mut timestamp = Timestamp::new(
        SPEC_VERSION.to_string(),
        timestamp_version,
        timestamp_expires,
    );
    timestamp.meta.insert(
        "snapshot.json".into(),
        Metafile {
            length: Some(*snapshot.length()),
            hashes: Some(Hashes {
                sha256: snapshot.sha256().to_vec().into(),
                _extra: HashMap::new(),
            }),
            version: snapshot_version,
            _extra: HashMap::new(),
        },
    );
    let timestamp = sign_role("timestamp", timestamp, &holder, &keys).await?;
    Ok((
        signed_file(&snapshot, snapshot_version, snapshot_expires),
        signed_file(&timestamp, timestamp_version, timestamp_expires),
    ))
}
