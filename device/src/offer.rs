//! The re-check of the server's answer against the device's own verified metadata, with the
//! same rules the server used (`airlock_core::decision::check_offer`): an offer must be a
//! target the product role signed, exactly as signed, and allowed by the signed support record;
//! "up to date" and "end of support" must agree with that record. Pure: no I/O.

use airlock_core::api::CheckInResponse;
use airlock_core::decision::{check_offer, DeviceState};
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
        CheckInResponse::UpToDate { .. } => Verdict::UpToDate,
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
}
