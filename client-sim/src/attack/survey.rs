//! What an attacker sees of a repository: the published metadata files (current and older
//! versions, which the server keeps serving by name) and each product's releases and support
//! record. Read straight from `/tuf/`, unverified: it only chooses what the drills serve and
//! offer; the device verifies everything itself.

use anyhow::{Context, Result};
use bytes::Bytes;
use std::collections::BTreeMap;

use airlock_core::api::consistent_target_path;
use airlock_core::names;
use airlock_core::release::Release;
use airlock_core::support::SupportRecord;
use airlock_core::verify::read_product_targets;
use tough::schema::{Signed, Snapshot, Targets, Timestamp};

/// How far back the survey looks for an older version of a metadata file.
pub const MAX_LOOKBACK: u64 = 64;

/// One version of a metadata file.
#[derive(Debug, Clone)]
pub struct MetaFile {
    pub version: u64,
    pub bytes: Bytes,
}

#[derive(Debug, Clone)]
pub struct ProductView {
    pub role: MetaFile,
    pub releases: Vec<Release>,
    /// The role's delta targets (docs/deltas.md).
    pub deltas: Vec<airlock_core::delta::Delta>,
    pub support: Option<SupportRecord>,
}

#[derive(Debug, Clone)]
pub struct Survey {
    pub timestamp: MetaFile,
    pub timestamp_expires: jiff::Timestamp,
    pub snapshot: MetaFile,
    /// Versions snapshot lists: `targets` and each product role (without `.json`).
    pub listed: BTreeMap<String, u64>,
    pub targets: MetaFile,
    pub products: BTreeMap<String, ProductView>,
}

/// `GET /tuf/metadata/{name}`: `None` on 404.
pub async fn fetch_metadata(
    client: &reqwest::Client,
    base: &url::Url,
    name: &str,
) -> Result<Option<Bytes>> {
    let url = base
        .join(&format!("tuf/metadata/{name}"))
        .with_context(|| format!("building the URL of {name}"))?;
    let resp = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("fetching {name} from {base}"))?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !resp.status().is_success() {
        anyhow::bail!("fetching {name} from {base}: HTTP {}", resp.status());
    }
    Ok(Some(
        resp.bytes()
            .await
            .with_context(|| format!("reading {name}"))?,
    ))
}

async fn required(client: &reqwest::Client, base: &url::Url, name: &str) -> Result<Bytes> {
    fetch_metadata(client, base, name)
        .await?
        .with_context(|| format!("the server has no {name}"))
}

/// The newest version below `current` of `<N>.<file>` that the server still serves.
pub async fn older_version(
    client: &reqwest::Client,
    base: &url::Url,
    file: &str,
    current: u64,
) -> Result<Option<MetaFile>> {
    let lowest = current.saturating_sub(MAX_LOOKBACK).max(1);
    for version in (lowest..current).rev() {
        if let Some(bytes) = fetch_metadata(client, base, &format!("{version}.{file}")).await? {
            return Ok(Some(MetaFile { version, bytes }));
        }
    }
    Ok(None)
}

pub fn parse_timestamp(bytes: &[u8]) -> Result<Signed<Timestamp>> {
    serde_json::from_slice(bytes).context("parsing timestamp metadata")
}

/// The snapshot version a timestamp names.
pub fn snapshot_version_of(ts: &Signed<Timestamp>) -> Result<u64> {
    ts.signed
        .meta
        .get("snapshot.json")
        .map(|m| m.version.get())
        .context("the timestamp names no snapshot.json")
}

/// The versions a snapshot lists, keyed by role name (`targets`, products).
pub fn listed_versions(snapshot: &[u8]) -> Result<BTreeMap<String, u64>> {
    let snapshot: Signed<Snapshot> =
        serde_json::from_slice(snapshot).context("parsing snapshot metadata")?;
    Ok(snapshot
        .signed
        .meta
        .iter()
        .map(|(file, m)| {
            (
                file.strip_suffix(".json").unwrap_or(file).to_string(),
                m.version.get(),
            )
        })
        .collect())
}

pub async fn survey(client: &reqwest::Client, base: &url::Url) -> Result<Survey> {
    let ts_bytes = required(client, base, "timestamp.json").await?;
    let ts = parse_timestamp(&ts_bytes)?;
    let snapshot_version = snapshot_version_of(&ts)?;
    let snapshot_bytes =
        required(client, base, &format!("{snapshot_version}.snapshot.json")).await?;
    let listed = listed_versions(&snapshot_bytes)?;
    let targets_version = *listed
        .get("targets")
        .context("the snapshot lists no targets.json")?;
    let targets_bytes = required(client, base, &format!("{targets_version}.targets.json")).await?;
    let targets: Signed<Targets> =
        serde_json::from_slice(&targets_bytes).context("parsing targets metadata")?;
    let mut products = BTreeMap::new();
    let roles: Vec<String> = targets
        .signed
        .delegations
        .as_ref()
        .map(|d| d.roles.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    for name in roles {
        let Some(version) = listed.get(&name).copied() else {
            continue;
        };
        let bytes = required(client, base, &format!("{version}.{name}.json")).await?;
        let role: Signed<Targets> =
            serde_json::from_slice(&bytes).with_context(|| format!("parsing role {name}"))?;
        let read = read_product_targets(&name, &role.signed)
            .with_context(|| format!("reading the targets of {name}"))?;
        let support = match &read.support {
            Some((sha256, _)) => {
                let path = consistent_target_path(&names::support_target_name(&name), sha256);
                let url = base
                    .join(&format!("tuf/targets/{path}"))
                    .context("building a target URL")?;
                let resp = client
                    .get(url)
                    .send()
                    .await
                    .with_context(|| format!("fetching the support record of {name}"))?;
                let body = resp.bytes().await.context("reading a support record")?;
                serde_json::from_slice::<SupportRecord>(&body).ok()
            }
            None => None,
        };
        products.insert(
            name,
            ProductView {
                role: MetaFile { version, bytes },
                releases: read.releases,
                deltas: read.deltas,
                support,
            },
        );
    }
    Ok(Survey {
        timestamp: MetaFile {
            version: ts.signed.version.get(),
            bytes: ts_bytes,
        },
        timestamp_expires: ts.signed.expires,
        snapshot: MetaFile {
            version: snapshot_version,
            bytes: snapshot_bytes,
        },
        listed,
        targets: MetaFile {
            version: targets_version,
            bytes: targets_bytes,
        },
        products,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_versions_strip_json() {
        let snap = br#"{"signed":{"_type":"snapshot","spec_version":"1.0.0","version":4,
            "expires":"2030-01-01T00:00:00Z",
            "meta":{"targets.json":{"version":3},"acme-cam.json":{"version":7}}},
            "signatures":[]}"#;
        let v = listed_versions(snap).unwrap();
        assert_eq!(v.get("targets"), Some(&3));
        assert_eq!(v.get("acme-cam"), Some(&7));
    }
}
