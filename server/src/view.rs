//! The published repository as devices see it, held in memory and swapped whole after each
//! commit (readers never see a mix of two publishes).

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use tough::schema::{Root, Targets};

use airlock_core::release::Release;
use airlock_core::support::SupportRecord;
use airlock_core::verify::{self, MetaFile, Published};

use crate::storage::{Head, RepoIndex, StateError, StateStore};

#[derive(Debug, Clone)]
pub struct ProductView {
    pub support: SupportRecord,
    pub releases: Vec<Release>,
    /// The releases' SBOM targets (airlock_core::sbom), sorted by name.
    pub sboms: Vec<verify::SbomTarget>,
}

#[derive(Debug, Clone, Default)]
pub struct RepoView {
    /// 0 until the first publish.
    pub generation: u64,
    pub index: RepoIndex,
    pub timestamp: Bytes,
    pub snapshot: Bytes,
    pub published: Published,
    pub products: BTreeMap<String, ProductView>,
    /// Target name -> (sha256, length), for serving `/tuf/targets/` (releases, support
    /// records and deltas alike).
    pub targets: HashMap<String, (String, u64)>,
    /// Each product's signed delta targets (docs/deltas.md), offered at check-in.
    pub deltas: HashMap<String, Vec<airlock_core::delta::Delta>>,
    /// The current metadata files by every name they are served under (`timestamp.json`,
    /// `3.targets.json`, `targets.json`, ...), with their ETags, built once per publish.
    pub files: HashMap<String, (Bytes, String)>,
}

/// A strong ETag from content.
pub fn etag_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("\"{}\"", hex::encode(&sha2::Sha256::digest(bytes)[..16]))
}

impl RepoView {
    pub fn is_published(&self) -> bool {
        self.generation > 0
    }

    pub fn latest_root(&self) -> Option<&MetaFile<Root>> {
        self.published.roots.last()
    }

    /// Builds the view from verified parts.
    pub fn from_parts(
        head: &Head,
        published: Published,
        snapshot: Vec<u8>,
    ) -> Result<RepoView, StateError> {
        let mut products = BTreeMap::new();
        let mut deltas_by_product = HashMap::new();
        let mut targets = HashMap::new();
        for (name, role) in &published.roles {
            let verify::ProductTargets {
                releases,
                deltas,
                support: support_target,
                sboms,
            } = verify::read_product_targets(name, &role.signed.signed)
                .map_err(|e| StateError::Corrupt(e.to_string()))?;
            let support = head
                .index
                .supports
                .get(name)
                .cloned()
                .ok_or_else(|| StateError::Corrupt(format!("no support record for {name}")))?;
            if let Some((sha, len)) = support_target {
                targets.insert(airlock_core::names::support_target_name(name), (sha, len));
            }
            for r in &releases {
                targets.insert(r.name.clone(), (r.sha256.clone(), r.length));
            }
            for d in &deltas {
                targets.insert(d.name.clone(), (d.sha256.clone(), d.length));
            }
            for s in &sboms {
                targets.insert(s.name.clone(), (s.sha256.clone(), s.length));
            }
            products.insert(
                name.clone(),
                ProductView {
                    support,
                    releases,
                    sboms,
                },
            );
            deltas_by_product.insert(name.clone(), deltas);
        }
        let mut files = HashMap::new();
        {
            let mut add = |names: Vec<String>, b: &[u8]| {
                let entry = (Bytes::copy_from_slice(b), etag_of(b));
                for n in names {
                    files.insert(n, entry.clone());
                }
            };
            add(vec!["timestamp.json".into()], &head.timestamp);
            add(
                vec![
                    "snapshot.json".into(),
                    format!("{}.snapshot.json", head.index.snapshot_version),
                ],
                &snapshot,
            );
            let latest = published.roots.len();
            for (i, r) in published.roots.iter().enumerate() {
                let mut names = vec![format!("{}.root.json", i + 1)];
                if i + 1 == latest {
                    names.push("root.json".into());
                }
                add(names, &r.bytes);
            }
            if let Some(t) = &published.targets {
                add(
                    vec![
                        "targets.json".into(),
                        format!("{}.targets.json", t.version()),
                    ],
                    &t.bytes,
                );
            }
            for (name, r) in &published.roles {
                add(
                    vec![
                        format!("{name}.json"),
                        format!("{}.{name}.json", r.version()),
                    ],
                    &r.bytes,
                );
            }
        }
        Ok(RepoView {
            files,
            generation: head.generation,
            index: head.index.clone(),
            timestamp: Bytes::from(head.timestamp.clone()),
            snapshot: Bytes::from(snapshot),
            published,
            products,
            targets,
            deltas: deltas_by_product,
        })
    }

    /// Loads the published view from the state store.
    pub async fn load(state: &dyn StateStore) -> Result<RepoView, StateError> {
        let Some(head) = state.load_head().await? else {
            return Ok(RepoView::default());
        };
        async fn file(state: &dyn StateStore, name: String) -> Result<Vec<u8>, StateError> {
            state
                .metadata(&name)
                .await?
                .ok_or_else(|| StateError::Corrupt(format!("{name} is missing")))
        }
        fn parse<T: serde::de::DeserializeOwned>(
            name: &str,
            bytes: Vec<u8>,
        ) -> Result<MetaFile<T>, StateError> {
            verify::parse(name, bytes).map_err(|e| StateError::Corrupt(e.to_string()))
        }
        let ix = &head.index;
        let mut roots = Vec::new();
        for v in 1..=ix.root_version {
            let name = format!("{v}.root.json");
            roots.push(parse::<Root>(&name, file(state, name.clone()).await?)?);
        }
        let name = format!("{}.targets.json", ix.targets_version);
        let targets = parse::<Targets>(&name, file(state, name.clone()).await?)?;
        let mut roles = BTreeMap::new();
        for (role, v) in &ix.roles {
            let name = format!("{v}.{role}.json");
            roles.insert(
                role.clone(),
                parse::<Targets>(&name, file(state, name.clone()).await?)?,
            );
        }
        let snapshot = file(state, format!("{}.snapshot.json", ix.snapshot_version)).await?;
        let published = Published {
            roots,
            targets: Some(targets),
            roles,
        };
        RepoView::from_parts(&head, published, snapshot)
    }

    /// Whether `file` (`N.role.json`) names an older version of a role this repository has
    /// (kept in the state store); current files and root versions are all held in memory.
    pub fn may_hold_older(&self, file: &str) -> bool {
        let Some((version, role)) = versioned_name(file) else {
            return false;
        };
        let ix = &self.index;
        let current = match role {
            "snapshot" => ix.snapshot_version,
            "targets" => ix.targets_version,
            // every timestamp version stays readable by number; the current one is held
            // in memory only as `timestamp.json`
            "timestamp" => ix.timestamp_version.saturating_add(1),
            "root" => return false,
            product => match (ix.roles.get(product), ix.retired_roles.get(product)) {
                (Some(v), _) => *v,
                // a retired role's last version is no longer held in memory
                (None, Some(v)) => v.saturating_add(1),
                (None, None) => return false,
            },
        };
        version >= 1 && version < current
    }

    /// Whether `file` (`N.role.json`) may name a version another replica published a moment
    /// ago and this one has not followed yet: the next version of a role it has (root
    /// included), or any version of a role it does not know (a product added since). A device
    /// behind a load balancer may read the new timestamp from one replica and the snapshot it
    /// names from another.
    pub fn may_be_newer(&self, file: &str) -> bool {
        let Some((version, role)) = versioned_name(file) else {
            return false;
        };
        let ix = &self.index;
        let current = match role {
            "root" => ix.root_version,
            "snapshot" => ix.snapshot_version,
            "targets" => ix.targets_version,
            "timestamp" => ix.timestamp_version,
            product => match ix.roles.get(product) {
                Some(v) => *v,
                None => return version >= 1,
            },
        };
        version == current.saturating_add(1)
    }

    /// A current metadata file by its published name, with its ETag, if held in memory.
    pub fn current_file(&self, name: &str) -> Option<(Bytes, &str)> {
        self.files.get(name).map(|(b, e)| (b.clone(), e.as_str()))
    }
}

/// `N.role.json` as (N, role).
fn versioned_name(file: &str) -> Option<(u64, &str)> {
    let (version, role) = file.strip_suffix(".json")?.split_once('.')?;
    Some((version.parse().ok()?, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_that_can_exist_reach_the_state_store() {
        let mut view = RepoView::default();
        view.index.snapshot_version = 5;
        view.index.targets_version = 3;
        view.index.timestamp_version = 9;
        view.index.roles.insert("acme-cam".into(), 4);
        view.index.retired_roles.insert("old-cam".into(), 2);
        for name in [
            "4.snapshot.json",
            "2.targets.json",
            "9.timestamp.json",
            "3.acme-cam.json",
            "2.old-cam.json",
        ] {
            assert!(view.may_hold_older(name), "{name}");
        }
        for name in [
            "5.snapshot.json",
            "6.snapshot.json",
            "0.targets.json",
            "10.timestamp.json",
            "4.acme-cam.json",
            "1.no-such.json",
            "3.root.json",
            "x.snapshot.json",
            "timestamp.json",
        ] {
            assert!(!view.may_hold_older(name), "{name}");
        }
    }

    #[test]
    fn the_next_version_or_a_new_role_may_have_been_published_elsewhere() {
        let mut view = RepoView::default();
        view.index.root_version = 2;
        view.index.snapshot_version = 5;
        view.index.targets_version = 3;
        view.index.timestamp_version = 9;
        view.index.roles.insert("acme-cam".into(), 4);
        for name in [
            "3.root.json",
            "6.snapshot.json",
            "4.targets.json",
            "10.timestamp.json",
            "5.acme-cam.json",
            "2.new-cam.json",
        ] {
            assert!(view.may_be_newer(name), "{name}");
        }
        for name in [
            "2.root.json",
            "7.snapshot.json",
            "5.snapshot.json",
            "4.acme-cam.json",
            "0.new-cam.json",
            "x.snapshot.json",
            "snapshot.json",
        ] {
            assert!(!view.may_be_newer(name), "{name}");
        }
    }
}
