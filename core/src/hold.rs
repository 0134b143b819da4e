//! How long a server may hold a signed security release back from a device.
//!
//! The check-in answer is not signed: a compromised server, or anyone on a plain-HTTP path,
//! can answer "up to date" although the device's own verified metadata lists a security
//! release it may install. A staged rollout holds releases back on purpose, and the device
//! cannot tell its wave from withholding, so a hold is bounded: a security release may be held
//! back for [`SECURITY_HOLD_LIMIT`] after its signed `released` time, no longer.
//!
//! - The device ([`overdue_security_release`] in `airlock-device`'s `offer::judge`) installs
//!   such a release from its own verified metadata when the server answers "up to date", and
//!   says so in its report.
//! - The server offers it whatever its rollouts say (`server/src/decide.rs`), so an honest
//!   server and the device agree: a paused or held rollout of a security release ends, for
//!   every device the release may be installed on, when the limit passes. A security release
//!   that must not reach devices is withdrawn (`airlock release withdraw --force`), which is
//!   signed.
//!
//! Feature releases may be held back without limit (a rollout, the device's policy): they fix
//! nothing a device is exposed to. Sunset images only matter after support ends, where the
//! device shows the signed end-of-support notice whatever the server says.

use crate::decision::{eligible, DeviceState};
use crate::release::{Release, ReleaseKind};
use crate::support::SupportRecord;

/// How long after its signed `released` time a security release may be held back: long enough
/// for a staged rollout (docs/operations.md: e.g. `1%@0h,10%@24h,50%@48h,100%@72h`) and a
/// pause to look at failures, short enough that a withheld fix still arrives within a week.
pub const SECURITY_HOLD_LIMIT: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

/// Whether the hold on `release` has run out at `now`: a security release signed as released
/// at least [`SECURITY_HOLD_LIMIT`] ago.
pub fn hold_expired(release: &Release, now: jiff::Timestamp) -> bool {
    release.info.kind == ReleaseKind::Security
        && release
            .info
            .released
            .checked_add(SECURITY_HOLD_LIMIT)
            .is_ok_and(|deadline| deadline <= now)
}

/// The newest security release that `device` may install at `now` (every rule of
/// [`eligible`]) and that no server may hold back any longer ([`hold_expired`]); `None` when
/// there is none. A server answering "up to date" while this is `Some` withholds it.
pub fn overdue_security_release<'a>(
    device: &DeviceState,
    releases: &'a [Release],
    support: &SupportRecord,
    now: jiff::Timestamp,
) -> Option<&'a Release> {
    releases
        .iter()
        .filter(|r| hold_expired(r, now))
        .filter(|r| eligible(device, r, support, now).is_ok())
        .max_by(|a, b| {
            (&a.info.version, a.info.security_version, &a.name).cmp(&(
                &b.info.version,
                b.info.security_version,
                &b.name,
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{decide, Decision};
    use crate::release::ReleaseInfo;
    use proptest::prelude::*;

    fn support() -> SupportRecord {
        serde_json::from_value(serde_json::json!({
            "product": "acme-cam",
            "support_start": "2025-01-01",
            "feature_updates_until": "2027-06-30",
            "security_updates_until": "2030-12-31",
            "min_security_version": 2,
            "statement": "s"
        }))
        .unwrap()
    }

    fn rel(v: &str, sv: u64, kind: ReleaseKind, released: &str) -> Release {
        Release {
            name: format!("acme-cam/fw-{v}.bin"),
            length: 10,
            sha256: "ab".repeat(32),
            info: ReleaseInfo {
                product: "acme-cam".into(),
                version: v.parse().unwrap(),
                security_version: sv,
                kind,
                requires: None,
                released: released.parse().unwrap(),
                advisories: Vec::new(),
            },
        }
    }

    fn dev(v: &str, sv: u64) -> DeviceState {
        DeviceState {
            product: "acme-cam".into(),
            version: v.parse().unwrap(),
            security_version: sv,
        }
    }

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_security_release_may_be_held_back_for_the_limit_only() {
        let r = rel("1.2.0", 3, ReleaseKind::Security, "2026-03-01T00:00:00Z");
        assert!(!hold_expired(&r, ts("2026-03-07T23:59:59Z")));
        assert!(hold_expired(&r, ts("2026-03-08T00:00:00Z")));
        let feature = rel("1.3.0", 3, ReleaseKind::Feature, "2026-03-01T00:00:00Z");
        assert!(!hold_expired(&feature, ts("2027-01-01T00:00:00Z")));
    }

    #[test]
    fn the_overdue_release_is_the_newest_eligible_security_release_past_its_hold() {
        let rs = [
            rel("1.1.0", 2, ReleaseKind::Security, "2026-01-01T00:00:00Z"),
            rel("1.2.0", 3, ReleaseKind::Security, "2026-02-01T00:00:00Z"),
            // a feature release held by a rollout: not withheld
            rel("1.3.0", 3, ReleaseKind::Feature, "2026-02-02T00:00:00Z"),
            // still inside its hold (a staged rollout may be running)
            rel("1.4.0", 4, ReleaseKind::Security, "2026-02-28T00:00:00Z"),
            // below the floor: never installable
            rel("1.5.0", 1, ReleaseKind::Security, "2026-01-01T00:00:00Z"),
        ];
        let now = ts("2026-03-01T00:00:00Z");
        let overdue = overdue_security_release(&dev("1.0.0", 2), &rs, &support(), now);
        assert_eq!(
            overdue.map(|r| r.info.version.to_string()).as_deref(),
            Some("1.2.0")
        );
        assert_eq!(
            overdue_security_release(&dev("1.2.0", 3), &rs, &support(), now),
            None
        );
        // after the security window nothing is overdue (the end-of-support notice applies)
        assert_eq!(
            overdue_security_release(
                &dev("1.0.0", 2),
                &rs,
                &support(),
                ts("2031-06-01T00:00:00Z")
            ),
            None
        );
    }

    proptest! {
        /// A server that lets overdue security releases through its rollouts (as
        /// server/src/decide.rs does) never answers "up to date" while one exists, whatever
        /// its rollouts hold back, so an honest server never looks like one withholding.
        #[test]
        fn an_honest_server_never_withholds_an_overdue_release(
            installed in 0u64..6,
            installed_sv in 0u64..5,
            specs in proptest::collection::vec((0u64..8, 0u64..6, 0u8..3, 0i64..60, any::<bool>()), 0..8),
            day in 0i64..80,
        ) {
            let kinds = [ReleaseKind::Security, ReleaseKind::Feature, ReleaseKind::Sunset];
            let base = ts("2026-01-01T00:00:00Z");
            let releases: Vec<Release> = specs
                .iter()
                .map(|(minor, sv, kind, released_day, _)| {
                    let released = base + jiff::SignedDuration::from_hours(released_day * 24);
                    rel(&format!("1.{minor}.0"), *sv, kinds[*kind as usize], &released.to_string())
                })
                .collect();
            let held: Vec<bool> = specs.iter().map(|s| s.4).collect();
            let now = base + jiff::SignedDuration::from_hours(day * 24);
            let device = dev(&format!("1.{installed}.0"), installed_sv);
            let decision = decide(&device, &releases, &support(), now, |r| {
                let i = releases.iter().position(|x| x.name == r.name).unwrap();
                !held[i] || hold_expired(r, now)
            });
            if overdue_security_release(&device, &releases, &support(), now).is_some() {
                prop_assert!(matches!(decision, Decision::Update { .. }), "{decision:?}");
            }
        }
    }
}
