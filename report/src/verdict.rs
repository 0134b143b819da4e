//! The verdict per row and per jurisdiction: what the signed evidence shows, never "meets".
//! Each crosswalk row names the [`Condition`] it needs of the evidence (the signed support
//! record, the signed releases, the server's fleet figures, the test runs given with
//! `--evidence`); judged against them a row is **evidenced**, **missing** (with the reason),
//! or **out of airlock's reach** (passwords, data protection, third-party testing, labelling:
//! the manufacturer's own evidence). Nothing here is asserted without looking at the evidence,
//! so a record without a security contact, a short period without a rationale, a forced
//! withdrawal or attack drills never run shows up as missing.

use serde::Serialize;

use airlock_core::api::FleetReport;
use airlock_core::release::{Release, ReleaseKind};
use airlock_core::support::{SupportRecord, MINIMUM_SUPPORT_YEARS};

use crate::crosswalk::{self, Requirement};
use crate::evidence;
use crate::statement;

/// What a crosswalk row needs of the evidence to count as evidenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// A signed support record with its dates in order and a statement: the period is
    /// published and the end-of-support notice has its words.
    SignedRecord,
    /// CRA Art. 13(8): at least five years of security updates, or a rationale.
    PeriodOrRationale,
    /// No release carrying a security fix withdrawn inside its retention period (CRA Art. 13(9)).
    NoForcedWithdrawal,
    /// The product can be updated (automatic, verified security updates).
    Updatable,
    /// A security contact for vulnerability reports.
    SecurityContact,
    /// A security contact, a disclosure policy, and the acknowledgement time and status-update
    /// interval reporters can expect (ETSI 5.2-1, PSTI Sch. 1 para 2, AU Sch. 1 cl. 3).
    DisclosurePolicy,
    /// A statement of compliance issued on the report's date has nothing the record cannot back.
    StatementBacked,
    /// Updatable, and attack drills given with `--evidence` ran and all ended as expected.
    DrillsPassed,
    /// Fleet figures from a server: time to install and the share on the newest security release.
    FleetFigures,
    /// Every security release names the advisories it fixes.
    AdvisoriesPublished,
    /// A product that cannot be updated says so in the signed record (ETSI 5.3-14).
    NotUpdatableDisclosed,
    /// Every release has an SBOM target bound to it (CRA Annex I Part II(1)).
    SbomPerRelease,
    /// Something airlock could evidence but does not yet: always missing, with this reason.
    NotYet(&'static str),
    /// Outside airlock's reach: the manufacturer's own evidence, for this reason.
    OutOfReach(&'static str),
}

/// What a row's verdict is judged on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub record: &'a SupportRecord,
    pub releases: &'a [Release],
    /// The releases' SBOM targets, each bound to its image by the signed role.
    pub sboms: &'a [airlock_core::verify::SbomTarget],
    /// The server's fleet figures, when they were fetched.
    pub fleet: Option<&'a FleetReport>,
    /// The test runs given with `--evidence`, when any were.
    pub tests: Option<&'a [evidence::Verdict]>,
    /// The report's date (UTC).
    pub today: jiff::civil::Date,
}

/// A row's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Evidenced,
    Missing,
    OutOfReach,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Evidenced => "evidenced",
            Status::Missing => "missing",
            Status::OutOfReach => "out of airlock's reach",
        }
    }
}

/// One crosswalk row judged against the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowVerdict {
    pub jurisdiction: String,
    pub reference: String,
    pub status: Status,
    /// What shows it (evidenced), what is missing, or whose evidence it is (out of reach).
    pub detail: String,
}

fn evidenced(detail: impl Into<String>) -> (Status, String) {
    (Status::Evidenced, detail.into())
}

fn missing(detail: impl Into<String>) -> (Status, String) {
    (Status::Missing, detail.into())
}

/// What the record lacks of a vulnerability disclosure policy every regime asks for: a
/// contact, a policy, the acknowledgement time and the status-update interval.
pub fn disclosure_gaps(record: &SupportRecord) -> Vec<&'static str> {
    let mut gaps = Vec::new();
    if record.security_contact.is_none() {
        gaps.push("a security contact");
    }
    if record.disclosure_policy.is_none() {
        gaps.push("a vulnerability disclosure policy");
    }
    if record.report_acknowledged_within_days.is_none() {
        gaps.push("the time within which reports are acknowledged");
    }
    if record.status_updates_every_days.is_none() {
        gaps.push("the interval of status updates to reporters");
    }
    gaps
}

/// The newest release carrying a security fix, by security version then release time.
pub fn newest_security_release(releases: &[Release]) -> Option<&Release> {
    releases
        .iter()
        .filter(|r| r.carries_security_fix())
        .max_by_key(|r| (r.info.security_version, r.info.released))
}

impl Condition {
    /// The row's status and its detail, judged on `inputs`.
    pub fn judge(self, inputs: &Inputs<'_>) -> (Status, String) {
        let record = inputs.record;
        match self {
            // Not `validate()`: that also holds the CRA five-year rule, which is its own row.
            Condition::SignedRecord => {
                if record.statement.trim().is_empty() {
                    missing("the signed record has no statement for users")
                } else if record.support_start > record.feature_updates_until
                    || record.feature_updates_until > record.security_updates_until
                {
                    missing("the signed record's support dates are out of order")
                } else {
                    evidenced(format!(
                        "signed support record: security updates until {}",
                        record.security_updates_until
                    ))
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
                match (long_enough, rationale) {
                    (true, _) => evidenced(format!(
                        "security updates {} to {}",
                        record.support_start, record.security_updates_until
                    )),
                    (false, true) => evidenced("a shorter period with its rationale in the signed record"),
                    (false, false) => missing(format!(
                        "security updates {} to {} is under {MINIMUM_SUPPORT_YEARS} years and no rationale is recorded",
                        record.support_start, record.security_updates_until
                    )),
                }
            }
            Condition::NoForcedWithdrawal => {
                let forced: Vec<&str> = record
                    .history
                    .iter()
                    .filter(|c| c.forced)
                    .filter_map(|c| c.withdrawn.as_deref())
                    .collect();
                if forced.is_empty() {
                    evidenced(
                        "no release with a security fix withdrawn inside its retention period",
                    )
                } else {
                    missing(format!(
                        "withdrawn inside the retention period: {}",
                        forced.join(", ")
                    ))
                }
            }
            Condition::Updatable => {
                if record.updatable {
                    evidenced("updatable: signed over-the-air updates")
                } else {
                    missing("the product is declared not updatable")
                }
            }
            Condition::SecurityContact => match &record.security_contact {
                Some(c) => evidenced(format!("security contact {c}")),
                None => missing("no security contact in the signed record"),
            },
            Condition::DisclosurePolicy => {
                let gaps = disclosure_gaps(record);
                if gaps.is_empty() {
                    evidenced(format!(
                        "contact, policy, acknowledgement within {} day(s), status updates every {} day(s)",
                        record.report_acknowledged_within_days.unwrap_or_default(),
                        record.status_updates_every_days.unwrap_or_default()
                    ))
                } else {
                    missing(format!("the signed record lacks {}", gaps.join(", ")))
                }
            }
            Condition::StatementBacked => {
                let gaps = statement::gaps(record, inputs.today);
                if gaps.is_empty() {
                    evidenced("a statement issued today would have no gaps")
                } else {
                    missing(gaps.join(" "))
                }
            }
            Condition::DrillsPassed => {
                if !record.updatable {
                    return missing("the product is declared not updatable");
                }
                let runs: Vec<&evidence::Verdict> = inputs
                    .tests
                    .unwrap_or_default()
                    .iter()
                    .filter(|v| matches!(v.suite, evidence::Suite::AttackDrills { .. }))
                    .collect();
                if runs.is_empty() {
                    return missing("no attack-drill results were given (--run-drills, or --evidence DIR with signed `airlock-sim attack --all --json` output)");
                }
                // typed-in results evidence nothing (issue 16: evidence is bound)
                let runs: Vec<&evidence::Verdict> = runs
                    .into_iter()
                    .filter(|v| v.provenance.is_bound())
                    .collect();
                if runs.is_empty() {
                    return missing("the attack-drill results given are unverified (no signature by a targets key): run them at report time with --run-drills, or sign the file with `airlock compliance sign-evidence`");
                }
                let bad: Vec<String> = runs
                    .iter()
                    .filter(|v| v.verdict != "pass")
                    .map(|v| format!("{} ({})", v.file, v.verdict))
                    .collect();
                if bad.is_empty() {
                    evidenced(format!(
                        "attack drills passed: {}",
                        runs.iter()
                            .map(|v| v.file.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                } else {
                    missing(format!("attack drills did not pass: {}", bad.join(", ")))
                }
            }
            Condition::FleetFigures => {
                let Some(f) = inputs.fleet else {
                    return missing(
                        "fleet figures were not requested (--server): time to install not shown",
                    );
                };
                if f.devices == 0 {
                    return missing("no device has checked in");
                }
                let installed = f
                    .releases
                    .iter()
                    .rev()
                    .find_map(|r| r.median_seconds_to_install.map(|m| (r, m)));
                match installed {
                    Some((r, m)) => evidenced(format!(
                        "median time to install {}: {}; the figures are shown, timeliness is the manufacturer's judgement",
                        r.version,
                        crate::fleet::human_duration(m)
                    )),
                    None => missing("no device has reported an install"),
                }
            }
            Condition::AdvisoriesPublished => {
                let security: Vec<&Release> = inputs
                    .releases
                    .iter()
                    .filter(|r| r.info.kind == ReleaseKind::Security)
                    .collect();
                let silent: Vec<String> = security
                    .iter()
                    .filter(|r| r.info.advisories.is_empty())
                    .map(|r| r.info.version.to_string())
                    .collect();
                if security.is_empty() {
                    evidenced("no security release yet")
                } else if silent.is_empty() {
                    evidenced("every security release names its advisories")
                } else {
                    missing(format!(
                        "security releases naming no advisory: {}",
                        silent.join(", ")
                    ))
                }
            }
            Condition::NotUpdatableDisclosed => {
                if record.updatable {
                    evidenced("the product is updatable: nothing to declare")
                } else {
                    missing("declared not updatable in the signed record; the rationale and the period and method of hardware replacement support are not in it")
                }
            }
            Condition::SbomPerRelease => {
                let without: Vec<String> = inputs
                    .releases
                    .iter()
                    .filter(|r| !inputs.sboms.iter().any(|s| s.info.sbom_for == r.name))
                    .map(|r| r.info.version.to_string())
                    .collect();
                if inputs.releases.is_empty() {
                    missing("no release yet, so no SBOM")
                } else if without.is_empty() {
                    evidenced(format!(
                        "each of the {} release(s) has a signed SBOM bound to its image",
                        inputs.releases.len()
                    ))
                } else {
                    missing(format!(
                        "{} of {} release(s) have no SBOM: {} (add one with `airlock release add ... --sbom FILE` for new releases)",
                        without.len(),
                        inputs.releases.len(),
                        without.join(", ")
                    ))
                }
            }
            Condition::NotYet(why) => missing(why),
            Condition::OutOfReach(why) => (Status::OutOfReach, why.to_string()),
        }
    }
}

/// One jurisdiction's verdict: counts and names of its rows by status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JurisdictionVerdict {
    /// `uk`, `au`, `us`, `sg`, `eu`, or `all` for the standards (ETSI EN 303 645, RFC 9124).
    pub jurisdiction: String,
    pub instrument: String,
    pub applies_from: String,
    /// In words: how many rows are evidenced, and which are missing or out of reach.
    pub verdict: String,
    pub evidenced: usize,
    /// The missing rows, as `reference: why`.
    pub missing: Vec<String>,
    /// The rows out of airlock's reach, by reference.
    pub out_of_reach: Vec<String>,
    pub rows: Vec<RowVerdict>,
}

impl JurisdictionVerdict {
    /// Whether every row airlock can evidence is evidenced (rows out of reach aside).
    pub fn nothing_missing(&self) -> bool {
        self.missing.is_empty()
    }
}

/// The jurisdictions a selection covers (`all` covers each one); the standards' rows (`all`)
/// are always judged, on their own line.
pub fn covered(selected: &str) -> Vec<&'static str> {
    let each = ["uk", "au", "us", "sg", "eu", "all"];
    each.into_iter()
        .filter(|j| selected == "all" || selected == *j || *j == "all")
        .collect()
}

/// One verdict per jurisdiction of the selection, from the crosswalk rows and the evidence.
pub fn verdicts(
    crosswalk: &[Requirement],
    selected: &str,
    inputs: &Inputs<'_>,
) -> Vec<JurisdictionVerdict> {
    covered(selected)
        .into_iter()
        .map(|jurisdiction| {
            let rows: Vec<RowVerdict> = crosswalk
                .iter()
                .filter(|r| r.jurisdiction == jurisdiction)
                .map(|r| {
                    let (status, detail) = r.condition.judge(inputs);
                    RowVerdict {
                        jurisdiction: jurisdiction.to_string(),
                        reference: r.reference.to_string(),
                        status,
                        detail,
                    }
                })
                .collect();
            let evidenced = rows
                .iter()
                .filter(|r| r.status == Status::Evidenced)
                .count();
            let missing: Vec<String> = rows
                .iter()
                .filter(|r| r.status == Status::Missing)
                .map(|r| format!("{}: {}", r.reference, r.detail))
                .collect();
            let out_of_reach: Vec<String> = rows
                .iter()
                .filter(|r| r.status == Status::OutOfReach)
                .map(|r| r.reference.clone())
                .collect();
            let mut verdict = format!(
                "{evidenced} of {} rows in airlock's reach evidenced",
                rows.len() - out_of_reach.len()
            );
            if !missing.is_empty() {
                verdict += &format!("; missing: {}", missing.join("; "));
            }
            if !out_of_reach.is_empty() {
                verdict += &format!(
                    "; out of airlock's reach (the manufacturer's evidence): {}",
                    out_of_reach.join(", ")
                );
            }
            let regime = crosswalk::regime(jurisdiction);
            JurisdictionVerdict {
                jurisdiction: jurisdiction.to_string(),
                instrument: regime.map(|r| r.instrument).unwrap_or_default().to_string(),
                applies_from: regime
                    .map(|r| r.applies_from)
                    .unwrap_or_default()
                    .to_string(),
                verdict,
                evidenced,
                missing,
                out_of_reach,
                rows,
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
            report_acknowledged_within_days: Some(5),
            status_updates_every_days: Some(14),
            csaf_provider_metadata: None,
            updatable: true,
            support_period_rationale: None,
            history: Vec::new(),
            not_affected: Vec::new(),
        }
    }

    fn drills(verdict: &str) -> Vec<evidence::Verdict> {
        vec![evidence::Verdict {
            file: "attacks.json".into(),
            recorded: None,
            sha256: None,
            verdict: verdict.into(),
            provenance: evidence::Provenance::RunAtReportTime {
                command: "airlock-sim attack --all --json".into(),
                tool_version: "airlock-sim 0.1.0".into(),
            },
            suite: evidence::Suite::AttackDrills {
                mode: "lab".into(),
                server: String::new(),
                passed: 19,
                failed: 0,
                not_run: 0,
                drills: Vec::new(),
            },
        }]
    }

    fn judge(
        r: &SupportRecord,
        tests: Option<&[evidence::Verdict]>,
        j: &str,
    ) -> Vec<JurisdictionVerdict> {
        verdicts(
            CROSSWALK,
            j,
            &Inputs {
                record: r,
                releases: &[],
                sboms: &[],
                fleet: None,
                tests,
                today: date(2026, 6, 1),
            },
        )
    }

    fn verdict(r: &SupportRecord, j: &str) -> JurisdictionVerdict {
        let passed = drills("pass");
        judge(r, Some(&passed), j)
            .into_iter()
            .find(|v| v.jurisdiction == j)
            .unwrap()
    }

    #[test]
    fn a_complete_record_leaves_only_what_airlock_cannot_show() {
        let passed = drills("pass");
        let v = judge(&record(), Some(&passed), "all");
        let names: Vec<&str> = v.iter().map(|v| v.jurisdiction.as_str()).collect();
        assert_eq!(names, ["uk", "au", "us", "sg", "eu", "all"]);
        for j in &v {
            assert!(!j.verdict.contains("meets"), "{j:?}");
            assert!(!j.applies_from.is_empty(), "{j:?}");
            let expected: Vec<&str> = match j.jurisdiction.as_str() {
                // no release, so no SBOM
                "eu" => vec!["CRA (EU) 2024/2847 Annex I Part II(1)"],
                // time to install needs the server's figures
                "all" => vec!["ETSI EN 303 645 V2.1.1 5.3-8"],
                _ => vec![],
            };
            let refs: Vec<&str> = j
                .missing
                .iter()
                .map(|m| m.split(": ").next().unwrap())
                .collect();
            assert_eq!(refs, expected, "{j:?}");
        }
        let uk = &v[0];
        assert_eq!(uk.out_of_reach, ["PSTI Regs (SI 2023/1007) Sch. 1 para 1"]);
        assert!(
            uk.verdict
                .starts_with("3 of 3 rows in airlock's reach evidenced"),
            "{uk:?}"
        );
    }

    #[test]
    fn one_jurisdiction_selected_gives_it_and_the_standards() {
        let v = judge(&record(), None, "au");
        let names: Vec<&str> = v.iter().map(|v| v.jurisdiction.as_str()).collect();
        assert_eq!(names, ["au", "all"]);
    }

    #[test]
    fn drills_not_given_or_failed_are_missing() {
        let r = record();
        let none = judge(&r, None, "sg");
        assert!(
            none[0].missing[0].contains("no attack-drill results"),
            "{none:?}"
        );
        let failed = drills("fail");
        let bad = judge(&r, Some(&failed), "sg");
        assert!(bad[0].missing[0].contains("attacks.json (fail)"), "{bad:?}");
        // a passing result nobody can vouch for (typed in, unsigned) evidences nothing
        let mut typed = drills("pass");
        typed[0].provenance = evidence::Provenance::Unverified {
            reason: "not signed".into(),
        };
        let unbound = judge(&r, Some(&typed), "sg");
        assert!(unbound[0].missing[0].contains("unverified"), "{unbound:?}");
        let mut signed = drills("pass");
        signed[0].provenance = evidence::Provenance::Signed {
            keyid: "ab".repeat(32),
        };
        assert!(judge(&r, Some(&signed), "sg")[0].missing.is_empty());
    }

    #[test]
    fn short_period_without_rationale_is_missing_for_the_eu_only() {
        let mut r = record();
        r.feature_updates_until = date(2027, 6, 30);
        r.security_updates_until = date(2027, 12, 31);
        r.statement = "Security updates until 2027-12-31.".into();
        let eu = verdict(&r, "eu");
        assert!(
            eu.missing[0].starts_with("CRA (EU) 2024/2847 Art. 13(8)"),
            "{eu:?}"
        );
        assert!(verdict(&r, "uk").nothing_missing());
        r.support_period_rationale = Some("a two-year evaluation kit".into());
        assert_eq!(
            verdict(&r, "eu").missing.len(),
            1,
            "only the SBOM (no release)"
        );
    }

    #[test]
    fn disclosure_needs_contact_policy_and_both_times() {
        let mut r = record();
        r.status_updates_every_days = None;
        let uk = verdict(&r, "uk");
        assert!(
            uk.missing
                .iter()
                .any(|g| g.starts_with("PSTI Regs (SI 2023/1007) Sch. 1 para 2")
                    && g.contains("interval of status updates")),
            "{uk:?}"
        );
        r.security_contact = None;
        let au = verdict(&r, "au");
        assert!(
            au.missing.iter().any(|g| g.contains("a security contact")),
            "{au:?}"
        );
        // the statement of compliance cannot back its reporting declaration either
        assert!(au
            .missing
            .iter()
            .any(|g| g.starts_with("AU Smart Devices Rules 2025 ss. 9-10")));
        assert!(verdict(&r, "us").nothing_missing());
    }

    #[test]
    fn not_updatable_is_missing_everywhere_updates_are_asked_for() {
        let mut r = record();
        r.updatable = false;
        for j in ["eu", "us", "sg", "all"] {
            let v = verdict(&r, j);
            assert!(
                v.missing.iter().any(|g| g.contains("not updatable")),
                "{v:?}"
            );
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
        assert!(
            eu.verdict.contains("CRA (EU) 2024/2847 Art. 13(9)"),
            "{eu:?}"
        );
        assert!(eu.verdict.contains("acme-cam/fw-1.2.0.bin"), "{eu:?}");
        assert!(verdict(&r, "sg").nothing_missing());
    }

    #[test]
    fn security_releases_without_advisories_are_missing() {
        let release: Release = serde_json::from_value(serde_json::json!({
            "name": "acme-cam/fw-1.2.0.bin", "length": 4, "sha256": "ab",
            "product": "acme-cam", "version": "1.2.0", "security_version": 3,
            "kind": "security", "released": "2026-02-01T00:00:00Z"
        }))
        .unwrap();
        let r = record();
        let inputs = Inputs {
            record: &r,
            releases: std::slice::from_ref(&release),
            sboms: &[],
            fleet: None,
            tests: None,
            today: date(2026, 6, 1),
        };
        let (status, detail) = Condition::AdvisoriesPublished.judge(&inputs);
        assert_eq!(status, Status::Missing);
        assert!(detail.contains("1.2.0"), "{detail}");
    }

    #[test]
    fn statements_after_the_support_period_are_missing() {
        let r = record();
        let passed = drills("pass");
        let late = verdicts(
            CROSSWALK,
            "uk",
            &Inputs {
                record: &r,
                releases: &[],
                sboms: &[],
                fleet: None,
                tests: Some(&passed),
                today: date(2032, 1, 1),
            },
        );
        assert!(
            late[0]
                .missing
                .iter()
                .any(|g| g.contains("ended on 2031-12-31")),
            "{late:?}"
        );
    }

    #[test]
    fn releases_without_an_sbom_are_an_eu_gap() {
        let release = |v: &str| -> Release {
            serde_json::from_value(serde_json::json!({
                "name": format!("acme-cam/fw-{v}.bin"), "length": 4, "sha256": "ab",
                "product": "acme-cam", "version": v, "security_version": 3,
                "kind": "security", "released": "2026-02-01T00:00:00Z"
            }))
            .unwrap()
        };
        let releases = [release("1.2.0"), release("1.3.0")];
        let sbom = airlock_core::verify::SbomTarget {
            name: "acme-cam/fw-1.2.0.bin.cdx.json".into(),
            sha256: "cd".repeat(32),
            length: 10,
            info: airlock_core::sbom::SbomTargetInfo {
                sbom_for: "acme-cam/fw-1.2.0.bin".into(),
                format: airlock_core::sbom::SbomFormat::Cyclonedx,
                spec_version: "1.5".into(),
            },
        };
        let r = record();
        let judge = |sboms: &[airlock_core::verify::SbomTarget]| {
            Condition::SbomPerRelease.judge(&Inputs {
                record: &r,
                releases: &releases,
                sboms,
                fleet: None,
                tests: None,
                today: date(2026, 6, 1),
            })
        };
        let (status, detail) = judge(std::slice::from_ref(&sbom));
        assert_eq!(status, Status::Missing);
        assert!(
            detail.starts_with("1 of 2 release(s) have no SBOM: 1.3.0"),
            "{detail}"
        );
        let mut second = sbom.clone();
        second.name = "acme-cam/fw-1.3.0.bin.spdx.json".into();
        second.info.sbom_for = "acme-cam/fw-1.3.0.bin".into();
        let (status, detail) = judge(&[sbom, second]);
        assert_eq!(status, Status::Evidenced, "{detail}");
    }
}
