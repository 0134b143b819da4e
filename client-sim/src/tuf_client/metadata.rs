//! The TUF wire format as this client reads it: the signed envelope, the four role types, and
//! signature thresholds.
//!
//! Parsing is deliberately lenient where the specification allows it (unknown fields are kept in
//! the raw `signed` value and are part of what the signatures cover, TUF 4) and strict where it
//! protects the client (`_type`, `version`, `expires`, thresholds). Signatures are checked with
//! tough's key types (ed25519, ecdsa-sha2-nistp256, rsassa-pss-sha256) through
//! [`tough::schema::Root::verify_role`], over the canonical JSON of the raw `signed` value, so a
//! field this client does not know about is still covered by the check.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU64;

use anyhow::{bail, ensure, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{Role, RoleKeys, RoleType, Root, Signature, Signed};

/// A parsed metadata file: the typed `signed` part, the raw `signed` value (for signature checks)
/// and the signatures.
#[derive(Debug, Clone)]
pub struct Metadata<T> {
    pub signed: T,
    raw_signed: Value,
    signatures: Vec<RawSignature>,
}

#[derive(Debug, Clone, Deserialize)]
struct Envelope {
    signed: Value,
    signatures: Vec<RawSignature>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawSignature {
    keyid: String,
    sig: String,
}

/// The fields every role shares.
pub trait RoleMeta: DeserializeOwned {
    /// The `_type` value of this role.
    const TYPE: &'static str;
    fn version(&self) -> u64;
    fn expires(&self) -> jiff::Timestamp;
}

/// [`RoleMeta`] for a role type with `version` and `expires` fields.
macro_rules! role_meta {
    ($ty:ty, $type_name:literal) => {
        impl RoleMeta for $ty {
            const TYPE: &'static str = $type_name;
            fn version(&self) -> u64 {
                self.version
            }
            fn expires(&self) -> jiff::Timestamp {
                self.expires
            }
        }
    };
}

impl<T: RoleMeta> Metadata<T> {
    /// Parses `bytes` as metadata of type `T`: JSON envelope, `_type`, a version >= 1 and an
    /// expiry that is a valid timestamp. Signatures are not checked here.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let envelope: Envelope =
            serde_json::from_slice(bytes).context("metadata is not a valid signed envelope")?;
        let type_field = envelope.signed.get("_type").and_then(Value::as_str);
        ensure!(
            type_field == Some(T::TYPE),
            "expected metadata of type {:?}, got {:?}",
            T::TYPE,
            type_field
        );
        let signed: T = serde_json::from_value(envelope.signed.clone())
            .with_context(|| format!("invalid {} metadata", T::TYPE))?;
        ensure!(
            signed.version() >= 1,
            "{} version must be at least 1",
            T::TYPE
        );
        Ok(Metadata {
            signed,
            raw_signed: envelope.signed,
            signatures: envelope.signatures,
        })
    }

    /// TUF 5.4.4, 5.5.6, 5.6.5: whether the metadata expired at `now`.
    pub fn is_expired(&self, now: jiff::Timestamp) -> bool {
        self.signed.expires() <= now
    }

    /// Fails when the metadata expired at `now`; `role` names it in the error.
    pub fn ensure_unexpired(&self, role: &str, now: jiff::Timestamp) -> Result<()> {
        ensure!(
            !self.is_expired(now),
            "{role} v{} expired at {}",
            self.signed.version(),
            self.signed.expires()
        );
        Ok(())
    }

    /// Checks that a threshold of `keys` signed this metadata. Each key counts once: a keyid
    /// that appears twice among the signatures makes the whole check fail (TUF 4.2: "The KEYID
    /// MUST be unique in the signatures array").
    pub fn verify_with(&self, keys: &KeySet) -> Result<()> {
        let mut seen = HashSet::new();
        let mut signatures = Vec::new();
        for signature in &self.signatures {
            ensure!(
                seen.insert(signature.keyid.as_str()),
                "{} has two signatures by key {}",
                T::TYPE,
                signature.keyid
            );
            // A signature that is not even hex cannot be valid: it does not count, but it
            // does not invalidate the other signatures either.
            if let (Ok(keyid), Ok(sig)) =
                (hex::decode(&signature.keyid), hex::decode(&signature.sig))
            {
                signatures.push(Signature {
                    keyid: keyid.into(),
                    sig: sig.into(),
                });
            }
        }
        let signed = Signed {
            signed: RawRole(self.raw_signed.clone()),
            signatures,
        };
        keys.root
            .verify_role(&signed)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{} signatures ({})", T::TYPE, keys.what))
    }
}

/// The raw `signed` value as a tough role, so tough can check signatures over its canonical
/// JSON. Tough looks up the keys of `RoleType::Targets` in the [`KeySet`]'s synthetic root.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
struct RawRole(Value);

impl Role for RawRole {
    const TYPE: RoleType = RoleType::Targets;

    fn expires(&self) -> jiff::Timestamp {
        jiff::Timestamp::UNIX_EPOCH
    }

    fn version(&self) -> NonZeroU64 {
        NonZeroU64::MIN
    }

    fn filename(&self, _consistent_snapshot: bool) -> String {
        String::new()
    }
}

/// Canonical JSON (OLPC) of a value, as signatures and key ids are computed.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>> {
    RawRole(value.clone())
        .canonical_form()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("canonical JSON")
}

/// TUF 4.2: a KEYID is the hexdigest of the SHA-256 of the canonical JSON of the key object
/// (as it appears in the metadata). A key whose id is anything else is not trusted.
pub fn keyid_matches(keyid: &str, key: &Value) -> bool {
    canonical_json(key)
        .map(|bytes| hex::encode(sha2::Sha256::digest(bytes)) == keyid.to_ascii_lowercase())
        .unwrap_or(false)
}

/// The keys and threshold that may sign one role, held as a synthetic tough root whose
/// `targets` role carries them.
#[derive(Debug, Clone)]
pub struct KeySet {
    root: Root,
    what: String,
}

impl KeySet {
    /// `keys` maps keyid to the key's JSON; keys that tough cannot use (unknown type or scheme,
    /// malformed) are left out and so can never contribute a valid signature, and so are keys
    /// whose keyid is not the hash of the key ([`keyid_matches`]): a key listed under another
    /// key's id must not sign for it.
    pub fn new(
        what: impl Into<String>,
        keys: &BTreeMap<String, Value>,
        keyids: &[String],
        threshold: u64,
    ) -> Result<Self> {
        let what = what.into();
        let threshold = NonZeroU64::new(threshold)
            .with_context(|| format!("{what}: threshold must be at least 1"))?;
        let mut usable = HashMap::new();
        for keyid in keyids {
            let (Some(key), Ok(id)) = (keys.get(keyid), hex::decode(keyid)) else {
                continue;
            };
            if !keyid_matches(keyid, key) {
                continue;
            }
            if let Ok(key) = serde_json::from_value::<Key>(key.clone()) {
                usable.insert(Decoded::<Hex>::from(id), key);
            }
        }
        let role_keys = RoleKeys {
            keyids: keyids
                .iter()
                .filter_map(|k| hex::decode(k).ok())
                .map(Decoded::from)
                .collect(),
            threshold,
            _extra: HashMap::new(),
        };
        let root = Root {
            spec_version: "1.0.0".to_owned(),
            consistent_snapshot: true,
            version: NonZeroU64::MIN,
            expires: jiff::Timestamp::UNIX_EPOCH,
            keys: usable,
            roles: HashMap::from([(RoleType::Targets, role_keys)]),
            _extra: HashMap::new(),
        };
        Ok(KeySet { root, what })
    }
}

/// `keyids` + `threshold` of a role (in root or in a delegation).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RoleKeysMeta {
    pub keyids: Vec<String>,
    pub threshold: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RootMeta {
    pub version: u64,
    pub expires: jiff::Timestamp,
    #[serde(default)]
    pub consistent_snapshot: bool,
    pub keys: BTreeMap<String, Value>,
    pub roles: BTreeMap<String, RoleKeysMeta>,
}

role_meta!(RootMeta, "root");

impl RootMeta {
    /// The keys that may sign the top-level role `role` (TUF 4.3).
    pub fn keys_for(&self, role: &str) -> Result<KeySet> {
        let role_keys = self
            .roles
            .get(role)
            .with_context(|| format!("root does not define the {role} role"))?;
        KeySet::new(
            format!("{role} keys of root v{}", self.version),
            &self.keys,
            &role_keys.keyids,
            role_keys.threshold,
        )
    }

    /// The key ids and threshold of `role`, to detect a rotation (TUF 5.3.11).
    pub fn role_keys(&self, role: &str) -> Option<&RoleKeysMeta> {
        self.roles.get(role)
    }
}

/// Version (and optionally length and hashes) of a metadata file, as listed by timestamp and
/// snapshot.
#[derive(Debug, Clone, Deserialize)]
pub struct MetaFile {
    pub version: u64,
    pub length: Option<u64>,
    pub hashes: Option<BTreeMap<String, String>>,
}

impl MetaFile {
    /// TUF 5.5.2 / 5.6.2: the file matches the length and hashes listed for it, if any.
    pub fn verify_length_and_hashes(&self, data: &[u8]) -> Result<()> {
        if let Some(length) = self.length {
            ensure!(
                data.len() as u64 == length,
                "length {} does not match the expected {length}",
                data.len()
            );
        }
        if let Some(hashes) = &self.hashes {
            verify_hashes(hashes, data)?;
        }
        Ok(())
    }
}

/// Timestamp and snapshot have the same body: a version, an expiry and the metadata files they
/// list (TUF 4.4, 4.6).
macro_rules! meta_listing {
    ($ty:ident, $type_name:literal) => {
        #[derive(Debug, Clone, Deserialize)]
        pub struct $ty {
            pub version: u64,
            pub expires: jiff::Timestamp,
            pub meta: BTreeMap<String, MetaFile>,
        }

        role_meta!($ty, $type_name);
    };
}

meta_listing!(TimestampMeta, "timestamp");
meta_listing!(SnapshotMeta, "snapshot");

impl TimestampMeta {
    /// TUF 4.6: timestamp lists exactly the snapshot.
    pub fn snapshot_meta(&self) -> Result<&MetaFile> {
        self.meta
            .get("snapshot.json")
            .context("timestamp does not list snapshot.json")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TargetsMeta {
    pub version: u64,
    pub expires: jiff::Timestamp,
    #[serde(default)]
    pub targets: BTreeMap<String, TargetFile>,
    pub delegations: Option<Delegations>,
}

role_meta!(TargetsMeta, "targets");

/// A target file as a targets role lists it (TUF 4.5).
#[derive(Debug, Clone, Deserialize)]
pub struct TargetFile {
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
}

/// The `delegations` of a targets role (TUF 4.5).
#[derive(Debug, Clone, Deserialize)]
pub struct Delegations {
    pub keys: BTreeMap<String, Value>,
    pub roles: Option<Vec<DelegatedRole>>,
    pub succinct_roles: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DelegatedRole {
    pub name: String,
    pub keyids: Vec<String>,
    pub threshold: u64,
    #[serde(default)]
    pub terminating: bool,
    pub paths: Option<Vec<String>>,
    pub path_hash_prefixes: Option<Vec<String>>,
}

impl Delegations {
    /// The delegated roles, in the order the delegator lists them. Succinct hash-bin
    /// delegations (TAP 15) are not supported and are refused rather than ignored.
    pub fn roles(&self) -> Result<&[DelegatedRole]> {
        if self.succinct_roles.is_some() {
            bail!("succinct_roles delegations (TAP 15) are not supported");
        }
        Ok(self.roles.as_deref().unwrap_or_default())
    }

    /// The keys that may sign the delegated role `name`.
    pub fn keys_for(&self, delegator: &str, name: &str) -> Result<KeySet> {
        let role = self
            .roles()?
            .iter()
            .find(|r| r.name == name)
            .with_context(|| format!("{delegator} does not delegate to {name}"))?;
        KeySet::new(
            format!("keys for {name} delegated by {delegator}"),
            &self.keys,
            &role.keyids,
            role.threshold,
        )
    }
}

/// Hashes `data` with every algorithm listed and compares. An unknown algorithm is an error: a
/// hash the client cannot check is not a hash that was checked.
pub fn verify_hashes(hashes: &BTreeMap<String, String>, data: &[u8]) -> Result<()> {
    ensure!(!hashes.is_empty(), "no hashes are listed");
    for (algorithm, expected) in hashes {
        let actual = match algorithm.as_str() {
            "sha224" => hex::encode(sha2::Sha224::digest(data)),
            "sha256" => hex::encode(sha2::Sha256::digest(data)),
            "sha384" => hex::encode(sha2::Sha384::digest(data)),
            "sha512" => hex::encode(sha2::Sha512::digest(data)),
            other => bail!("unsupported hash algorithm {other:?}"),
        };
        ensure!(
            actual.eq_ignore_ascii_case(expected),
            "{algorithm} hash mismatch: expected {expected}, got {actual}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_sha512_hashes_are_checked() {
        let data = b"target file contents";
        let hashes = BTreeMap::from([
            ("sha256".to_owned(), hex::encode(sha2::Sha256::digest(data))),
            ("sha512".to_owned(), hex::encode(sha2::Sha512::digest(data))),
        ]);
        verify_hashes(&hashes, data).unwrap();
        verify_hashes(&hashes, b"other").unwrap_err();
    }

    #[test]
    fn unknown_hash_algorithm_is_refused() {
        let hashes = BTreeMap::from([("md5".to_owned(), "00".to_owned())]);
        verify_hashes(&hashes, b"x").unwrap_err();
        verify_hashes(&BTreeMap::new(), b"x").unwrap_err();
    }

    #[test]
    fn wrong_type_is_refused() {
        let doc = br#"{"signed": {"_type": "snapshot", "version": 1,
            "expires": "2030-01-01T00:00:00Z", "meta": {}}, "signatures": []}"#;
        Metadata::<SnapshotMeta>::from_bytes(doc).unwrap();
        Metadata::<TimestampMeta>::from_bytes(doc).unwrap_err();
    }

    #[test]
    fn missing_version_is_refused() {
        let doc = br#"{"signed": {"_type": "snapshot",
            "expires": "2030-01-01T00:00:00Z", "meta": {}}, "signatures": []}"#;
        Metadata::<SnapshotMeta>::from_bytes(doc).unwrap_err();
    }

    #[test]
    fn a_keyid_must_be_the_hash_of_its_key() {
        let key = airlock_core::keys::SigningKey::generate();
        let json = serde_json::to_value(key.tuf_key()).unwrap();
        let real = key.key_id().unwrap();
        assert!(keyid_matches(&real, &json));
        let other = hex::encode([7u8; 32]);
        assert!(!keyid_matches(&other, &json));
        // a key listed under a made-up id cannot count toward a threshold
        let keys = BTreeMap::from([(other.clone(), json.clone())]);
        let set = KeySet::new("test", &keys, std::slice::from_ref(&other), 1).unwrap();
        assert!(set.root.keys.is_empty());
        let keys = BTreeMap::from([(real.clone(), json)]);
        let set = KeySet::new("test", &keys, &[real], 1).unwrap();
        assert_eq!(set.root.keys.len(), 1);
    }
}
