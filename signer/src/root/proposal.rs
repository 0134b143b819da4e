//! Root proposals, for root keys held on separate machines (TUF 5.3.4): `airlock root propose`
//! writes an unsigned new root and the new holders' keys, each holder runs `airlock sign
//! PROPOSAL --key FILE` on their own machine (old root keys for the old threshold, new root
//! keys for the new one), and `airlock root apply` accepts the proposal once both thresholds
//! are met. The same `airlock sign` serves targets proposals (see [`crate::targets`]).

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use tough::schema::{RoleKeys, RoleType, Root, Signed};

use airlock_core::keys::SigningKey;

use crate::durable;
use crate::keys::{add_signature, KeyAccess};
use crate::repo::{expiry_in_days, Repo};

use super::decoded;

#[derive(Debug, Clone, Serialize)]
pub struct ProposeReport {
    pub proposal: PathBuf,
    pub root_version: u64,
    pub threshold: u64,
    pub new_keys: Vec<(String, PathBuf)>,
}

/// Writes an unsigned proposal for the next root with `keys` new root keys and `threshold`;
/// the new private keys go to `keys_dir` (0600; encrypted when the repository encrypts new
/// keys) for their holders.
/// `keys` and `threshold` default to the current root's (see [`super::next_root_shape`]).
pub fn propose(
    repo: &Repo,
    keys: Option<u64>,
    threshold: Option<u64>,
    allow_lower_threshold: bool,
    out: &Path,
    keys_dir: &Path,
) -> Result<ProposeReport> {
    if out.exists() {
        bail!("{} already exists", out.display());
    }
    let config = repo.config()?;
    let old = repo.load_root()?.signed;
    let (keys, threshold) = super::next_root_shape(
        old.roles
            .get(&RoleType::Root)
            .context("the current root has no root role")?,
        keys,
        threshold,
        0,
        allow_lower_threshold,
    )?;
    let version = old
        .version
        .get()
        .checked_add(1)
        .context("root version overflow: the current root is at the last version")?;
    let mut root: Root = old.clone();
    root.version = NonZeroU64::new(version).context("root version overflow")?;
    root.expires = expiry_in_days(config.expiry_days)?;
    let encrypt = repo.encrypts_new_keys()?;
    repo.prepare_new_keys()?;
    durable::create_private_dir(keys_dir)?;
    let mut new_keys = Vec::new();
    let mut ids = Vec::new();
    for i in 1..=keys {
        let k = SigningKey::generate();
        let id = k.key_id()?;
        let path = keys_dir.join(format!("root-v{version}-{i}.key"));
        if path.exists() {
            bail!("{} already exists", path.display());
        }
        let text = repo.key_access.key_file_text(&k, encrypt)?;
        durable::write_private(&path, text.as_bytes())?;
        root.keys.insert(decoded(&id)?, k.tuf_key());
        ids.push(decoded(&id)?);
        new_keys.push((id, path));
    }
    root.roles.insert(
        RoleType::Root,
        RoleKeys {
            keyids: ids,
            threshold: NonZeroU64::new(threshold).context("threshold")?,
            _extra: HashMap::new(),
        },
    );
    let used: std::collections::HashSet<Vec<u8>> = root
        .roles
        .values()
        .flat_map(|r| r.keyids.iter().map(|id| id.to_vec()))
        .collect();
    root.keys.retain(|id, _| used.contains(&id.to_vec()));
    let proposal = Signed {
        signed: root,
        signatures: Vec::new(),
    };
    let mut bytes = serde_json::to_vec_pretty(&proposal)?;
    bytes.push(b'\n');
    durable::write_atomic(out, &bytes)?;
    Ok(ProposeReport {
        proposal: out.to_path_buf(),
        root_version: version,
        threshold,
        new_keys,
    })
}

/// What `airlock sign` signed.
#[derive(Debug, Clone, Serialize)]
pub struct SignReport {
    pub key_id: String,
    /// "root" or "targets".
    pub role: String,
    pub version: u64,
    pub signatures: usize,
}

/// `airlock sign PROPOSAL --key FILE|URI`: adds one holder's signature to a root proposal
/// (`airlock root propose`) or a targets proposal (`airlock targets propose`), with a key file
/// (plain or encrypted) or a key on a PKCS#11 token. The metadata is signed as it is in the
/// file (its canonical JSON), so nothing in it is reinterpreted on the way.
pub fn sign(proposal: &Path, key: &str, access: &KeyAccess) -> Result<SignReport> {
    let bytes =
        std::fs::read(proposal).with_context(|| format!("reading {}", proposal.display()))?;
    let mut signed: Signed<serde_json::Value> = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a signing proposal", proposal.display()))?;
    let role = signed.signed.get("_type").and_then(|t| t.as_str());
    let role = match role {
        Some("root") => {
            serde_json::from_value::<Root>(signed.signed.clone())
                .with_context(|| format!("{} is not valid root metadata", proposal.display()))?;
            "root"
        }
        Some("targets") => {
            serde_json::from_value::<tough::schema::Targets>(signed.signed.clone())
                .with_context(|| format!("{} is not valid targets metadata", proposal.display()))?;
            "targets"
        }
        other => bail!(
            "{} proposes {} metadata; airlock sign signs root and targets proposals",
            proposal.display(),
            other.unwrap_or("unknown")
        ),
    };
    let version = signed
        .signed
        .get("version")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let key = access.read_key_ref(key)?;
    let id = add_signature(&mut signed, &key)?;
    let mut out = serde_json::to_vec_pretty(&signed)?;
    out.push(b'\n');
    durable::write_atomic(proposal, &out)?;
    Ok(SignReport {
        key_id: id,
        role: role.to_string(),
        version,
        signatures: signed.signatures.len(),
    })
}

/// `airlock root apply`: accepts the proposal once a threshold of the current root's keys and
/// of its own have signed (TUF 5.3.4), as the server and devices will check.
pub fn apply(repo: &Repo, proposal: &Path) -> Result<u64> {
    let bytes =
        std::fs::read(proposal).with_context(|| format!("reading {}", proposal.display()))?;
    let signed: Signed<Root> = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not root metadata", proposal.display()))?;
    let current = repo.load_root()?;
    airlock_core::verify::verify_root_successor(&current, &signed)
        .context("the proposal cannot be applied yet")?;
    let version = signed.signed.version.get();
    let dir = repo.metadata_dir();
    durable::write_atomic(&dir.join(format!("{version}.root.json")), &bytes)?;
    durable::write_atomic(&dir.join("root.json"), &bytes)?;
    Ok(version)
}
