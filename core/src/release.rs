//! Signed release metadata: the fields a firmware target carries in its TUF `custom` field
//! (DESIGN.md, "Signed release metadata"), signed by the product's delegated role.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use thiserror::Error;

use crate::names::{self, NameError};

/// What a release is for. Decides in which support window it may still be offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ReleaseKind {
    /// Fixes vulnerabilities; offered until the end of the security window.
    Security,
    /// New features; offered only until the end of the feature window.
    Feature,
    /// The final image after support ends (e.g. switches the device to local-only mode).
    Sunset,
}

impl ReleaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseKind::Security => "security",
            ReleaseKind::Feature => "feature",
            ReleaseKind::Sunset => "sunset",
        }
    }
}

impl std::str::FromStr for ReleaseKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "security" => Ok(ReleaseKind::Security),
            "feature" => Ok(ReleaseKind::Feature),
            "sunset" => Ok(ReleaseKind::Sunset),
            other => Err(format!(
                "unknown release kind {other:?}: expected security, feature or sunset"
            )),
        }
    }
}

impl std::fmt::Display for ReleaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The release fields in a firmware target's `custom` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseInfo {
    /// Product (hardware model) id; must equal the target name's first path component.
    pub product: String,
    /// Semantic version of the firmware.
    pub version: semver::Version,
    /// Monotonic anti-rollback counter.
    pub security_version: u64,
    pub kind: ReleaseKind,
    /// Lowest installed version this image may be applied over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<semver::Version>,
    /// Release time (whole seconds, UTC).
    pub released: jiff::Timestamp,
    /// Vulnerabilities this release fixes (signed with it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<Advisory>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// A security advisory carried by the release that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Advisory {
    /// e.g. `CVE-2026-12345` or a vendor id.
    pub id: String,
    pub severity: Severity,
    pub summary: String,
    /// CVSS v3 base vector (the base score is computed from it, so the two cannot disagree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"))]
    pub cvss_v3: Option<crate::cvss::CvssV3>,
    /// The weakness (CWE id and name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwe: Option<crate::cvss::Cwe>,
}

impl std::str::FromStr for Advisory {
    type Err = String;
    /// `ID:SEVERITY:SUMMARY`, e.g. `CVE-2026-1234:high:RTSP parser overflow`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("advisory {s:?}: expected ID:SEVERITY:SUMMARY with SEVERITY low, medium, high or critical")
        };
        let mut parts = s.splitn(3, ':');
        let id = parts.next().unwrap_or("").trim();
        let severity = match parts.next().map(str::trim) {
            Some("low") => Severity::Low,
            Some("medium") => Severity::Medium,
            Some("high") => Severity::High,
            Some("critical") => Severity::Critical,
            _ => return Err(bad()),
        };
        let summary = parts.next().unwrap_or("").trim();
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !id_ok || summary.is_empty() || summary.len() > 500 {
            return Err(bad());
        }
        Ok(Advisory {
            id: id.to_string(),
            severity,
            summary: summary.to_string(),
            cvss_v3: None,
            cwe: None,
        })
    }
}

impl Advisory {
    /// The severity a CVSS base score maps to, when the advisory has a vector (CVSS v3.1
    /// section 5; a score of 0.0 maps to none of ours).
    pub fn cvss_severity(&self) -> Option<Severity> {
        use crate::cvss::CvssSeverity;
        self.cvss_v3.as_ref().and_then(|v| match v.severity() {
            CvssSeverity::None => None,
            CvssSeverity::Low => Some(Severity::Low),
            CvssSeverity::Medium => Some(Severity::Medium),
            CvssSeverity::High => Some(Severity::High),
            CvssSeverity::Critical => Some(Severity::Critical),
        })
    }

    /// Attaches a CVSS vector. Checks that the vector's severity is the advisory's: a report must not say "high" in
    /// one place and "critical" in another.
    pub fn set_cvss(&mut self, vector: crate::cvss::CvssV3) -> Result<(), String> {
        let computed = vector.base_score_text();
        self.cvss_v3 = Some(vector);
        match self.cvss_severity() {
            Some(s) if s == self.severity => Ok(()),
            other => {
                let words = other
                    .map(|s| format!("{s:?}").to_lowercase())
                    .unwrap_or_else(|| "none".into());
                self.cvss_v3 = None;
                Err(format!(
                    "advisory {}: its CVSS base score {computed} is {words} but the advisory says {}; give the same severity in --advisory",
                    self.id,
                    format!("{:?}", self.severity).to_lowercase()
                ))
            }
        }
    }
}

impl ReleaseInfo {
    /// The `custom` map to put in a TUF target.
    pub fn to_custom(&self) -> HashMap<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
            // A struct of plain fields always serialises to an object.
            _ => HashMap::new(),
        }
    }
}

/// A firmware target as verified metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// TUF target name, `<product>/<file>`.
    pub name: String,
    pub length: u64,
    /// Lowercase hex sha256 of the image.
    pub sha256: String,
    #[serde(flatten)]
    pub info: ReleaseInfo,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReleaseError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("target {name}: the release fields in its custom metadata are invalid: {reason}")]
    BadCustom { name: String, reason: String },
    #[error(
        "target {name}: custom.product is {claimed:?} but the target lives under {path_product:?}/"
    )]
    ProductMismatch {
        name: String,
        claimed: String,
        path_product: String,
    },
    #[error("target {name}: no sha256 hash")]
    NoSha256 { name: String },
}

impl Release {
    /// Whether the release carries a security fix: a security release, or any release that
    /// names an advisory it fixes. CRA Art. 13(9) keeps each of them available.
    pub fn carries_security_fix(&self) -> bool {
        self.info.kind == ReleaseKind::Security || !self.info.advisories.is_empty()
    }

    /// For a release that carries a security fix, the end of its retention period. CRA
    /// Art. 13(9): it "remains available after it has been issued for a minimum of 10 years
    /// or for the remainder of the support period, whichever is longer": `years` after its
    /// release time, or the end of the last day of `security_updates_until` (UTC), whichever
    /// is later. `None` for a release that fixes nothing, which has no retention rule.
    pub fn retained_until(
        &self,
        years: i16,
        security_updates_until: jiff::civil::Date,
    ) -> Option<jiff::Timestamp> {
        if !self.carries_security_fix() {
            return None;
        }
        // `years` is the operator's (--retention-years, any i16): `Span::years` panics past
        // ±19998, so a period past what jiff can name keeps the release to the end of time.
        let after_release = jiff::Span::new()
            .try_years(years)
            .ok()
            .and_then(|span| {
                self.info
                    .released
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .checked_add(span)
                    .ok()
            })
            .map(|z| z.timestamp())
            .unwrap_or(if years > 0 {
                jiff::Timestamp::MAX
            } else {
                self.info.released
            });
        let end_of_support = security_updates_until
            .tomorrow()
            .ok()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
            .unwrap_or(jiff::Timestamp::MAX);
        Some(after_release.max(end_of_support))
    }

    /// Reads a release from a TUF target entry, checking that the name is a firmware target of
    /// the product it claims.
    pub fn from_target(name: &str, target: &tough::schema::Target) -> Result<Self, ReleaseError> {
        let (path_product, _) = names::split_target_name(name)?;
        let custom = serde_json::Value::Object(
            target
                .custom
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let info: ReleaseInfo =
            serde_json::from_value(custom).map_err(|e| ReleaseError::BadCustom {
                name: name.to_string(),
                reason: e.to_string(),
            })?;
        if info.product != path_product {
            return Err(ReleaseError::ProductMismatch {
                name: name.to_string(),
                claimed: info.product,
                path_product: path_product.to_string(),
            });
        }
        let sha = hex::encode(&*target.hashes.sha256);
        if sha.len() != 64 {
            return Err(ReleaseError::NoSha256 {
                name: name.to_string(),
            });
        }
        Ok(Release {
            name: name.to_string(),
            length: target.length,
            sha256: sha,
            info,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(kind: ReleaseKind, advisories: Vec<Advisory>) -> Release {
        Release {
            name: "acme-cam/fw.bin".into(),
            length: 1,
            sha256: "00".repeat(32),
            info: ReleaseInfo {
                product: "acme-cam".into(),
                version: "1.0.0".parse().unwrap(),
                security_version: 1,
                kind,
                requires: None,
                released: "2026-01-01T00:00:00Z".parse().unwrap(),
                advisories,
            },
        }
    }

    /// CRA Art. 13(9): ten years after release or the rest of the support period, whichever
    /// is longer, for every release that carries a security fix.
    #[test]
    fn retention_is_ten_years_or_the_support_period_whichever_is_longer() {
        let security = release(ReleaseKind::Security, Vec::new());
        let short_support = jiff::civil::date(2030, 12, 31);
        assert_eq!(
            security
                .retained_until(10, short_support)
                .unwrap()
                .to_string(),
            "2036-01-01T00:00:00Z"
        );
        let long_support = jiff::civil::date(2040, 6, 30);
        assert_eq!(
            security
                .retained_until(10, long_support)
                .unwrap()
                .to_string(),
            "2040-07-01T00:00:00Z"
        );
        // a feature release that fixes an advisory carries a security fix too
        let advisory: Advisory = "CVE-2026-1:high:overflow".parse().unwrap();
        let feature_fix = release(ReleaseKind::Feature, vec![advisory]);
        assert!(feature_fix.carries_security_fix());
        assert_eq!(
            feature_fix
                .retained_until(10, short_support)
                .unwrap()
                .to_string(),
            "2036-01-01T00:00:00Z"
        );
        assert_eq!(
            release(ReleaseKind::Feature, Vec::new()).retained_until(10, long_support),
            None
        );
    }

    /// The retention period comes from the command line as any i16: past jiff's range it
    /// keeps the release for good, below zero it adds nothing; never a panic.
    #[test]
    fn any_retention_period_answers() {
        let security = release(ReleaseKind::Security, Vec::new());
        let support = jiff::civil::date(2030, 12, 31);
        let end_of_support: jiff::Timestamp = "2031-01-01T00:00:00Z".parse().unwrap();
        for years in [i16::MAX, 19_999, 8_000] {
            assert_eq!(
                security.retained_until(years, support),
                Some(jiff::Timestamp::MAX),
                "{years}"
            );
        }
        for years in [i16::MIN, -19_999, -1, 0] {
            assert_eq!(
                security.retained_until(years, support),
                Some(end_of_support),
                "{years}"
            );
        }
        for years in i16::MIN..=i16::MAX {
            assert!(security.retained_until(years, support).is_some());
        }
    }

    use tough::schema::{Hashes, Target};

    fn target(custom: serde_json::Value) -> Target {
        Target {
            length: 3,
            hashes: Hashes {
                sha256: vec![7u8; 32].into(),
                _extra: HashMap::new(),
            },
            custom: match custom {
                serde_json::Value::Object(m) => m.into_iter().collect(),
                _ => HashMap::new(),
            },
            _extra: HashMap::new(),
        }
    }

    #[test]
    fn reads_release_fields() {
        let t = target(serde_json::json!({
            "product": "acme-cam", "version": "1.2.0", "security_version": 3,
            "kind": "security", "released": "2026-01-02T03:04:05Z"
        }));
        let r = Release::from_target("acme-cam/fw-1.2.0.bin", &t).unwrap();
        assert_eq!(r.info.version, semver::Version::new(1, 2, 0));
        assert_eq!(r.info.kind, ReleaseKind::Security);
        assert_eq!(r.sha256, "07".repeat(32));
        // round trip through the custom map
        let again = target(serde_json::Value::Object(
            r.info.to_custom().into_iter().collect(),
        ));
        assert_eq!(
            Release::from_target("acme-cam/fw-1.2.0.bin", &again).unwrap(),
            r
        );
    }

    #[test]
    fn product_must_match_path() {
        let t = target(serde_json::json!({
            "product": "other", "version": "1.2.0", "security_version": 3,
            "kind": "security", "released": "2026-01-02T03:04:05Z"
        }));
        assert!(matches!(
            Release::from_target("acme-cam/fw.bin", &t),
            Err(ReleaseError::ProductMismatch { .. })
        ));
    }

    #[test]
    fn malformed_fields_are_refused() {
        let t = target(serde_json::json!({
            "product": "acme-cam", "version": "one", "security_version": 3,
            "kind": "security", "released": "2026-01-02T03:04:05Z"
        }));
        assert!(matches!(
            Release::from_target("acme-cam/fw.bin", &t),
            Err(ReleaseError::BadCustom { .. })
        ));
        let t = target(serde_json::json!({
            "product": "acme-cam", "version": "1.0.0", "security_version": 3,
            "kind": "beta", "released": "2026-01-02T03:04:05Z"
        }));
        assert!(Release::from_target("acme-cam/fw.bin", &t).is_err());
    }
}
