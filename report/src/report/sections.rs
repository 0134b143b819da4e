//! The sections of the compliance report's document, one function each.

use airlock_core::support::SupportRecord;

use super::{MechanismRole, Report};
use crate::document::Document;
use crate::evidence;
use crate::fleet::{self, FleetFigures};

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

pub(super) fn support_section(d: &mut Document, s: &SupportRecord) {
    d.heading(2, "Support statement");
    d.quote(s.statement.clone());
    d.key_values(vec![
        (
            "Support period",
            format!("{} to {}", s.support_start, s.security_updates_until),
        ),
        ("Feature updates until", s.feature_updates_until.to_string()),
        (
            "Security updates until",
            s.security_updates_until.to_string(),
        ),
        ("Security floor", s.min_security_version.to_string()),
        (
            "Updatable",
            if s.updatable {
                "yes (signed over-the-air updates)".into()
            } else {
                "no".into()
            },
        ),
        ("Security contact", or_dash(s.security_contact.as_deref())),
        ("Disclosure policy", or_dash(s.disclosure_policy.as_deref())),
        ("Successor", or_dash(s.successor.as_deref())),
        ("Notice", or_dash(s.notice_url.as_deref())),
        (
            "Rationale for the period",
            or_dash(s.support_period_rationale.as_deref()),
        ),
    ]);
    if !s.history.is_empty() {
        d.heading(3, "History");
        d.list(
            s.history
                .iter()
                .map(|c| match c.details() {
                    details if details.is_empty() => format!("{} {}: {}", c.at, c.action, c.reason),
                    details => format!("{} {} ({details}): {}", c.at, c.action, c.reason),
                })
                .collect(),
        );
    }
}

pub(super) fn mechanism_section<R: MechanismRole>(d: &mut Document, r: &Report<R>) {
    d.heading(2, "Update mechanism");
    d.paragraph("TUF (The Update Framework): offline root and targets keys with thresholds, one delegated role per product, online snapshot/timestamp renewed by the server; anti-rollback by TUF versions and the `security_version` counter with a floor; every image verified by length and sha256 on the device.");
    let mut rows: Vec<Vec<String>> = r
        .mechanism
        .iter()
        .map(|m| {
            vec![
                m.role().to_string(),
                m.version()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "online".into()),
                m.threshold().to_string(),
                m.key_count().to_string(),
                m.expires()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "renewed by the server".into()),
            ]
        })
        .collect();
    rows.push(vec![
        format!("{} (product role)", r.product),
        r.product_role_version.to_string(),
        r.product_role_threshold.to_string(),
        r.product_role_keys.to_string(),
        r.product_role_expires.to_string(),
    ]);
    d.table(&["role", "version", "threshold", "keys", "expires"], rows);
}

pub(super) fn ledger_section<R>(d: &mut Document, r: &Report<R>) {
    d.heading(2, "Release ledger");
    d.table(
        &[
            "version",
            "kind",
            "security version",
            "released",
            "advisories",
            "retained until",
            "rollout outcome",
        ],
        r.ledger
            .iter()
            .map(|l| {
                vec![
                    l.version.clone(),
                    l.kind.to_string(),
                    l.security_version.to_string(),
                    l.released.to_string(),
                    l.advisories.join(", "),
                    l.retained_until.map(|t| t.to_string()).unwrap_or_default(),
                    l.rollout_outcome.clone(),
                ]
            })
            .collect(),
    );
    d.heading(3, "Software bills of materials");
    d.paragraph("CRA Annex I Part II(1). Each SBOM is a TUF target signed by the product role with its image, whose signed fields name the SBOM's path and sha256; a release without one is a gap.");
    let without = r.ledger.iter().filter(|l| l.sbom.is_none()).count();
    d.table(
        &["version", "SBOM target", "format", "sha256"],
        r.ledger
            .iter()
            .map(|l| match &l.sbom {
                Some(s) => vec![
                    l.version.clone(),
                    s.path.clone(),
                    format!("{} {}", s.format, s.spec_version),
                    s.sha256.clone(),
                ],
                None => vec![
                    l.version.clone(),
                    "none".to_string(),
                    "-".to_string(),
                    "-".to_string(),
                ],
            })
            .collect(),
    );
    if without > 0 {
        d.alert(format!(
            "{without} of {} release(s) have no SBOM (CRA Annex I Part II(1)).",
            r.ledger.len()
        ));
    }
    if !r.withdrawn.is_empty() {
        d.heading(3, "Withdrawn releases");
        d.paragraph("No longer offered to devices; each withdrawal is recorded in the signed support history.");
        d.table(
            &["target", "withdrawn", "reason", "inside retention period"],
            r.withdrawn
                .iter()
                .map(|w| {
                    vec![
                        w.target.clone(),
                        w.at.to_string(),
                        w.reason.clone(),
                        if w.forced { "yes (forced)" } else { "no" }.to_string(),
                    ]
                })
                .collect(),
        );
    }
}

pub(super) fn fleet_section(
    d: &mut Document,
    fleet: &FleetFigures,
    newest_security: Option<&super::NewestSecurityShare>,
) {
    d.heading(2, "Fleet");
    let (server, f) = match fleet {
        FleetFigures::NotRequested => {
            d.paragraph("Fleet figures were not requested: this report was made from the signed repository alone, so it states no device counts, install times or rollout outcomes (none are estimated). Run `airlock compliance report` with `--server URL --admin-token-file FILE` (a token with the read scope) to include them.");
            return;
        }
        FleetFigures::FromServer { server, figures } => (server, figures),
    };
    d.paragraph(format!(
        "From the airlock server at {server}, computed {} (server clock). Each device counts once, by its last check-in; a device is on a supported security version when the security version it reported is at or above the signed floor. Time to install runs from a release's signed release time to each device's first `installed` report.",
        f.generated_at
    ));
    let newest_installed = f
        .releases
        .iter()
        .rev()
        .find_map(|r| r.median_seconds_to_install.map(|m| (r, m)));
    d.key_values(vec![
        ("Devices known", f.devices.to_string()),
        (
            "Security floor (signed)",
            f.min_security_version.to_string(),
        ),
        (
            "On a supported security version",
            if f.devices == 0 {
                "no device has checked in".into()
            } else {
                fleet::share(f.devices_supported, f.devices)
            },
        ),
        (
            "On the newest security release",
            match newest_security {
                Some(n) if n.of > 0 => format!(
                    "{} (release {}, security version {}, or later)",
                    fleet::share(n.devices, n.of),
                    n.version,
                    n.security_version
                ),
                Some(_) => "no device has checked in".into(),
                None => "no release carries a security fix yet".into(),
            },
        ),
        (
            "Median time from release to install",
            match newest_installed {
                Some((r, m)) => format!(
                    "{} (newest release installed by a device: {}, {} devices)",
                    fleet::human_duration(m),
                    r.version,
                    r.devices_installed
                ),
                None => "no device has reported an install".into(),
            },
        ),
    ]);
    d.heading(3, "Fleet versions");
    if f.versions.is_empty() {
        d.paragraph("No device has checked in.");
    } else {
        d.table(
            &[
                "version",
                "security version",
                "devices",
                "share",
                "supported",
            ],
            f.versions
                .iter()
                .map(|v| {
                    vec![
                        v.version.clone(),
                        v.security_version.to_string(),
                        v.devices.to_string(),
                        format!("{:.1}%", v.devices as f64 * 100.0 / f.devices.max(1) as f64),
                        if v.supported {
                            "yes".into()
                        } else {
                            "no (below the floor)".into()
                        },
                    ]
                })
                .collect(),
        );
    }
    if f.history.len() >= 2 {
        d.heading(3, "Fleet versions over time");
        d.paragraph(format!(
            "Devices by installed version at {} evenly spaced instants from the first `installed` report to the time above: each device counts once, on the version of its latest `installed` report at or before the instant. Devices that never reported an install are not counted here.",
            f.history.len()
        ));
        d.chart(fleet::history_chart(&f.history));
    }
    d.heading(3, "Releases taken up");
    d.table(
        &[
            "version",
            "kind",
            "devices installed",
            "devices failed",
            "median time to install",
        ],
        f.releases
            .iter()
            .map(|r| {
                vec![
                    r.version.clone(),
                    r.kind.to_string(),
                    r.devices_installed.to_string(),
                    r.devices_failed.to_string(),
                    r.median_seconds_to_install
                        .map(fleet::human_duration)
                        .unwrap_or_default(),
                ]
            })
            .collect(),
    );
}

pub(super) fn tests_section(d: &mut Document, verdicts: Option<&[evidence::Verdict]>) {
    d.heading(2, "Automated tests");
    let Some(verdicts) = verdicts else {
        d.paragraph("Automated test verdicts were not supplied, so none are claimed here; the crosswalk below names the tests that prove each behaviour. To include them: `--run-drills` runs the attack drills at report time; results run elsewhere count when signed by a targets key (`airlock compliance sign-evidence DIR/conformance.txt`, then `--evidence DIR`).");
        return;
    };
    d.paragraph("Each result is bound to the report by the sha256 of its bytes and by how it came here: run by this report's maker at report time (its output captured), or a result file signed by a targets key of this repository. An UNVERIFIED result (a file without a valid signature: anyone could have typed it) is listed but evidences nothing. Suites: attack drills (a simulated device behind a tampering proxy; every attack must be refused or end as expected) and the TUF conformance suite run against airlock's TUF client.");
    d.table(
        &[
            "suite",
            "file",
            "sha256",
            "provenance",
            "recorded",
            "passed",
            "failed",
            "other",
            "verdict",
        ],
        verdicts
            .iter()
            .map(|v| {
                let (suite, passed, failed, other) = match &v.suite {
                    evidence::Suite::AttackDrills {
                        mode,
                        passed,
                        failed,
                        not_run,
                        ..
                    } => (
                        format!("attack drills ({mode})"),
                        *passed,
                        *failed,
                        format!("{not_run} not run"),
                    ),
                    evidence::Suite::TufConformance(c) => (
                        "TUF conformance".to_string(),
                        c.passed,
                        c.failed,
                        format!("{} xfailed, {} skipped", c.xfailed, c.skipped),
                    ),
                };
                vec![
                    suite,
                    v.file.clone(),
                    v.sha256.clone().unwrap_or_else(|| "-".into()),
                    v.provenance.words(),
                    v.recorded.map(|t| t.to_string()).unwrap_or_default(),
                    passed.to_string(),
                    failed.to_string(),
                    other,
                    if v.provenance.is_bound() {
                        v.verdict.to_uppercase()
                    } else {
                        format!(
                            "{} (UNVERIFIED: counts for nothing)",
                            v.verdict.to_uppercase()
                        )
                    },
                ]
            })
            .collect(),
    );
    for v in verdicts {
        if let evidence::Suite::AttackDrills { drills, .. } = &v.suite {
            d.heading(3, format!("Attack drills: {}", v.file));
            d.table(
                &["drill", "simulates", "expected", "observed", "result"],
                drills
                    .iter()
                    .map(|x| {
                        vec![
                            x.attack.clone(),
                            x.simulates.clone(),
                            x.expected.clone(),
                            x.observed.clone(),
                            if !x.ran {
                                "not run".into()
                            } else if x.passed {
                                "pass".into()
                            } else {
                                "FAIL".into()
                            },
                        ]
                    })
                    .collect(),
            );
        }
    }
}
