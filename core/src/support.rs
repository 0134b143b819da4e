//! The product support record (`<product>/support.json`, a signed target) and its rules.
//!
//! Rules (DESIGN.md; ETSI EN 303 645 5.3-13, CRA Art. 13(8)): the support end is extended,
//! never shortened; the security floor never decreases; no feature release after the feature
//! window; nothing but a sunset image after the security window. The signer checks them
//! before signing and the server checks them again on publish.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::names::{self, NameError};
use crate::release::{ReleaseInfo, ReleaseKind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupportRecord {
    pub product: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub support_start: Date,
    /// Last day (UTC) on which feature releases may be offered.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub feature_updates_until: Date,
    /// Last day (UTC) on which security releases may be offered.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub security_updates_until: Date,
    /// The floor: security versions below it are revoked as vulnerable.
    #[serde(default)]
    pub min_security_version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_url: Option<String>,
    /// Human statement shown to users, e.g. at end of support.
    pub statement: String,
    /// Where to report vulnerabilities (ETSI EN 303 645 5.2-1, PSTI): a `mailto:` or `https:`
    /// URI; served in `/.well-known/security.txt` (RFC 9116).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_contact: Option<String>,
    /// The vendor's vulnerability disclosure policy (https URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosure_policy: Option<String>,
    /// Within how many days a reporter gets an acknowledgement of receipt (ETSI EN 303 645
    /// 5.2-1, PSTI Regs Sch. 1 para 2(2)(b)(i), AU Smart Devices Rules Sch. 1 cl. 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_acknowledged_within_days: Option<u32>,
    /// How often, in days, a reporter gets status updates until the issue is resolved (same
    /// provisions as the acknowledgement time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_updates_every_days: Option<u32>,
    /// Where the vendor's CSAF provider metadata is (`.../.well-known/csaf/provider-metadata.json`,
    /// written by `airlock advisory csaf`); served as a `CSAF:` line in security.txt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csaf_provider_metadata: Option<String>,
    /// Whether the product can be updated at all (ETSI EN 303 645 V2.1.1 5.3-14: a product
    /// that cannot be updated says so, with its support period).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub updatable: bool,
    /// Why the support period is shorter than five years, if it is (CRA Art. 13(8)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_period_rationale: Option<String>,
    /// Every change after the first signing, oldest first; append-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<SupportChange>,
    /// VEX "not affected" statements (`airlock advisory not-affected`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_affected: Vec<crate::vex::NotAffected>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// CRA Art. 13(8): a support period of at least five years, unless a rationale is given.
pub const MINIMUM_SUPPORT_YEARS: i16 = 5;

/// One recorded change of a support record (an extension, a new floor, a withdrawn release).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupportChange {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: jiff::Timestamp,
    /// `extend`, `set-floor` or `withdraw`.
    pub action: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub security_updates_until: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub feature_updates_until: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_security_version: Option<u64>,
    /// Target name of a withdrawn release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// A withdrawal forced inside the retention period (CRA Art. 13(9)).
    #[serde(default, skip_serializing_if = "is_false")]
    pub forced: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl SupportChange {
    /// What the change did, in words (`security until 2031-06-30, withdrew acme-cam/fw.bin`):
    /// the same line on the public page, in `support show` and in the compliance report.
    pub fn details(&self) -> String {
        let mut what = Vec::new();
        if let Some(d) = self.security_updates_until {
            what.push(format!("security updates until {d}"));
        }
        if let Some(d) = self.feature_updates_until {
            what.push(format!("feature updates until {d}"));
        }
        if let Some(f) = self.min_security_version {
            what.push(format!("security floor {f}"));
        }
        if let Some(w) = &self.withdrawn {
            what.push(format!(
                "withdrew {w}{}",
                if self.forced {
                    " inside its retention period"
                } else {
                    ""
                }
            ));
        }
        what.join(", ")
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SupportError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("support record of {product}: support_start {start} is after feature_updates_until {feature}")]
    StartAfterFeatureEnd {
        product: String,
        start: Date,
        feature: Date,
    },
    #[error("support record of {product}: feature_updates_until {feature} is after security_updates_until {security}")]
    FeatureAfterSecurity {
        product: String,
        feature: Date,
        security: Date,
    },
    #[error("support record of {product}: notice_url {url:?} must be an http(s) URL")]
    BadNoticeUrl { product: String, url: String },
    #[error("support record of {product}: the statement is empty")]
    EmptyStatement { product: String },
    #[error("support record is for product {found:?}, expected {expected:?}")]
    WrongProduct { expected: String, found: String },
    #[error("support record of {product}: {field} would move from {was} to {now}; support periods may be extended, never shortened")]
    SupportShortened {
        product: String,
        field: &'static str,
        was: Date,
        now: Date,
    },
    #[error("support record of {product}: min_security_version would drop from {was} to {now}; the floor never decreases")]
    FloorLowered { product: String, was: u64, now: u64 },
    #[error("support record of {product}: support_start changed from {was} to {now}")]
    StartChanged {
        product: String,
        was: Date,
        now: Date,
    },
    #[error(
        "support record of {product}: its history was rewritten; changes may only be appended"
    )]
    HistoryRewritten { product: String },
    #[error("support record of {product}: security updates from {start} until {until} is shorter than {MINIMUM_SUPPORT_YEARS} years; give a rationale (CRA Art. 13(8)) or a longer period")]
    PeriodTooShort {
        product: String,
        start: Date,
        until: Date,
    },
    #[error("support record of {product}: {field} {value:?} must be {expected}")]
    BadContact {
        product: String,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("support record of {product}: a not-affected statement is invalid: {reason}")]
    BadNotAffected { product: String, reason: String },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReleaseRuleError {
    #[error("{product} {version}: a feature release after the feature window (feature updates ended {until})")]
    FeatureAfterWindow {
        product: String,
        version: semver::Version,
        until: Date,
    },
    #[error("{product} {version}: only a sunset release may follow the end of security support ({until}); this is a {kind} release")]
    OnlySunsetAfterSupport {
        product: String,
        version: semver::Version,
        kind: ReleaseKind,
        until: Date,
    },
    #[error("{product} {version}: security_version {security_version} is below the product's floor {floor}")]
    BelowFloor {
        product: String,
        version: semver::Version,
        security_version: u64,
        floor: u64,
    },
}

/// The UTC calendar day of an instant.
pub fn utc_date(t: jiff::Timestamp) -> Date {
    t.to_zoned(jiff::tz::TimeZone::UTC).date()
}

impl SupportRecord {
    /// The statement `product add` writes when the vendor gives none; `support extend` writes
    /// it again with the new dates when the record still has it.
    pub fn default_statement(product: &str, security_until: Date, feature_until: Date) -> String {
        format!(
            "{product} receives security updates until {security_until} and feature updates until {feature_until}."
        )
    }

    /// Whether the statement is the generated one for the record's current dates.
    pub fn has_default_statement(&self) -> bool {
        self.statement
            == Self::default_statement(
                &self.product,
                self.security_updates_until,
                self.feature_updates_until,
            )
    }

    /// Dates (YYYY-MM-DD) in the statement that are none of the record's own (support start,
    /// feature and security windows): the statement is the support promise shown to users,
    /// so a date there that the record does not hold contradicts it (e.g. the old end of
    /// support after an extension).
    pub fn statement_dates_not_in_record(&self) -> Vec<Date> {
        let own = [
            self.support_start,
            self.feature_updates_until,
            self.security_updates_until,
        ];
        let bytes = self.statement.as_bytes();
        let mut found = Vec::new();
        for start in 0..bytes.len().saturating_sub(9) {
            let Some(candidate) = self.statement.get(start..start + 10) else {
                continue;
            };
            let at_boundary = |i: Option<usize>| {
                i.and_then(|i| bytes.get(i))
                    .is_none_or(|b| !b.is_ascii_digit())
            };
            if !at_boundary(start.checked_sub(1)) || !at_boundary(Some(start + 10)) {
                continue;
            }
            if let Ok(date) = candidate.parse::<Date>() {
                if candidate.as_bytes()[4] == b'-' && !own.contains(&date) && !found.contains(&date)
                {
                    found.push(date);
                }
            }
        }
        found
    }

    /// Checks the record on its own.
    pub fn validate(&self) -> Result<(), SupportError> {
        names::check_product_id(&self.product)?;
        if self.support_start > self.feature_updates_until {
            return Err(SupportError::StartAfterFeatureEnd {
                product: self.product.clone(),
                start: self.support_start,
                feature: self.feature_updates_until,
            });
        }
        if self.feature_updates_until > self.security_updates_until {
            return Err(SupportError::FeatureAfterSecurity {
                product: self.product.clone(),
                feature: self.feature_updates_until,
                security: self.security_updates_until,
            });
        }
        if let Some(url) = &self.notice_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 10 {
                return Err(SupportError::BadNoticeUrl {
                    product: self.product.clone(),
                    url: url.clone(),
                });
            }
        }
        if self.statement.trim().is_empty() {
            return Err(SupportError::EmptyStatement {
                product: self.product.clone(),
            });
        }
        let five_years = self
            .support_start
            .checked_add(jiff::Span::new().years(MINIMUM_SUPPORT_YEARS))
            .unwrap_or(self.support_start);
        let has_rationale = self
            .support_period_rationale
            .as_ref()
            .is_some_and(|r| !r.trim().is_empty());
        if self.security_updates_until < five_years && !has_rationale {
            return Err(SupportError::PeriodTooShort {
                product: self.product.clone(),
                start: self.support_start,
                until: self.security_updates_until,
            });
        }
        let bad = |field, value: &String, expected| SupportError::BadContact {
            product: self.product.clone(),
            field,
            value: value.clone(),
            expected,
        };
        if let Some(c) = &self.security_contact {
            let ok = (c.starts_with("mailto:") && c.len() > 10 && c.contains('@'))
                || (c.starts_with("https://") && c.len() > 10);
            if !ok || c.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
                return Err(bad("security_contact", c, "a mailto: or https:// URI"));
            }
        }
        if let Some(p) = &self.disclosure_policy {
            if !p.starts_with("https://")
                || p.chars().any(|ch| ch.is_whitespace() || ch.is_control())
            {
                return Err(bad("disclosure_policy", p, "an https:// URL"));
            }
        }
        for statement in &self.not_affected {
            statement
                .validate()
                .map_err(|e| SupportError::BadNotAffected {
                    product: self.product.clone(),
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// Checks that `next` may replace `self` (an earlier signed record of the same product).
    pub fn check_change(&self, next: &SupportRecord) -> Result<(), SupportError> {
        next.validate()?;
        if next.product != self.product {
            return Err(SupportError::WrongProduct {
                expected: self.product.clone(),
                found: next.product.clone(),
            });
        }
        if next.support_start != self.support_start {
            return Err(SupportError::StartChanged {
                product: self.product.clone(),
                was: self.support_start,
                now: next.support_start,
            });
        }
        for (field, was, now) in [
            (
                "security_updates_until",
                self.security_updates_until,
                next.security_updates_until,
            ),
            (
                "feature_updates_until",
                self.feature_updates_until,
                next.feature_updates_until,
            ),
        ] {
            if now < was {
                return Err(SupportError::SupportShortened {
                    product: self.product.clone(),
                    field,
                    was,
                    now,
                });
            }
        }
        if next.min_security_version < self.min_security_version {
            return Err(SupportError::FloorLowered {
                product: self.product.clone(),
                was: self.min_security_version,
                now: next.min_security_version,
            });
        }
        if !next.history.starts_with(&self.history) {
            return Err(SupportError::HistoryRewritten {
                product: self.product.clone(),
            });
        }
        Ok(())
    }

    /// Whether feature releases may still be offered at `at` (the window's last day included).
    pub fn feature_window_open(&self, at: jiff::Timestamp) -> bool {
        utc_date(at) <= self.feature_updates_until
    }

    /// Whether security releases may still be offered at `at` (the window's last day included).
    pub fn security_window_open(&self, at: jiff::Timestamp) -> bool {
        utc_date(at) <= self.security_updates_until
    }

    /// Whether a release of `kind` may be offered at `at`.
    pub fn kind_allowed(&self, kind: ReleaseKind, at: jiff::Timestamp) -> Result<(), KindClosed> {
        match kind {
            ReleaseKind::Sunset => Ok(()),
            _ if !self.security_window_open(at) => Err(KindClosed::SecurityWindow {
                until: self.security_updates_until,
            }),
            ReleaseKind::Feature if !self.feature_window_open(at) => {
                Err(KindClosed::FeatureWindow {
                    until: self.feature_updates_until,
                })
            }
            _ => Ok(()),
        }
    }

    /// Checks that a new release may be added at `at` (signer: its release time; server: the
    /// time of the publish).
    pub fn check_new_release(
        &self,
        release: &ReleaseInfo,
        at: jiff::Timestamp,
    ) -> Result<(), ReleaseRuleError> {
        match self.kind_allowed(release.kind, at) {
            Err(KindClosed::FeatureWindow { until }) => {
                return Err(ReleaseRuleError::FeatureAfterWindow {
                    product: self.product.clone(),
                    version: release.version.clone(),
                    until,
                })
            }
            Err(KindClosed::SecurityWindow { until }) => {
                return Err(ReleaseRuleError::OnlySunsetAfterSupport {
                    product: self.product.clone(),
                    version: release.version.clone(),
                    kind: release.kind,
                    until,
                })
            }
            Ok(()) => {}
        }
        if release.security_version < self.min_security_version {
            return Err(ReleaseRuleError::BelowFloor {
                product: self.product.clone(),
                version: release.version.clone(),
                security_version: release.security_version,
                floor: self.min_security_version,
            });
        }
        Ok(())
    }
}

/// Why a kind of release is no longer offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindClosed {
    FeatureWindow { until: Date },
    SecurityWindow { until: Date },
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    pub(crate) fn record() -> SupportRecord {
        SupportRecord {
            product: "acme-cam".into(),
            support_start: date(2025, 1, 1),
            feature_updates_until: date(2027, 6, 30),
            security_updates_until: date(2030, 12, 31),
            min_security_version: 2,
            successor: None,
            notice_url: Some("https://acme.example/eol".into()),
            statement: "Security updates until 2030-12-31.".into(),
            security_contact: Some("mailto:security@acme.example".into()),
            disclosure_policy: None,
            report_acknowledged_within_days: None,
            status_updates_every_days: None,
            csaf_provider_metadata: None,
            updatable: true,
            support_period_rationale: None,
            history: Vec::new(),
            not_affected: Vec::new(),
        }
    }

    #[test]
    fn dates_in_the_statement_must_be_the_records() {
        let mut r = record();
        assert!(
            r.statement_dates_not_in_record().is_empty(),
            "{}",
            r.statement
        );
        r.statement = "Supported until 2029-12-31 (launched 2025-01-01), see 20301-01-01.".into();
        assert_eq!(
            r.statement_dates_not_in_record(),
            [jiff::civil::date(2029, 12, 31)]
        );
        r.statement = SupportRecord::default_statement(
            &r.product,
            r.security_updates_until,
            r.feature_updates_until,
        );
        assert!(r.has_default_statement());
        assert!(r.statement_dates_not_in_record().is_empty());
    }

    #[test]
    fn five_years_or_a_rationale() {
        let mut r = record();
        r.security_updates_until = date(2029, 12, 31);
        assert!(matches!(
            r.validate(),
            Err(SupportError::PeriodTooShort { .. })
        ));
        r.support_period_rationale = Some("expected time of use is 4 years (battery life)".into());
        assert!(r.validate().is_ok());
        r.security_updates_until = date(2030, 1, 1);
        r.support_period_rationale = None;
        assert!(r.validate().is_ok());
    }

    #[test]
    fn contacts_are_uris() {
        let mut r = record();
        r.security_contact = Some("security@acme.example".into());
        assert!(r.validate().is_err());
        r.security_contact = Some("https://acme.example/security".into());
        assert!(r.validate().is_ok());
        r.disclosure_policy = Some("http://acme.example/policy".into());
        assert!(r.validate().is_err());
    }

    #[test]
    fn history_is_append_only() {
        let mut r = record();
        let change = SupportChange {
            at: ts("2026-01-01T00:00:00Z"),
            action: "extend".into(),
            reason: "longer".into(),
            security_updates_until: Some(date(2031, 12, 31)),
            feature_updates_until: None,
            min_security_version: None,
            withdrawn: None,
            forced: false,
        };
        let mut next = r.clone();
        next.history.push(change.clone());
        assert!(r.check_change(&next).is_ok());
        r = next.clone();
        let mut rewritten = r.clone();
        rewritten.history[0].reason = "something else".into();
        assert!(matches!(
            r.check_change(&rewritten),
            Err(SupportError::HistoryRewritten { .. })
        ));
        let mut dropped = r.clone();
        dropped.history.clear();
        assert!(r.check_change(&dropped).is_err());
    }

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn info(kind: ReleaseKind, sv: u64) -> ReleaseInfo {
        ReleaseInfo {
            product: "acme-cam".into(),
            version: semver::Version::new(1, 0, 0),
            security_version: sv,
            kind,
            requires: None,
            released: ts("2026-01-01T00:00:00Z"),
            advisories: Vec::new(),
        }
    }

    #[test]
    fn windows_are_inclusive_of_their_last_day() {
        let r = record();
        assert!(r.feature_window_open(ts("2027-06-30T23:59:59Z")));
        assert!(!r.feature_window_open(ts("2027-07-01T00:00:00Z")));
        assert!(r.security_window_open(ts("2030-12-31T12:00:00Z")));
        assert!(!r.security_window_open(ts("2031-01-01T00:00:00Z")));
    }

    #[test]
    fn support_end_never_earlier() {
        let r = record();
        let mut next = r.clone();
        next.security_updates_until = date(2030, 12, 30);
        assert!(matches!(
            r.check_change(&next),
            Err(SupportError::SupportShortened { .. })
        ));
        next.security_updates_until = date(2032, 1, 1);
        assert!(r.check_change(&next).is_ok());
    }

    #[test]
    fn floor_never_decreases() {
        let r = record();
        let mut next = r.clone();
        next.min_security_version = 1;
        assert_eq!(
            r.check_change(&next),
            Err(SupportError::FloorLowered {
                product: "acme-cam".into(),
                was: 2,
                now: 1
            })
        );
        next.min_security_version = 5;
        assert!(r.check_change(&next).is_ok());
    }

    #[test]
    fn no_feature_release_after_feature_window() {
        let r = record();
        assert!(r
            .check_new_release(&info(ReleaseKind::Feature, 3), ts("2027-06-30T10:00:00Z"))
            .is_ok());
        assert!(matches!(
            r.check_new_release(&info(ReleaseKind::Feature, 3), ts("2027-07-01T10:00:00Z")),
            Err(ReleaseRuleError::FeatureAfterWindow { .. })
        ));
        assert!(r
            .check_new_release(&info(ReleaseKind::Security, 3), ts("2027-07-01T10:00:00Z"))
            .is_ok());
    }

    #[test]
    fn only_sunset_after_security_window() {
        let r = record();
        let after = ts("2031-01-01T00:00:00Z");
        assert!(matches!(
            r.check_new_release(&info(ReleaseKind::Security, 3), after),
            Err(ReleaseRuleError::OnlySunsetAfterSupport { .. })
        ));
        assert!(r
            .check_new_release(&info(ReleaseKind::Sunset, 3), after)
            .is_ok());
    }

    #[test]
    fn release_below_floor_is_refused() {
        let r = record();
        assert!(matches!(
            r.check_new_release(&info(ReleaseKind::Security, 1), ts("2026-01-01T00:00:00Z")),
            Err(ReleaseRuleError::BelowFloor { .. })
        ));
    }

    #[test]
    fn invalid_records_are_refused() {
        let mut r = record();
        r.feature_updates_until = date(2031, 1, 1);
        assert!(r.validate().is_err());
        let mut r = record();
        r.notice_url = Some("javascript:alert(1)".into());
        assert!(r.validate().is_err());
        let mut r = record();
        r.statement = "  ".into();
        assert!(r.validate().is_err());
    }

    proptest! {
        /// A change is accepted exactly when no date moves earlier and the floor does not drop.
        #[test]
        fn change_rules(ds in -400i32..400, df in -400i32..400, dfloor in -2i64..3) {
            let r = record();
            let mut next = r.clone();
            next.security_updates_until = r.security_updates_until.checked_add(jiff::Span::new().days(ds)).unwrap();
            next.feature_updates_until = r.feature_updates_until.checked_add(jiff::Span::new().days(df)).unwrap();
            next.min_security_version = (r.min_security_version as i64 + dfloor) as u64;
            let ok = r.check_change(&next).is_ok();
            let expected = ds >= 0 && df >= 0 && dfloor >= 0
                && next.feature_updates_until <= next.security_updates_until;
            prop_assert_eq!(ok, expected);
        }
    }
}
