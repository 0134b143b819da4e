//! The drills as data: what each simulates, what the attacker does, the device it matters to
//! in the lab, and the refusal kinds that show the right check fired.

use anyhow::{bail, Result};

use airlock_core::decision::OfferRefused;
use airlock_core::release::Release;
use airlock_device::{MetadataRole, Refusal};

use super::DeviceSpec;
use crate::lab::{CAM, DOORBELL, HUB, PLUG};

/// What a drill must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The device refuses, with the drill's specific reason.
    Refused,
    /// The device shows the signed end-of-support notice.
    NoticeShown,
    /// The device installs, from its own verified metadata, the security release the server
    /// withheld.
    InstalledWithheld,
    /// The device refuses the delta and installs nothing rebuilt from it: it falls back to the
    /// full image where that is intact, and installs nothing where the full image is bad too.
    DeltaRefused,
}

impl Expected {
    pub fn as_str(self) -> &'static str {
        match self {
            Expected::Refused => "refused",
            Expected::NoticeShown => "notice shown",
            Expected::InstalledWithheld => "installed withheld",
            Expected::DeltaRefused => "delta refused",
        }
    }
}

/// A metadata file an attacker serves an older version of under the current name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    Snapshot,
    Targets,
    ProductRole,
}

/// Which release a check-in drill offers, given what `eligible` says about it.
pub type Want = fn(&Release, &Result<(), OfferRefused>) -> bool;

/// What the attacker does (the proxy's tamper, prepared from what the repository serves).
#[derive(Debug, Clone, Copy)]
pub enum Attack {
    /// Offers an installable image and replaces its bytes in transit.
    ReplaceImage,
    /// Replays an older timestamp after the device saw the current one.
    ReplayOlderTimestamp,
    /// Serves an older version of the file under the current name, after an honest refresh.
    ServeOlder(Metadata),
    /// Keeps serving the current timestamp while the device's clock runs past its expiry.
    Freeze,
    /// Endless responses for timestamp.json and for the image.
    Endless,
    /// An older timestamp and snapshot with newer targets / product role.
    MixAndMatch,
    /// Flips a byte of timestamp.json's signature.
    FlipTimestampSignature,
    /// Removes the product role's signatures.
    DropProductSignatures,
    /// Re-signs the product role with a key a newer delegation revoked (lab only).
    RevokedKey,
    /// A compromised server offers a signed release that the rule `want` refuses, from the
    /// device's own product or (`other_products`) from the others.
    Offer {
        other_products: bool,
        want: Want,
        missing: &'static str,
    },
    /// A compromised server answers up_to_date although support ended.
    HideEndOfSupport,
    /// A compromised server answers up_to_date although the signed metadata lists a security
    /// release the device may install, held back past its limit.
    WithholdSecurityRelease,
    /// A device runs a signed release and is offered a newer one with a delta that the
    /// attacker spoils (docs/deltas.md; [`super::deltas`]).
    Delta(DeltaAttack),
}

/// How the delta drills spoil the delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaAttack {
    /// One byte of the delta flipped in transit; then the full image's too.
    Altered,
    /// The check-in offers a signed delta whose source is another image than the device's.
    OtherSource,
    /// The check-in offers, with the release, a signed delta from the device's image that
    /// rebuilds another release.
    OtherImage,
    /// An endless response for the delta; a decompression bomb of the delta's signed length;
    /// then endless responses for the delta and the full image.
    Endless,
}

/// One drill: what it simulates, what must happen, and which check must be the one that fires.
#[derive(Debug, Clone, Copy)]
pub struct DrillSpec {
    pub name: &'static str,
    pub simulates: &'static str,
    pub expected: Expected,
    /// The check that must refuse it.
    pub check: &'static str,
    /// The refusal must be one of these kinds (the check above firing, not another failure).
    pub refusals: &'static [Refusal],
    pub attack: Attack,
    /// The device the drill uses in the lab: (product, version, security_version).
    pub lab_device: (&'static str, &'static str, u64),
}

impl DrillSpec {
    /// Whether a refusal is the one this drill expects (and not some other failure).
    pub fn accepts(&self, kind: Refusal) -> bool {
        self.refusals.contains(&kind)
    }
}

/// Metadata attacks use an up-to-date camera, so nothing would be installed anyway and only
/// the TUF checks are exercised.
const UP_TO_DATE_CAM: (&str, &str, u64) = (CAM, "1.2.0", 3);
const OLD_CAM: (&str, &str, u64) = (CAM, "1.0.0", 1);
const OLD_HUB: (&str, &str, u64) = (HUB, "1.0.0", 1);
const DOORBELL_3: (&str, &str, u64) = (DOORBELL, "3.0.0", 5);
/// Delta drills first install a delta's source (acme-plug 1.0.0), so the device starts below it.
const PLUG_BEFORE_DELTAS: (&str, &str, u64) = (PLUG, "0.9.0", 1);

const fn delta(
    name: &'static str,
    simulates: &'static str,
    check: &'static str,
    attack: DeltaAttack,
) -> DrillSpec {
    DrillSpec {
        name,
        simulates,
        expected: Expected::DeltaRefused,
        check,
        // where the full image is spoiled too: what refuses it
        refusals: &[Refusal::HashMismatch, Refusal::LengthMismatch],
        attack: Attack::Delta(attack),
        lab_device: PLUG_BEFORE_DELTAS,
    }
}

const fn refused(
    name: &'static str,
    simulates: &'static str,
    check: &'static str,
    refusals: &'static [Refusal],
    attack: Attack,
    lab_device: (&'static str, &'static str, u64),
) -> DrillSpec {
    DrillSpec {
        name,
        simulates,
        expected: Expected::Refused,
        check,
        refusals,
        attack,
        lab_device,
    }
}

const fn offer(
    name: &'static str,
    simulates: &'static str,
    check: &'static str,
    refusal: &'static [Refusal],
    want: Want,
    missing: &'static str,
    lab_device: (&'static str, &'static str, u64),
) -> DrillSpec {
    refused(
        name,
        simulates,
        check,
        refusal,
        Attack::Offer {
            other_products: false,
            want,
            missing,
        },
        lab_device,
    )
}

/// Every drill, in the order they run.
pub const DRILLS: &[DrillSpec] = &[
    refused(
        "arbitrary-software",
        "the image bytes are replaced in transit (same length)",
        "device::download: sha256 of the image against the product role's signed hash (TUF 5.7.3), before anything is installed",
        &[Refusal::HashMismatch],
        Attack::ReplaceImage,
        OLD_CAM,
    ),
    refused(
        "rollback-timestamp",
        "an older, validly signed timestamp is replayed to a device that knows a newer one",
        "tough: timestamp version not lower than the trusted one (TUF 5.4.3.1)",
        &[Refusal::RolledBackMetadata],
        Attack::ReplayOlderTimestamp,
        UP_TO_DATE_CAM,
    ),
    refused(
        "rollback-snapshot",
        "an older, validly signed snapshot is served under the newer snapshot's name",
        "tough: the timestamp pins the snapshot's length and sha256 (TUF 5.5.2)",
        &[
            Refusal::MetadataHashMismatch {
                role: MetadataRole::Snapshot,
            },
            Refusal::MetadataTooLarge,
        ],
        Attack::ServeOlder(Metadata::Snapshot),
        UP_TO_DATE_CAM,
    ),
    refused(
        "rollback-targets",
        "an older, validly signed targets.json is served under the newer name",
        "tough: targets version must equal the snapshot's (TUF 5.6.4)",
        &[Refusal::VersionMismatch],
        Attack::ServeOlder(Metadata::Targets),
        UP_TO_DATE_CAM,
    ),
    refused(
        "rollback-product-role",
        "an older, validly signed product role is served under the newer name",
        "tough: delegated role version must equal the snapshot's (TUF 5.6.4 via 5.6.7)",
        &[Refusal::VersionMismatch, Refusal::BadSignature],
        Attack::ServeOlder(Metadata::ProductRole),
        (HUB, "2.2.0", 3),
    ),
    refused(
        "indefinite-freeze",
        "the attacker keeps serving the same metadata after it expired (device clock past the timestamp's expiry)",
        "device::refresh: no verified metadata may have expired by the device's clock (TUF 5.4.4); tough checks the system clock the same way",
        &[Refusal::ExpiredMetadata],
        Attack::Freeze,
        UP_TO_DATE_CAM,
    ),
    refused(
        "endless-data",
        "an endless response for timestamp.json and for the image",
        "tough: 1 MiB limit for timestamp.json; device::download: the signed length for the image (TUF 5.4.1, 5.7.3)",
        &[Refusal::MetadataTooLarge, Refusal::LengthMismatch],
        Attack::Endless,
        OLD_CAM,
    ),
    refused(
        "mix-and-match",
        "an older timestamp and snapshot combined with newer targets / product role metadata",
        "tough: each role's version must equal the one the snapshot lists (TUF 5.6.4)",
        &[Refusal::VersionMismatch],
        Attack::MixAndMatch,
        UP_TO_DATE_CAM,
    ),
    refused(
        "wrong-signature",
        "one byte of timestamp.json's signature is flipped",
        "tough: timestamp signed by the root's threshold of timestamp keys (TUF 5.4.2)",
        &[Refusal::BadSignature],
        Attack::FlipTimestampSignature,
        UP_TO_DATE_CAM,
    ),
    refused(
        "below-threshold",
        "the product role's signatures are removed",
        "tough: product role signed by the delegation's threshold (TUF 5.6.3 via 5.6.7)",
        &[Refusal::BadSignature],
        Attack::DropProductSignatures,
        UP_TO_DATE_CAM,
    ),
    refused(
        "revoked-key",
        "the product role re-signed with the product key that a newer delegation revoked",
        "tough: only keys the current targets delegation lists count (TUF 5.6.3 via 5.6.7)",
        &[Refusal::BadSignature],
        Attack::RevokedKey,
        UP_TO_DATE_CAM,
    ),
    refused(
        "wrong-product-image",
        "the check-in offers another product's signed image",
        "device::decide_and_install: the offer must be a target of the device's own product role",
        &[Refusal::NotSigned],
        Attack::Offer {
            other_products: true,
            want: |_, r| matches!(r, Err(OfferRefused::WrongProduct { .. })),
            missing: "no other product has a signed release",
        },
        OLD_CAM,
    ),
    offer(
        "downgrade",
        "the check-in offers an older signed release",
        "check_offer (core/src/decision.rs eligible): never older",
        &[Refusal::Downgrade],
        |_, r| matches!(r, Err(OfferRefused::NotNewer { offered, installed, .. }) if offered < installed),
        "no signed release is older than the device's version",
        UP_TO_DATE_CAM,
    ),
    offer(
        "below-floor",
        "the check-in offers a signed release below the product's security floor",
        "check_offer (eligible): never below the signed floor",
        &[Refusal::BelowFloor],
        |_, r| matches!(r, Err(OfferRefused::BelowFloor { .. })),
        "no signed release is newer than the device's but below the product's floor",
        OLD_HUB,
    ),
    offer(
        "feature-after-window",
        "the check-in offers a feature release after the feature window closed",
        "check_offer (eligible, SupportRecord::kind_allowed): feature window",
        &[Refusal::FeatureWindowClosed],
        |_, r| matches!(r, Err(OfferRefused::FeatureWindowClosed { .. })),
        "no signed feature release passes every other rule after a closed feature window",
        OLD_HUB,
    ),
    offer(
        "sunset-only-after-support",
        "the check-in offers a security release after the security window closed",
        "check_offer (eligible, SupportRecord::kind_allowed): only sunset images after support",
        &[Refusal::SecurityWindowClosed],
        |_, r| matches!(r, Err(OfferRefused::SecurityWindowClosed { .. })),
        "no signed non-sunset release passes every other rule after a closed security window",
        DOORBELL_3,
    ),
    DrillSpec {
        name: "hidden-end-of-support",
        simulates: "the server answers up_to_date though the signed record says support ended",
        expected: Expected::NoticeShown,
        check: "device::decide_and_install: the notice comes from the signed support record, not from the server's answer",
        refusals: &[],
        attack: Attack::HideEndOfSupport,
        lab_device: DOORBELL_3,
    },
    offer(
        "requires-skipped",
        "the check-in offers a release whose `requires` the device does not meet",
        "check_offer (eligible): requires",
        &[Refusal::RequiresNotMet],
        |_, r| matches!(r, Err(OfferRefused::RequiresNotMet { .. })),
        "no signed release requires a version newer than the device's",
        OLD_HUB,
    ),
    DrillSpec {
        name: "withheld-security-release",
        simulates: "the server answers up_to_date though the signed metadata lists a security release the device may install, released more than 7 days ago",
        expected: Expected::InstalledWithheld,
        check: "device::offer::judge: up_to_date is checked against the verified metadata; a security release held back past its limit (core/src/hold.rs) is installed from it",
        refusals: &[],
        attack: Attack::WithholdSecurityRelease,
        lab_device: OLD_CAM,
    },
    delta(
        "delta-altered",
        "one byte of the offered delta is changed in transit; then the full image's too",
        "device::delta::rebuild: the delta's sha256 against its signed hash (TUF 5.7.3) before it is applied; the full image is the fallback, checked as always",
        DeltaAttack::Altered,
    ),
    delta(
        "delta-other-source",
        "the check-in offers a signed delta that applies to another image than the one the device runs",
        "device::delta::signed_delta: the delta's signed source_sha256 must be the installed image's (read back and hashed again before a rebuild); not even downloaded",
        DeltaAttack::OtherSource,
    ),
    delta(
        "delta-other-image",
        "the check-in offers, with a release, a signed delta from the device's image that rebuilds another release",
        "device::delta::signed_delta: the delta's signed target (name, sha256, length) must be the offered release; the rebuilt image is checked against it again",
        DeltaAttack::OtherImage,
    ),
    delta(
        "delta-endless",
        "an endless response for the delta; a decompression bomb of the delta's signed length; endless delta and full image",
        "device::download: the delta's signed length and sha256, before any decompression; device::delta::apply: never more than the full target's signed length",
        DeltaAttack::Endless,
    ),
];

pub fn drill_spec(name: &str) -> Option<&'static DrillSpec> {
    DRILLS.iter().find(|d| d.name == name)
}

/// The drills to run: all of them (none named), or the named ones in the table's order.
pub fn select(names: &[String]) -> Result<Vec<&'static DrillSpec>> {
    if names.is_empty() {
        return Ok(DRILLS.iter().collect());
    }
    for n in names {
        if drill_spec(n).is_none() {
            let known: Vec<&str> = DRILLS.iter().map(|d| d.name).collect();
            bail!("unknown drill {n:?}; drills: {}", known.join(", "));
        }
    }
    Ok(DRILLS
        .iter()
        .filter(|d| names.iter().any(|n| n == d.name))
        .collect())
}

/// The device each drill uses in the lab: one that the attack would matter to.
pub fn lab_device(drill: &str) -> Result<DeviceSpec> {
    let Some(spec) = drill_spec(drill) else {
        bail!("no such drill {drill}");
    };
    let (product, version, security_version) = spec.lab_device;
    DeviceSpec::new(product, version, security_version)
}
