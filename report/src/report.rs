//! The compliance report: evidence for regulators, made from the signed repository's facts:
//! the support statement and its history, the update mechanism (roles, thresholds, keys,
//! anti-rollback), the release ledger with advisories, retention and rollout outcomes, fleet
//! figures ([`crate::fleet`]), automated test verdicts ([`crate::evidence`]), the crosswalk
//! ([`crate::crosswalk`]) and a verdict per jurisdiction ([`crate::verdict`]).
//! [`Report::build`] makes it; [`Report::document`] is what every format renders.

use serde::Serialize;

use airlock_core::api::FleetRelease;
use airlock_core::release::{Release, ReleaseKind};
use airlock_core::support::SupportRecord;

use crate::crosswalk::{self, Requirement, CROSSWALK, JURISDICTIONS, REGIMES};
use crate::document::Document;
use crate::evidence::Verdict;
use crate::fleet::{self, FleetFigures};
use crate::verdict::{self, JurisdictionVerdict, Status};

mod sections;

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("unknown jurisdiction {0:?} (uk, au, us, sg, eu or all)")]
    UnknownJurisdiction(String),
    #[error("the server answered with figures for {answered:?}, not {asked:?}")]
    FiguresOfAnotherProduct { answered: String, asked: String },
}

/// Refuses a jurisdiction the crosswalk does not know.
pub fn check_jurisdiction(jurisdiction: &str) -> Result<(), ReportError> {
    if !JURISDICTIONS.contains(&jurisdiction) {
        return Err(ReportError::UnknownJurisdiction(jurisdiction.to_string()));
    }
    Ok(())
}

/// A role of the update mechanism, as the report's table shows it. The signer's role status
/// implements it; the JSON form holds the role as it serializes.
pub trait MechanismRole {
    fn role(&self) -> &str;
    /// `None` for a role signed online by the server.
    fn version(&self) -> Option<u64>;
    fn threshold(&self) -> u64;
    fn key_count(&self) -> usize;
    /// `None` for a role renewed by the server.
    fn expires(&self) -> Option<jiff::Timestamp>;
}

#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    pub version: String,
    pub kind: ReleaseKind,
    pub security_version: u64,
    pub released: jiff::Timestamp,
    pub target: String,
    pub sha256: String,
    pub advisories: Vec<String>,
    /// End of the retention period of a release that carries a security fix (CRA Art. 13(9):
    /// 10 years after release or the rest of the support period, whichever is longer).
    pub retained_until: Option<jiff::Timestamp>,
    /// Where its rollout stands, in words (`not requested` without fleet figures).
    pub rollout_outcome: String,
    /// The server's figures for this release, when fleet figures were fetched.
    pub fleet: Option<FleetRelease>,
    /// Its SBOM target (CRA Annex I Part II(1)), when it was released with one.
    pub sbom: Option<LedgerSbom>,
}

/// A release's SBOM as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerSbom {
    pub path: String,
    pub sha256: String,
    pub length: u64,
    pub format: airlock_core::sbom::SbomFormat,
    pub spec_version: String,
}

/// A release withdrawn from the product role, as the signed support history records it.
#[derive(Debug, Clone, Serialize)]
pub struct WithdrawnEntry {
    pub target: String,
    pub at: jiff::Timestamp,
    pub reason: String,
    /// Withdrawn inside its retention period (CRA Art. 13(9)), forced with a reason.
    pub forced: bool,
}

/// The devices on the newest release that carries a security fix (or a later one).
#[derive(Debug, Clone, Serialize)]
pub struct NewestSecurityShare {
    pub version: String,
    pub security_version: u64,
    /// Devices whose last check-in reported this security version or a higher one.
    pub devices: u64,
    pub of: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report<R> {
    pub product: String,
    pub generated_at: jiff::Timestamp,
    /// The airlock release that made the report.
    pub airlock_version: String,
    /// The version of the repository's root metadata the report was made from.
    pub root_version: Option<u64>,
    /// What every regime asks of vulnerability reporting and the signed record lacks: a
    /// contact, a disclosure policy, the acknowledgement time, the status-update interval.
    pub disclosure_missing: Vec<String>,
    /// uk, au, us, sg, eu or all: which crosswalk rows the report holds.
    pub jurisdiction: String,
    pub support: SupportRecord,
    pub mechanism: Vec<R>,
    pub product_role_threshold: u64,
    pub product_role_keys: usize,
    pub product_role_version: u64,
    pub product_role_expires: jiff::Timestamp,
    pub ledger: Vec<LedgerEntry>,
    /// Releases withdrawn (no longer offered), from the signed support history, oldest first.
    pub withdrawn: Vec<WithdrawnEntry>,
    /// Fleet figures from a server, or that they were not requested.
    pub fleet: FleetFigures,
    /// From the fleet figures: the share of devices on the newest security release.
    pub fleet_on_newest_security_release: Option<NewestSecurityShare>,
    /// Verdicts of the automated test runs given with `--evidence`; `None` when none were.
    pub automated_tests: Option<Vec<Verdict>>,
    pub crosswalk: Vec<Requirement>,
    /// One verdict per selected jurisdiction (and the standards), each row evidenced, missing
    /// or out of airlock's reach.
    pub verdicts: Vec<JurisdictionVerdict>,
}

/// What a report is made of: the facts the signer read from the repository, the fleet figures
/// and test verdicts it was given, and the time it is made.
#[derive(Debug, Clone)]
pub struct Facts<'a, R> {
    pub product: &'a str,
    /// uk, au, us, sg, eu or all.
    pub jurisdiction: &'a str,
    pub support: &'a SupportRecord,
    pub releases: &'a [Release],
    /// The releases' SBOM targets (read with the role: `read_product_targets`).
    pub sboms: &'a [airlock_core::verify::SbomTarget],
    pub mechanism: Vec<R>,
    pub product_role_threshold: u64,
    pub product_role_keys: usize,
    /// The product role's signed version and expiry.
    pub product_role_version: u64,
    pub product_role_expires: jiff::Timestamp,
    pub fleet: FleetFigures,
    pub evidence: Option<Vec<Verdict>>,
    pub now: jiff::Timestamp,
    /// The airlock release making the report (`CARGO_PKG_VERSION` of the signer).
    pub airlock_version: &'a str,
}

fn ledger_entry(
    r: &Release,
    sboms: &[airlock_core::verify::SbomTarget],
    fleet: &FleetFigures,
    support: &SupportRecord,
) -> LedgerEntry {
    let version = r.info.version.to_string();
    LedgerEntry {
        sbom: sboms
            .iter()
            .find(|s| s.info.sbom_for == r.name)
            .map(|s| LedgerSbom {
                path: s.name.clone(),
                sha256: s.sha256.clone(),
                length: s.length,
                format: s.info.format,
                spec_version: s.info.spec_version.clone(),
            }),
        rollout_outcome: fleet::outcome_text(fleet, &version),
        fleet: fleet.release(&version).cloned(),
        version,
        kind: r.info.kind,
        security_version: r.info.security_version,
        released: r.info.released,
        target: r.name.clone(),
        sha256: r.sha256.clone(),
        advisories: r
            .info
            .advisories
            .iter()
            // the id as the advisory spells it (CVE-2026-0001), the severity in lower case
            .map(|a| format!("{} ({})", a.id, format!("{:?}", a.severity).to_lowercase()))
            .collect(),
        retained_until: r.retained_until(
            airlock_core::verify::DEFAULT_RETENTION_YEARS,
            support.security_updates_until,
        ),
    }
}

impl<R: MechanismRole> Report<R> {
    /// The report of `facts.product`, with the crosswalk rows and verdicts of the selected
    /// jurisdiction as of the day of `facts.now` (UTC).
    pub fn build(facts: Facts<'_, R>) -> Result<Self, ReportError> {
        let jurisdiction = facts.jurisdiction;
        check_jurisdiction(jurisdiction)?;
        facts.fleet.check_product(facts.product)?;
        let ledger = facts
            .releases
            .iter()
            .map(|r| ledger_entry(r, facts.sboms, &facts.fleet, facts.support))
            .collect();
        let withdrawn = facts
            .support
            .history
            .iter()
            .filter_map(|c| {
                c.withdrawn.as_ref().map(|target| WithdrawnEntry {
                    target: target.clone(),
                    at: c.at,
                    reason: c.reason.clone(),
                    forced: c.forced,
                })
            })
            .collect();
        let verdicts = verdict::verdicts(
            CROSSWALK,
            jurisdiction,
            &verdict::Inputs {
                record: facts.support,
                releases: facts.releases,
                sboms: facts.sboms,
                fleet: facts.fleet.figures(),
                tests: facts.evidence.as_deref(),
                today: airlock_core::support::utc_date(facts.now),
            },
        );
        let fleet_on_newest_security_release = facts.fleet.figures().and_then(|f| {
            let newest = verdict::newest_security_release(facts.releases)?;
            let on = newest.info.security_version;
            Some(NewestSecurityShare {
                version: newest.info.version.to_string(),
                security_version: on,
                devices: f
                    .versions
                    .iter()
                    .filter(|v| v.security_version >= on)
                    .map(|v| v.devices)
                    .sum(),
                of: f.devices,
            })
        });
        let root_version = facts
            .mechanism
            .iter()
            .find(|m| m.role() == "root")
            .and_then(|m| m.version());
        Ok(Report {
            verdicts,
            product: facts.product.to_string(),
            generated_at: airlock_core::whole_seconds(facts.now),
            airlock_version: facts.airlock_version.to_string(),
            root_version,
            disclosure_missing: verdict::disclosure_gaps(facts.support)
                .into_iter()
                .map(String::from)
                .collect(),
            fleet_on_newest_security_release,
            jurisdiction: jurisdiction.to_string(),
            support: facts.support.clone(),
            mechanism: facts.mechanism,
            product_role_threshold: facts.product_role_threshold,
            product_role_keys: facts.product_role_keys,
            product_role_version: facts.product_role_version,
            product_role_expires: facts.product_role_expires,
            ledger,
            withdrawn,
            fleet: facts.fleet,
            automated_tests: facts.evidence,
            crosswalk: crosswalk::rows(jurisdiction),
        })
    }

    /// The report as a document (rendered as Markdown, HTML or PDF).
    pub fn document(&self) -> Document {
        let r = self;
        let mut d = Document::new(format!(
            "Update and support compliance report: {}",
            r.product
        ));
        d.paragraph(format!(
            "Generated {} by airlock {} from the signed airlock repository (root metadata version {}){}; requirements shown: {}. The detached signature (FILE.sig) is an Ed25519 signature over these exact bytes by a targets key listed in the repository's root.json.",
            r.generated_at,
            r.airlock_version,
            r.root_version.map(|v| v.to_string()).unwrap_or_else(|| "unknown".into()),
            match &r.fleet {
                FleetFigures::FromServer { server, .. } => format!(" and the fleet figures of {server}"),
                FleetFigures::NotRequested => String::new(),
            },
            if r.jurisdiction == "all" {
                "every jurisdiction".to_string()
            } else {
                format!("{} and the standards", r.jurisdiction)
            }
        ));
        if !r.disclosure_missing.is_empty() {
            d.alert(format!(
                "the signed support record lacks {}. Every regime in this report requires a way to report security issues and a disclosure policy with the time to acknowledge a report and the interval of status updates (ETSI EN 303 645 V2.1.1 5.2-1, PSTI Regs Sch. 1 para 2, AU Smart Devices Rules Sch. 1 cl. 3, CRA Annex I Part II(5)-(6)). Add them with `airlock product set REPO {} --security-contact URI --disclosure-policy URL --acknowledge-within DAYS --status-updates-every DAYS`.",
                r.disclosure_missing.join(", "),
                r.product
            ));
        }
        d.heading(2, "Scope");
        d.paragraph("This report states what airlock's signed evidence shows about one product's update and support lifecycle: support period, security updates, their retention, vulnerability reporting information, and how updates are verified. It does not cover the product's other obligations (passwords, data protection, secure configuration, third-party conformity assessment, labelling): rows for them are marked out of airlock's reach and need the manufacturer's own evidence. It is not legal advice: the references point the reader to the text in force, which decides.");
        d.table(
            &["jurisdiction", "instrument", "applies from"],
            REGIMES
                .iter()
                .filter(|g| verdict::covered(&r.jurisdiction).contains(&g.jurisdiction))
                .map(|g| {
                    vec![
                        if g.jurisdiction == "all" {
                            "standards".to_string()
                        } else {
                            g.jurisdiction.to_string()
                        },
                        g.instrument.to_string(),
                        g.applies_from.to_string(),
                    ]
                })
                .collect(),
        );
        sections::support_section(&mut d, &r.support);
        sections::mechanism_section(&mut d, r);
        sections::ledger_section(&mut d, r);
        sections::fleet_section(
            &mut d,
            &r.fleet,
            r.fleet_on_newest_security_release.as_ref(),
        );
        sections::tests_section(&mut d, r.automated_tests.as_deref());
        d.heading(2, "Crosswalk");
        d.paragraph("Each update-lifecycle requirement (clause and version of the instrument), the airlock behaviour that evidences it, the tests that fail if that behaviour breaks, and what this report's evidence shows for it.");
        let status_of = |c: &Requirement| {
            r.verdicts
                .iter()
                .flat_map(|v| &v.rows)
                .find(|row| row.reference == c.reference && row.jurisdiction == c.jurisdiction)
                .map(|row| match row.status {
                    Status::Evidenced => format!("evidenced: {}", row.detail),
                    Status::Missing => format!("MISSING: {}", row.detail),
                    Status::OutOfReach => format!("out of airlock's reach: {}", row.detail),
                })
                .unwrap_or_default()
        };
        d.table(
            &[
                "jurisdiction",
                "reference",
                "requirement",
                "airlock",
                "evidence (tests)",
                "status",
            ],
            r.crosswalk
                .iter()
                .map(|c| {
                    vec![
                        c.jurisdiction.to_string(),
                        c.reference.to_string(),
                        c.requirement.to_string(),
                        c.airlock.to_string(),
                        c.evidence.to_string(),
                        status_of(c),
                    ]
                })
                .collect(),
        );
        d.heading(2, "Verdict per jurisdiction");
        d.paragraph("What the evidence in this report shows, row by row: evidenced, missing (with the reason), or out of airlock's reach. It is not a finding of compliance, which depends on the whole product and is the manufacturer's (or a conformity assessment body's) to make.");
        d.table(
            &["jurisdiction", "applies from", "verdict"],
            r.verdicts
                .iter()
                .map(|v| {
                    vec![
                        if v.jurisdiction == "all" {
                            "standards".to_string()
                        } else {
                            v.jurisdiction.clone()
                        },
                        v.applies_from.clone(),
                        v.verdict.clone(),
                    ]
                })
                .collect(),
        );
        d
    }

    /// The footer of its PDF pages.
    pub fn pdf_footer(&self) -> String {
        format!(
            "{}: update and support compliance report, {}",
            self.product, self.generated_at
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[derive(Debug, Serialize)]
    struct Role(&'static str);

    impl MechanismRole for Role {
        fn role(&self) -> &str {
            self.0
        }
        fn version(&self) -> Option<u64> {
            (self.0 == "root").then_some(1)
        }
        fn threshold(&self) -> u64 {
            1
        }
        fn key_count(&self) -> usize {
            1
        }
        fn expires(&self) -> Option<jiff::Timestamp> {
            None
        }
    }

    fn facts<'a>(
        support: &'a SupportRecord,
        releases: &'a [Release],
        jurisdiction: &'a str,
    ) -> Facts<'a, Role> {
        Facts {
            product: "acme-cam",
            jurisdiction,
            support,
            releases,
            sboms: &[],
            mechanism: vec![Role("root"), Role("timestamp")],
            product_role_threshold: 2,
            product_role_keys: 3,
            product_role_version: 4,
            product_role_expires: "2027-01-01T00:00:00Z".parse().unwrap(),
            fleet: FleetFigures::NotRequested,
            evidence: None,
            now: "2026-06-01T12:00:00.5Z".parse().unwrap(),
            airlock_version: "0.1.0",
        }
    }

    fn support() -> SupportRecord {
        serde_json::from_value(serde_json::json!({
            "product": "acme-cam",
            "support_start": "2026-01-01",
            "feature_updates_until": "2028-06-30",
            "security_updates_until": "2031-12-31",
            "statement": "Security updates until 2031-12-31.",
            "security_contact": "mailto:security@acme.example"
        }))
        .unwrap()
    }

    fn release() -> Release {
        serde_json::from_value(serde_json::json!({
            "name": "acme-cam/fw-1.2.0.bin", "length": 4, "sha256": "ab",
            "product": "acme-cam", "version": "1.2.0", "security_version": 3,
            "kind": "security", "released": "2026-02-01T00:00:00Z",
            "advisories": [{"id": "CVE-2026-0001", "severity": "high", "summary": "overflow"}]
        }))
        .unwrap()
    }

    #[test]
    fn a_report_is_built_from_facts_alone() {
        let (support, releases) = (support(), vec![release()]);
        let r = Report::build(facts(&support, &releases, "uk")).unwrap();
        assert_eq!(r.generated_at.to_string(), "2026-06-01T12:00:00Z");
        assert_eq!(r.ledger[0].advisories, ["CVE-2026-0001 (high)"]);
        assert_eq!(r.ledger[0].rollout_outcome, "not requested");
        assert!(r
            .crosswalk
            .iter()
            .all(|c| ["uk", "all"].contains(&c.jurisdiction)));
        // the UK's rows and the standards'
        assert_eq!(r.verdicts.len(), 2);
        assert_eq!(r.root_version, Some(1));
        assert_eq!(
            r.disclosure_missing,
            [
                "a vulnerability disclosure policy",
                "the time within which reports are acknowledged",
                "the interval of status updates to reporters"
            ]
        );
        let md = crate::markdown(&r.document());
        assert!(md.starts_with("# Update and support compliance report: acme-cam\n"));
        assert!(md.contains("by airlock 0.1.0"), "{md}");
        assert!(md.contains("(root metadata version 1)"), "{md}");
        assert!(
            md.contains(
                "> **WARNING:** the signed support record lacks a vulnerability disclosure policy"
            ),
            "{md}"
        );
        assert!(md.contains("It is not legal advice"), "{md}");
        assert!(
            md.contains("| uk | Product Security and Telecommunications Infrastructure Act 2022"),
            "{md}"
        );
        assert!(md.contains("29 April 2024"), "{md}");
        assert!(!md.contains("meets"), "{md}");
        assert!(
            md.contains("| acme-cam (product role) | 4 | 2 | 3 | 2027-01-01T00:00:00Z |"),
            "{md}"
        );
        assert!(md.contains("| timestamp | online | 1 | 1 | renewed by the server |"));
        assert!(md.contains("| 1.2.0 | security | 3 |"), "{md}");
        assert_eq!(
            serde_json::to_value(&r).unwrap()["mechanism"],
            serde_json::json!(["root", "timestamp"])
        );
    }

    #[test]
    fn unknown_jurisdictions_and_other_products_figures_are_refused() {
        let (support, releases) = (support(), vec![release()]);
        let e = Report::build(facts(&support, &releases, "fr")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown jurisdiction \"fr\" (uk, au, us, sg, eu or all)"
        );
        let mut other = facts(&support, &releases, "all");
        other.fleet = FleetFigures::FromServer {
            server: "http://127.0.0.1:1/".into(),
            figures: serde_json::from_value(serde_json::json!({
                "product": "other", "generated_at": "2026-06-01T00:00:00Z", "devices": 0,
                "devices_supported": 0, "min_security_version": 0, "supported_percent": null,
                "versions": [], "releases": []
            }))
            .unwrap(),
        };
        let e = Report::build(other).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the server answered with figures for \"other\", not \"acme-cam\""
        );
    }
}
