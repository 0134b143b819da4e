//! The re-check of the server's answer against the device's own verified metadata, with the
//! same rules the server used (`airlock_core::decision::check_offer`): an offer must be a
//! target the product role signed, exactly as signed, and allowed by the signed support record;
//! "up to date" and "end of support" must agree with that record. "Up to date" while the
//! verified metadata lists a security release the device may install, held back past its limit
//! (`airlock_core::hold`), is withholding: the device installs that release itself. Pure: no I/O.

use airlock_core::api::CheckInResponse;
use airlock_core::decision::{check_offer, DeviceState};
use airlock_core::hold::overdue_security_release;
use airlock_core::release::Release;
use airlock_core::support::SupportRecord;

use crate::metadata::Verified;
use crate::refusal::{Refusal, Refused};

/// The signed end-of-support notice (from the support record, not from the server's words):
/// the same notice the server's decision gives ([`Notice::from_record`]).
pub use airlock_core::decision::EndOfSupport as Notice;

/// What the device makes of the server's answer.
#[derive(Debug, Clone)]
pub enum Verdict<'a> {
    /// Download and install this signed release.
    Install {
        release: &'a Release,
        urgent: bool,
        /// The server answered "up to date" although the verified metadata lists this security
        /// release, held back past its limit: the device installs it anyway and reports it.
        withheld: bool,
    },
    UpToDate,
    EndOfSupport(Notice),
    Refuse(Refused),
}

/// How far apart the server's and a device's clocks may be at the end of support.
pub const EOS_CLOCK_TOLERANCE: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Whether a server's end-of-support answer is consistent with the signed record, allowing
/// for clocks that differ by up to [`EOS_CLOCK_TOLERANCE`].
pub fn end_of_support_claim_plausible(support: &SupportRecord, now: jiff::Timestamp) -> bool {
    !support.security_window_open(now.checked_add(EOS_CLOCK_TOLERANCE).unwrap_or(now))
}

/// Judges the server's answer at `now` (the device's clock).
pub fn judge<'a>(
    device: &DeviceState,
    verified: &'a Verified,
    answer: &CheckInResponse,
    now: jiff::Timestamp,
) -> Verdict<'a> {
    let support = &verified.support;
    // Clocks differ: a server whose clock passed midnight of the last supported day a little
    // before this device's did tells the truth. Beyond this tolerance, an end-of-support claim
    // that the signed record contradicts is refused (a server hiding updates).
    match answer {
        CheckInResponse::UpToDate { .. } | CheckInResponse::EndOfSupport { .. }
            if !support.security_window_open(now) =>
        {
            Verdict::EndOfSupport(Notice::from_record(support))
        }
        CheckInResponse::EndOfSupport { .. } if end_of_support_claim_plausible(support, now) => {
            Verdict::EndOfSupport(Notice::from_record(support))
        }
        CheckInResponse::EndOfSupport {
            security_updates_until,
            ..
        } => Verdict::Refuse(Refused::new(
            Refusal::FalseEndOfSupport,
            format!(
                "the server claims support ended {security_updates_until}, but the signed support record says security updates until {}",
                support.security_updates_until
            ),
        )),
        // The device sends no policy of its own, so nothing it chose holds a release back: a
        // security release past its hold is withheld by the server or a man in the middle.
        CheckInResponse::UpToDate { .. } => {
            match overdue_security_release(device, &verified.releases, support, now) {
                Some(release) => Verdict::Install {
                    release,
                    urgent: device.security_version < support.min_security_version,
                    withheld: true,
                },
                None => Verdict::UpToDate,
            }
        }
        CheckInResponse::Update { urgent, target } => {
            // The offer must be a target the product role signed, exactly as signed.
            let Some(release) = verified.releases.iter().find(|r| r.name == target.name) else {
                return Verdict::Refuse(Refused::new(
                    Refusal::NotSigned,
                    format!(
                        "offered {} which the product's signed metadata does not list",
                        target.name
                    ),
                ));
            };
            if release.info.version.to_string() != target.version
                || release.info.security_version != target.security_version
                || release.length != target.length
                || target.hashes.get("sha256") != Some(&release.sha256)
            {
                return Verdict::Refuse(Refused::new(
                    Refusal::OfferMismatch,
                    format!(
                        "the offer for {} does not match its signed metadata",
                        target.name
                    ),
                ));
            }
            if let Err(e) = check_offer(device, release, support, now) {
                return Verdict::Refuse(Refused::new(
                    Refusal::from(&e),
                    format!("offer refused: {e}"),
                ));
            }
            Verdict::Install {
                release,
                urgent: *urgent,
                withheld: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_support_claims_tolerate_an_hour_of_clock_skew_only() {
        let record: SupportRecord = serde_json::from_value(serde_json::json!({
            "product": "cam",
            "support_start": "2021-01-01",
            "feature_updates_until": "2025-06-30",
            "security_updates_until": "2026-11-29",
            "min_security_version": 1,
            "statement": "s"
        }))
        .unwrap();
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        // the last supported day, 30 minutes before midnight: the server may be ahead
        assert!(end_of_support_claim_plausible(
            &record,
            t("2026-11-29T23:30:00Z")
        ));
        // the same day at noon: a server claiming the end hides updates
        assert!(!end_of_support_claim_plausible(
            &record,
            t("2026-11-29T12:00:00Z")
        ));
        assert!(!end_of_support_claim_plausible(
            &record,
            t("2026-06-01T00:00:00Z")
        ));
    }

    #[test]
    fn a_hidden_end_of_support_shows_the_signed_notice() {
        let support: SupportRecord = serde_json::from_value(serde_json::json!({
            "product": "cam",
            "support_start": "2021-01-01",
            "feature_updates_until": "2024-06-30",
            "security_updates_until": "2025-06-30",
            "min_security_version": 1,
            "statement": "ended"
        }))
        .unwrap();
        let verified = Verified {
            deltas: Vec::new(),
            releases: Vec::new(),
            support,
        };
        let device = DeviceState {
            product: "cam".into(),
            version: "1.0.0".parse().unwrap(),
            security_version: 1,
        };
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        let verdict = judge(
            &device,
            &verified,
            &CheckInResponse::UpToDate { deferred: None },
            now,
        );
        assert!(matches!(verdict, Verdict::EndOfSupport(n) if n.statement == "ended"));
    }

    fn release(v: &str, sv: u64, kind: &str, released: &str) -> Release {
        serde_json::from_value(serde_json::json!({
            "name": format!("cam/fw-{v}.bin"),
            "length": 10,
            "sha256": "ab".repeat(32),
            "product": "cam", "version": v, "security_version": sv, "kind": kind,
            "released": released
        }))
        .unwrap()
    }

    fn cam_support() -> SupportRecord {
        serde_json::from_value(serde_json::json!({
            "product": "cam",
            "support_start": "2025-01-01",
            "feature_updates_until": "2027-06-30",
            "security_updates_until": "2030-12-31",
            "min_security_version": 1,
            "statement": "s"
        }))
        .unwrap()
    }

    #[test]
    fn up_to_date_cannot_withhold_a_security_release_past_its_hold() {
        let verified = Verified {
            deltas: Vec::new(),
            releases: vec![
                release("1.1.0", 1, "security", "2026-09-01T00:00:00Z"),
                // held back by a staged rollout: feature releases may be
                release("1.2.0", 2, "feature", "2026-10-01T00:00:00Z"),
                // inside its hold: a staged rollout may still be running
                release("1.3.0", 2, "security", "2026-11-28T00:00:00Z"),
            ],
            support: cam_support(),
        };
        let device = DeviceState {
            product: "cam".into(),
            version: "1.0.0".parse().unwrap(),
            security_version: 1,
        };
        let up_to_date = CheckInResponse::UpToDate { deferred: None };
        let now = "2026-12-01T00:00:00Z".parse().unwrap();
        match judge(&device, &verified, &up_to_date, now) {
            Verdict::Install {
                release,
                urgent,
                withheld,
            } => {
                assert_eq!(release.name, "cam/fw-1.1.0.bin");
                assert!(withheld && !urgent);
            }
            other => panic!("{other:?}"),
        }
        // on 1.1.0 only the feature release and the one inside its hold are left
        let device = DeviceState {
            version: "1.1.0".parse().unwrap(),
            ..device
        };
        assert!(matches!(
            judge(&device, &verified, &up_to_date, now),
            Verdict::UpToDate
        ));
        // a week later the hold of 1.3.0 has run out too
        let later = "2026-12-05T00:00:00Z".parse().unwrap();
        assert!(matches!(
            judge(&device, &verified, &up_to_date, later),
            Verdict::Install { release, withheld: true, .. } if release.name == "cam/fw-1.3.0.bin"
        ));
    }
}
