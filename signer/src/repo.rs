//! The signer's on-disk repository (its key files: `repo/key_files.rs`).
//!
//! ```text
//! repo/
//!   airlock.json          repository settings (the server's online public key, expiry policy)
//!   keys/                 offline private keys, 0700 dir, 0600 files; never published
//!     root-1.key ...      root keys (PKCS#8 PEM, plain or encrypted, or a pkcs11: URI
//!                         naming the key on a token)
//!     targets.key
//!     <product>.key       one per product role
//!   metadata/             signed metadata, what `publish` sends
//!     1.root.json ...     every root version (devices walk the chain)
//!     root.json           the newest root
//!     targets.json
//!     <product>.json      one delegated role per product
//!   targets/<product>/    firmware images and support.json, as signed
//!   staged/               a targets change waiting for the targets threshold (present only
//!     targets.json        then): the unsigned next targets.json, and the product roles
//!     <product>.json      signed for its delegations; `airlock targets apply` moves them in
//! ```

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tough::schema::{DelegatedTargets, Delegations, KeyHolder, Role, Root, Signed, Targets};

use airlock_core::names;
use airlock_core::support::SupportRecord;

use crate::durable;
use crate::keys::{KeyAccess, RoleKey};

mod key_files;
pub use key_files::is_role_key_stem;

/// `airlock.json`: settings fixed at `airlock init`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoConfig {
    /// The server's online key (signs snapshot and timestamp).
    pub online_key: tough::schema::key::Key,
    /// Lifetime in days of root, targets and product roles when (re)signed.
    pub expiry_days: i64,
    /// Keys created later (products, rotations) are written encrypted, as at `init
    /// --encrypt-keys`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypt_keys: bool,
    /// `release add` makes deltas from this many previous releases of the product
    /// (docs/deltas.md); absent: `crate::delta::DEFAULT_DELTAS_FROM` (none). `--deltas-from`
    /// overrides it for one release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deltas_from: Option<u32>,
    /// The delta methods `release add` uses, e.g. `["zstd", "bsdiff"]` (docs/deltas.md);
    /// absent: zstd only. `--delta-method` overrides it for one release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_method: Option<Vec<crate::delta::DeltaMethod>>,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub dir: PathBuf,
    /// Passphrases for encrypted keys and whether new keys are encrypted.
    pub key_access: KeyAccess,
}

/// Now plus `days`, in whole seconds (PEERS.md: python-tuf refuses sub-second expiry).
/// `days` is the operator's (--expiry-days, the repository's config.toml): checked, since
/// `SignedDuration::from_hours` panics past i64 seconds.
pub fn expiry_in_days(days: i64) -> Result<jiff::Timestamp> {
    let t = days
        .checked_mul(86_400)
        .map(jiff::SignedDuration::from_secs)
        .and_then(|d| jiff::Timestamp::now().checked_add(d).ok())
        .with_context(|| {
            format!("an expiry {days} days from now is out of range (dates end at 9999-12-31): give fewer days")
        })?;
    Ok(airlock_core::whole_seconds(t))
}

/// The JSON file at `path`, parsed; the error says which file could not be read or parsed.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// The entries of `dir` as (file name, path), in the order the directory lists them.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    std::fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|entry| {
                    let entry = entry?;
                    Ok((
                        entry.file_name().to_string_lossy().into_owned(),
                        entry.path(),
                    ))
                })
                .collect()
        })
        .with_context(|| format!("listing {}", dir.display()))
}

impl Repo {
    pub fn config_path(dir: &Path) -> PathBuf {
        dir.join("airlock.json")
    }

    /// Opens an existing repository.
    pub fn open(dir: &Path) -> Result<Repo> {
        if !Self::config_path(dir).is_file() {
            return Err(airlock_cli::Failure::not_found(format!(
                "{} is not an airlock repository (no airlock.json; create one with `airlock init`)",
                dir.display()
            ))
            .into());
        }
        Ok(Repo {
            dir: dir.to_path_buf(),
            key_access: KeyAccess::default(),
        })
    }

    /// The same repository, reaching its keys with `access` (passphrase source, encryption of
    /// new keys).
    pub fn with_key_access(mut self, access: KeyAccess) -> Repo {
        self.key_access = access;
        self
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }
    pub fn metadata_dir(&self) -> PathBuf {
        self.dir.join("metadata")
    }
    pub fn targets_dir(&self) -> PathBuf {
        self.dir.join("targets")
    }
    /// A change of targets.json waiting for its threshold of signatures (see [`crate::targets`]).
    pub fn staged_dir(&self) -> PathBuf {
        self.dir.join("staged")
    }
    /// Where the repository keeps the file of target `name` (`<product>/<file>`).
    pub fn target_path(&self, name: &str) -> Result<PathBuf> {
        let (product, file) = names::split_target_name(name)?;
        Ok(self.targets_dir().join(product).join(file))
    }

    pub fn config(&self) -> Result<RepoConfig> {
        read_json(&Self::config_path(&self.dir))
    }

    pub fn load_root(&self) -> Result<Signed<Root>> {
        read_json(&self.metadata_dir().join("root.json"))
    }

    /// Every root version file, oldest first, as (version, path).
    pub fn root_history(&self) -> Result<Vec<(u64, PathBuf)>> {
        let dir = self.metadata_dir();
        let mut out = Vec::new();
        for (name, path) in list_dir(&dir)? {
            if let Some(v) = name
                .strip_suffix(".root.json")
                .and_then(|v| v.parse::<u64>().ok())
            {
                out.push((v, path));
            }
        }
        out.sort();
        for (i, (v, _)) in out.iter().enumerate() {
            if *v != i as u64 + 1 {
                bail!(
                    "root history in {} has a gap: expected {}.root.json",
                    dir.display(),
                    i + 1
                );
            }
        }
        Ok(out)
    }

    pub fn load_targets(&self) -> Result<Signed<Targets>> {
        read_json(&self.metadata_dir().join("targets.json"))
    }

    pub fn role_path(&self, product: &str) -> PathBuf {
        self.metadata_dir().join(format!("{product}.json"))
    }

    pub fn load_role(&self, product: &str) -> Result<Signed<Targets>> {
        names::check_product_id(product)?;
        let path = self.role_path(product);
        if !path.is_file() {
            return Err(self.unknown_product(product));
        }
        read_json(&path)
    }

    /// The error for a product this repository does not have: not found, with the closest
    /// product id when `product` looks like a typo of it.
    pub fn unknown_product(&self, product: &str) -> anyhow::Error {
        let known = self
            .load_targets()
            .map(|t| self.products(&t.signed))
            .unwrap_or_default();
        airlock_cli::Failure::unknown(
            "product",
            product,
            &known,
            "add one with `airlock product add`",
        )
        .into()
    }

    /// Product ids, from the delegations in targets.json.
    pub fn products(&self, targets: &Targets) -> Vec<String> {
        targets
            .delegations
            .as_ref()
            .map(|d| d.roles.iter().map(|r| r.name.clone()).collect())
            .unwrap_or_default()
    }

    /// Signs and writes a root (as N.root.json and root.json).
    pub async fn write_root(&self, root: Root, keys: &[RoleKey]) -> Result<Signed<Root>> {
        let version = root.version;
        let holder = KeyHolder::Root(root.clone());
        let signed = sign(root, &holder, keys, "root").await?;
        let dir = self.metadata_dir();
        durable::write_atomic(&dir.join(format!("{version}.root.json")), signed.buffer())?;
        durable::write_atomic(&dir.join("root.json"), signed.buffer())?;
        Ok(signed.signed().clone())
    }

    /// Signs targets.json and returns the bytes to write (nothing is written).
    pub async fn sign_targets(
        &self,
        targets: Targets,
        root: &Root,
        keys: &[RoleKey],
    ) -> Result<Vec<u8>> {
        Ok(sign_top_level_targets(targets, root, keys)
            .await?
            .buffer()
            .clone())
    }

    /// Signs and writes targets.json.
    pub async fn write_targets(
        &self,
        targets: Targets,
        root: &Root,
        keys: &[RoleKey],
    ) -> Result<Signed<Targets>> {
        let signed = sign_top_level_targets(targets, root, keys).await?;
        durable::write_atomic(&self.metadata_dir().join("targets.json"), signed.buffer())?;
        Ok(signed.signed().clone())
    }

    /// Signs a product role and returns the bytes to write (nothing is written).
    pub async fn sign_role(
        &self,
        product: &str,
        targets: Targets,
        delegations: &Delegations,
        keys: &[RoleKey],
    ) -> Result<Vec<u8>> {
        let SignedBytes { signed, bytes } =
            sign_delegated(product, targets, delegations, keys).await?;
        drop_in_background(signed);
        warn_if_too_large(product, bytes.len());
        Ok(bytes)
    }

    /// Signs and writes a product role.
    pub async fn write_role(
        &self,
        product: &str,
        targets: Targets,
        delegations: &Delegations,
        keys: &[RoleKey],
    ) -> Result<Signed<Targets>> {
        let signed = sign_delegated(product, targets, delegations, keys).await?;
        durable::write_atomic(&self.role_path(product), signed.buffer())?;
        Ok(Signed {
            signed: signed.signed().signed.targets.clone(),
            signatures: signed.signed().signatures.clone(),
        })
    }

    pub fn support_path(&self, product: &str) -> Result<PathBuf> {
        self.target_path(&names::support_target_name(product))
    }

    pub fn load_support(&self, product: &str) -> Result<SupportRecord> {
        let path = self.support_path(product)?;
        if !path.is_file() && !self.role_path(product).is_file() {
            return Err(self.unknown_product(product));
        }
        read_json(&path)
    }
}

/// Signs targets.json with those of `keys` the root lists for the targets role.
async fn sign_top_level_targets(
    targets: Targets,
    root: &Root,
    keys: &[RoleKey],
) -> Result<SignedBytes<Targets>> {
    let holder = KeyHolder::Root(root.clone());
    sign(targets, &holder, keys, "targets").await
}

/// Signs the delegated role of `product` with those of `keys` its delegation lists.
async fn sign_delegated(
    product: &str,
    targets: Targets,
    delegations: &Delegations,
    keys: &[RoleKey],
) -> Result<SignedBytes<DelegatedTargets>> {
    let holder = KeyHolder::Delegations(delegations.clone());
    let role = DelegatedTargets {
        name: product.to_string(),
        targets,
    };
    sign(role, &holder, keys, product).await
}

/// python-tuf's ngclient default for a targets role (`targets_max_length`).
const PYTHON_TUF_TARGETS_LIMIT: usize = 5_000_000;

/// Warns when a product role grows past what TUF clients load by default: publishing refuses
/// it above tough's limit ([`airlock_core::verify::check_role_size`]).
fn warn_if_too_large(product: &str, size: usize) {
    if size > airlock_core::verify::CLIENT_TARGETS_LIMIT {
        tracing::warn!(
            role = product,
            bytes = size,
            "the role is over the 10 MiB that TUF clients (tough) load: publishing will refuse it; split the releases over more products"
        );
    } else if size > PYTHON_TUF_TARGETS_LIMIT {
        tracing::warn!(
            role = product,
            bytes = size,
            "the role is over 5,000,000 bytes: devices using python-tuf's default limits will refuse it"
        );
    }
}

/// Frees a large value on another thread: a role with 100k targets is a million small
/// allocations, and freeing them is a fifth of the time `release add` takes on such a role.
/// (When the process exits first, the operating system reclaims it all at once.)
pub(crate) fn drop_in_background<T: Send + 'static>(value: T) {
    if std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value))
        .is_err()
    {
        // could not start a thread: the value was dropped with the closure, here
    }
}

/// Metadata whose canonical form is larger than this is written compact (see [`sign`]); smaller
/// files stay pretty-printed for people reading them.
const COMPACT_ABOVE: usize = 1 << 20;

/// Signed metadata and the bytes to write (pretty JSON as tough writes it, or compact when large).
struct SignedBytes<T> {
    signed: Signed<T>,
    bytes: Vec<u8>,
}

impl<T> SignedBytes<T> {
    fn buffer(&self) -> &Vec<u8> {
        &self.bytes
    }
    fn signed(&self) -> &Signed<T> {
        &self.signed
    }
}

/// Signs `role` with those of `keys` that the role lists (in `holder`: the root for top-level
/// roles, the delegations for a product). The canonical form is written once with
/// [`airlock_core::canonical`] (tough's signing path spends seconds on a role with 100k
/// targets); the signatures are those tough's `SignedRole` would make.
/// The canonical JSON a role is signed over.
trait Canonical {
    fn canonical(&self) -> Result<Vec<u8>, serde_json::Error>;
}

impl Canonical for Root {
    fn canonical(&self) -> Result<Vec<u8>, serde_json::Error> {
        airlock_core::keys::canonical_json(self)
    }
}

impl Canonical for Targets {
    fn canonical(&self) -> Result<Vec<u8>, serde_json::Error> {
        airlock_core::keys::canonical_json(self)
    }
}

/// A product role: with many targets, its entries are encoded on every core (same bytes).
impl Canonical for DelegatedTargets {
    fn canonical(&self) -> Result<Vec<u8>, serde_json::Error> {
        airlock_core::canonical::targets_role(&self.targets)
    }
}

async fn sign<T: Role + serde::Serialize + Canonical>(
    role: T,
    holder: &KeyHolder,
    keys: &[RoleKey],
    what: &str,
) -> Result<SignedBytes<T>> {
    let role_keys = match (holder, role.role_id()) {
        (KeyHolder::Root(r), tough::schema::RoleId::StandardRole(t)) => r.roles.get(&t).cloned(),
        (KeyHolder::Delegations(d), tough::schema::RoleId::DelegatedRole(name)) => {
            d.roles.iter().find(|r| r.name == name).map(|r| r.keys())
        }
        _ => None,
    }
    .with_context(|| format!("no keys are listed for {what}"))?;
    let ids: Vec<String> = role_keys
        .keyids
        .iter()
        .map(|id| hex::encode(&**id))
        .collect();
    let mut signers = Vec::new();
    for k in keys {
        let id = k.key_id()?;
        if ids.contains(&id) && !signers.iter().any(|(seen, _)| *seen == id) {
            signers.push((id, k));
        }
    }
    // A clear message when too few of the role's keys are here (TUF thresholds); a new root's
    // signatures by the old keys are checked by the caller (TUF 5.3.4).
    let held = signers.len() as u64;
    if T::TYPE != tough::schema::RoleType::Root && held < role_keys.threshold.get() {
        bail!(
            "{what} needs {} signature(s) but only {held} of its keys are in keys/",
            role_keys.threshold
        );
    }
    if signers.is_empty() {
        bail!("signing {what}: none of its keys are in keys/");
    }
    let data = role
        .canonical()
        .with_context(|| format!("encoding {what} to sign it"))?;
    let mut signatures = Vec::with_capacity(signers.len());
    for (id, key) in signers {
        signatures.push(tough::schema::Signature {
            keyid: hex::decode(&id).context("decoding a key id")?.into(),
            sig: key
                .sign(&data)
                .with_context(|| format!("signing {what} with key {id}"))?
                .into(),
        });
    }
    let bytes = if data.len() > COMPACT_ABOVE && !data.iter().any(|b| *b < 0x20) {
        // A large role (a product with very many targets) is written compact, straight from
        // the canonical bytes just signed: no second serialisation of 100k targets. Canonical
        // JSON is valid JSON unless a string holds a control character (written raw there).
        // The head goes in front of the signed bytes in their own buffer (the encoder leaves
        // room for it): no second buffer of the role's size.
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(b"{\"signatures\":");
        serde_json::to_writer(&mut head, &signatures)?;
        head.extend_from_slice(b",\"signed\":");
        let mut bytes = data;
        bytes.splice(0..0, head);
        bytes.push(b'}');
        bytes
    } else {
        serde_json::to_vec_pretty(&Signed {
            signed: &role,
            signatures: signatures.clone(),
        })?
    };
    Ok(SignedBytes {
        signed: Signed {
            signed: role,
            signatures,
        },
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_past_the_calendar_is_an_error() {
        let now = jiff::Timestamp::now();
        assert!(expiry_in_days(365).unwrap() > now);
        // 3,000,000 days is past 9999-12-31; i64::MAX days is past i64 seconds (it panicked)
        for days in [3_000_000, i64::MAX / 24, i64::MAX, i64::MIN] {
            let e = expiry_in_days(days).unwrap_err();
            assert!(e.to_string().contains("give fewer days"), "{days}: {e}");
        }
    }
}
