//! `airlock support extend|set-floor|show`: a product's signed support record over its life.
//! The rules (support never shortened, floor never lowered, history append-only) are checked
//! here before signing and again by the server on publish.

use anyhow::{bail, Context, Result};

use airlock_core::names;
use airlock_core::support::{SupportChange, SupportRecord};

use crate::product::write_support;
use crate::repo::{expiry_in_days, Repo};

/// Replaces a product's support record (checked against the current one) and re-signs the
/// product role, optionally with other changes to the role's targets (`edit`).
pub async fn replace_record(
    repo: &Repo,
    product: &str,
    next: &SupportRecord,
    edit: impl FnOnce(&mut tough::schema::Targets) -> Result<()>,
) -> Result<u64> {
    let config = repo.config()?;
    crate::targets::check_product_not_staged(repo, product)?;
    let current = repo.load_support(product)?;
    current
        .check_change(next)
        .context("the support record cannot change this way")?;
    let targets = repo.load_targets()?.signed;
    let delegations = targets
        .delegations
        .context("targets.json has no delegations")?;
    let mut role = repo.load_role(product)?.signed;
    let keys = repo.role_keys(product)?;
    edit(&mut role)?;
    // Write the new record, then sign the role that lists it. If signing fails, put the old
    // record back so the repository on disk stays consistent.
    let support_path = repo.support_path(product)?;
    let old_bytes = std::fs::read(&support_path)
        .with_context(|| format!("reading {}", support_path.display()))?;
    let (name, entry) = write_support(repo, next)?;
    role.add_target(tough::TargetName::new(name)?, entry);
    role.version = role.version.saturating_add(1);
    role.expires = expiry_in_days(config.expiry_days)?;
    let version = role.version.get();
    if let Err(e) = repo.write_role(product, role, &delegations, &keys).await {
        crate::durable::write_atomic(&support_path, &old_bytes)?;
        return Err(e);
    }
    Ok(version)
}

pub(crate) fn change(action: &str, reason: &str) -> SupportChange {
    SupportChange {
        at: airlock_core::whole_seconds(jiff::Timestamp::now()),
        action: action.into(),
        reason: reason.into(),
        security_updates_until: None,
        feature_updates_until: None,
        min_security_version: None,
        withdrawn: None,
        forced: false,
    }
}

pub(crate) fn require_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        bail!("--reason must say why (it is kept in the signed history)");
    }
    Ok(())
}

pub async fn extend(
    repo: &Repo,
    product: &str,
    security_until: jiff::civil::Date,
    feature_until: Option<jiff::civil::Date>,
    reason: &str,
) -> Result<SupportRecord> {
    names::check_product_id(product)?;
    require_reason(reason)?;
    let mut next = repo.load_support(product)?;
    next.security_updates_until = security_until;
    if let Some(f) = feature_until {
        next.feature_updates_until = f;
    }
    let mut c = change("extend", reason);
    c.security_updates_until = Some(security_until);
    c.feature_updates_until = feature_until;
    next.history.push(c);
    replace_record(repo, product, &next, |_| Ok(())).await?;
    Ok(next)
}

pub async fn set_floor(
    repo: &Repo,
    product: &str,
    floor: u64,
    reason: Option<&str>,
) -> Result<SupportRecord> {
    names::check_product_id(product)?;
    let default = format!("security floor raised to {floor}");
    let reason = reason.unwrap_or(&default);
    require_reason(reason)?;
    let mut next = repo.load_support(product)?;
    next.min_security_version = floor;
    let mut c = change("set-floor", reason);
    c.min_security_version = Some(floor);
    next.history.push(c);
    replace_record(repo, product, &next, |_| Ok(())).await?;
    Ok(next)
}

pub fn show(repo: &Repo, product: &str) -> Result<SupportRecord> {
    names::check_product_id(product)?;
    let targets = repo.load_targets()?.signed;
    if !repo.products(&targets).iter().any(|p| p == product) {
        return Err(repo.unknown_product(product));
    }
    repo.load_support(product)
}

/// Human-readable form.
pub fn render(r: &SupportRecord) -> String {
    let mut out = format!(
        "{}: support from {}; feature updates until {}; security updates until {}; floor {}\n  {}\n",
        r.product,
        r.support_start,
        r.feature_updates_until,
        r.security_updates_until,
        r.min_security_version,
        r.statement
    );
    if let Some(s) = &r.successor {
        out += &format!("  successor: {s}\n");
    }
    if let Some(u) = &r.notice_url {
        out += &format!("  notice: {u}\n");
    }
    for c in &r.history {
        let mut what = Vec::new();
        if let Some(d) = c.security_updates_until {
            what.push(format!("security until {d}"));
        }
        if let Some(d) = c.feature_updates_until {
            what.push(format!("features until {d}"));
        }
        if let Some(f) = c.min_security_version {
            what.push(format!("floor {f}"));
        }
        if let Some(w) = &c.withdrawn {
            what.push(format!("withdrew {w}"));
        }
        out += &format!(
            "  {} {} ({}): {}\n",
            c.at,
            c.action,
            what.join(", "),
            c.reason
        );
    }
    out
}
