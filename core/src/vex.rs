//! VEX "not affected" statements: a vendor's signed word that a product (all its releases, or
//! those matching a version requirement) is not affected by a vulnerability, with the
//! justification CSAF 2.0 (section 3.2.3.5, `flags[].label`) and CISA's VEX minimum
//! requirements ask for. They live in the product's signed support record, so they are signed
//! by the product role like the release advisories, and the CSAF documents show the releases
//! they cover as `known_not_affected`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a product is not affected: the CSAF 2.0 flag labels (section 3.2.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Justification {
    ComponentNotPresent,
    VulnerableCodeNotPresent,
    VulnerableCodeNotInExecutePath,
    VulnerableCodeCannotBeControlledByAdversary,
    InlineMitigationsAlreadyExist,
}

pub const JUSTIFICATIONS: &str = "component_not_present, vulnerable_code_not_present, \
vulnerable_code_not_in_execute_path, vulnerable_code_cannot_be_controlled_by_adversary or \
inline_mitigations_already_exist";

impl Justification {
    pub const ALL: [Justification; 5] = [
        Justification::ComponentNotPresent,
        Justification::VulnerableCodeNotPresent,
        Justification::VulnerableCodeNotInExecutePath,
        Justification::VulnerableCodeCannotBeControlledByAdversary,
        Justification::InlineMitigationsAlreadyExist,
    ];

    /// The CSAF flag label.
    pub fn as_str(self) -> &'static str {
        match self {
            Justification::ComponentNotPresent => "component_not_present",
            Justification::VulnerableCodeNotPresent => "vulnerable_code_not_present",
            Justification::VulnerableCodeNotInExecutePath => "vulnerable_code_not_in_execute_path",
            Justification::VulnerableCodeCannotBeControlledByAdversary => {
                "vulnerable_code_cannot_be_controlled_by_adversary"
            }
            Justification::InlineMitigationsAlreadyExist => "inline_mitigations_already_exist",
        }
    }

    /// The impact statement written when the vendor gives none.
    pub fn default_impact(self) -> &'static str {
        match self {
            Justification::ComponentNotPresent => {
                "The vulnerable component is not part of the product."
            }
            Justification::VulnerableCodeNotPresent => {
                "The vulnerable code is not included in the product."
            }
            Justification::VulnerableCodeNotInExecutePath => {
                "The vulnerable code is present but never executed by the product."
            }
            Justification::VulnerableCodeCannotBeControlledByAdversary => {
                "The vulnerable code cannot be reached or controlled by an attacker in the product."
            }
            Justification::InlineMitigationsAlreadyExist => {
                "The product contains mitigations that prevent exploitation."
            }
        }
    }
}

impl std::str::FromStr for Justification {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Justification::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| format!("unknown justification {s:?}: expected {JUSTIFICATIONS}"))
    }
}

impl std::fmt::Display for Justification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One signed "not affected" statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotAffected {
    /// The vulnerability: a CVE id (`CVE-2026-1234`) or a vendor id.
    pub cve: String,
    pub justification: Justification,
    /// Which releases it covers (a semver requirement such as `<1.3.0`); none: every release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<String>,
    /// Why, in words (CSAF impact statement); none: the justification's default sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
    /// When the statement was made (whole seconds, UTC).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: jiff::Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotAffectedError {
    #[error("vulnerability id {0:?} is invalid: use CVE-YYYY-NNNN (or a vendor id of A-Z, a-z, 0-9, '-', '_', '.', at most 64 characters)")]
    BadId(String),
    #[error("--versions {0:?} is not a version requirement (e.g. \"<1.3.0\" or \">=1.0.0, <2.0.0\"): {1}")]
    BadVersions(String, String),
    #[error("the impact statement must be 1-1000 characters of text")]
    BadImpact,
}

/// Checks a vulnerability id: `CVE-YYYY-N{4,}` when it starts with `CVE-` (CSAF's pattern),
/// otherwise the vendor-id shape advisories use.
pub fn check_vulnerability_id(id: &str) -> Result<(), NotAffectedError> {
    let bad = || NotAffectedError::BadId(id.to_string());
    let shape_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !shape_ok {
        return Err(bad());
    }
    if let Some(rest) = id.strip_prefix("CVE-") {
        let (year, number) = rest.split_once('-').ok_or_else(bad)?;
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if year.len() != 4 || !digits(year) || number.len() < 4 || !digits(number) {
            return Err(bad());
        }
    }
    Ok(())
}

impl NotAffected {
    pub fn validate(&self) -> Result<(), NotAffectedError> {
        check_vulnerability_id(&self.cve)?;
        self.version_req()?;
        if let Some(i) = &self.impact {
            if i.trim().is_empty()
                || i.len() > 1000
                || i.chars().any(|c| c.is_control() && c != '\n')
            {
                return Err(NotAffectedError::BadImpact);
            }
        }
        Ok(())
    }

    fn version_req(&self) -> Result<Option<semver::VersionReq>, NotAffectedError> {
        self.versions
            .as_deref()
            .map(|v| {
                v.parse::<semver::VersionReq>()
                    .map_err(|e| NotAffectedError::BadVersions(v.to_string(), e.to_string()))
            })
            .transpose()
    }

    /// Whether the statement covers release `version`.
    pub fn covers(&self, version: &semver::Version) -> bool {
        match self.version_req() {
            Ok(Some(req)) => req.matches(version),
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// The impact statement: the vendor's, or the justification's default.
    pub fn impact_text(&self) -> &str {
        self.impact
            .as_deref()
            .unwrap_or_else(|| self.justification.default_impact())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn statement(versions: Option<&str>) -> NotAffected {
        NotAffected {
            cve: "CVE-2026-2222".into(),
            justification: Justification::ComponentNotPresent,
            versions: versions.map(Into::into),
            impact: None,
            at: "2026-10-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn justifications_are_the_csaf_flag_labels() {
        for j in Justification::ALL {
            assert_eq!(j.as_str().parse::<Justification>().unwrap(), j);
            assert_eq!(serde_json::to_value(j).unwrap(), j.as_str());
        }
        let e = "not_affected".parse::<Justification>().unwrap_err();
        assert!(e.contains("component_not_present"), "{e}");
    }

    #[test]
    fn versions_select_the_covered_releases() {
        let all = statement(None);
        let some = statement(Some("<1.3.0"));
        let v = |s: &str| s.parse::<semver::Version>().unwrap();
        assert!(all.covers(&v("9.0.0")));
        assert!(some.covers(&v("1.2.0")));
        assert!(!some.covers(&v("1.3.0")));
        assert!(statement(Some("not a req")).validate().is_err());
    }

    #[test]
    fn vulnerability_ids_are_checked() {
        for ok in ["CVE-2026-1234", "CVE-2026-123456", "ACME-2026-7"] {
            check_vulnerability_id(ok).unwrap();
        }
        for bad in [
            "",
            "CVE-26-1234",
            "CVE-2026-12",
            "CVE-2026",
            "a b",
            "CVE-2026-12x4",
        ] {
            assert!(check_vulnerability_id(bad).is_err(), "{bad:?}");
        }
    }
}
