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

/// Refuses a statement that names a date the record does not hold
/// ([`SupportRecord::statement_dates_not_in_record`]), naming the option that replaces it.
pub(crate) fn check_statement_dates(record: &SupportRecord, option: &str) -> Result<()> {
    let stale = record.statement_dates_not_in_record();
    if !stale.is_empty() {
        let dates: Vec<String> = stale.iter().map(ToString::to_string).collect();
        bail!(
            "the statement of {} names {} but the record's dates are {} (start), {} (feature \
             updates) and {} (security updates): give a statement that matches with {option}",
            record.product,
            dates.join(", "),
            record.support_start,
            record.feature_updates_until,
            record.security_updates_until
        );
    }
    Ok(())
}

/// `support extend`: new end dates. The statement follows them: the generated one is written
/// again with the new dates; a vendor's own statement is kept unless `statement` replaces it,
/// and refused when it names a date the record no longer holds (the old end of support), so
/// the public page never shows two ends.
pub async fn extend(
    repo: &Repo,
    product: &str,
    security_until: jiff::civil::Date,
    feature_until: Option<jiff::civil::Date>,
    statement: Option<&str>,
    reason: &str,
) -> Result<SupportRecord> {
    names::check_product_id(product)?;
    require_reason(reason)?;
    let mut next = repo.load_support(product)?;
    let generated = next.has_default_statement();
    next.security_updates_until = security_until;
    if let Some(f) = feature_until {
        next.feature_updates_until = f;
    }
    match statement {
        Some(text) => next.statement = text.to_string(),
        None if generated => {
            next.statement = SupportRecord::default_statement(
                product,
                next.security_updates_until,
                next.feature_updates_until,
            )
        }
        None => {}
    }
    check_statement_dates(&next, "--statement")?;
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

/// What `product set` changes in the public part of a support record; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct PublicFields {
    pub statement: Option<String>,
    pub security_contact: Option<String>,
    pub disclosure_policy: Option<String>,
    pub notice_url: Option<String>,
    /// The URL of the CSAF provider-metadata.json (a `CSAF:` line in security.txt).
    pub csaf_provider_metadata: Option<String>,
    /// Days within which a reporter's report is acknowledged.
    pub report_acknowledged_within_days: Option<u32>,
    /// Days between status updates to a reporter until resolution.
    pub status_updates_every_days: Option<u32>,
}

/// `airlock product set`: a new statement, security contact, disclosure policy or notice URL,
/// re-signed like every change of the record and recorded in its history (action `set`).
pub async fn set_public_fields(
    repo: &Repo,
    product: &str,
    fields: &PublicFields,
    reason: Option<&str>,
) -> Result<SupportRecord> {
    names::check_product_id(product)?;
    show(repo, product)?;
    let mut next = repo.load_support(product)?;
    let mut changed = Vec::new();
    if let Some(url) = &fields.csaf_provider_metadata {
        if !url.starts_with("https://") {
            bail!("--csaf-provider-metadata {url:?} must be an https:// URL (RFC 9116 security.txt, CSAF 2.0 section 7.1.8)");
        }
    }
    let slots: [(&str, &Option<String>, &mut dyn FieldSlot); 5] = [
        ("statement", &fields.statement, &mut next.statement),
        (
            "security contact",
            &fields.security_contact,
            &mut next.security_contact,
        ),
        (
            "disclosure policy",
            &fields.disclosure_policy,
            &mut next.disclosure_policy,
        ),
        ("notice URL", &fields.notice_url, &mut next.notice_url),
        (
            "CSAF provider metadata",
            &fields.csaf_provider_metadata,
            &mut next.csaf_provider_metadata,
        ),
    ];
    for (name, value, field) in slots {
        if let Some(v) = value {
            if field.set(v) {
                changed.push(name);
            }
        }
    }
    let days: [(&str, Option<u32>, &mut Option<u32>); 2] = [
        (
            "acknowledgement time",
            fields.report_acknowledged_within_days,
            &mut next.report_acknowledged_within_days,
        ),
        (
            "status-update interval",
            fields.status_updates_every_days,
            &mut next.status_updates_every_days,
        ),
    ];
    for (name, value, field) in days {
        if let Some(v) = value {
            if *field != Some(v) {
                *field = Some(v);
                changed.push(name);
            }
        }
    }
    if fields.statement.is_none()
        && fields.security_contact.is_none()
        && fields.disclosure_policy.is_none()
        && fields.notice_url.is_none()
        && fields.csaf_provider_metadata.is_none()
        && fields.report_acknowledged_within_days.is_none()
        && fields.status_updates_every_days.is_none()
    {
        bail!("nothing to set: give --statement, --security-contact, --disclosure-policy, --acknowledge-within, --status-updates-every, --csaf-provider-metadata or --notice-url");
    }
    if changed.is_empty() {
        bail!("{product}: the record already says that; nothing changed");
    }
    check_statement_dates(&next, "--statement")?;
    let default = format!("{} changed", changed.join(", "));
    let reason = reason.unwrap_or(&default);
    require_reason(reason)?;
    next.history.push(change("set", reason));
    replace_record(repo, product, &next, |_| Ok(())).await?;
    Ok(next)
}

/// A field of the record `product set` may replace; `set` says whether the value changed.
trait FieldSlot {
    fn set(&mut self, value: &str) -> bool;
}

impl FieldSlot for String {
    fn set(&mut self, value: &str) -> bool {
        let changed = self != value;
        *self = value.to_string();
        changed
    }
}

impl FieldSlot for Option<String> {
    fn set(&mut self, value: &str) -> bool {
        let changed = self.as_deref() != Some(value);
        *self = Some(value.to_string());
        changed
    }
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
    if let Some(c) = &r.security_contact {
        out += &format!("  security contact: {c}\n");
    }
    if let Some(p) = &r.disclosure_policy {
        out += &format!("  disclosure policy: {p}\n");
    }
    if let Some(d) = r.report_acknowledged_within_days {
        out += &format!("  reports acknowledged within {d} day(s)\n");
    }
    if let Some(d) = r.status_updates_every_days {
        out += &format!("  status updates every {d} day(s) until resolved\n");
    }
    for c in &r.history {
        out += &format!("  {} {} ({}): {}\n", c.at, c.action, c.details(), c.reason);
    }
    out
}
