use super::*;
use airlock_core::api::CheckInResponse;
use airlock_core::decision::OfferRefused;
use airlock_core::release::{Release, ReleaseInfo, ReleaseKind};
use airlock_core::support::SupportRecord;
use airlock_device::{MetadataRole, Refusal};

use crate::device::{DeviceRun, Outcome};

fn rel(product: &str, v: &str, sv: u64, kind: ReleaseKind, requires: Option<&str>) -> Release {
    Release {
        name: format!("{product}/fw-{v}.bin"),
        length: 10,
        sha256: "ab".repeat(32),
        info: ReleaseInfo {
            product: product.into(),
            version: v.parse().unwrap(),
            security_version: sv,
            kind,
            requires: requires.map(|r| r.parse().unwrap()),
            released: "2024-01-01T00:00:00Z".parse().unwrap(),
            advisories: Vec::new(),
        },
    }
}

fn support(product: &str, floor: u64, feature: &str, security: &str) -> SupportRecord {
    SupportRecord {
        product: product.into(),
        support_start: "2020-01-01".parse().unwrap(),
        feature_updates_until: feature.parse().unwrap(),
        security_updates_until: security.parse().unwrap(),
        min_security_version: floor,
        successor: None,
        notice_url: None,
        statement: "ended".into(),
        security_contact: None,
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

fn dev(product: &str, v: &str, sv: u64) -> DeviceState {
    DeviceState {
        product: product.into(),
        version: v.parse().unwrap(),
        security_version: sv,
    }
}

const NOW: &str = "2026-11-25T00:00:00Z";

#[test]
fn drill_names_are_unique_kebab_case_and_selectable() {
    let mut names: Vec<&str> = DRILLS.iter().map(|d| d.name).collect();
    for n in &names {
        assert!(
            n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{n}"
        );
        assert!(lab_device(n).is_ok());
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), DRILLS.len());
    assert_eq!(select(&[]).unwrap().len(), DRILLS.len());
    // named drills run in the table's order
    let picked = select(&["downgrade".into(), "arbitrary-software".into()]).unwrap();
    assert_eq!(picked[0].name, "arbitrary-software");
    assert_eq!(picked[1].name, "downgrade");
    let err = select(&["no-such".into()]).unwrap_err().to_string();
    assert!(err.contains("no-such") && err.contains("rollback-timestamp"));
}

#[test]
fn refusals_must_be_the_expected_check() {
    // a snapshot served under another version's name: the timestamp's pin (hash or length)
    let d = drill_spec("rollback-snapshot").unwrap();
    assert!(d.accepts(Refusal::MetadataHashMismatch {
        role: MetadataRole::Snapshot
    }));
    assert!(d.accepts(Refusal::MetadataTooLarge));
    // a hash mismatch on another file is another check
    assert!(!d.accepts(Refusal::MetadataHashMismatch {
        role: MetadataRole::Targets
    }));
    assert!(!d.accepts(Refusal::VersionMismatch));
    assert!(!d.accepts(Refusal::Unreachable));
    let d = drill_spec("wrong-signature").unwrap();
    assert!(d.accepts(Refusal::BadSignature));
    assert!(!d.accepts(Refusal::ExpiredMetadata));
    // an image with other bytes is refused by its hash, not by anything else
    let d = drill_spec("arbitrary-software").unwrap();
    assert!(d.accepts(Refusal::HashMismatch));
    assert!(!d.accepts(Refusal::MetadataHashMismatch {
        role: MetadataRole::Targets
    }));
    // the notice drill expects no refusal at all
    let d = drill_spec("hidden-end-of-support").unwrap();
    assert!(d.refusals.is_empty());
    assert_eq!(d.expected, Expected::NoticeShown);
}

#[test]
fn pick_finds_the_release_each_rule_refuses() {
    let s = support("hub", 3, "2024-12-31", "2030-12-31");
    let rs = [
        rel("hub", "1.5.0", 1, ReleaseKind::Security, None),
        rel("hub", "2.0.0", 3, ReleaseKind::Feature, None),
        rel("hub", "2.1.0", 3, ReleaseKind::Security, None),
        rel("hub", "2.2.0", 3, ReleaseKind::Security, Some("2.1.0")),
    ];
    let all: Vec<&Release> = rs.iter().collect();
    let d = dev("hub", "1.0.0", 1);
    let now = NOW.parse().unwrap();
    let name = |r: Option<&Release>| r.map(|r| r.info.version.to_string());
    assert_eq!(
        name(pick(&d, &all, &s, now, |_, r| r.is_ok())),
        Some("2.1.0".into())
    );
    assert_eq!(
        name(pick(&d, &all, &s, now, |_, r| matches!(
            r,
            Err(OfferRefused::BelowFloor { .. })
        ))),
        Some("1.5.0".into())
    );
    assert_eq!(
        name(pick(&d, &all, &s, now, |_, r| matches!(
            r,
            Err(OfferRefused::FeatureWindowClosed { .. })
        ))),
        Some("2.0.0".into())
    );
    assert_eq!(
        name(pick(&d, &all, &s, now, |_, r| matches!(
            r,
            Err(OfferRefused::RequiresNotMet { .. })
        ))),
        Some("2.2.0".into())
    );
    // nothing is refused for being after the security window while it is open
    assert_eq!(
        pick(&d, &all, &s, now, |_, r| matches!(
            r,
            Err(OfferRefused::SecurityWindowClosed { .. })
        )),
        None
    );
    // another product's image
    let other = rel("cam", "9.0.0", 9, ReleaseKind::Security, None);
    assert!(pick(&d, &[&other], &s, now, |_, r| matches!(
        r,
        Err(OfferRefused::WrongProduct { .. })
    ))
    .is_some());
}

#[test]
fn offers_are_exactly_as_signed() {
    let r = rel("cam", "1.2.0", 3, ReleaseKind::Security, None);
    match offer(&r) {
        CheckInResponse::Update { urgent, target } => {
            assert!(!urgent);
            assert_eq!(target.name, r.name);
            assert_eq!(target.version, "1.2.0");
            assert_eq!(target.length, r.length);
            assert_eq!(target.hashes.get("sha256"), Some(&r.sha256));
        }
        other => panic!("{other:?}"),
    }
}

fn run_with(outcome: Outcome, version: &str) -> DeviceRun {
    DeviceRun {
        id: "d".into(),
        product: "cam".into(),
        outcome,
        version: version.into(),
        security_version: 1,
        requests: Default::default(),
        image_bytes: 0,
        delta: None,
    }
}

#[test]
fn judging() {
    let spec = drill_spec("downgrade").unwrap();
    let refused = |kind: Refusal, reason: &str| {
        run_with(
            Outcome::Refused {
                kind,
                reason: reason.into(),
            },
            "1.2.0",
        )
    };
    let ok = judge(
        spec,
        observe(
            &refused(
                Refusal::Downgrade,
                "offer refused: x has version 1.1.0, not newer than the installed 1.2.0",
            ),
            false,
        ),
        Some("note".into()),
    );
    assert!(ok.passed && ok.ran);
    assert_eq!(ok.observed, "refused");
    assert!(ok.reason.ends_with("[note]"));

    let other = judge(
        spec,
        observe(&refused(Refusal::Unreachable, "connection reset"), false),
        None,
    );
    assert!(!other.passed);
    assert_eq!(other.observed, "refused by another check");

    // a refusal after something was installed is still an install
    let sneaky = judge(
        spec,
        observe(
            &refused(Refusal::Downgrade, "not newer than the installed"),
            true,
        ),
        None,
    );
    assert!(!sneaky.passed);
    assert_eq!(sneaky.observed, "installed");

    let installed = run_with(
        Outcome::Installed {
            from: "1.2.0".into(),
            to: "1.1.0".into(),
            target: "cam/fw-1.1.0.bin".into(),
            urgent: false,
            withheld: false,
        },
        "1.1.0",
    );
    assert_eq!(
        judge(spec, observe(&installed, true), None).observed,
        "installed"
    );

    let notice = run_with(
        Outcome::EndOfSupport {
            statement: "gone".into(),
            successor: None,
            notice_url: None,
            security_updates_until: "2025-12-31".parse().unwrap(),
        },
        "3.0.0",
    );
    let hidden = drill_spec("hidden-end-of-support").unwrap();
    let r = judge(hidden, observe(&notice, false), None);
    assert!(r.passed);
    assert_eq!(r.observed, "notice shown");
    let up = run_with(
        Outcome::UpToDate {
            version: "3.0.0".into(),
        },
        "3.0.0",
    );
    let r = judge(hidden, observe(&up, false), None);
    assert!(!r.passed);
    assert_eq!(r.observed, "up to date");
}

#[test]
fn summary_and_table() {
    let spec = drill_spec("below-floor").unwrap();
    let mut s = AttackSummary {
        mode: "lab".into(),
        server: "lab".into(),
        drills: vec![DrillReport::not_run(spec, "no release".into())],
        passed: 0,
        failed: 0,
        not_run: 1,
    };
    assert!(s.ok());
    let table = render(&s);
    assert!(table.contains("below-floor"));
    assert!(table.contains("not run"));
    assert!(table.contains(": OK"));
    s.failed = 1;
    assert!(!s.ok());
    assert!(render(&s).contains("FAILED"));
}

#[test]
fn reasons_are_tidied_for_the_table() {
    let sha = "2c87a38d2a67e707c04f585b6626d0d33aae912099cf5832dbdabe01909eae9a";
    let reason = format!(
        "image failed verification: Failed to fetch http://127.0.0.1:37093/tuf/targets/{sha}.cam/fw.bin: \
         Transport 'other' error fetching 'http://127.0.0.1:37093/tuf/targets/{sha}.cam/fw.bin': \
         Hash mismatch for http://127.0.0.1:37093/tuf/targets/{sha}.cam/fw.bin: calculated {sha}, expected {sha}"
    );
    assert_eq!(
        tidy_reason(&reason),
        "image failed verification: Failed to fetch /tuf/targets/2c87a38d….cam/fw.bin: \
         Hash mismatch for /tuf/targets/2c87a38d….cam/fw.bin: calculated 2c87a38d…, expected 2c87a38d…"
    );
    assert_eq!(tidy_reason("plain, deadbeef"), "plain, deadbeef");
    assert_eq!(tidy_reason("fetching 'x"), "fetching 'x");
}

#[test]
fn a_withheld_security_release_passes_only_when_installed_from_the_metadata() {
    let spec = drill_spec("withheld-security-release").unwrap();
    assert_eq!(spec.expected, Expected::InstalledWithheld);
    assert!(spec.refusals.is_empty());
    let installed = |withheld| {
        run_with(
            Outcome::Installed {
                from: "1.0.0".into(),
                to: "1.2.0".into(),
                target: "cam/fw-1.2.0.bin".into(),
                urgent: false,
                withheld,
            },
            "1.2.0",
        )
    };
    let r = judge(spec, observe(&installed(true), true), None);
    assert!(r.passed, "{r:?}");
    assert_eq!(r.observed, "installed withheld");
    // the old behaviour: the device took the server's word
    let up = run_with(
        Outcome::UpToDate {
            version: "1.0.0".into(),
        },
        "1.0.0",
    );
    let r = judge(spec, observe(&up, false), None);
    assert!(!r.passed);
    assert_eq!(r.observed, "up to date");
    // a withheld install is an attack's success for every other drill
    let other = drill_spec("downgrade").unwrap();
    assert!(!judge(other, observe(&installed(true), true), None).passed);
}

#[test]
fn the_priming_clock_is_before_any_security_hold_ran_out() {
    let mut old = rel("cam", "1.2.0", 3, ReleaseKind::Security, None);
    old.info.released = "2026-03-01T00:00:00Z".parse().unwrap();
    let mut feature = rel("cam", "1.3.0", 3, ReleaseKind::Feature, None);
    feature.info.released = "2026-01-01T00:00:00Z".parse().unwrap();
    let releases = [old, feature];
    let now = NOW.parse().unwrap();
    let device = DeviceSpec::new("cam", "1.0.0", 1).unwrap();
    assert_eq!(
        ctx::prime_clock(&device, &releases, now),
        Some("2026-03-07T23:59:59Z".parse().unwrap())
    );
    // nothing newer than the device: the real clock
    let device = DeviceSpec::new("cam", "1.2.0", 3).unwrap();
    assert_eq!(ctx::prime_clock(&device, &releases, now), None);
    // still inside its hold: the real clock
    let device = DeviceSpec::new("cam", "1.0.0", 1).unwrap();
    let early = "2026-03-02T00:00:00Z".parse().unwrap();
    assert_eq!(ctx::prime_clock(&device, &releases, early), None);
}
