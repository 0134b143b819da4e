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
    /// Target name -> (sha256, length), for serving `/tuf/targets/`.
    pub targets: HashMap<String, (String, u64)>,
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
        let mut targets = HashMap::new();
        for (name, role) in &published.roles {
            let verify::ProductTargets {
                releases,
                support: support_target,
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
            products.insert(name.clone(), ProductView { support, releases });
        }
        Ok(RepoView {
            generation: head.generation,
            index: head.index.clone(),
            timestamp: Bytes::from(head.timestamp.clone()),
            snapshot: Bytes::from(snapshot),
            published,
            products,
            targets,
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

    /// A current metadata file by its published name, if it is held in memory.
    pub fn current_file(&self, name: &str) -> Option<Bytes> {
        let ix = &self.index;
        if !self.is_published() {
            return None;
        }
        let bytes_of = |m: &MetaFile<Targets>| Bytes::from(m.bytes.clone());
        match name {
            "timestamp.json" => return Some(self.timestamp.clone()),
            "snapshot.json" => return Some(self.snapshot.clone()),
            "root.json" => return self.latest_root().map(|r| Bytes::from(r.bytes.clone())),
            "targets.json" => return self.published.targets.as_ref().map(bytes_of),
            _ => {}
        }
        let stem = name.strip_suffix(".json")?;
        let (version, role) = match stem.split_once('.') {
            Some((v, role)) if v.bytes().all(|b| b.is_ascii_digit()) => {
                (v.parse::<u64>().ok()?, role)
            }
            _ => return self.published.roles.get(stem).map(bytes_of),
        };
        match role {
            "root" => {
                let idx = usize::try_from(version.checked_sub(1)?).ok()?;
                self.published
                    .roots
                    .get(idx)
                    .map(|r| Bytes::from(r.bytes.clone()))
            }
            "snapshot" if version == ix.snapshot_version => Some(self.snapshot.clone()),
            "targets" if version == ix.targets_version => {
                self.published.targets.as_ref().map(bytes_of)
            }
            role if ix.roles.get(role) == Some(&version) => {
                self.published.roles.get(role).map(bytes_of)
            }
            _ => None,
        }
    }
}
