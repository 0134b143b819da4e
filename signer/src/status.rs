//! `airlock status`: roles, keys, versions, expiry dates, products and releases.

use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;
use tough::schema::RoleType;

use airlock_core::keys::key_id_hex;
use airlock_core::names;
use airlock_core::release::Release;
use airlock_core::support::SupportRecord;

use crate::repo::Repo;

#[derive(Debug, Clone, Serialize)]
pub struct RoleStatus {
    pub role: String,
    pub version: Option<u64>,
    pub expires: Option<jiff::Timestamp>,
    pub threshold: u64,
    pub key_ids: Vec<String>,
    /// Signed by the server's online key (snapshot, timestamp), not kept here.
    pub online: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductStatus {
    pub product: String,
    pub role_version: u64,
    pub expires: jiff::Timestamp,
    pub support: SupportRecord,
    pub releases: Vec<Release>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub repo: PathBuf,
    pub online_key_id: String,
    pub roles: Vec<RoleStatus>,
    pub products: Vec<ProductStatus>,
}

pub fn status(repo: &Repo) -> Result<Status> {
    let config = repo.config()?;
    let root = repo.load_root()?.signed;
    let targets = repo.load_targets()?.signed;
    let mut roles = Vec::new();
    for (role, name) in [
        (RoleType::Root, "root"),
        (RoleType::Targets, "targets"),
        (RoleType::Snapshot, "snapshot"),
        (RoleType::Timestamp, "timestamp"),
    ] {
        let keys = root.roles.get(&role);
        let (version, expires) = match role {
            RoleType::Root => (Some(root.version.get()), Some(root.expires)),
            RoleType::Targets => (Some(targets.version.get()), Some(targets.expires)),
            _ => (None, None),
        };
        roles.push(RoleStatus {
            role: name.into(),
            version,
            expires,
            threshold: keys.map(|k| k.threshold.get()).unwrap_or(0),
            key_ids: keys
                .map(|k| k.keyids.iter().map(|id| hex::encode(&**id)).collect())
                .unwrap_or_default(),
            online: matches!(role, RoleType::Snapshot | RoleType::Timestamp),
        });
    }
    let mut products = Vec::new();
    for product in repo.products(&targets) {
        let role = repo.load_role(&product)?.signed;
        let support = repo.load_support(&product)?;
        let mut releases = Vec::new();
        for (name, t) in &role.targets {
            if name.raw() == names::support_target_name(&product) {
                continue;
            }
            releases.push(Release::from_target(name.raw(), t)?);
        }
        releases.sort_by(|a, b| a.info.version.cmp(&b.info.version));
        products.push(ProductStatus {
            product,
            role_version: role.version.get(),
            expires: role.expires,
            support,
            releases,
        });
    }
    Ok(Status {
        repo: repo.dir.clone(),
        online_key_id: key_id_hex(&config.online_key)?,
        roles,
        products,
    })
}

/// Human-readable form.
pub fn render(s: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "repository {}", s.repo.display());
    let _ = writeln!(
        out,
        "\nROLE       VERSION  EXPIRES               THRESHOLD  KEYS"
    );
    for r in &s.roles {
        let _ = writeln!(
            out,
            "{:<10} {:<8} {:<21} {:<10} {}",
            r.role,
            r.version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "server".into()),
            r.expires
                .map(|e| e.to_string())
                .unwrap_or_else(|| "renewed by server".into()),
            format!("{}/{}", r.threshold, r.key_ids.len()),
            r.key_ids
                .iter()
                .map(|k| k.chars().take(12).collect::<String>())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    for p in &s.products {
        let sup = &p.support;
        let _ = writeln!(
            out,
            "\nproduct {}  (role v{}, expires {})\n  support {} .. features until {}, security until {}, floor {}",
            p.product,
            p.role_version,
            p.expires,
            sup.support_start,
            sup.feature_updates_until,
            sup.security_updates_until,
            sup.min_security_version
        );
        if p.releases.is_empty() {
            let _ = writeln!(out, "  no releases");
        }
        for r in &p.releases {
            let _ = writeln!(
                out,
                "  {:<10} sv {:<4} {:<9} {:>12} B  {}  {}",
                r.info.version.to_string(),
                r.info.security_version,
                r.info.kind.as_str(),
                r.length,
                r.info.released,
                r.name
            );
        }
    }
    out
}
