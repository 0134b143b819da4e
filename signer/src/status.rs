//! `airlock status`: roles, keys, versions, expiry dates, products and releases.

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use tough::schema::RoleType;

use airlock_core::keys::{is_encrypted_pkcs8, key_id_hex, SigningKey};
use airlock_core::names;
use airlock_core::release::Release;
use airlock_core::support::SupportRecord;

use crate::pkcs11::TokenUri;
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
    /// The role's key files in keys/ (keys held elsewhere sign proposals with `airlock sign`).
    pub held: Vec<KeyLocation>,
}

/// A key file in keys/ and what it holds, read without a passphrase or a token session.
#[derive(Debug, Clone, Serialize)]
pub struct KeyLocation {
    pub file: PathBuf,
    /// `file` (plain PKCS#8), `encrypted_file` (passphrase-protected PKCS#8), `pkcs11`, or
    /// `unreadable` (none of these: listed, so a broken key file is seen).
    pub kind: &'static str,
    /// The key id, for a plain file (an encrypted key or a token key is not opened here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Whether the role's metadata lists that key id (known only with the id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed: Option<bool>,
    /// The token URI, PIN redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl KeyLocation {
    fn describe(&self) -> String {
        let file = self
            .file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match (self.kind, &self.key_id, &self.token) {
            ("pkcs11", _, Some(uri)) => format!("{file}: token {uri}"),
            (_, Some(id), _) => format!(
                "{file}: {} {}{}",
                self.kind.replace('_', " "),
                id.chars().take(12).collect::<String>(),
                if self.listed == Some(false) {
                    " (NOT listed by the role)"
                } else {
                    ""
                }
            ),
            (kind, _, _) => format!("{file}: {}", kind.replace('_', " ")),
        }
    }
}

/// The key files of keys/ that belong to `role`, and what each holds.
fn key_locations(repo: &Repo, role: &str, listed: &[String]) -> Result<Vec<KeyLocation>> {
    let mut out = Vec::new();
    for (_, path) in repo.role_key_files(role)? {
        let bytes = zeroize::Zeroizing::new(
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        );
        let text = std::str::from_utf8(&bytes).ok().map(str::trim);
        let location = if let Some(uri) = text.filter(|t| TokenUri::is_uri(t)) {
            KeyLocation {
                file: path.clone(),
                kind: "pkcs11",
                key_id: None,
                listed: None,
                token: Some(
                    TokenUri::parse(uri)
                        .map(|u| u.redacted())
                        .unwrap_or_else(|e| format!("unreadable URI: {e}")),
                ),
            }
        } else if is_encrypted_pkcs8(&bytes) {
            KeyLocation {
                file: path.clone(),
                kind: "encrypted_file",
                key_id: None,
                listed: None,
                token: None,
            }
        } else {
            match SigningKey::from_pkcs8(&bytes).and_then(|k| k.key_id()) {
                Ok(id) => KeyLocation {
                    file: path.clone(),
                    kind: "file",
                    listed: Some(listed.contains(&id)),
                    key_id: Some(id),
                    token: None,
                },
                // reported, not fatal: status must still show the rest (and --check still run)
                Err(_) => KeyLocation {
                    file: path.clone(),
                    kind: "unreadable",
                    key_id: None,
                    listed: None,
                    token: None,
                },
            }
        };
        out.push(location);
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductStatus {
    pub product: String,
    pub role_version: u64,
    pub expires: jiff::Timestamp,
    pub support: SupportRecord,
    pub releases: Vec<Release>,
    pub threshold: u64,
    pub key_ids: Vec<String>,
    pub held: Vec<KeyLocation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub repo: PathBuf,
    pub online_key_id: String,
    pub roles: Vec<RoleStatus>,
    pub products: Vec<ProductStatus>,
    /// A targets change waiting for the targets key holders' signatures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged: Option<StagedStatus>,
}

impl Status {
    /// The status of `product`; an error names a product the repository does not have.
    pub fn product(&self, product: &str) -> Result<&ProductStatus> {
        self.products
            .iter()
            .find(|p| p.product == product)
            .ok_or_else(|| {
                let known: Vec<&str> = self.products.iter().map(|p| p.product.as_str()).collect();
                airlock_cli::Failure::unknown("product", product, &known, "").into()
            })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StagedStatus {
    pub targets_version: u64,
    pub changes: Vec<String>,
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
        let key_ids: Vec<String> = keys
            .map(|k| k.keyids.iter().map(|id| hex::encode(&**id)).collect())
            .unwrap_or_default();
        let online = matches!(role, RoleType::Snapshot | RoleType::Timestamp);
        let held = if online {
            Vec::new()
        } else {
            key_locations(repo, name, &key_ids)?
        };
        roles.push(RoleStatus {
            role: name.into(),
            version,
            expires,
            threshold: keys.map(|k| k.threshold.get()).unwrap_or(0),
            key_ids,
            online,
            held,
        });
    }
    let mut products = Vec::new();
    for product in repo.products(&targets) {
        let role = repo.load_role(&product)?.signed;
        let support = repo.load_support(&product)?;
        let mut releases = Vec::new();
        for (name, t) in &role.targets {
            if name.raw() == names::support_target_name(&product)
                || airlock_core::delta::is_delta(t)
                || airlock_core::sbom::is_sbom_target(&t.custom)
            {
                continue;
            }
            releases.push(Release::from_target(name.raw(), t)?);
        }
        releases.sort_by(|a, b| a.info.version.cmp(&b.info.version));
        let delegation = targets
            .delegations
            .as_ref()
            .and_then(|d| d.roles.iter().find(|r| r.name == product));
        let key_ids: Vec<String> = delegation
            .map(|d| d.keyids.iter().map(|id| hex::encode(&**id)).collect())
            .unwrap_or_default();
        let held = key_locations(repo, &product, &key_ids)?;
        products.push(ProductStatus {
            threshold: delegation.map(|d| d.threshold.get()).unwrap_or(0),
            key_ids,
            held,
            product,
            role_version: role.version.get(),
            expires: role.expires,
            support,
            releases,
        });
    }
    let staged = crate::targets::staged_targets(repo)?.map(|next| StagedStatus {
        targets_version: next.version.get(),
        changes: crate::targets::describe_changes(&targets, &next),
    });
    Ok(Status {
        repo: repo.dir.clone(),
        online_key_id: key_id_hex(&config.online_key)?,
        roles,
        products,
        staged,
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
    let _ = writeln!(out, "\nKEYS HERE (keys/)");
    for r in &s.roles {
        if r.online {
            continue;
        }
        let _ = writeln!(out, "{:<10} {}", r.role, held_text(&r.held));
    }
    for p in &s.products {
        let _ = writeln!(
            out,
            "{:<10} {} (threshold {}/{})",
            p.product,
            held_text(&p.held),
            p.threshold,
            p.key_ids.len()
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
    if let Some(st) = &s.staged {
        let _ = writeln!(
            out,
            "\nstaged: targets v{} waiting for signatures (airlock targets propose / sign / apply)",
            st.targets_version
        );
        for c in &st.changes {
            let _ = writeln!(out, "  {c}");
        }
    }
    out
}

fn held_text(held: &[KeyLocation]) -> String {
    if held.is_empty() {
        "none here (held elsewhere: signs with `airlock sign`)".into()
    } else {
        held.iter()
            .map(KeyLocation::describe)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A role whose metadata expires within the horizon of `status --check`.
#[derive(Debug, Clone, Serialize)]
pub struct Expiring {
    pub role: String,
    pub version: u64,
    pub expires: jiff::Timestamp,
}

/// Parses a horizon like `30d`, `12h` or `90m`.
pub fn parse_horizon(text: &str) -> Result<jiff::SignedDuration> {
    let bad = || {
        anyhow::Error::from(airlock_cli::Failure::usage(format!(
            "invalid duration {text:?}: use a whole number and a unit, d (days), h (hours) or m \
             (minutes), e.g. 30d, 12h, 90m (a year is 365d)"
        )))
    };
    let t = text.trim();
    let (num, unit) = t.split_at(t.len().checked_sub(1).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    if n < 0 {
        return Err(bad());
    }
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3600),
        "m" => n.checked_mul(60),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(jiff::SignedDuration::from_secs(secs))
}

/// Offline-signed metadata (root, targets, product roles) expiring before `now + horizon`.
/// Snapshot and timestamp are renewed by the server and not listed.
pub fn expiring(s: &Status, now: jiff::Timestamp, horizon: jiff::SignedDuration) -> Vec<Expiring> {
    let limit = now.checked_add(horizon).unwrap_or(now);
    let mut out = Vec::new();
    for r in &s.roles {
        if let (Some(version), Some(expires)) = (r.version, r.expires) {
            if expires <= limit {
                out.push(Expiring {
                    role: r.role.clone(),
                    version,
                    expires,
                });
            }
        }
    }
    for p in &s.products {
        if p.expires <= limit {
            out.push(Expiring {
                role: p.product.clone(),
                version: p.role_version,
                expires: p.expires,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizons() {
        assert_eq!(parse_horizon("30d").unwrap().as_secs(), 30 * 86_400);
        assert_eq!(parse_horizon("12h").unwrap().as_secs(), 12 * 3600);
        for bad in ["", "d", "-1d", "3w", "x"] {
            assert!(parse_horizon(bad).is_err(), "{bad:?}");
        }
    }
}
