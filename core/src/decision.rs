//! The update decision (DESIGN.md, "The decision").
//!
//! [`decide`] is what the server offers a device; [`check_offer`] is what the device runs on its
//! own verified metadata before installing. Both use [`eligible`], so the two can never
//! disagree about what a device may install: every offer `decide` makes passes `check_offer`
//! (property-tested below).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::release::{Release, ReleaseKind};
use crate::support::{KindClosed, SupportRecord};

/// What a device says it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    pub product: String,
    pub version: semver::Version,
    pub security_version: u64,
}

/// The end-of-support notice a device receives once its security window has closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndOfSupport {
    pub statement: String,
    pub successor: Option<String>,
    pub notice_url: Option<String>,
    pub security_updates_until: jiff::civil::Date,
}

impl EndOfSupport {
    pub fn from_record(record: &SupportRecord) -> Self {
        EndOfSupport {
            statement: record.statement.clone(),
            successor: record.successor.clone(),
            notice_url: record.notice_url.clone(),
            security_updates_until: record.security_updates_until,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Install this release; `urgent` when the device runs below the security floor.
    Update {
        release: Release,
        urgent: bool,
    },
    UpToDate,
    EndOfSupport(EndOfSupport),
}

/// Why a release may not be installed on a device. The device refuses an offer for any of these.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum OfferRefused {
    #[error("{name} is for product {offered:?}, the device is a {device:?}")]
    WrongProduct {
        name: String,
        offered: String,
        device: String,
    },
    #[error("{name} has version {offered}, not newer than the installed {installed} (rollback)")]
    NotNewer {
        name: String,
        offered: semver::Version,
        installed: semver::Version,
    },
    #[error(
        "{name} has security_version {offered}, lower than the installed {installed} (rollback)"
    )]
    SecurityVersionLower {
        name: String,
        offered: u64,
        installed: u64,
    },
    #[error("{name} has security_version {offered}, below the product's floor {floor} (revoked as vulnerable)")]
    BelowFloor {
        name: String,
        offered: u64,
        floor: u64,
    },
    #[error("{name} requires version {requires} or later to be installed first; the device runs {installed}")]
    RequiresNotMet {
        name: String,
        requires: semver::Version,
        installed: semver::Version,
    },
    #[error("{name} is a feature release, but feature updates ended {until}")]
    FeatureWindowClosed {
        name: String,
        until: jiff::civil::Date,
    },
    #[error("{name} is a {kind} release, but security support ended {until}: only a sunset image may be installed")]
    SecurityWindowClosed {
        name: String,
        kind: ReleaseKind,
        until: jiff::civil::Date,
    },
}

/// Steps 1 and 2 of the decision for one release: may `release` be installed on `device` at
/// `now` under `support`?
pub fn eligible(
    device: &DeviceState,
    release: &Release,
    support: &SupportRecord,
    now: jiff::Timestamp,
) -> Result<(), OfferRefused> {
    let info = &release.info;
    let name = || release.name.clone();
    if info.product != device.product || support.product != device.product {
        return Err(OfferRefused::WrongProduct {
            name: name(),
            offered: info.product.clone(),
            device: device.product.clone(),
        });
    }
    if info.version <= device.version {
        return Err(OfferRefused::NotNewer {
            name: name(),
            offered: info.version.clone(),
            installed: device.version.clone(),
        });
    }
    if info.security_version < device.security_version {
        return Err(OfferRefused::SecurityVersionLower {
            name: name(),
            offered: info.security_version,
            installed: device.security_version,
        });
    }
    if info.security_version < support.min_security_version {
        return Err(OfferRefused::BelowFloor {
            name: name(),
            offered: info.security_version,
            floor: support.min_security_version,
        });
    }
    if let Some(requires) = &info.requires {
        if device.version < *requires {
            return Err(OfferRefused::RequiresNotMet {
                name: name(),
                requires: requires.clone(),
                installed: device.version.clone(),
            });
        }
    }
    match support.kind_allowed(info.kind, now) {
        Ok(()) => Ok(()),
        Err(KindClosed::FeatureWindow { until }) => Err(OfferRefused::FeatureWindowClosed {
            name: name(),
            until,
        }),
        Err(KindClosed::SecurityWindow { until }) => Err(OfferRefused::SecurityWindowClosed {
            name: name(),
            kind: info.kind,
            until,
        }),
    }
}

/// The device's check of an offer against its own verified metadata.
pub fn check_offer(
    device: &DeviceState,
    offered: &Release,
    support: &SupportRecord,
    now: jiff::Timestamp,
) -> Result<(), OfferRefused> {
    eligible(device, offered, support, now)
}

/// The decision. `released_to_device` says whether the device's rollout has reached a release
/// (step 3); pass `|_| true` when no staged rollout applies.
pub fn decide(
    device: &DeviceState,
    releases: &[Release],
    support: &SupportRecord,
    now: jiff::Timestamp,
    released_to_device: impl Fn(&Release) -> bool,
) -> Decision {
    let best = releases
        .iter()
        .filter(|r| eligible(device, r, support, now).is_ok())
        .filter(|r| released_to_device(r))
        .max_by(|a, b| {
            (&a.info.version, a.info.security_version, &a.name).cmp(&(
                &b.info.version,
                b.info.security_version,
                &b.name,
            ))
        });
    match best {
        Some(release) => Decision::Update {
            release: release.clone(),
            urgent: device.security_version < support.min_security_version,
        },
        None if !support.security_window_open(now) => {
            Decision::EndOfSupport(EndOfSupport::from_record(support))
        }
        None => Decision::UpToDate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::ReleaseInfo;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn support() -> SupportRecord {
        SupportRecord {
            product: "acme-cam".into(),
            support_start: date(2025, 1, 1),
            feature_updates_until: date(2027, 6, 30),
            security_updates_until: date(2030, 12, 31),
            min_security_version: 2,
            successor: Some("acme-cam-2".into()),
            notice_url: Some("https://acme.example/eol".into()),
            statement: "Support ended.".into(),
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

    fn rel(v: &str, sv: u64, kind: ReleaseKind) -> Release {
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
                released: "2026-01-01T00:00:00Z".parse().unwrap(),
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

    const IN_FEATURE: &str = "2026-06-01T00:00:00Z";
    const IN_SECURITY: &str = "2028-06-01T00:00:00Z";
    const AFTER: &str = "2031-02-01T00:00:00Z";

    #[test]
    fn offers_newest_eligible() {
        let rs = [
            rel("1.1.0", 2, ReleaseKind::Feature),
            rel("1.2.0", 3, ReleaseKind::Security),
        ];
        match decide(&dev("1.0.0", 2), &rs, &support(), ts(IN_FEATURE), |_| true) {
            Decision::Update { release, urgent } => {
                assert_eq!(release.info.version.to_string(), "1.2.0");
                assert!(!urgent);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn never_offers_older_or_same_version() {
        let rs = [
            rel("1.0.0", 3, ReleaseKind::Security),
            rel("0.9.0", 4, ReleaseKind::Security),
        ];
        assert_eq!(
            decide(&dev("1.0.0", 2), &rs, &support(), ts(IN_FEATURE), |_| true),
            Decision::UpToDate
        );
    }

    #[test]
    fn never_offers_lower_security_version() {
        let rs = [rel("2.0.0", 2, ReleaseKind::Security)];
        assert_eq!(
            decide(&dev("1.0.0", 3), &rs, &support(), ts(IN_FEATURE), |_| true),
            Decision::UpToDate
        );
        assert!(matches!(
            check_offer(&dev("1.0.0", 3), &rs[0], &support(), ts(IN_FEATURE)),
            Err(OfferRefused::SecurityVersionLower { .. })
        ));
    }

    #[test]
    fn never_offers_below_floor_and_below_floor_is_urgent() {
        let rs = [
            rel("1.1.0", 1, ReleaseKind::Security),
            rel("1.2.0", 2, ReleaseKind::Security),
        ];
        match decide(&dev("1.0.0", 1), &rs, &support(), ts(IN_FEATURE), |_| true) {
            Decision::Update { release, urgent } => {
                assert_eq!(release.info.version.to_string(), "1.2.0");
                assert!(urgent);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_offer(&dev("1.0.0", 1), &rs[0], &support(), ts(IN_FEATURE)),
            Err(OfferRefused::BelowFloor { .. })
        ));
    }

    #[test]
    fn requires_is_respected() {
        let mut r = rel("2.0.0", 3, ReleaseKind::Security);
        r.info.requires = Some("1.5.0".parse().unwrap());
        let stepping = rel("1.5.0", 3, ReleaseKind::Security);
        let rs = [r.clone(), stepping];
        match decide(&dev("1.0.0", 2), &rs, &support(), ts(IN_FEATURE), |_| true) {
            Decision::Update { release, .. } => {
                assert_eq!(release.info.version.to_string(), "1.5.0")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_offer(&dev("1.0.0", 2), &r, &support(), ts(IN_FEATURE)),
            Err(OfferRefused::RequiresNotMet { .. })
        ));
    }

    #[test]
    fn only_security_after_feature_window() {
        let rs = [
            rel("1.3.0", 3, ReleaseKind::Feature),
            rel("1.2.0", 3, ReleaseKind::Security),
        ];
        match decide(&dev("1.0.0", 2), &rs, &support(), ts(IN_SECURITY), |_| true) {
            Decision::Update { release, .. } => {
                assert_eq!(release.info.kind, ReleaseKind::Security)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_sunset_or_end_of_support_after_security_window() {
        let rs = [rel("1.3.0", 3, ReleaseKind::Security)];
        match decide(&dev("1.0.0", 2), &rs, &support(), ts(AFTER), |_| true) {
            Decision::EndOfSupport(n) => {
                assert_eq!(n.security_updates_until, date(2030, 12, 31));
                assert_eq!(n.successor.as_deref(), Some("acme-cam-2"));
            }
            other => panic!("{other:?}"),
        }
        let rs = [
            rel("1.3.0", 3, ReleaseKind::Security),
            rel("1.4.0", 3, ReleaseKind::Sunset),
        ];
        match decide(&dev("1.0.0", 2), &rs, &support(), ts(AFTER), |_| true) {
            Decision::Update { release, .. } => assert_eq!(release.info.kind, ReleaseKind::Sunset),
            other => panic!("{other:?}"),
        }
        // once the sunset image is installed, the notice
        assert!(matches!(
            decide(&dev("1.4.0", 3), &rs, &support(), ts(AFTER), |_| true),
            Decision::EndOfSupport(_)
        ));
    }

    #[test]
    fn rollout_gate_holds_back_unreleased() {
        let rs = [
            rel("1.1.0", 2, ReleaseKind::Security),
            rel("1.2.0", 3, ReleaseKind::Security),
        ];
        match decide(&dev("1.0.0", 2), &rs, &support(), ts(IN_FEATURE), |r| {
            r.info.version.minor < 2
        }) {
            Decision::Update { release, .. } => {
                assert_eq!(release.info.version.to_string(), "1.1.0")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_products_image_is_refused() {
        let mut r = rel("9.0.0", 9, ReleaseKind::Security);
        r.info.product = "other".into();
        assert!(matches!(
            check_offer(&dev("1.0.0", 2), &r, &support(), ts(IN_FEATURE)),
            Err(OfferRefused::WrongProduct { .. })
        ));
        assert_eq!(
            decide(&dev("1.0.0", 2), &[r], &support(), ts(IN_FEATURE), |_| true),
            Decision::UpToDate
        );
    }

    fn arb_kind() -> impl Strategy<Value = ReleaseKind> {
        prop_oneof![
            Just(ReleaseKind::Security),
            Just(ReleaseKind::Feature),
            Just(ReleaseKind::Sunset)
        ]
    }

    prop_compose! {
        fn arb_release()(major in 0u64..4, minor in 0u64..4, sv in 0u64..6, kind in arb_kind(),
                         req in proptest::option::of((0u64..4, 0u64..4))) -> Release {
            let mut r = rel(&format!("{major}.{minor}.0"), sv, kind);
            r.info.requires = req.map(|(a, b)| semver::Version::new(a, b, 0));
            r
        }
    }

    proptest! {
        /// The server's offer and the device's check always agree, and no offer is ever older,
        /// lower in security_version, below the floor, or of a kind the window has closed.
        #[test]
        fn server_offer_and_device_check_agree(
            releases in proptest::collection::vec(arb_release(), 0..8),
            major in 0u64..4, minor in 0u64..4, sv in 0u64..6, floor in 0u64..5,
            day in 0i64..(365 * 8),
            gate_mask in any::<u8>(),
        ) {
            let mut s = support();
            s.min_security_version = floor;
            let device = dev(&format!("{major}.{minor}.0"), sv);
            let now = ts("2025-01-01T00:00:00Z").checked_add(jiff::Span::new().hours(day * 24)).unwrap();
            let gate = |r: &Release| (gate_mask >> (r.info.version.minor % 8)) & 1 == 1;
            match decide(&device, &releases, &s, now, gate) {
                Decision::Update { release, urgent } => {
                    prop_assert!(check_offer(&device, &release, &s, now).is_ok());
                    prop_assert!(release.info.version > device.version);
                    prop_assert!(release.info.security_version >= device.security_version);
                    prop_assert!(release.info.security_version >= s.min_security_version);
                    prop_assert_eq!(urgent, device.security_version < s.min_security_version);
                    if !s.feature_window_open(now) { prop_assert!(release.info.kind != ReleaseKind::Feature); }
                    if !s.security_window_open(now) { prop_assert_eq!(release.info.kind, ReleaseKind::Sunset); }
                    // it is the newest eligible release the gate lets through
                    for r in releases.iter().filter(|r| gate(r) && check_offer(&device, r, &s, now).is_ok()) {
                        prop_assert!(r.info.version <= release.info.version);
                    }
                }
                Decision::UpToDate => {
                    prop_assert!(s.security_window_open(now));
                    prop_assert!(releases.iter().all(|r| !gate(r) || check_offer(&device, r, &s, now).is_err()));
                }
                Decision::EndOfSupport(_) => {
                    prop_assert!(!s.security_window_open(now));
                    prop_assert!(releases.iter().all(|r| !gate(r) || check_offer(&device, r, &s, now).is_err()));
                }
            }
        }
    }
}

/// What a device (or its owner) chose about updates (CRA Annex I: automatic security updates by
/// default, with an opt-out; feature updates separable from security updates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DevicePolicy {
    #[serde(default)]
    pub security_updates: SecurityUpdates,
    /// With `security_updates: postponed`: the last day security updates are held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub postpone_until: Option<jiff::civil::Date>,
    /// `false` declines feature releases; security releases keep coming.
    #[serde(default = "default_true")]
    pub feature_updates: bool,
    /// `true`: the device wants full images only, never a delta (docs/deltas.md), e.g. when it
    /// lacks the memory to rebuild one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_images: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SecurityUpdates {
    #[default]
    Automatic,
    Postponed,
    OptOut,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("security_updates: postponed needs postpone_until (a date)")]
    NoPostponeDate,
    #[error("security updates may be postponed at most {max_days} days (until {latest}), not until {asked}")]
    PostponedTooLong {
        max_days: i64,
        latest: jiff::civil::Date,
        asked: jiff::civil::Date,
    },
}

impl DevicePolicy {
    /// The default policy: everything automatic.
    pub fn automatic() -> Self {
        DevicePolicy {
            security_updates: SecurityUpdates::Automatic,
            postpone_until: None,
            feature_updates: true,
            full_images: false,
        }
    }

    /// Checks the postponement bound (`max_days` from `now`).
    pub fn validate(&self, now: jiff::Timestamp, max_days: i64) -> Result<(), PolicyError> {
        if self.security_updates == SecurityUpdates::Postponed {
            let asked = self.postpone_until.ok_or(PolicyError::NoPostponeDate)?;
            let today = crate::support::utc_date(now);
            // `max_days` is the operator's (--max-postpone-days): a bound past the last date
            // jiff can name (or past what a Span holds) is no bound; `Span::days` would panic.
            let latest = jiff::Span::new()
                .try_days(max_days)
                .ok()
                .and_then(|span| today.checked_add(span).ok())
                .unwrap_or(if max_days > 0 {
                    jiff::civil::Date::MAX
                } else {
                    today
                });
            if asked > latest {
                return Err(PolicyError::PostponedTooLong {
                    max_days,
                    latest,
                    asked,
                });
            }
        }
        Ok(())
    }

    /// Whether a release of `kind` may be offered now under this policy.
    pub fn allows(&self, kind: ReleaseKind, now: jiff::Timestamp) -> bool {
        match kind {
            ReleaseKind::Feature => self.feature_updates,
            ReleaseKind::Security | ReleaseKind::Sunset => match self.security_updates {
                SecurityUpdates::Automatic => true,
                SecurityUpdates::OptOut => false,
                SecurityUpdates::Postponed => self
                    .postpone_until
                    .is_none_or(|until| crate::support::utc_date(now) > until),
            },
        }
    }
}

/// An update held back by the device's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deferred {
    pub version: String,
    pub kind: ReleaseKind,
    pub urgent: bool,
    pub reason: String,
}

/// The decision under a device policy: what [`decide`] offers among the releases the policy
/// allows, and, when that is not an update, the update the policy held back (if any).
pub fn decide_with_policy(
    device: &DeviceState,
    releases: &[Release],
    support: &SupportRecord,
    now: jiff::Timestamp,
    released_to_device: impl Fn(&Release) -> bool,
    policy: &DevicePolicy,
) -> (Decision, Option<Deferred>) {
    let chosen = decide(device, releases, support, now, |r| {
        released_to_device(r) && policy.allows(r.info.kind, now)
    });
    if matches!(chosen, Decision::Update { .. }) {
        return (chosen, None);
    }
    // What is held back: first an update the security choice holds (with the feature choice
    // applied), then one that only the feature choice holds.
    let security_held = decide(device, releases, support, now, |r| {
        released_to_device(r) && (r.info.kind != ReleaseKind::Feature || policy.feature_updates)
    });
    let held = match security_held {
        Decision::Update { .. } => security_held,
        _ => decide(device, releases, support, now, &released_to_device),
    };
    let deferred = match held {
        Decision::Update { release, urgent } => Some(Deferred {
            version: release.info.version.to_string(),
            kind: release.info.kind,
            urgent,
            reason: match (release.info.kind, policy.security_updates) {
                (ReleaseKind::Feature, _) => "feature updates declined".to_string(),
                (_, SecurityUpdates::OptOut) => "automatic security updates turned off".to_string(),
                (_, _) => format!(
                    "security updates postponed until {}",
                    policy
                        .postpone_until
                        .map(|d| d.to_string())
                        .unwrap_or_default()
                ),
            },
        }),
        _ => None,
    };
    (chosen, deferred)
}

#[cfg(test)]
mod policy_tests {
    use super::*;
    use crate::release::ReleaseInfo;
    use proptest::prelude::*;

    fn support() -> SupportRecord {
        SupportRecord {
            product: "acme-cam".into(),
            support_start: jiff::civil::date(2025, 1, 1),
            feature_updates_until: jiff::civil::date(2029, 6, 30),
            security_updates_until: jiff::civil::date(2032, 12, 31),
            min_security_version: 0,
            successor: None,
            notice_url: None,
            statement: "s".into(),
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

    fn rel(minor: u64, kind: ReleaseKind) -> Release {
        Release {
            name: format!("acme-cam/fw-1.{minor}.0.bin"),
            length: 1,
            sha256: "00".repeat(32),
            info: ReleaseInfo {
                product: "acme-cam".into(),
                version: semver::Version::new(1, minor, 0),
                security_version: 1,
                kind,
                requires: None,
                released: "2026-01-01T00:00:00Z".parse().unwrap(),
                advisories: Vec::new(),
            },
        }
    }

    fn dev() -> DeviceState {
        DeviceState {
            product: "acme-cam".into(),
            version: semver::Version::new(1, 0, 0),
            security_version: 1,
        }
    }

    fn now() -> jiff::Timestamp {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_postponement_bound_past_the_calendar_is_no_bound() {
        let policy = |until| DevicePolicy {
            security_updates: SecurityUpdates::Postponed,
            postpone_until: Some(until),
            feature_updates: true,
            full_images: false,
        };
        let far = policy(jiff::civil::Date::MAX);
        // past Span's range (it would panic) and inside it but past 9999-12-31
        for max_days in [i64::MAX, 7_000_000] {
            assert_eq!(far.validate(now(), max_days), Ok(()), "{max_days}");
        }
        assert!(matches!(
            far.validate(now(), 30),
            Err(PolicyError::PostponedTooLong { .. })
        ));
        let tomorrow = policy(jiff::civil::date(2026, 6, 2));
        for max_days in [0, -1, i64::MIN] {
            assert!(
                tomorrow.validate(now(), max_days).is_err(),
                "{max_days}: no postponement"
            );
        }
    }

    proptest! {
        /// Whatever bound the operator sets and whatever date a device asks for: an answer,
        /// never a panic.
        #[test]
        fn any_postponement_bound_answers(max_days in any::<i64>(), days in -5000i32..3_000_000) {
            let asked = jiff::civil::date(2026, 6, 1)
                .checked_add(jiff::Span::new().days(days))
                .unwrap_or(jiff::civil::Date::MAX);
            let policy = DevicePolicy {
                security_updates: SecurityUpdates::Postponed,
                postpone_until: Some(asked),
                feature_updates: true,
                full_images: false,
            };
            let _ = policy.validate(now(), max_days);
        }
    }

    #[test]
    fn declining_features_keeps_security_updates() {
        let rs = [rel(1, ReleaseKind::Security), rel(2, ReleaseKind::Feature)];
        let policy = DevicePolicy {
            feature_updates: false,
            ..DevicePolicy::automatic()
        };
        let (d, _) = decide_with_policy(&dev(), &rs, &support(), now(), |_| true, &policy);
        match d {
            Decision::Update { release, .. } => {
                assert_eq!(release.info.kind, ReleaseKind::Security)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn postponed_and_opted_out_security_updates_are_deferred() {
        let rs = [rel(1, ReleaseKind::Security)];
        let postponed = DevicePolicy {
            security_updates: SecurityUpdates::Postponed,
            postpone_until: Some(jiff::civil::date(2026, 6, 10)),
            feature_updates: true,
            full_images: false,
        };
        let (d, deferred) =
            decide_with_policy(&dev(), &rs, &support(), now(), |_| true, &postponed);
        assert_eq!(d, Decision::UpToDate);
        assert!(deferred.unwrap().reason.contains("2026-06-10"));
        // after the date it comes
        let later: jiff::Timestamp = "2026-06-11T00:00:00Z".parse().unwrap();
        let (d, _) = decide_with_policy(&dev(), &rs, &support(), later, |_| true, &postponed);
        assert!(matches!(d, Decision::Update { .. }));
        let opt_out = DevicePolicy {
            security_updates: SecurityUpdates::OptOut,
            ..DevicePolicy::automatic()
        };
        let (d, deferred) = decide_with_policy(&dev(), &rs, &support(), later, |_| true, &opt_out);
        assert_eq!(d, Decision::UpToDate);
        assert_eq!(
            deferred.unwrap().reason,
            "automatic security updates turned off"
        );
    }

    #[test]
    fn postponement_is_bounded() {
        let p = DevicePolicy {
            security_updates: SecurityUpdates::Postponed,
            postpone_until: Some(jiff::civil::date(2026, 7, 2)),
            feature_updates: true,
            full_images: false,
        };
        assert!(matches!(
            p.validate(now(), 30),
            Err(PolicyError::PostponedTooLong { .. })
        ));
        assert!(p.validate(now(), 31).is_ok());
        let no_date = DevicePolicy {
            security_updates: SecurityUpdates::Postponed,
            ..DevicePolicy::automatic()
        };
        assert_eq!(
            no_date.validate(now(), 30),
            Err(PolicyError::NoPostponeDate)
        );
    }

    proptest! {
        /// A policy never lets through a kind it declines, and declining feature updates never
        /// costs a security update the device would otherwise get.
        #[test]
        fn policy_is_respected(kinds in proptest::collection::vec(0u8..3, 0..6), features in any::<bool>(), sec in 0u8..3) {
            let rs: Vec<Release> = kinds.iter().enumerate().map(|(i, k)| rel(i as u64 + 1, match k {
                0 => ReleaseKind::Security, 1 => ReleaseKind::Feature, _ => ReleaseKind::Sunset })).collect();
            let policy = DevicePolicy {
                security_updates: match sec { 0 => SecurityUpdates::Automatic, 1 => SecurityUpdates::OptOut,
                    _ => SecurityUpdates::Postponed },
                postpone_until: Some(jiff::civil::date(2026, 6, 20)),
                feature_updates: features,
                full_images: false,
            };
            let (d, deferred) = decide_with_policy(&dev(), &rs, &support(), now(), |_| true, &policy);
            if let Decision::Update { release, .. } = &d {
                prop_assert!(policy.allows(release.info.kind, now()));
                prop_assert!(deferred.is_none());
            }
            if policy.security_updates == SecurityUpdates::Automatic
                && rs.iter().any(|r| r.info.kind != ReleaseKind::Feature)
            {
                prop_assert!(matches!(d, Decision::Update { .. }), "security updates keep coming");
            }
        }
    }
}
