//! Why a device refused what it was given, as a kind a caller can match on ([`Refusal`]) and
//! the words a person reads ([`Refused::reason`]). Callers judge a refusal by its kind, never
//! by its message.

use airlock_core::decision::OfferRefused;
use serde::{Deserialize, Serialize};

/// The kind of a refusal: every refusal of the device maps to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The image's sha256 is not the one its product role signed (TUF 5.7.3).
    HashMismatch,
    /// The image is longer than the length its product role signed (TUF 5.7.3, endless data).
    LengthMismatch,
    /// A metadata file does not match the hash the role above it pinned (TUF 5.5.2): which
    /// file, so that a snapshot swapped under the timestamp's pin is told apart from a targets
    /// role swapped under the snapshot's.
    MetadataHashMismatch { role: MetadataRole },
    /// A metadata file is larger than its limit (TUF 5.4.1 and later, endless data).
    MetadataTooLarge,
    /// A metadata file is older than the one the device trusts (TUF 5.3.5, 5.4.3, 5.5.5).
    RolledBackMetadata,
    /// A role's version is not the one the snapshot lists (TUF 5.6.4): rolled back or mixed.
    VersionMismatch,
    /// Metadata the device relies on has expired by its own clock (TUF 5.3.10, 5.4.4, 5.5.6,
    /// 5.6.5): a freeze.
    ExpiredMetadata,
    /// Metadata is not signed by the threshold of keys its delegator trusts (TUF 5.3.4,
    /// 5.4.2, 5.6.3): wrong, missing or revoked signatures.
    BadSignature,
    /// The offered target is not one the device's product role signed.
    NotSigned,
    /// The offer differs from the signed target it names (version, length, hash).
    OfferMismatch,
    /// The offer is for another product.
    WrongProduct,
    /// The offer is not newer than the installed version.
    Downgrade,
    /// The offer's security version is lower than the installed one.
    SecurityVersionLower,
    /// The offer is below the product's signed security floor.
    BelowFloor,
    /// The offer requires a version the device does not run yet.
    RequiresNotMet,
    /// A feature release after the signed feature window closed.
    FeatureWindowClosed,
    /// A non-sunset release after the signed security window closed.
    SecurityWindowClosed,
    /// The server claims support ended, but the signed support record says otherwise.
    FalseEndOfSupport,
    /// The product's delegation, role or support record is missing or not what it must be.
    BadDelegation,
    /// Metadata or a signed record that does not parse.
    InvalidMetadata,
    /// The repository could not be reached or answered with an error.
    Unreachable,
    /// The device could not read or write its own state while verifying.
    LocalStorage,
    /// Any other failure of the TUF client.
    #[default]
    Other,
}

/// The role of a metadata file, read from its name (`N.snapshot.json`, `timestamp.json`,
/// `N.<product>.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataRole {
    Root,
    Timestamp,
    Snapshot,
    Targets,
    /// A delegated (product) role.
    Delegated,
    /// Not a metadata file name.
    Unknown,
}

impl MetadataRole {
    /// The role of the metadata file a URL or path ends in: the last path segment, without
    /// its consistent-snapshot version prefix.
    pub fn of_location(location: &str) -> Self {
        let file = location
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let Some(stem) = file.strip_suffix(".json") else {
            return MetadataRole::Unknown;
        };
        let role = match stem.split_once('.') {
            Some((version, role)) if version.bytes().all(|b| b.is_ascii_digit()) => role,
            _ => stem,
        };
        match role {
            "root" => MetadataRole::Root,
            "timestamp" => MetadataRole::Timestamp,
            "snapshot" => MetadataRole::Snapshot,
            "targets" => MetadataRole::Targets,
            "" => MetadataRole::Unknown,
            _ => MetadataRole::Delegated,
        }
    }
}

impl From<&OfferRefused> for Refusal {
    fn from(e: &OfferRefused) -> Self {
        match e {
            OfferRefused::WrongProduct { .. } => Refusal::WrongProduct,
            OfferRefused::NotNewer { .. } => Refusal::Downgrade,
            OfferRefused::SecurityVersionLower { .. } => Refusal::SecurityVersionLower,
            OfferRefused::BelowFloor { .. } => Refusal::BelowFloor,
            OfferRefused::RequiresNotMet { .. } => Refusal::RequiresNotMet,
            OfferRefused::FeatureWindowClosed { .. } => Refusal::FeatureWindowClosed,
            OfferRefused::SecurityWindowClosed { .. } => Refusal::SecurityWindowClosed,
        }
    }
}

/// A refusal: its kind and the reason as the device words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub kind: Refusal,
    pub reason: String,
}

impl Refused {
    pub fn new(kind: Refusal, reason: impl Into<String>) -> Self {
        Refused {
            kind,
            reason: reason.into(),
        }
    }
}

/// The kind of a failure of tough's client: the first error in the chain that says why.
/// Transport errors wrap the verification errors found while a file streams (a hash or a size
/// checked on the way), so the whole chain is searched before calling it unreachable.
pub fn classify_tuf_error(e: &(dyn std::error::Error + 'static)) -> Refusal {
    let mut unreachable = false;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(tough_err) = err.downcast_ref::<tough::error::Error>() {
            match kind_of_tough_error(tough_err) {
                Some(Refusal::Unreachable) => unreachable = true,
                Some(kind) => return kind,
                None => {}
            }
        }
        if err.downcast_ref::<tough::TransportError>().is_some() {
            unreachable = true;
        }
        current = err.source();
    }
    if unreachable {
        Refusal::Unreachable
    } else {
        Refusal::Other
    }
}

fn kind_of_tough_error(e: &tough::error::Error) -> Option<Refusal> {
    use tough::error::Error as E;
    Some(match e {
        E::HashMismatch { context, .. } => Refusal::MetadataHashMismatch {
            role: MetadataRole::of_location(context),
        },
        E::MaxSizeExceeded { .. } | E::MaxUpdatesExceeded { .. } => Refusal::MetadataTooLarge,
        E::OlderMetadata { .. }
        | E::OlderSnapshotInTimestamp { .. }
        | E::SnapshotRoleRollback { .. }
        | E::SnapshotRoleMissing { .. } => Refusal::RolledBackMetadata,
        E::VersionMismatch { .. } => Refusal::VersionMismatch,
        E::ExpiredMetadata { .. } => Refusal::ExpiredMetadata,
        E::VerifyMetadata { .. }
        | E::VerifyRoleMetadata { .. }
        | E::VerifyTrustedMetadata { .. } => Refusal::BadSignature,
        E::ParseMetadata { .. } | E::ParseTrustedMetadata { .. } | E::SpecVersion { .. } => {
            Refusal::InvalidMetadata
        }
        E::Transport { .. } => Refusal::Unreachable,
        E::DatastoreInit { .. }
        | E::DatastoreCreate { .. }
        | E::DatastoreOpen { .. }
        | E::DatastoreRemove { .. }
        | E::DatastoreSerialize { .. }
        | E::DirCreate { .. } => Refusal::LocalStorage,
        E::DelegateNotFound { .. }
        | E::DelegateMissing { .. }
        | E::RoleNotInMeta { .. }
        | E::MetaMissing { .. }
        | E::SnapshotTargetsMetaMissing { .. }
        | E::MissingSnapshotMeta { .. } => Refusal::BadDelegation,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_rules_map_to_their_own_kinds() {
        let refused = OfferRefused::BelowFloor {
            name: "x".into(),
            offered: 1,
            floor: 3,
        };
        assert_eq!(Refusal::from(&refused), Refusal::BelowFloor);
        let refused = OfferRefused::NotNewer {
            name: "x".into(),
            offered: "1.0.0".parse().unwrap(),
            installed: "1.1.0".parse().unwrap(),
        };
        assert_eq!(Refusal::from(&refused), Refusal::Downgrade);
    }

    #[test]
    fn metadata_roles_are_read_from_file_names() {
        let role = MetadataRole::of_location;
        assert_eq!(
            role("http://x/tuf/metadata/3.snapshot.json"),
            MetadataRole::Snapshot
        );
        assert_eq!(
            role("http://x/tuf/metadata/snapshot.json"),
            MetadataRole::Snapshot
        );
        assert_eq!(
            role("http://x/tuf/metadata/3.targets.json"),
            MetadataRole::Targets
        );
        assert_eq!(role("http://x/timestamp.json?x=1"), MetadataRole::Timestamp);
        assert_eq!(role("/m/12.root.json"), MetadataRole::Root);
        assert_eq!(role("http://x/m/4.acme-cam.json"), MetadataRole::Delegated);
        assert_eq!(
            role("http://x/targets/acme-cam/fw.bin"),
            MetadataRole::Unknown
        );
        assert_eq!(role(""), MetadataRole::Unknown);
    }

    #[test]
    fn unknown_errors_are_other() {
        let e = std::io::Error::other("boom");
        assert_eq!(classify_tuf_error(&e), Refusal::Other);
    }
}
