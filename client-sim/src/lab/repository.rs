//! The lab's repository, signed with the real signer (`airlock_signer`): products, releases,
//! support changes, key rotation and publishing to the lab's server.

use anyhow::Result;
use std::path::{Path, PathBuf};

use airlock_core::release::ReleaseKind;
use airlock_signer::repo::Repo;
use airlock_signer::{init, product, publish, release, support};

/// A product to add, with its support windows: the signer's own options
/// ([`product::ProductOptions::new`] gives one key, updatable).
pub use airlock_signer::product::ProductOptions as Product;

/// A release to sign from an image file.
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub product: String,
    pub file: PathBuf,
    pub version: semver::Version,
    pub security_version: u64,
    pub kind: ReleaseKind,
    pub requires: Option<semver::Version>,
    pub released: jiff::Timestamp,
    /// `--deltas-from N`: deltas from the N newest earlier releases (docs/deltas.md); `None`:
    /// the repository's setting (none by default).
    pub deltas_from: Option<u32>,
}

/// A signed release: its target name and sha256.
#[derive(Debug, Clone)]
pub struct SignedRelease {
    pub target: String,
    pub sha256: String,
}

pub struct Repository {
    repo: Repo,
}

impl Repository {
    /// A new repository in `dir` (one root and one targets key, metadata valid for a year)
    /// whose root names `online_pub` for snapshot and timestamp.
    pub async fn init(dir: &Path, online_pub: &Path) -> Result<Repository> {
        init::init(&init::InitOptions {
            dir: dir.to_path_buf(),
            online_key_file: online_pub.to_path_buf(),
            root_threshold: 1,
            root_keys: 1,
            targets_threshold: 1,
            targets_keys: 1,
            expiry_days: 365,
        })
        .await?;
        Ok(Repository {
            repo: Repo::open(dir)?,
        })
    }

    /// The pinned root devices start from (`metadata/1.root.json`).
    pub fn first_root(&self) -> PathBuf {
        self.repo.metadata_dir().join("1.root.json")
    }

    pub async fn add_product(&self, p: &Product) -> Result<()> {
        product::add(&self.repo, p).await.map(|_| ())
    }

    pub async fn add_release(&self, r: &NewRelease) -> Result<SignedRelease> {
        let report = release::add_with_deltas(
            &self.repo,
            &release::ReleaseOptions {
                product: r.product.clone(),
                file: r.file.clone(),
                name: None,
                version: r.version.clone(),
                security_version: r.security_version,
                kind: r.kind,
                requires: r.requires.clone(),
                released: Some(r.released),
                advisories: Vec::new(),
                allow_older: false,
                sbom: None,
            },
            &airlock_signer::delta::DeltaOptions {
                from: r.deltas_from,
                methods: Vec::new(),
            },
        )
        .await?;
        Ok(SignedRelease {
            target: report.target,
            sha256: report.sha256,
        })
    }

    pub async fn extend_support(
        &self,
        product: &str,
        security_until: jiff::civil::Date,
        feature_until: Option<jiff::civil::Date>,
        reason: &str,
    ) -> Result<()> {
        support::extend(
            &self.repo,
            product,
            security_until,
            feature_until,
            None,
            reason,
        )
        .await
        .map(|_| ())
    }

    pub async fn set_floor(&self, product: &str, floor: u64, reason: Option<&str>) -> Result<()> {
        support::set_floor(&self.repo, product, floor, reason)
            .await
            .map(|_| ())
    }

    /// Rotates the product's key; returns the key it replaced (which a newer delegation no
    /// longer lists).
    pub async fn rotate_product_key(
        &self,
        product: &str,
    ) -> Result<airlock_core::keys::SigningKey> {
        let old = self.repo.load_key(product)?;
        product::rotate_key(&self.repo, product).await?;
        Ok(old)
    }

    /// A new root that names `online_pub` (the server's prepared next online key) for snapshot
    /// and timestamp, as `airlock root rotate --online-key` makes it (one new root key).
    pub async fn rotate_online_key(&self, online_pub: &Path) -> Result<()> {
        airlock_signer::root::rotate(
            &self.repo,
            &airlock_signer::root::RotateOptions {
                root_keys: Some(1),
                root_threshold: Some(1),
                allow_lower_threshold: false,
                rotate_targets: false,
                online_key: Some(online_pub.to_path_buf()),
                root_tokens: Vec::new(),
            },
        )
        .await
        .map(|_| ())
    }

    /// Publishes the repository as it is on disk (`hold`: new releases wait for a rollout).
    pub async fn publish(&self, server: &url::Url, token: &str, hold: bool) -> Result<()> {
        publish::publish(
            &self.repo,
            &publish::PublishOptions {
                server: server.clone(),
                admin_token: token.to_string(),
                hold,
                progress: false,
            },
        )
        .await
        .map(|_| ())
    }
}

/// Reads an admin token file as `airlock publish` does (first line, trimmed).
pub fn read_token(path: &Path) -> Result<String> {
    publish::read_token(path)
}
