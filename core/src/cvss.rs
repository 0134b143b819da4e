//! CVSS v3 base vectors (FIRST, CVSS v3.1 specification, section 7) and CWE references, as an
//! advisory carries them into its signed release fields and its CSAF document
//! (`vulnerabilities[].scores[].cvss_v3`, `vulnerabilities[].cwe`).
//!
//! The vector is untrusted input (typed by a release manager, read back from signed metadata a
//! server or device may fetch from anywhere): the parser takes the base metrics only, each
//! exactly once, with no other text, and computes the base score itself so a score can never
//! disagree with its vector (CSAF 2.0 mandatory test 6.1.9).

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CvssError {
    #[error("CVSS vector {0:?} must start with CVSS:3.1/ (or CVSS:3.0/)")]
    Version(String),
    #[error("CVSS vector {vector:?}: {part:?} is not a base metric of CVSS v3 (AV, AC, PR, UI, S, C, I, A with their letters, e.g. AV:N)")]
    UnknownMetric { vector: String, part: String },
    #[error("CVSS vector {vector:?}: metric {metric} is given twice")]
    Repeated {
        vector: String,
        metric: &'static str,
    },
    #[error("CVSS vector {vector:?}: base metric {metric} is missing (a vector needs AV, AC, PR, UI, S, C, I and A)")]
    Missing {
        vector: String,
        metric: &'static str,
    },
    #[error("CVSS vector {vector:?} is {given} but its base score is {computed}")]
    ScoreMismatch {
        vector: String,
        given: String,
        computed: String,
    },
    #[error("CVSS vector is longer than 200 characters")]
    TooLong,
}

/// The CVSS v3 minor version of a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CvssVersion {
    V3_0,
    V3_1,
}

impl CvssVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            CvssVersion::V3_0 => "3.0",
            CvssVersion::V3_1 => "3.1",
        }
    }
}

/// A validated CVSS v3 base vector. Serialised as its vector string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvssV3 {
    version: CvssVersion,
    /// Metric values in the specification's order: AV, AC, PR, UI, S, C, I, A.
    values: [u8; 8],
}

/// (name, allowed letters) of the base metrics, in the order of the specification.
const METRICS: [(&str, &[u8]); 8] = [
    ("AV", b"NALP"),
    ("AC", b"LH"),
    ("PR", b"NLH"),
    ("UI", b"NR"),
    ("S", b"UC"),
    ("C", b"HLN"),
    ("I", b"HLN"),
    ("A", b"HLN"),
];

/// CVSS v3.1 base severity ratings (specification section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CvssSeverity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl CvssSeverity {
    /// The CSAF `baseSeverity` value.
    pub fn as_csaf(self) -> &'static str {
        match self {
            CvssSeverity::None => "NONE",
            CvssSeverity::Low => "LOW",
            CvssSeverity::Medium => "MEDIUM",
            CvssSeverity::High => "HIGH",
            CvssSeverity::Critical => "CRITICAL",
        }
    }
}

impl std::str::FromStr for CvssV3 {
    type Err = CvssError;

    fn from_str(vector: &str) -> Result<Self, CvssError> {
        if vector.len() > 200 {
            return Err(CvssError::TooLong);
        }
        let (version, rest) = if let Some(rest) = vector.strip_prefix("CVSS:3.1/") {
            (CvssVersion::V3_1, rest)
        } else if let Some(rest) = vector.strip_prefix("CVSS:3.0/") {
            (CvssVersion::V3_0, rest)
        } else {
            return Err(CvssError::Version(vector.to_string()));
        };
        let mut values: [Option<u8>; 8] = [None; 8];
        for part in rest.split('/') {
            let unknown = || CvssError::UnknownMetric {
                vector: vector.to_string(),
                part: part.to_string(),
            };
            let (name, value) = part.split_once(':').ok_or_else(unknown)?;
            let index = METRICS
                .iter()
                .position(|(m, _)| *m == name)
                .ok_or_else(unknown)?;
            let letter = match value.as_bytes() {
                [b] if METRICS[index].1.contains(b) => *b,
                _ => return Err(unknown()),
            };
            if values[index].replace(letter).is_some() {
                return Err(CvssError::Repeated {
                    vector: vector.to_string(),
                    metric: METRICS[index].0,
                });
            }
        }
        let mut out = [0u8; 8];
        for (i, v) in values.iter().enumerate() {
            out[i] = v.ok_or(CvssError::Missing {
                vector: vector.to_string(),
                metric: METRICS[i].0,
            })?;
        }
        Ok(CvssV3 {
            version,
            values: out,
        })
    }
}

impl std::fmt::Display for CvssV3 {
    /// The vector in the specification's order (`CVSS:3.1/AV:N/AC:L/...`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CVSS:{}", self.version.as_str())?;
        for ((name, _), value) in METRICS.iter().zip(self.values) {
            write!(f, "/{name}:{}", value as char)?;
        }
        Ok(())
    }
}

impl Serialize for CvssV3 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for CvssV3 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Roundup as CVSS v3.1 Appendix A defines it (the smallest number with one decimal equal to
/// or above the input, computed on integers to avoid floating-point surprises); v3.0 used a
/// plain ceiling.
fn roundup(x: f64, version: CvssVersion) -> f64 {
    match version {
        CvssVersion::V3_1 => {
            let int_input = (x * 100_000.0).round() as i64;
            if int_input % 10_000 == 0 {
                int_input as f64 / 100_000.0
            } else {
                ((int_input / 10_000) + 1) as f64 / 10.0
            }
        }
        CvssVersion::V3_0 => (x * 10.0).ceil() / 10.0,
    }
}

impl CvssV3 {
    pub fn version(&self) -> CvssVersion {
        self.version
    }

    fn value(&self, metric: &str) -> u8 {
        METRICS
            .iter()
            .position(|(m, _)| *m == metric)
            .map(|i| self.values[i])
            .unwrap_or(0)
    }

    /// The base score (0.0-10.0, one decimal), CVSS v3.1 section 7.1 (v3.0 section 8.1).
    pub fn base_score(&self) -> f64 {
        let changed = self.value("S") == b'C';
        let av = match self.value("AV") {
            b'N' => 0.85,
            b'A' => 0.62,
            b'L' => 0.55,
            _ => 0.2,
        };
        let ac = if self.value("AC") == b'L' { 0.77 } else { 0.44 };
        let pr = match (self.value("PR"), changed) {
            (b'N', _) => 0.85,
            (b'L', false) => 0.62,
            (b'L', true) => 0.68,
            (_, false) => 0.27,
            (_, true) => 0.5,
        };
        let ui = if self.value("UI") == b'N' { 0.85 } else { 0.62 };
        let cia = |m| match self.value(m) {
            b'H' => 0.56,
            b'L' => 0.22,
            _ => 0.0,
        };
        let iss = 1.0 - (1.0 - cia("C")) * (1.0 - cia("I")) * (1.0 - cia("A"));
        let impact = if changed {
            7.52 * (iss - 0.029) - 3.25 * (iss - 0.02f64).powi(15)
        } else {
            6.42 * iss
        };
        let exploitability = 8.22 * av * ac * pr * ui;
        if impact <= 0.0 {
            return 0.0;
        }
        let sum = if changed {
            1.08 * (impact + exploitability)
        } else {
            impact + exploitability
        };
        roundup(sum.min(10.0), self.version)
    }

    /// The base score with one decimal, as written in advisories (`9.8`).
    pub fn base_score_text(&self) -> String {
        format!("{:.1}", self.base_score())
    }

    /// The qualitative severity of the base score (CVSS v3.1 section 5).
    pub fn severity(&self) -> CvssSeverity {
        let tenths = (self.base_score() * 10.0).round() as i64;
        match tenths {
            0 => CvssSeverity::None,
            1..=39 => CvssSeverity::Low,
            40..=69 => CvssSeverity::Medium,
            70..=89 => CvssSeverity::High,
            _ => CvssSeverity::Critical,
        }
    }

    /// Checks a base score someone gave with the vector (`9.8`) against the computed one.
    pub fn check_score(&self, given: &str) -> Result<(), CvssError> {
        let computed = self.base_score_text();
        let same = given
            .trim()
            .parse::<f64>()
            .is_ok_and(|g| (g * 10.0).round() as i64 == (self.base_score() * 10.0).round() as i64);
        if same {
            Ok(())
        } else {
            Err(CvssError::ScoreMismatch {
                vector: self.to_string(),
                given: given.trim().to_string(),
                computed,
            })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CweError {
    #[error("CWE {0:?}: expected CWE-NUMBER:NAME, e.g. \"CWE-787:Out-of-bounds Write\" (the name as the CWE list at cwe.mitre.org spells it)")]
    Format(String),
}

/// A CWE weakness (CSAF `vulnerabilities[].cwe`: id and name as the CWE list has them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cwe {
    /// e.g. `CWE-787`.
    pub id: String,
    /// e.g. `Out-of-bounds Write`.
    pub name: String,
}

impl Cwe {
    /// Checks the shape CSAF 2.0 gives `cwe.id` (`^CWE-[1-9]\d{0,5}$`) and a printable name.
    pub fn validate(&self) -> Result<(), CweError> {
        let bad = || CweError::Format(format!("{}:{}", self.id, self.name));
        let digits = self.id.strip_prefix("CWE-").ok_or_else(bad)?;
        let id_ok = !digits.is_empty()
            && digits.len() <= 6
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit());
        let name_ok = !self.name.trim().is_empty()
            && self.name.len() <= 200
            && self.name == self.name.trim()
            && !self.name.chars().any(char::is_control);
        if id_ok && name_ok {
            Ok(())
        } else {
            Err(bad())
        }
    }
}

impl std::str::FromStr for Cwe {
    type Err = CweError;
    /// `CWE-787:Out-of-bounds Write`.
    fn from_str(s: &str) -> Result<Self, CweError> {
        let (id, name) = s
            .split_once(':')
            .ok_or_else(|| CweError::Format(s.to_string()))?;
        let cwe = Cwe {
            id: id.trim().to_string(),
            name: name.trim().to_string(),
        };
        cwe.validate()?;
        Ok(cwe)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn score(v: &str) -> String {
        v.parse::<CvssV3>().unwrap().base_score_text()
    }

    #[test]
    fn base_scores_match_the_specification_examples() {
        // FIRST's CVSS v3.1 calculator and the NVD for these vectors
        assert_eq!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), "9.8");
        assert_eq!(
            score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),
            "10.0"
        );
        assert_eq!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"), "6.1");
        assert_eq!(score("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"), "7.8");
        assert_eq!(score("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N"), "5.9");
        assert_eq!(score("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"), "1.6");
        assert_eq!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"), "0.0");
        assert_eq!(score("CVSS:3.1/AV:A/AC:L/PR:L/UI:N/S:C/C:H/I:L/A:N"), "7.6");
        assert_eq!(score("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), "9.8");
    }

    #[test]
    fn severity_follows_the_ratings() {
        let sev = |v: &str| v.parse::<CvssV3>().unwrap().severity();
        assert_eq!(
            sev("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            CvssSeverity::Critical
        );
        assert_eq!(
            sev("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"),
            CvssSeverity::High
        );
        assert_eq!(
            sev("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"),
            CvssSeverity::None
        );
    }

    #[test]
    fn malformed_vectors_are_refused() {
        for bad in [
            "",
            "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:2.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:H",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:F",
            "CVSS:3.1/AV:NN/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/av:n/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            " CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        ] {
            assert!(bad.parse::<CvssV3>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn metrics_in_any_order_print_in_the_specification_order() {
        let v: CvssV3 = "CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N"
            .parse()
            .unwrap();
        assert_eq!(
            v.to_string(),
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
        );
    }

    #[test]
    fn a_given_score_must_match_the_vector() {
        let v: CvssV3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
            .parse()
            .unwrap();
        assert!(v.check_score("9.8").is_ok());
        assert!(matches!(
            v.check_score("7.5"),
            Err(CvssError::ScoreMismatch { .. })
        ));
        assert!(v.check_score("high").is_err());
    }

    #[test]
    fn cwe_references_are_checked() {
        let c: Cwe = "CWE-787:Out-of-bounds Write".parse().unwrap();
        assert_eq!(c.id, "CWE-787");
        assert_eq!(c.name, "Out-of-bounds Write");
        for bad in [
            "787:Out-of-bounds Write",
            "CWE-:x",
            "CWE-0787:x",
            "CWE-78a:x",
            "CWE-787",
            "CWE-787:",
            "CWE-1234567:x",
        ] {
            assert!(bad.parse::<Cwe>().is_err(), "{bad:?} was accepted");
        }
    }

    fn metric_strategy() -> impl Strategy<Value = String> {
        let pick = |letters: &'static [u8]| proptest::sample::select(letters.to_vec());
        (
            pick(b"NALP"),
            pick(b"LH"),
            pick(b"NLH"),
            pick(b"NR"),
            pick(b"UC"),
            pick(b"HLN"),
            pick(b"HLN"),
            pick(b"HLN"),
        )
            .prop_map(|(av, ac, pr, ui, s, c, i, a)| {
                format!(
                    "CVSS:3.1/AV:{}/AC:{}/PR:{}/UI:{}/S:{}/C:{}/I:{}/A:{}",
                    av as char,
                    ac as char,
                    pr as char,
                    ui as char,
                    s as char,
                    c as char,
                    i as char,
                    a as char
                )
            })
    }

    proptest! {
        #[test]
        fn every_valid_vector_round_trips_with_a_score_in_range(v in metric_strategy()) {
            let parsed: CvssV3 = v.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), v.clone());
            let s = parsed.base_score();
            prop_assert!((0.0..=10.0).contains(&s));
            // one decimal, exactly
            prop_assert!(((s * 10.0).round() - s * 10.0).abs() < 1e-9);
            // no impact means a score of 0, and only then
            let no_impact = v.ends_with("C:N/I:N/A:N");
            prop_assert_eq!(no_impact, s == 0.0);
            let json = serde_json::to_string(&parsed).unwrap();
            let back: CvssV3 = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, parsed);
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,120}") {
            let _ = s.parse::<CvssV3>();
            let _ = s.parse::<Cwe>();
        }

        #[test]
        fn a_higher_impact_never_lowers_the_score(v in metric_strategy()) {
            let parsed: CvssV3 = v.parse().unwrap();
            let raised = v.replace("/A:N", "/A:H").replace("/A:L", "/A:H");
            let higher: CvssV3 = raised.parse().unwrap();
            prop_assert!(higher.base_score() >= parsed.base_score());
        }
    }
}
