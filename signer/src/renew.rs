//! `airlock renew`: re-signs root, targets or product roles with a new expiry and nothing else
//! changed, so metadata about to expire (`airlock status --check`) is renewed without making a
//! change (TUF 5.3.10, 5.5.4: devices refuse expired metadata). With a horizon, only the roles
//! that expire within it; for cron.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tough::schema::RoleType;

use crate::repo::{expiry_in_days, Repo};
use crate::status;

/// A role of the repository that `renew` can re-sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenewRole {
    Root,
    Targets,
    Product(String),
}

impl RenewRole {
    /// `root`, `targets` or a product id.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "root" => RenewRole::Root,
            "targets" => RenewRole::Targets,
            "snapshot" | "timestamp" => bail!(
                "{name} is renewed by the server (airlock-server re-signs it online): give root, targets or a product"
            ),
            product => {
                airlock_core::names::check_product_id(product)
                    .with_context(|| format!("{product:?} is neither root, targets nor a product id"))?;
                RenewRole::Product(product.to_string())
            }
        })
    }

    fn name(&self) -> &str {
        match self {
            RenewRole::Root => "root",
            RenewRole::Targets => "targets",
            RenewRole::Product(p) => p,
        }
    }
}

/// A role and its version and expiry (after renewing, or as it stays).
#[derive(Debug, Clone, Serialize)]
pub struct RoleExpiry {
    pub role: String,
    pub version: u64,
    pub expires: jiff::Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct RenewReport {
    /// Roles re-signed now, with their new version and expiry.
    pub renewed: Vec<RoleExpiry>,
    /// Roles asked for that do not expire within the horizon, left as they are.
    pub not_due: Vec<RoleExpiry>,
}

/// Renews `roles` (empty: root, targets and every product), in that order; with `within`, only
/// those expiring before `now + within`. Each role is written as soon as it is signed, so a
/// failure later (a product's key missing) keeps what was renewed before it.
pub async fn renew(
    repo: &Repo,
    roles: &[RenewRole],
    within: Option<jiff::SignedDuration>,
    now: jiff::Timestamp,
) -> Result<RenewReport> {
    let s = status::status(repo)?;
    let mut wanted: Vec<RenewRole> = if roles.is_empty() {
        let mut all = vec![RenewRole::Root, RenewRole::Targets];
        all.extend(
            s.products
                .iter()
                .map(|p| RenewRole::Product(p.product.clone())),
        );
        all
    } else {
        roles.to_vec()
    };
    // root before targets before products: a targets.json signed for the new root
    wanted.sort_by_key(|r| match r {
        RenewRole::Root => 0,
        RenewRole::Targets => 1,
        RenewRole::Product(_) => 2,
    });
    wanted.dedup();
    let mut report = RenewReport {
        renewed: Vec::new(),
        not_due: Vec::new(),
    };
    for role in wanted {
        let current = current_expiry(&s, &role)?;
        let due = within.is_none_or(|w| current.expires <= now.checked_add(w).unwrap_or(now));
        if !due {
            report.not_due.push(current);
            continue;
        }
        let renewed = match &role {
            RenewRole::Root => renew_root(repo).await,
            RenewRole::Targets => renew_targets(repo).await,
            RenewRole::Product(p) => renew_product(repo, p).await,
        }
        .with_context(|| format!("renewing {}", role.name()))?;
        report.renewed.push(renewed);
    }
    Ok(report)
}

fn current_expiry(s: &status::Status, role: &RenewRole) -> Result<RoleExpiry> {
    match role {
        RenewRole::Product(p) => {
            let p = s.product(p)?;
            Ok(RoleExpiry {
                role: p.product.clone(),
                version: p.role_version,
                expires: p.expires,
            })
        }
        _ => {
            let r = s
                .roles
                .iter()
                .find(|r| r.role == role.name())
                .with_context(|| format!("no {} role in the repository", role.name()))?;
            Ok(RoleExpiry {
                role: r.role.clone(),
                version: r.version.context("an offline role has a version")?,
                expires: r.expires.context("an offline role has an expiry")?,
            })
        }
    }
}

/// The next root version: the same keys and roles, a new expiry; signed by the root keys in
/// keys/ (their threshold), checked as devices check a new root (TUF 5.3.4).
async fn renew_root(repo: &Repo) -> Result<RoleExpiry> {
    let config = repo.config()?;
    let old = repo.load_root()?;
    let role = old
        .signed
        .roles
        .get(&RoleType::Root)
        .context("the current root has no root role")?;
    let listed: Vec<String> = role.keyids.iter().map(|id| hex::encode(&**id)).collect();
    let mut keys = Vec::new();
    for (_, key) in repo.root_keys()? {
        if listed.contains(&key.key_id()?) {
            keys.push(key);
        }
    }
    if (keys.len() as u64) < role.threshold.get() {
        bail!(
            "the root needs {} signatures but only {} of its keys are in {}: bring the keys \
             together, or make the next root with `airlock root propose` and its holders",
            role.threshold,
            keys.len(),
            repo.keys_dir().display()
        );
    }
    let mut root = old.signed.clone();
    root.version = old
        .signed
        .version
        .checked_add(1)
        .context("root version overflow")?;
    root.expires = expiry_in_days(config.expiry_days)?;
    // signed in memory and checked as a device would before anything is written
    let holder = tough::schema::KeyHolder::Root(root.clone());
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signed = tough::editor::signed::SignedRole::new(
        root,
        &holder,
        &crate::keys::key_sources(&keys),
        &rng,
    )
    .await
    .context("signing the root")?;
    airlock_core::verify::verify_root_successor(&old, signed.signed())
        .context("the renewed root does not verify against the current one")?;
    let new = &signed.signed().signed;
    let dir = repo.metadata_dir();
    crate::durable::write_atomic(
        &dir.join(format!("{}.root.json", new.version)),
        signed.buffer(),
    )?;
    crate::durable::write_atomic(&dir.join("root.json"), signed.buffer())?;
    Ok(RoleExpiry {
        role: "root".into(),
        version: new.version.get(),
        expires: new.expires,
    })
}

/// targets.json again, one version up with a new expiry, signed by the targets keys in keys/.
async fn renew_targets(repo: &Repo) -> Result<RoleExpiry> {
    if crate::targets::is_staged(repo) {
        bail!(
            "a targets change is staged: `airlock targets propose`, `airlock sign` and `airlock \
             targets apply` sign targets.json with it (and renew it)"
        );
    }
    let config = repo.config()?;
    let root = repo.load_root()?.signed;
    let (held, needed) = crate::targets::held_targets_keys(repo, &root)?;
    if (held.len() as u64) < needed {
        bail!(
            "targets needs {needed} signature(s) but only {} of its keys are in keys/: with \
             nothing staged, `airlock targets propose` proposes the current targets re-signed for \
             their holders (`airlock sign`, then `airlock targets apply`)",
            held.len()
        );
    }
    let plan = crate::targets::Plan::new(repo, &root, false)?;
    let targets = repo.load_targets()?.signed;
    let (path, bytes, outcome) = plan
        .finish(repo, &root, targets, config.expiry_days)
        .await?;
    crate::durable::write_atomic(&path, &bytes)?;
    let t = repo.load_targets()?.signed;
    Ok(RoleExpiry {
        role: "targets".into(),
        version: outcome.version(),
        expires: t.expires,
    })
}

/// A product role again, one version up with a new expiry and the same targets.
async fn renew_product(repo: &Repo, product: &str) -> Result<RoleExpiry> {
    let current = repo.load_support(product)?;
    let version = crate::support::replace_record(repo, product, &current, |_| Ok(())).await?;
    let role = repo.load_role(product)?.signed;
    Ok(RoleExpiry {
        role: product.to_string(),
        version,
        expires: role.expires,
    })
}
