//! The verdict per jurisdiction: a jurisdiction's update requirements are met only when every
//! crosswalk row of it (and every row for all jurisdictions) is backed by the signed support
//! record. Each row names the [`Condition`] it needs of the record; nothing here is asserted
//! without looking at the record, so a record without a security contact, a short period
//! without a rationale, or a forced withdrawal shows up as a gap.

use serde::Serialize;

use airlock_core::support::{SupportRecord, MINIMUM_SUPPORT_YEARS};

use crate::crosswalk::Requirement;
use crate::statement;

/// What a crosswalk row needs of the signed support record to be met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// A signed support record with its dates in order and a statement: the period is
    /// published and the end-of-support notice has its words.
    SignedRecord,
    /// CRA Art. 13(8): at least five years of security updates, or a rationale.
    PeriodOrRationale,
    /// No security release withdrawn inside its retention period (CRA Art. 13(9)).
    NoForcedWithdrawal,
    /// The product can be updated (automatic, verified security updates).
    Updatable,
    /// A security contact for vulnerability reports.
    SecurityContact,
    /// A statement of compliance issued on the report's date has nothing the record cannot back.
    StatementBacked,
}

impl Condition {
    /// Why the record does not meet it, or `None` when it does.
    pub fn unmet(self, record: &SupportRecord, today: jiff::civil::Date) -> Option<String> {
        match self {
            // Not `validate()`: that also holds the CRA five-year rule, which is its own row.
            Condition::SignedRecord => {
                if record.statement.trim().is_empty() {
                    Some("the signed record has no statement for users".into())
                } else if record.support_start > record.feature_updates_until
                    || record.feature_updates_until > record.security_updates_until
                {
                    Some("the signed record's support dates are out of order".into())
                } else {
                    None
                }
            }
            Condition::PeriodOrRationale => {
                let five_years = record
                    .support_start
                    .checked_add(jiff::Span::new().years(MINIMUM_SUPPORT_YEARS))
                    .ok();
                let long_enough = five_years.is_some_and(|d| record.security_updates_until >= d);
                let rationale = record
                    .support_period_rationale
                    .as_deref()
                    .is_some_and(|r| !r.trim().is_empty());
                (!long_enough && !rationale).then(|| {
                    format!(
                        "security updates {} to {} is under {MINIMUM_SUPPORT_YEARS} years and no rationale is recorded",
                        record.support_start, record.security_updates_until
                    )
                })
            }
            Condition::NoForcedWithdrawal => {
                let forced: Vec<&str> = record
                    .history
                    .iter()
                    .filter(|c| c.forced)
                    .filter_map(|c| c.withdrawn.as_deref())
                    .collect();
                (!forced.is_empty()).then(|| {
                    format!(
                        "withdrawn inside the retention period: {}",
                        forced.join(", ")
                    )
                })
            }
            Condition::Updatable => {
                (!record.updatable).then(|| "the product is declared not updatable".to_string())
            }
            Condition::SecurityContact => record
                .security_contact
                .is_none()
                .then(|| "no security contact in the signed record".to_string()),
            Condition::StatementBacked => {
                let gaps = statement::gaps(record, today);
                (!gaps.is_empty()).then(|| gaps.join(" "))
            }
        }
    }
}

/// One jurisdiction's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JurisdictionVerdict {
    pub jurisdiction: String,
    /// `meets`, or `gap: ...` naming each unmet requirement.
    pub verdict: String,
    /// The unmet requirements, as `reference: why`.
    pub gaps: Vec<String>,
}

impl JurisdictionVerdict {
    pub fn meets(&self) -> bool {
        self.gaps.is_empty()
    }
}

/// The jurisdictions a selection covers (`all` covers each one).
pub fn covered(selected: &str) -> Vec<&'static str> {
    let each = ["uk", "au", "us", "sg", "eu"];
    each.into_iter()
        .filter(|j| selected == "all" || selected == *j)
        .collect()
}

/// One verdict per jurisdiction of the selection, from the crosswalk rows and the record.
pub fn verdicts(
    crosswalk: &[Requirement],
    selected: &str,
    record: &SupportRecord,
    today: jiff::civil::Date,
) -> Vec<JurisdictionVerdict> {
    covered(selected)
        .into_iter()
        .map(|jurisdiction| {
            let gaps: Vec<String> = crosswalk
                .iter()
                .filter(|r| r.jurisdiction == jurisdiction || r.jurisdiction == "all")
                .filter_map(|r| {
                    r.condition
                        .unmet(record, today)
                        .map(|why| format!("{}: {why}", r.reference))
                })
                .collect();
            JurisdictionVerdict {
                jurisdiction: jurisdiction.to_string(),
                verdict: if gaps.is_empty() {
                    "meets".into()
                } else {
                    format!("gap: {}", gaps.join("; "))
                },
                gaps,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::crosswalk::CROSSWALK;
    use airlock_core::support::SupportChange;
    use jiff::civil::date;

    fn record() -> SupportRecord {
        SupportRecord {
            product: "acme-cam".into(),
            support_start: date(2026, 1, 1),
            feature_updates_until: date(2028, 6, 30),
            security_updates_until: date(2031, 12, 31),
            min_security_version: 1,
            successor: None,
            notice_url: Some("https://acme.example/eol".into()),
            statement: "Security updates until 2031-12-31.".into(),
            security_contact: Some("mailto:security@acme.example".into()),
            disclosure_policy: Some("https://acme.example/disclosure".into()),
            updatable: true,
            support_period_rationale: None,
            history: Vec::new(),
        }
    }

    fn today() -> jiff::civil::Date {
        date(2026, 6, 1)
    }

    fn verdict(r: &SupportRecord, j: &str) -> JurisdictionVerdict {
        let v = verdicts(CROSSWALK, j, r, today());
        assert_eq!(v.len(), 1);
        v.into_iter().next().unwrap()
    }

    #[test]
    fn a_complete_record_meets_every_jurisdiction() {
        let v = verdicts(CROSSWALK, "all", &record(), today());
        let names: Vec<&str> = v.iter().map(|v| v.jurisdiction.as_str()).collect();
        assert_eq!(names, ["uk", "au", "us", "sg", "eu"]);
        for j in &v {
            assert_eq!(j.verdict, "meets", "{j:?}");
        }
    }

    #[test]
    fn one_jurisdiction_selected_gives_one_verdict() {
        assert_eq!(verdicts(CROSSWALK, "au", &record(), today()).len(), 1);
    }

    #[test]
    fn short_period_without_rationale_is_an_eu_gap_only() {
        let mut r = record();
        r.feature_updates_until = date(2027, 6, 30);
        r.security_updates_until = date(2027, 12, 31);
        r.statement = "Security updates until 2027-12-31.".into();
        let eu = verdict(&r, "eu");
        assert!(eu.verdict.starts_with("gap: CRA Art. 13(8)"), "{eu:?}");
        assert_eq!(verdict(&r, "uk").verdict, "meets");
        r.support_period_rationale = Some("a two-year evaluation kit".into());
        assert_eq!(verdict(&r, "eu").verdict, "meets");
    }

    #[test]
    fn missing_security_contact_is_a_gap_where_reporting_is_required() {
        let mut r = record();
        r.security_contact = None;
        let uk = verdict(&r, "uk");
        assert!(!uk.meets());
        assert!(
            uk.gaps.iter().any(|g| g.starts_with("PSTI Sch. 1 para 2")),
            "{uk:?}"
        );
        // the Australian statement of compliance cannot back its reporting declaration either
        assert!(!verdict(&r, "au").meets());
        assert_eq!(verdict(&r, "us").verdict, "meets");
    }

    #[test]
    fn not_updatable_is_a_gap_everywhere() {
        let mut r = record();
        r.updatable = false;
        for j in verdicts(CROSSWALK, "all", &r, today()) {
            assert!(j.gaps.iter().any(|g| g.contains("not updatable")), "{j:?}");
        }
    }

    #[test]
    fn forced_withdrawal_is_an_eu_retention_gap() {
        let mut r = record();
        r.history.push(SupportChange {
            at: "2026-03-01T00:00:00Z".parse().unwrap(),
            action: "withdraw".into(),
            reason: "legal hold".into(),
            security_updates_until: None,
            feature_updates_until: None,
            min_security_version: None,
            withdrawn: Some("acme-cam/fw-1.2.0.bin".into()),
            forced: true,
        });
        let eu = verdict(&r, "eu");
        assert!(eu.verdict.contains("CRA Art. 13(9)"), "{eu:?}");
        assert!(eu.verdict.contains("acme-cam/fw-1.2.0.bin"), "{eu:?}");
        assert_eq!(verdict(&r, "sg").verdict, "meets");
    }

    #[test]
    fn a_record_without_a_statement_is_a_gap_everywhere() {
        let mut r = record();
        r.statement = " ".into();
        for j in verdicts(CROSSWALK, "all", &r, today()) {
            assert!(j.gaps.iter().any(|g| g.contains("no statement")), "{j:?}");
        }
    }

    #[test]
    fn statements_after_the_support_period_are_a_gap() {
        let r = record();
        let late = verdicts(CROSSWALK, "uk", &r, date(2032, 1, 1));
        assert!(
            late[0]
                .gaps
                .iter()
                .any(|g| g.contains("ended on 2031-12-31")),
            "{late:?}"
        );
    }
}
