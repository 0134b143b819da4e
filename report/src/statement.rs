//! The statement of compliance the UK PSTI regime and the Australian smart-device rules ask a
//! manufacturer to make, with its fields filled from the signed support record (product,
//! defined support period, where to report vulnerabilities) and from the manufacturer's own
//! words (manufacturer, address, batch, signatory, place, date: a [`Declarant`]). The
//! declarations are the manufacturer's; this module only writes them down and lists what the
//! signed record does not show ("gaps") instead of papering over it.

use serde::Serialize;

use airlock_core::support::SupportRecord;

use crate::document::Document;

/// A regime name that is neither `uk` nor `au`.
#[derive(Debug, thiserror::Error)]
#[error("unknown regime {0:?}: uk or au")]
pub struct UnknownRegime(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Regime {
    /// Product Security and Telecommunications Infrastructure Act 2022 and its 2023 Regulations.
    Uk,
    /// Cyber Security Act 2024 and the Cyber Security (Security Standards for Smart Devices)
    /// Rules 2025.
    Au,
}

impl std::str::FromStr for Regime {
    type Err = UnknownRegime;
    fn from_str(s: &str) -> Result<Self, UnknownRegime> {
        match s {
            "uk" => Ok(Regime::Uk),
            "au" => Ok(Regime::Au),
            other => Err(UnknownRegime(other.to_string())),
        }
    }
}

/// What a regime's statement says in its own terms.
struct RegimeText {
    country: &'static str,
    legislation: &'static str,
    compliance_declaration: &'static str,
    retention: &'static str,
}

const UK: RegimeText = RegimeText {
    country: "United Kingdom",
    legislation: "Product Security and Telecommunications Infrastructure Act 2022; the Product Security and Telecommunications Infrastructure (Security Requirements for Relevant Connectable Products) Regulations 2023, SI 2023/1007 (security requirements: Schedule 1; minimum content of the statement of compliance: Schedule 4)",
    compliance_declaration: "In the opinion of the manufacturer, the manufacturer has complied with the applicable security requirements of Schedule 1 to the Regulations in relation to the product: passwords (paragraph 1), information on how to report security issues (paragraph 2), and information on minimum security update periods (paragraph 3).",
    retention: "Keep this statement, and its signature file, with the product's compliance records for the period the legislation requires.",
};

const AU: RegimeText = RegimeText {
    country: "Australia",
    legislation: "Cyber Security Act 2024, Part 2 (security standards for smart devices); the Cyber Security (Security Standards for Smart Devices) Rules 2025 (security standard: Schedule 1; statement of compliance: sections 9 and 10)",
    compliance_declaration: "In the opinion of the manufacturer, the product complies with the security standard for smart devices in the Rules: no universal default passwords, a means to report security issues, and a published defined support period.",
    retention: "Keep this statement, and its signature file, for at least 5 years (Smart Devices Rules 2025, s. 10).",
};

impl Regime {
    fn text(self) -> &'static RegimeText {
        match self {
            Regime::Uk => &UK,
            Regime::Au => &AU,
        }
    }
}

/// What the manufacturer states (the signed record does not hold it); the caller has checked
/// that each field is given.
#[derive(Debug, Clone)]
pub struct Declarant {
    pub manufacturer: String,
    pub address: String,
    /// Product batch or other identification; `None` = every unit of the product.
    pub batch: Option<String>,
    pub signatory: String,
    pub signatory_function: String,
    pub place: String,
    pub date: jiff::civil::Date,
}

/// The statement's fields (its JSON form).
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    pub regime: Regime,
    pub legislation: String,
    pub product: String,
    pub batch: String,
    pub manufacturer: String,
    pub manufacturer_address: String,
    pub support_start: jiff::civil::Date,
    /// End of the defined support period: security updates at least until this day (UTC).
    pub security_updates_until: jiff::civil::Date,
    pub updatable: bool,
    pub security_contact: Option<String>,
    pub disclosure_policy: Option<String>,
    /// Days within which a reporter's report is acknowledged.
    pub report_acknowledged_within_days: Option<u32>,
    /// Days between status updates to a reporter until resolution.
    pub status_updates_every_days: Option<u32>,
    /// Changes of the support record (extensions) since it was first signed.
    pub support_changes: usize,
    pub declarations: Vec<String>,
    pub signatory: String,
    pub signatory_function: String,
    pub place_of_issue: String,
    pub date_of_issue: jiff::civil::Date,
    pub retention: String,
    /// What the signed record does not show, or contradicts; empty when nothing.
    pub gaps: Vec<String>,
    /// A draft: it has gaps and was not forced (`--force`); not a statement to issue.
    pub draft: bool,
    pub generated_at: jiff::Timestamp,
}

/// What a statement about `support` issued on `date` cannot back with the signed record.
pub fn gaps(support: &SupportRecord, date: jiff::civil::Date) -> Vec<String> {
    let mut gaps = Vec::new();
    if support.security_contact.is_none() {
        gaps.push("The signed support record names no security contact (how to report security issues): add one with `airlock product set REPO PRODUCT --security-contact URI` before relying on the reporting declaration.".to_string());
    }
    let stale = support.statement_dates_not_in_record();
    if !stale.is_empty() {
        gaps.push(format!(
            "The signed statement names {} but the support record's dates are {} to {}: correct it with `airlock product set REPO PRODUCT --statement TEXT`.",
            stale.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            support.support_start,
            support.security_updates_until
        ));
    }
    if support.disclosure_policy.is_none() {
        gaps.push("The signed support record names no vulnerability disclosure policy: add one with `airlock product set REPO PRODUCT --disclosure-policy URL`.".into());
    }
    if support.report_acknowledged_within_days.is_none()
        || support.status_updates_every_days.is_none()
    {
        gaps.push("The signed support record does not say when a reporter receives an acknowledgement and status updates until resolution (PSTI Regs Sch. 1 para 2; AU Rules Sch. 1 cl. 3): add them with `airlock product set REPO PRODUCT --acknowledge-within DAYS --status-updates-every DAYS`.".into());
    }
    if !support.updatable {
        gaps.push("The product is declared not updatable: it receives no security updates, and the statement must say so.".into());
    }
    if support.security_updates_until < date {
        gaps.push(format!(
            "The defined support period ended on {}, before the date of issue {date}.",
            support.security_updates_until
        ));
    }
    gaps
}

impl Statement {
    /// The statement of `product` under `regime`, from its signed support record and the
    /// declarant's words, made at `now`. With gaps it is a draft unless `force`.
    pub fn new(
        product: &str,
        support: &SupportRecord,
        regime: Regime,
        who: &Declarant,
        now: jiff::Timestamp,
        force: bool,
    ) -> Statement {
        let gaps = gaps(support, who.date);
        Statement {
            draft: !gaps.is_empty() && !force,
            gaps,
            report_acknowledged_within_days: support.report_acknowledged_within_days,
            status_updates_every_days: support.status_updates_every_days,
            regime,
            legislation: regime.text().legislation.into(),
            product: product.into(),
            batch: who
                .batch
                .clone()
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| format!("every unit supplied as {product}")),
            manufacturer: who.manufacturer.clone(),
            manufacturer_address: who.address.clone(),
            support_start: support.support_start,
            security_updates_until: support.security_updates_until,
            updatable: support.updatable,
            security_contact: support.security_contact.clone(),
            disclosure_policy: support.disclosure_policy.clone(),
            support_changes: support.history.len(),
            declarations: vec![
                "This statement of compliance has been prepared by or on behalf of the manufacturer."
                    .into(),
                regime.text().compliance_declaration.into(),
            ],
            signatory: who.signatory.clone(),
            signatory_function: who.signatory_function.clone(),
            place_of_issue: who.place.clone(),
            date_of_issue: who.date,
            retention: regime.text().retention.into(),
            generated_at: airlock_core::whole_seconds(now),
        }
    }
}

/// The statement as a document (Markdown, HTML or PDF).
pub fn document(st: &Statement) -> Document {
    let mut d = Document::new(format!(
        "{}tatement of compliance ({}): {}",
        if st.draft { "DRAFT s" } else { "S" },
        st.regime.text().country,
        st.product
    ));
    if st.draft {
        d.alert("DRAFT, not for issue: the signed support record cannot back this statement (see Gaps). Resolve the gaps and render it again, or issue it as it is with `--force`, on the manufacturer's responsibility.");
    } else if !st.gaps.is_empty() {
        d.alert("Issued with gaps (--force): the signed support record does not back every part of this statement (see Gaps).");
    }
    d.paragraph(format!("Legislation: {}.", st.legislation));
    d.key_values(vec![
        ("Product type", st.product.clone()),
        ("Batch / identification", st.batch.clone()),
        ("Manufacturer", st.manufacturer.clone()),
        ("Manufacturer's address", st.manufacturer_address.clone()),
        (
            "Defined support period",
            if st.updatable {
                format!(
                    "Security updates are provided at least until {} (UTC); support period {} to {}.",
                    st.security_updates_until, st.support_start, st.security_updates_until
                )
            } else {
                "None: the product cannot be updated and receives no security updates.".into()
            },
        ),
        (
            "How to report security issues",
            {
                let mut parts: Vec<String> = Vec::new();
                if let Some(c) = &st.security_contact {
                    parts.push(c.clone());
                }
                if let Some(p) = &st.disclosure_policy {
                    parts.push(format!("disclosure policy: {p}"));
                }
                if let Some(days) = st.report_acknowledged_within_days {
                    parts.push(format!("reports acknowledged within {days} day(s)"));
                }
                if let Some(days) = st.status_updates_every_days {
                    parts.push(format!("status updates every {days} day(s) until resolved"));
                }
                if parts.is_empty() {
                    "not in the signed support record".into()
                } else {
                    parts.join("; ")
                }
            },
        ),
    ]);
    d.heading(2, "Declarations");
    d.list(st.declarations.clone());
    d.heading(2, "Evidence from the signed support record");
    d.table(
        &["requirement", "what the signed record shows"],
        vec![
            vec![
                "Passwords".into(),
                "Not covered by airlock: the manufacturer's own evidence (unique per-device or user-set passwords).".into(),
            ],
            vec![
                "Reporting security issues".into(),
                if st.security_contact.is_some() {
                    "Security contact in the signed record, on the public support page and in /.well-known/security.txt (RFC 9116).".into()
                } else {
                    "Missing from the signed record (see Gaps).".into()
                },
            ],
            vec![
                "Defined support period".into(),
                format!(
                    "Signed support record, published without login at /products/{0} and /v1/products/{0}/support; never shortened; {1} recorded change(s) since first signed.",
                    st.product, st.support_changes
                ),
            ],
        ],
    );
    if !st.gaps.is_empty() {
        d.heading(2, "Gaps");
        d.list(st.gaps.clone());
    }
    d.heading(2, "Signature");
    d.key_values(vec![
        ("Signed for and on behalf of", st.manufacturer.clone()),
        ("Name of signatory", st.signatory.clone()),
        ("Function", st.signatory_function.clone()),
        ("Place of issue", st.place_of_issue.clone()),
        ("Date of issue", st.date_of_issue.to_string()),
        ("Signature", "______________________________".into()),
    ]);
    d.paragraph(format!(
        "{} Generated {} by airlock from the signed repository; FILE.sig holds a detached Ed25519 signature over this file by a targets key listed in the repository's root.json.",
        st.retention, st.generated_at
    ));
    d
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record() -> SupportRecord {
        serde_json::from_value(serde_json::json!({
            "product": "acme-cam",
            "support_start": "2025-01-01",
            "feature_updates_until": "2027-06-30",
            "security_updates_until": "2030-12-31",
            "statement": "s",
            "security_contact": "mailto:security@acme.example"
        }))
        .unwrap()
    }

    #[test]
    fn gaps_name_what_the_record_lacks() {
        let r = record();
        let g = gaps(&r, jiff::civil::date(2026, 1, 1));
        assert_eq!(g.len(), 2, "{g:?}");
        assert!(g[0].contains("disclosure policy"));
        assert!(g[1].contains("acknowledgement and status updates"));
        let late = gaps(&r, jiff::civil::date(2031, 1, 1));
        assert!(late.iter().any(|g| g.contains("ended on 2030-12-31")));
        let mut no_contact = record();
        no_contact.security_contact = None;
        no_contact.updatable = false;
        let g = gaps(&no_contact, jiff::civil::date(2026, 1, 1));
        assert!(g.iter().any(|g| g.contains("no security contact")));
        assert!(g.iter().any(|g| g.contains("not updatable")));
    }

    #[test]
    fn regimes_parse() {
        assert_eq!("uk".parse::<Regime>().unwrap(), Regime::Uk);
        assert_eq!("au".parse::<Regime>().unwrap(), Regime::Au);
        assert!("eu".parse::<Regime>().is_err());
    }

    fn declarant() -> Declarant {
        Declarant {
            manufacturer: "Acme".into(),
            address: "1 Example Street".into(),
            batch: None,
            signatory: "Jane Doe".into(),
            signatory_function: "Head of Product Security".into(),
            place: "London".into(),
            date: jiff::civil::date(2026, 1, 1),
        }
    }

    #[test]
    fn a_statement_with_gaps_is_a_draft_unless_forced() {
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        let draft = Statement::new("acme-cam", &record(), Regime::Uk, &declarant(), now, false);
        assert!(draft.draft);
        let md = crate::markdown(&document(&draft));
        assert!(
            md.starts_with("# DRAFT statement of compliance (United Kingdom)"),
            "{md}"
        );
        assert!(md.contains("> **WARNING:** DRAFT, not for issue"), "{md}");
        let forced = Statement::new("acme-cam", &record(), Regime::Uk, &declarant(), now, true);
        assert!(!forced.draft);
        let md = crate::markdown(&document(&forced));
        assert!(md.starts_with("# Statement of compliance"), "{md}");
        assert!(md.contains("Issued with gaps (--force)"), "{md}");
        let mut complete = record();
        complete.disclosure_policy = Some("https://acme.example/disclosure".into());
        complete.report_acknowledged_within_days = Some(5);
        complete.status_updates_every_days = Some(14);
        let clean = Statement::new("acme-cam", &complete, Regime::Au, &declarant(), now, false);
        assert!(!clean.draft && clean.gaps.is_empty(), "{:?}", clean.gaps);
        let md = crate::markdown(&document(&clean));
        assert!(!md.contains("WARNING"), "{md}");
        assert!(md.contains("reports acknowledged within 5 day(s); status updates every 14 day(s) until resolved"), "{md}");
    }
}
