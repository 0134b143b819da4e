//! Verification of a repository submitted for publishing (DESIGN.md, "Server interfaces":
//! publish). Pure: the caller supplies the trusted state, the submitted metadata bytes and the
//! time; blob checks (lengths, hashes) are the caller's I/O.
//!
//! What is checked, in order:
//! 1. Root chain (TUF 5.3.4): each new root has version trusted+1 and is signed by a threshold
//!    of the trusted root's root keys *and* of its own; the first root ever accepted must be
//!    version 1, self-signed (it becomes the pinned root). Roots already trusted must be
//!    byte-identical (no forks).
//! 2. The newest root is not expired, uses consistent snapshots and names the server's online
//!    key (threshold 1) for snapshot and timestamp, which the server signs.
//! 3. targets.json is signed by a threshold of the root's targets keys, not expired, its version
//!    does not go back (same version means same bytes), it lists no targets itself and delegates
//!    only product roles: role name = a product id, paths exactly `["<product>/*"]`.
//! 4. Each product role is signed by a threshold of its delegated keys (TUF 5.6.6), not expired
//!    (unless carried along unchanged: one product's lapsed role must not block the others),
//!    versions never go back, has no further delegations, and every target lies under
//!    `<product>/` with a safe name; firmware targets carry valid release fields and every
//!    product has its `support.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;

use thiserror::Error;
use tough::schema::{PathSet, RoleType, Root, Signed, Targets};

use crate::names;
use crate::release::{Release, ReleaseError};
use crate::sbom;
use crate::support::{ReleaseRuleError, SupportError, SupportRecord};

#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("{file}: not valid TUF metadata: {reason}")]
    BadJson { file: String, reason: String },
    #[error("no root metadata was submitted and the server has no trusted root yet")]
    NoRoot,
    #[error("the first root the server trusts must be version 1, got version {0}")]
    FirstRootNotV1(u64),
    #[error("root version {found} does not follow the trusted root version {trusted} (expected {expected})")]
    RootVersionGap {
        trusted: u64,
        expected: u64,
        found: u64,
    },
    #[error("root v{version} differs from the root v{version} the server already trusts (fork)")]
    RootFork { version: u64 },
    #[error("{role} v{version}: signature check failed: {reason}")]
    Signature {
        role: String,
        version: u64,
        reason: String,
    },
    #[error("{role} v{version} expired at {expires}")]
    Expired {
        role: String,
        version: u64,
        expires: jiff::Timestamp,
    },
    #[error("root v{version} must set consistent_snapshot: true")]
    NoConsistentSnapshot { version: u64 },
    #[error("root v{version} does not authorise the server's online key {key_id} for the {role} role with threshold 1")]
    OnlineKeyNotAuthorised {
        version: u64,
        role: &'static str,
        key_id: String,
    },
    /// The online key (on the server, the first thing an attacker gets) may sign snapshot and
    /// timestamp only: holding root, targets or a product role too would let whoever holds
    /// the server sign what devices install.
    #[error("{role} v{version} lists the server's online key {key_id} among its keys for {holds}: the online key may sign snapshot and timestamp only; give {holds} an offline key")]
    OnlineKeyHoldsOfflineRole {
        role: String,
        version: u64,
        holds: String,
        key_id: String,
    },
    #[error("targets.json is missing")]
    NoTargets,
    #[error("{role}: version {found} is lower than the published version {published} (rollback)")]
    VersionRollback {
        role: String,
        published: u64,
        found: u64,
    },
    #[error(
        "{role}: version {version} is already published with different content; bump the version"
    )]
    VersionReused { role: String, version: u64 },
    #[error("targets.json lists target {0} directly; firmware must be signed by its product role")]
    TopLevelTarget(String),
    #[error("delegation {role}: {reason}")]
    BadDelegation { role: String, reason: String },
    #[error("role {0} was submitted but targets.json does not delegate to it")]
    UndelegatedRole(String),
    #[error("product role {0} is delegated but its metadata was not submitted")]
    MissingRole(String),
    #[error("product role {role} signs {target}, outside its paths {role}/*")]
    TargetOutsideRole { role: String, target: String },
    #[error("product role {role} has no {role}/support.json support record")]
    NoSupportRecord { role: String },
    /// An image and its SBOM target (`custom.sbom` / `custom.sbom_for`) do not name each other
    /// with the same path, hash, length and format.
    #[error("product role {role}: SBOM {target}: {reason}")]
    SbomBinding {
        role: String,
        target: String,
        reason: String,
    },
    #[error("product role {role} lists version {version} twice ({first} and {second})")]
    DuplicateVersion {
        role: String,
        version: semver::Version,
        first: String,
        second: String,
    },
    #[error("{product}: security release {name} must stay available until {until} (retention); withdraw it with --force and a reason to remove it earlier")]
    RetentionViolation {
        product: String,
        name: String,
        until: jiff::Timestamp,
    },
    #[error("{role}: the role is {size} bytes, over the {limit} bytes that TUF clients load for a targets role (tough's default; python-tuf's ngclient stops at 5,000,000): devices could not update. Split the releases over more products (one role each)")]
    RoleTooLarge {
        role: String,
        size: usize,
        limit: usize,
    },
    #[error("{product}: release {name} was removed without a withdrawal in the support history; use `airlock release withdraw`")]
    UnrecordedWithdrawal { product: String, name: String },
    #[error("product {product} cannot be removed: {reason}")]
    ProductRemoval { product: String, reason: String },
    #[error("product role {role}: {source}")]
    Delta {
        role: String,
        source: crate::delta::DeltaError,
    },
    #[error("{name}: the image is empty (0 bytes): no device can install it; release the real image under a new version")]
    EmptyImage { name: String },
    #[error("{name}: release time {released} lies in the future")]
    ReleaseInFuture {
        name: String,
        released: jiff::Timestamp,
    },
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    Support(#[from] SupportError),
    #[error(transparent)]
    ReleaseRule(#[from] ReleaseRuleError),
}

/// A metadata file: its bytes as published and its parsed form.
#[derive(Debug, Clone)]
pub struct MetaFile<T> {
    pub bytes: Vec<u8>,
    pub signed: Signed<T>,
}

impl<T> MetaFile<T> {
    pub fn version(&self) -> u64
    where
        T: tough::schema::Role,
    {
        self.signed.signed.version().get()
    }
}

/// Parses a metadata file.
pub fn parse<T: serde::de::DeserializeOwned>(
    file: &str,
    bytes: Vec<u8>,
) -> Result<MetaFile<T>, VerifyError> {
    let signed = serde_json::from_slice(&bytes).map_err(|e| VerifyError::BadJson {
        file: file.to_string(),
        reason: e.to_string(),
    })?;
    Ok(MetaFile { bytes, signed })
}

/// What the server trusts and serves now.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// All roots, oldest first (index 0 is version 1).
    pub roots: Vec<MetaFile<Root>>,
    pub targets: Option<MetaFile<Targets>>,
    pub roles: BTreeMap<String, MetaFile<Targets>>,
}

/// What a publisher submits: root files (any suffix of the chain, oldest first), targets.json
/// and the product roles.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub roots: Vec<Vec<u8>>,
    pub targets: Vec<u8>,
    pub roles: BTreeMap<String, Vec<u8>>,
}

impl From<&crate::api::PublishRequest> for Submission {
    fn from(req: &crate::api::PublishRequest) -> Self {
        Submission {
            roots: req.roots.iter().map(|r| r.clone().into_bytes()).collect(),
            targets: req.targets.clone().into_bytes(),
            roles: req
                .roles
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect(),
        }
    }
}

/// One product as submitted: its role, releases and the support record's target entry.
#[derive(Debug, Clone)]
pub struct ProductSubmission {
    pub role: MetaFile<Targets>,
    pub releases: Vec<Release>,
    /// Delta targets (docs/deltas.md), each checked against `releases`.
    pub deltas: Vec<crate::delta::Delta>,
    pub support_sha256: String,
    pub support_length: u64,
    /// The SBOM targets of its releases (crate::sbom).
    pub sboms: Vec<SbomTarget>,
    /// Whether this role's bytes differ from the published ones.
    pub changed: bool,
}

/// A submission whose metadata has passed every check of this module.
#[derive(Debug, Clone)]
pub struct VerifiedSubmission {
    /// Roots newer than the trusted one, oldest first (empty if the root did not change).
    pub new_roots: Vec<MetaFile<Root>>,
    /// The newest root after this publish.
    pub root: MetaFile<Root>,
    pub targets: MetaFile<Targets>,
    pub targets_changed: bool,
    pub products: BTreeMap<String, ProductSubmission>,
}

impl VerifiedSubmission {
    /// Every target (name, sha256 hex, length) the repository lists after this publish.
    pub fn all_targets(&self) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        for (name, product) in &self.products {
            out.push((
                names::support_target_name(name),
                product.support_sha256.clone(),
                product.support_length,
            ));
            for r in &product.releases {
                out.push((r.name.clone(), r.sha256.clone(), r.length));
            }
            for d in &product.deltas {
                out.push((d.name.clone(), d.sha256.clone(), d.length));
            }
            for s in &product.sboms {
                out.push((s.name.clone(), s.sha256.clone(), s.length));
            }
        }
        out
    }
}

fn sig_err(role: &str, version: u64, e: impl std::fmt::Display) -> VerifyError {
    VerifyError::Signature {
        role: role.to_string(),
        version,
        reason: e.to_string(),
    }
}

fn check_expiry(
    role: &str,
    version: u64,
    expires: jiff::Timestamp,
    now: jiff::Timestamp,
) -> Result<(), VerifyError> {
    if expires <= now {
        return Err(VerifyError::Expired {
            role: role.to_string(),
            version,
            expires,
        });
    }
    Ok(())
}

/// TUF 5.3.4: `next` must be signed by a threshold of the trusted root's keys and of its own.
pub fn verify_root_successor(
    trusted: &Signed<Root>,
    next: &Signed<Root>,
) -> Result<(), VerifyError> {
    let trusted_version = trusted.signed.version.get();
    let version = next.signed.version.get();
    // checked: a root file may say version u64::MAX, and nothing can follow it
    if trusted_version.checked_add(1) != Some(version) {
        return Err(VerifyError::RootVersionGap {
            trusted: trusted_version,
            expected: trusted_version.saturating_add(1),
            found: version,
        });
    }
    trusted
        .signed
        .verify_role(next)
        .map_err(|e| sig_err("root", version, format!("by the trusted root: {e}")))?;
    next.signed
        .verify_role(next)
        .map_err(|e| sig_err("root", version, format!("by its own keys: {e}")))?;
    Ok(())
}

/// Whether `root` lets `online_key_id` alone sign snapshot and timestamp.
pub fn check_online_key(root: &Root, online_key_id: &str) -> Result<(), VerifyError> {
    for (role, name) in [
        (RoleType::Snapshot, "snapshot"),
        (RoleType::Timestamp, "timestamp"),
    ] {
        let ok = root.roles.get(&role).is_some_and(|keys| {
            keys.threshold.get() == 1
                && keys
                    .keyids
                    .iter()
                    .any(|id| hex::encode(&**id) == online_key_id)
        });
        if !ok {
            return Err(VerifyError::OnlineKeyNotAuthorised {
                version: root.version.get(),
                role: name,
                key_id: online_key_id.to_string(),
            });
        }
    }
    for (role, name) in [(RoleType::Root, "root"), (RoleType::Targets, "targets")] {
        let held = root.roles.get(&role).is_some_and(|keys| {
            keys.keyids
                .iter()
                .any(|id| hex::encode(&**id) == online_key_id)
        });
        if held {
            return Err(VerifyError::OnlineKeyHoldsOfflineRole {
                role: "root".into(),
                version: root.version.get(),
                holds: name.into(),
                key_id: online_key_id.to_string(),
            });
        }
    }
    Ok(())
}

/// No product delegation may name the online key (see [`VerifyError::OnlineKeyHoldsOfflineRole`]).
fn check_delegations_exclude_online_key(
    targets_version: u64,
    delegations: &tough::schema::Delegations,
    online_key_id: &str,
) -> Result<(), VerifyError> {
    for role in &delegations.roles {
        if role
            .keyids
            .iter()
            .any(|id| hex::encode(&**id) == online_key_id)
        {
            return Err(VerifyError::OnlineKeyHoldsOfflineRole {
                role: "targets".into(),
                version: targets_version,
                holds: format!("product role {}", role.name),
                key_id: online_key_id.to_string(),
            });
        }
    }
    Ok(())
}

fn check_version<T: tough::schema::Role + PartialEq>(
    role: &str,
    published: Option<&MetaFile<T>>,
    new: &MetaFile<T>,
) -> Result<bool, VerifyError> {
    let Some(old) = published else {
        return Ok(true);
    };
    let (was, now) = (old.version(), new.version());
    if now < was {
        return Err(VerifyError::VersionRollback {
            role: role.to_string(),
            published: was,
            found: now,
        });
    }
    if now == was {
        if old.bytes != new.bytes && old.signed.signed != new.signed.signed {
            return Err(VerifyError::VersionReused {
                role: role.to_string(),
                version: now,
            });
        }
        return Ok(false);
    }
    Ok(true)
}

fn verify_roots(
    published: &Published,
    submitted: &[Vec<u8>],
    now: jiff::Timestamp,
    online_key_id: &str,
) -> Result<(Vec<MetaFile<Root>>, MetaFile<Root>), VerifyError> {
    let mut trusted: Option<MetaFile<Root>> = published.roots.last().cloned();
    let mut new_roots = Vec::new();
    for bytes in submitted {
        let file: MetaFile<Root> = parse("root.json", bytes.clone())?;
        let version = file.version();
        match &trusted {
            None => {
                // Trust on first publish (documented): version 1, signed by its own threshold.
                if version != 1 {
                    return Err(VerifyError::FirstRootNotV1(version));
                }
                file.signed
                    .signed
                    .verify_role(&file.signed)
                    .map_err(|e| sig_err("root", 1, e))?;
            }
            Some(t) if version <= t.version() => {
                let idx = usize::try_from(version - 1).unwrap_or(usize::MAX);
                let same = published
                    .roots
                    .get(idx)
                    .map(|known| known.signed.signed == file.signed.signed)
                    .unwrap_or(false)
                    || new_roots
                        .iter()
                        .any(|r: &MetaFile<Root>| r.signed.signed == file.signed.signed);
                if !same {
                    return Err(VerifyError::RootFork { version });
                }
                continue;
            }
            Some(t) => verify_root_successor(&t.signed, &file.signed)?,
        }
        new_roots.push(file.clone());
        trusted = Some(file);
    }
    let root = trusted.ok_or(VerifyError::NoRoot)?;
    let r = &root.signed.signed;
    check_expiry("root", r.version.get(), r.expires, now)?;
    if !r.consistent_snapshot {
        return Err(VerifyError::NoConsistentSnapshot {
            version: r.version.get(),
        });
    }
    check_online_key(r, online_key_id)?;
    Ok((new_roots, root))
}

/// Checks a product delegation's shape: the role is named for a product and may sign only
/// `<product>/*`.
fn check_delegation(role: &tough::schema::DelegatedRole) -> Result<(), VerifyError> {
    let bad = |reason: String| VerifyError::BadDelegation {
        role: role.name.clone(),
        reason,
    };
    names::check_product_id(&role.name).map_err(|e| bad(e.to_string()))?;
    let expected = names::product_path_pattern(&role.name);
    match &role.paths {
        PathSet::Paths(paths) if paths.len() == 1 && paths[0].value() == expected => {}
        _ => {
            return Err(bad(format!(
                "a product role must delegate exactly the paths [\"{expected}\"]"
            )))
        }
    }
    if role.keyids.is_empty() || role.threshold.get() as usize > role.keyids.len() {
        return Err(bad(format!(
            "threshold {} cannot be met by {} key(s)",
            role.threshold,
            role.keyids.len()
        )));
    }
    Ok(())
}

/// The largest targets metadata TUF clients load by default: tough's `max_targets_size`
/// (10 MiB). python-tuf's ngclient defaults to 5,000,000 bytes (`targets_max_length`).
pub const CLIENT_TARGETS_LIMIT: usize = 10 * 1024 * 1024;

/// Refuses a targets role that devices would refuse to download (a repository they could not
/// update from), before anything else is done with it.
pub fn check_role_size(role: &str, size: usize) -> Result<(), VerifyError> {
    if size > CLIENT_TARGETS_LIMIT {
        return Err(VerifyError::RoleTooLarge {
            role: role.to_string(),
            size,
            limit: CLIENT_TARGETS_LIMIT,
        });
    }
    Ok(())
}

/// Verifies one product role against its delegation and reads its releases.
fn verify_product(
    delegations: &tough::schema::Delegations,
    name: &str,
    file: MetaFile<Targets>,
    published: Option<&MetaFile<Targets>>,
    now: jiff::Timestamp,
) -> Result<ProductSubmission, VerifyError> {
    let version = file.version();
    delegations
        .verify_role(&file.signed, name)
        .map_err(|e| sig_err(name, version, e))?;
    let t = &file.signed.signed;
    let changed = check_version(name, published, &file)?;
    // A new role must not be expired. One published before and carried along unchanged may
    // be: only its own product's devices refuse it (they check the roles they rely on), and
    // refusing it here would stop every other product's publishes until its holder re-signs.
    if changed {
        check_expiry(name, version, t.expires, now)?;
    }
    if t.delegations.as_ref().is_some_and(|d| !d.roles.is_empty()) {
        return Err(VerifyError::BadDelegation {
            role: name.to_string(),
            reason: "product roles may not delegate further".into(),
        });
    }
    let ProductTargets {
        releases,
        deltas,
        support,
        sboms,
    } = read_product_targets(name, t)?;
    let (support_sha256, support_length) = support.ok_or(VerifyError::NoSupportRecord {
        role: name.to_string(),
    })?;
    Ok(ProductSubmission {
        role: file,
        releases,
        deltas,
        support_sha256,
        support_length,
        sboms,
        changed,
    })
}

/// Reads a product role's targets: its releases (sorted by version) and its support record's
/// (sha256, length), checking that every target lies under `<product>/` with a safe name and
/// that no version appears twice. Delta targets (a `delta` object in `custom`) are read apart
/// and checked against the releases of the same role ([`crate::delta::check_deltas`]).
pub fn read_product_targets(name: &str, t: &Targets) -> Result<ProductTargets, VerifyError> {
    let mut releases: Vec<Release> = Vec::new();
    let mut deltas = Vec::new();
    let delta_err = |source| VerifyError::Delta {
        role: name.to_string(),
        source,
    };
    let mut versions: std::collections::HashMap<semver::Version, usize> =
        std::collections::HashMap::with_capacity(t.targets.len());
    let mut support = None;
    let mut sboms: Vec<SbomTarget> = Vec::new();
    let mut sbom_refs: Vec<(String, sbom::SbomRef)> = Vec::new();
    let support_name = names::support_target_name(name);
    for (target_name, target) in &t.targets {
        let raw = target_name.raw();
        let outside = || VerifyError::TargetOutsideRole {
            role: name.to_string(),
            target: raw.to_string(),
        };
        let (product, _) = names::split_target_name(raw).map_err(|_| outside())?;
        if product != name {
            return Err(outside());
        }
        if raw == support_name {
            support = Some((hex::encode(&*target.hashes.sha256), target.length));
            continue;
        }
        if crate::delta::is_delta(target) {
            deltas.push(crate::delta::Delta::from_target(raw, target).map_err(delta_err)?);
            continue;
        }
        if sbom::is_sbom_target(&target.custom) {
            sboms.push(read_sbom_target(name, raw, target)?);
            continue;
        }
        let release = Release::from_target(raw, target)?;
        if let Some(reference) = sbom::image_sbom_ref(&target.custom) {
            let reference = reference.map_err(|e| VerifyError::SbomBinding {
                role: name.to_string(),
                target: raw.to_string(),
                reason: format!("the image's custom.sbom is invalid: {e}"),
            })?;
            sbom_refs.push((raw.to_string(), reference));
        }
        if let Some(&first) = versions.get(&release.info.version) {
            return Err(VerifyError::DuplicateVersion {
                role: name.to_string(),
                version: release.info.version.clone(),
                first: releases[first].name.clone(),
                second: release.name.clone(),
            });
        }
        versions.insert(release.info.version.clone(), releases.len());
        releases.push(release);
    }
    releases.sort_by(|a, b| a.info.version.cmp(&b.info.version));
    crate::delta::check_deltas(&deltas, &releases).map_err(delta_err)?;
    deltas.sort_by(|x, y| x.name.cmp(&y.name));
    check_sbom_bindings(name, &sbom_refs, &mut sboms)?;
    Ok(ProductTargets {
        releases,
        deltas,
        support,
        sboms,
    })
}

/// An SBOM target of a product role (crate::sbom): its name, hash, length and custom fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomTarget {
    pub name: String,
    /// Lowercase hex sha256.
    pub sha256: String,
    pub length: u64,
    pub info: sbom::SbomTargetInfo,
}

fn read_sbom_target(
    role: &str,
    raw: &str,
    target: &tough::schema::Target,
) -> Result<SbomTarget, VerifyError> {
    let bad = |reason: String| VerifyError::SbomBinding {
        role: role.to_string(),
        target: raw.to_string(),
        reason,
    };
    let info = sbom::sbom_target_info(&target.custom)
        .map_err(|e| bad(format!("its custom fields are invalid: {e}")))?;
    if sbom::sbom_target_name(&info.sbom_for, info.format) != raw {
        return Err(bad(format!(
            "its name must be the image's name {} followed by {}",
            info.sbom_for,
            info.format.suffix()
        )));
    }
    let sha256 = hex::encode(&*target.hashes.sha256);
    if sha256.len() != 64 {
        return Err(bad("no sha256 hash".into()));
    }
    Ok(SbomTarget {
        name: raw.to_string(),
        sha256,
        length: target.length,
        info,
    })
}

/// Each image's `custom.sbom` names an SBOM target of the role with the same hash, length and
/// format, whose `sbom_for` names the image back; every SBOM target belongs to an image.
/// Sorts `sboms` by name.
fn check_sbom_bindings(
    role: &str,
    refs: &[(String, sbom::SbomRef)],
    sboms: &mut [SbomTarget],
) -> Result<(), VerifyError> {
    sboms.sort_by(|a, b| a.name.cmp(&b.name));
    let bad = |target: &str, reason: String| VerifyError::SbomBinding {
        role: role.to_string(),
        target: target.to_string(),
        reason,
    };
    let mut bound = vec![false; sboms.len()];
    for (image, reference) in refs {
        let Ok(i) = sboms.binary_search_by(|s| s.name.as_str().cmp(&reference.path)) else {
            return Err(bad(
                &reference.path,
                format!("{image} names it but the role does not list it"),
            ));
        };
        let s = &sboms[i];
        if s.info.sbom_for != *image {
            return Err(bad(
                &s.name,
                format!("it is for {}, but {image} names it", s.info.sbom_for),
            ));
        }
        if s.sha256 != reference.sha256 || s.length != reference.length {
            return Err(bad(
                &s.name,
                format!(
                    "{image} names sha256 {} ({} bytes) but the target is sha256 {} ({} bytes)",
                    reference.sha256, reference.length, s.sha256, s.length
                ),
            ));
        }
        if s.info.format != reference.format || s.info.spec_version != reference.spec_version {
            return Err(bad(
                &s.name,
                format!(
                    "{image} names format {} {} but the target says {} {}",
                    reference.format, reference.spec_version, s.info.format, s.info.spec_version
                ),
            ));
        }
        bound[i] = true;
    }
    // an SBOM no image names (e.g. left behind when its release was withdrawn)
    if let Some((s, _)) = sboms.iter().zip(&bound).find(|(_, b)| !**b) {
        return Err(bad(
            &s.name,
            format!(
                "its image {} is not a release of the role that names it in custom.sbom",
                s.info.sbom_for
            ),
        ));
    }
    Ok(())
}

/// A product role's targets, as [`read_product_targets`] reads them.
#[derive(Debug, Clone)]
pub struct ProductTargets {
    /// Firmware releases, sorted by version.
    pub releases: Vec<Release>,
    /// Delta targets, sorted by name, each consistent with `releases`.
    pub deltas: Vec<crate::delta::Delta>,
    /// The support record's (sha256, length), if listed.
    pub support: Option<(String, u64)>,
    /// The releases' SBOM targets, sorted by name, each bound to its image.
    pub sboms: Vec<SbomTarget>,
}

impl ProductTargets {
    /// The SBOM target of the release named `release` (its target name), if it has one.
    pub fn sbom_of(&self, release: &str) -> Option<&SbomTarget> {
        self.sboms.iter().find(|s| s.info.sbom_for == release)
    }
}

/// Checks every metadata rule of a submission against what is published (steps 1-4 above).
pub fn verify_submission(
    published: &Published,
    submission: &Submission,
    online_key_id: &str,
    now: jiff::Timestamp,
) -> Result<VerifiedSubmission, VerifyError> {
    let (new_roots, root) = verify_roots(published, &submission.roots, now, online_key_id)?;

    if submission.targets.is_empty() {
        return Err(VerifyError::NoTargets);
    }
    check_role_size("targets", submission.targets.len())?;
    let targets: MetaFile<Targets> = parse("targets.json", submission.targets.clone())?;
    let tv = targets.version();
    root.signed
        .signed
        .verify_role(&targets.signed)
        .map_err(|e| sig_err("targets", tv, e))?;
    check_expiry("targets", tv, targets.signed.signed.expires, now)?;
    let targets_changed = check_version("targets", published.targets.as_ref(), &targets)?;
    if let Some((name, _)) = targets.signed.signed.targets.iter().next() {
        return Err(VerifyError::TopLevelTarget(name.raw().to_string()));
    }

    let empty = tough::schema::Delegations::new();
    let delegations = targets.signed.signed.delegations.as_ref().unwrap_or(&empty);
    check_delegations_exclude_online_key(tv, delegations, online_key_id)?;
    let delegated: BTreeSet<&str> = delegations.roles.iter().map(|r| r.name.as_str()).collect();
    if delegated.len() != delegations.roles.len() {
        return Err(VerifyError::BadDelegation {
            role: "targets".into(),
            reason: "a role is delegated twice".into(),
        });
    }
    for name in submission.roles.keys() {
        if !delegated.contains(name.as_str()) {
            return Err(VerifyError::UndelegatedRole(name.clone()));
        }
    }
    let mut products = BTreeMap::new();
    for role in &delegations.roles {
        check_delegation(role)?;
        let bytes = submission
            .roles
            .get(&role.name)
            .ok_or_else(|| VerifyError::MissingRole(role.name.clone()))?;
        check_role_size(&role.name, bytes.len())?;
        let file = parse(&format!("{}.json", role.name), bytes.clone())?;
        let product = verify_product(
            delegations,
            &role.name,
            file,
            published.roles.get(&role.name),
            now,
        )?;
        products.insert(role.name.clone(), product);
    }
    Ok(VerifiedSubmission {
        new_roots,
        root,
        targets,
        targets_changed,
        products,
    })
}

/// CRA Art. 13(9): each security update stays available for (by default) ten years, or the
/// remainder of the support period if that is longer ([`Release::retained_until`]).
pub const DEFAULT_RETENTION_YEARS: i16 = 10;

/// Releases removed from a product: each must be recorded as withdrawn in the new support
/// record's history (the signed history keeps a record of every withdrawal, so a product's
/// past can be told from its record), and a security release inside its retention period only
/// as a forced withdrawal with a reason. Returns the forced withdrawals (target names), for the
/// audit log.
pub fn check_retention(
    product: &str,
    previous: &[Release],
    releases: &[Release],
    support: &SupportRecord,
    now: jiff::Timestamp,
    retention_years: i16,
) -> Result<Vec<String>, VerifyError> {
    let mut forced = Vec::new();
    for old in previous {
        if releases.iter().any(|r| r.name == old.name) {
            continue;
        }
        let withdrawal = |forced: bool| {
            support.history.iter().any(|c| {
                c.action == "withdraw"
                    && (c.forced || !forced)
                    && c.withdrawn.as_deref() == Some(old.name.as_str())
                    && !c.reason.trim().is_empty()
            })
        };
        let retained = old
            .retained_until(retention_years, support.security_updates_until)
            .filter(|until| now < *until);
        let Some(until) = retained else {
            if !withdrawal(false) {
                return Err(VerifyError::UnrecordedWithdrawal {
                    product: product.to_string(),
                    name: old.name.clone(),
                });
            }
            continue;
        };
        let documented = withdrawal(true);
        if !documented {
            return Err(VerifyError::RetentionViolation {
                product: product.to_string(),
                name: old.name.clone(),
                until,
            });
        }
        forced.push(old.name.clone());
    }
    Ok(forced)
}

/// Whether a published product may be removed from the repository (its delegation dropped) at
/// `now`. Removing a product takes away what its devices verify against, so it is refused while
///  - any of its security releases is inside its retention period (CRA Art. 13(9)): removing
///    the product would delete them, which `release withdraw --force` alone may do, one by one,
///    with a recorded reason;
///  - it has releases and its security-update window is still open: devices in the field are
///    owed updates and an end-of-support notice (end support first: the window closes on
///    `security_updates_until`).
///
/// A product that never had a release (e.g. added by mistake) can always be removed.
pub fn check_product_removal(
    product: &str,
    releases: &[Release],
    support: &SupportRecord,
    now: jiff::Timestamp,
    retention_years: i16,
) -> Result<(), VerifyError> {
    let refuse = |reason: String| VerifyError::ProductRemoval {
        product: product.to_string(),
        reason,
    };
    if let Some((name, until)) = releases
        .iter()
        .filter_map(|r| {
            r.retained_until(retention_years, support.security_updates_until)
                .map(|u| (&r.name, u))
        })
        .filter(|(_, until)| now < *until)
        .max_by_key(|(_, until)| *until)
    {
        return Err(refuse(format!(
            "security release {name} must stay available until {until} (retention, {retention_years} years)"
        )));
    }
    // Releases now, or withdrawn earlier (every withdrawal is in the signed history): the
    // product has devices in the field.
    let withdrawn = support
        .history
        .iter()
        .filter(|c| c.action == "withdraw")
        .count();
    if (!releases.is_empty() || withdrawn > 0) && support.security_window_open(now) {
        return Err(refuse(format!(
            "its security updates run until {} and it has devices in the field ({} release(s), \
             {withdrawn} withdrawn); they must get their updates and the end-of-support notice first",
            support.security_updates_until,
            releases.len()
        )));
    }
    Ok(())
}

/// How far in the future a release time may lie (clock skew between signer and server).
pub const RELEASE_CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// The published state of one product, for the support and release rules.
#[derive(Debug, Clone)]
pub struct PublishedProduct {
    pub support: SupportRecord,
    pub release_names: BTreeSet<String>,
}

/// Support and release rules for one product (DESIGN.md): the new support record must be a
/// valid successor of the published one, and releases new in this publish must be allowed at
/// `now`.
pub fn check_product_rules(
    product: &str,
    previous: Option<&PublishedProduct>,
    support: &SupportRecord,
    releases: &[Release],
    now: jiff::Timestamp,
) -> Result<(), VerifyError> {
    support.validate()?;
    if support.product != product {
        return Err(SupportError::WrongProduct {
            expected: product.to_string(),
            found: support.product.clone(),
        }
        .into());
    }
    if let Some(prev) = previous {
        prev.support.check_change(support)?;
    }
    for release in releases {
        let is_new = previous.is_none_or(|p| !p.release_names.contains(&release.name));
        if !is_new {
            continue;
        }
        // Judged at the signed release time, so a product's earlier releases can be onboarded;
        // a backdated release gains nothing, since the decision filters by the time of each
        // check-in. A release dated in the future (beyond clock skew) is refused.
        if release.info.released > now.saturating_add(RELEASE_CLOCK_SKEW).unwrap_or(now) {
            return Err(VerifyError::ReleaseInFuture {
                name: release.name.clone(),
                released: release.info.released,
            });
        }
        // An empty file is never firmware (a failed build or copy): devices would fail to
        // install it after downloading it.
        if release.length == 0 {
            return Err(VerifyError::EmptyImage {
                name: release.name.clone(),
            });
        }
        support.check_new_release(&release.info, release.info.released)?;
    }
    Ok(())
}

/// The metadata file name of a role version under consistent snapshots.
pub fn versioned_name(role: &str, version: NonZeroU64) -> String {
    format!("{version}.{role}.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{key_sources, SigningKey};
    use crate::release::{ReleaseInfo, ReleaseKind};
    use std::collections::HashMap;
    use tough::editor::signed::SignedRole;
    use tough::schema::{
        DelegatedRole, DelegatedTargets, Delegations, KeyHolder, PathPattern, RoleKeys, Target,
    };

    struct Keys {
        root: SigningKey,
        targets: SigningKey,
        online: SigningKey,
        cam: SigningKey,
        other: SigningKey,
    }

    fn keys() -> Keys {
        Keys {
            root: SigningKey::generate(),
            targets: SigningKey::generate(),
            online: SigningKey::generate(),
            cam: SigningKey::generate(),
            other: SigningKey::generate(),
        }
    }

    fn id(k: &SigningKey) -> tough::schema::decoded::Decoded<tough::schema::decoded::Hex> {
        hex::decode(k.key_id().unwrap()).unwrap().into()
    }

    fn far() -> jiff::Timestamp {
        "2099-01-01T00:00:00Z".parse().unwrap()
    }

    fn now() -> jiff::Timestamp {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    fn role_keys(ids: Vec<&SigningKey>, threshold: u64) -> RoleKeys {
        RoleKeys {
            keyids: ids.into_iter().map(id).collect(),
            threshold: NonZeroU64::new(threshold).unwrap(),
            _extra: HashMap::new(),
        }
    }

    fn root(k: &Keys, version: u64, root_keys: Vec<&SigningKey>, threshold: u64) -> Root {
        let mut keys = HashMap::new();
        for key in root_keys.iter().chain([&&k.targets, &&k.online]) {
            keys.insert(id(key), key.tuf_key());
        }
        let mut roles = HashMap::new();
        roles.insert(RoleType::Root, role_keys(root_keys, threshold));
        roles.insert(RoleType::Targets, role_keys(vec![&k.targets], 1));
        roles.insert(RoleType::Snapshot, role_keys(vec![&k.online], 1));
        roles.insert(RoleType::Timestamp, role_keys(vec![&k.online], 1));
        Root {
            spec_version: crate::SPEC_VERSION.into(),
            consistent_snapshot: true,
            version: NonZeroU64::new(version).unwrap(),
            expires: far(),
            keys,
            roles,
            _extra: HashMap::new(),
        }
    }

    async fn sign<T: tough::schema::Role + serde::Serialize>(
        role: T,
        holder: KeyHolder,
        signers: &[SigningKey],
    ) -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        SignedRole::new(role, &holder, &key_sources(signers), &rng)
            .await
            .unwrap()
            .buffer()
            .clone()
    }

    fn delegation(name: &str, key: &SigningKey, pattern: &str) -> DelegatedRole {
        DelegatedRole {
            name: name.into(),
            keyids: vec![id(key)],
            threshold: NonZeroU64::MIN,
            paths: PathSet::Paths(vec![PathPattern::new(pattern).unwrap()]),
            terminating: true,
            targets: None,
        }
    }

    fn targets_with(delegated: Vec<(DelegatedRole, &SigningKey)>, version: u64) -> Targets {
        let mut t = Targets::new(
            crate::SPEC_VERSION.into(),
            NonZeroU64::new(version).unwrap(),
            far(),
        );
        let mut d = Delegations::new();
        for (role, key) in delegated {
            d.keys.insert(id(key), key.tuf_key());
            d.roles.push(role);
        }
        t.delegations = Some(d);
        t
    }

    fn target(custom: Option<ReleaseInfo>) -> Target {
        Target {
            length: 10,
            hashes: tough::schema::Hashes {
                sha256: vec![1u8; 32].into(),
                _extra: HashMap::new(),
            },
            custom: custom.map(|c| c.to_custom()).unwrap_or_default(),
            _extra: HashMap::new(),
        }
    }

    /// acme-cam's record: features until 2026, security updates until 2030, no history.
    fn support_record() -> SupportRecord {
        SupportRecord {
            product: "acme-cam".into(),
            support_start: jiff::civil::date(2023, 1, 1),
            feature_updates_until: jiff::civil::date(2026, 1, 1),
            security_updates_until: jiff::civil::date(2030, 1, 1),
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

    /// A withdrawal of `name` in the support history.
    fn withdrawal(
        at: jiff::Timestamp,
        name: &str,
        reason: &str,
        forced: bool,
    ) -> crate::support::SupportChange {
        crate::support::SupportChange {
            at,
            action: "withdraw".into(),
            reason: reason.into(),
            security_updates_until: None,
            feature_updates_until: None,
            min_security_version: None,
            withdrawn: Some(name.into()),
            forced,
        }
    }

    fn info(product: &str, version: &str) -> ReleaseInfo {
        ReleaseInfo {
            product: product.into(),
            version: version.parse().unwrap(),
            security_version: 1,
            kind: ReleaseKind::Security,
            requires: None,
            released: "2026-01-01T00:00:00Z".parse().unwrap(),
            advisories: Vec::new(),
        }
    }

    fn product_role(version: u64, entries: Vec<(&str, Target)>) -> Targets {
        let mut t = Targets::new(
            crate::SPEC_VERSION.into(),
            NonZeroU64::new(version).unwrap(),
            far(),
        );
        for (name, target) in entries {
            t.add_target(tough::TargetName::new(name).unwrap(), target);
        }
        t
    }

    /// A valid submission: root v1, targets delegating acme-cam, acme-cam with support + 1.0.0.
    async fn valid(k: &Keys) -> (Submission, Targets) {
        let root = root(k, 1, vec![&k.root], 1);
        let root_bytes = sign(
            root.clone(),
            KeyHolder::Root(root.clone()),
            std::slice::from_ref(&k.root),
        )
        .await;
        let targets = targets_with(
            vec![(delegation("acme-cam", &k.cam, "acme-cam/*"), &k.cam)],
            1,
        );
        let targets_bytes = sign(
            targets.clone(),
            KeyHolder::Root(root.clone()),
            std::slice::from_ref(&k.targets),
        )
        .await;
        let cam = product_role(
            1,
            vec![
                ("acme-cam/support.json", target(None)),
                (
                    "acme-cam/fw-1.0.0.bin",
                    target(Some(info("acme-cam", "1.0.0"))),
                ),
            ],
        );
        let cam_bytes = sign_role("acme-cam", cam, &targets, &k.cam).await;
        (
            Submission {
                roots: vec![root_bytes],
                targets: targets_bytes,
                roles: BTreeMap::from([("acme-cam".to_string(), cam_bytes)]),
            },
            targets,
        )
    }

    async fn sign_role(name: &str, role: Targets, parent: &Targets, key: &SigningKey) -> Vec<u8> {
        sign(
            DelegatedTargets {
                name: name.into(),
                targets: role,
            },
            KeyHolder::Delegations(parent.delegations.clone().unwrap()),
            std::slice::from_ref(key),
        )
        .await
    }

    fn online_id(k: &Keys) -> String {
        k.online.key_id().unwrap()
    }

    fn published_from(v: &VerifiedSubmission) -> Published {
        Published {
            roots: vec![v.root.clone()],
            targets: Some(v.targets.clone()),
            roles: v
                .products
                .iter()
                .map(|(n, p)| (n.clone(), p.role.clone()))
                .collect(),
        }
    }

    #[tokio::test]
    async fn a_valid_submission_passes() {
        let k = keys();
        let (sub, _) = valid(&k).await;
        let v = verify_submission(&Published::default(), &sub, &online_id(&k), now()).unwrap();
        assert_eq!(v.products["acme-cam"].releases.len(), 1);
        assert_eq!(v.all_targets().len(), 2);
        assert_eq!(v.new_roots.len(), 1);
    }

    #[tokio::test]
    async fn expired_metadata_is_refused() {
        let k = keys();
        let (sub, _) = valid(&k).await;
        let later: jiff::Timestamp = "2099-06-01T00:00:00Z".parse().unwrap();
        assert!(matches!(
            verify_submission(&Published::default(), &sub, &online_id(&k), later),
            Err(VerifyError::Expired { .. })
        ));
    }

    #[tokio::test]
    async fn an_unchanged_expired_product_role_does_not_block_a_publish() {
        let k = keys();
        let (mut sub, targets) = valid(&k).await;
        let mut cam = product_role(
            1,
            vec![
                ("acme-cam/support.json", target(None)),
                (
                    "acme-cam/fw-1.0.0.bin",
                    target(Some(info("acme-cam", "1.0.0"))),
                ),
            ],
        );
        cam.expires = "2026-07-01T00:00:00Z".parse().unwrap();
        sub.roles.insert(
            "acme-cam".into(),
            sign_role("acme-cam", cam.clone(), &targets, &k.cam).await,
        );
        let v = verify_submission(&Published::default(), &sub, &online_id(&k), now()).unwrap();
        let published = published_from(&v);
        let later: jiff::Timestamp = "2026-08-01T00:00:00Z".parse().unwrap();
        // carried along unchanged after it expired: accepted (its devices refuse it themselves)
        let again = verify_submission(&published, &sub, &online_id(&k), later).unwrap();
        assert!(!again.products["acme-cam"].changed);
        // a new version that is already expired: refused
        cam.version = NonZeroU64::new(2).unwrap();
        let mut stale = sub.clone();
        stale.roles.insert(
            "acme-cam".into(),
            sign_role("acme-cam", cam, &targets, &k.cam).await,
        );
        assert!(matches!(
            verify_submission(&published, &stale, &online_id(&k), later),
            Err(VerifyError::Expired { .. })
        ));
    }

    #[tokio::test]
    async fn wrongly_signed_targets_is_refused() {
        let k = keys();
        let (mut sub, _) = valid(&k).await;
        // content changed after signing: the signature no longer verifies
        let text = String::from_utf8(sub.targets.clone()).unwrap();
        assert!(text.contains("\"version\": 1"));
        sub.targets = text
            .replacen("\"version\": 1", "\"version\": 7", 1)
            .into_bytes();
        assert!(matches!(
            verify_submission(&Published::default(), &sub, &online_id(&k), now()),
            Err(VerifyError::Signature { .. })
        ));
    }

    #[tokio::test]
    async fn product_role_cannot_sign_another_products_target() {
        let k = keys();
        let (mut sub, targets) = valid(&k).await;
        let cam = product_role(
            2,
            vec![
                ("acme-cam/support.json", target(None)),
                (
                    "acme-lock/fw-9.0.0.bin",
                    target(Some(info("acme-lock", "9.0.0"))),
                ),
            ],
        );
        sub.roles.insert(
            "acme-cam".into(),
            sign_role("acme-cam", cam, &targets, &k.cam).await,
        );
        assert!(matches!(
            verify_submission(&Published::default(), &sub, &online_id(&k), now()),
            Err(VerifyError::TargetOutsideRole { .. })
        ));
    }

    #[tokio::test]
    async fn release_product_field_must_match_its_path() {
        let k = keys();
        let (mut sub, targets) = valid(&k).await;
        let cam = product_role(
            2,
            vec![
                ("acme-cam/support.json", target(None)),
                (
                    "acme-cam/fw-9.0.0.bin",
                    target(Some(info("acme-lock", "9.0.0"))),
                ),
            ],
        );
        sub.roles.insert(
            "acme-cam".into(),
            sign_role("acme-cam", cam, &targets, &k.cam).await,
        );
        assert!(matches!(
            verify_submission(&Published::default(), &sub, &online_id(&k), now()),
            Err(VerifyError::Release(ReleaseError::ProductMismatch { .. }))
        ));
    }

    #[tokio::test]
    async fn a_role_signed_by_another_products_key_is_refused() {
        let k = keys();
        let (mut sub, _) = valid(&k).await;
        let cam = product_role(2, vec![("acme-cam/support.json", target(None))]);
        // sign with the wrong key: build a delegation that lists `other` to get a signature
        let forged_parent = targets_with(
            vec![(delegation("acme-cam", &k.other, "acme-cam/*"), &k.other)],
            1,
        );
        sub.roles.insert(
            "acme-cam".into(),
            sign_role("acme-cam", cam, &forged_parent, &k.other).await,
        );
        assert!(matches!(
            verify_submission(&Published::default(), &sub, &online_id(&k), now()),
            Err(VerifyError::Signature { .. })
        ));
    }

    #[tokio::test]
    async fn delegations_must_be_exactly_product_paths() {
        let k = keys();
        let root = root(&k, 1, vec![&k.root], 1);
        let root_bytes = sign(
            root.clone(),
            KeyHolder::Root(root.clone()),
            std::slice::from_ref(&k.root),
        )
        .await;
        for (name, pattern) in [("acme-cam", "*"), ("acme-cam", "acme-*"), ("Bad", "Bad/*")] {
            let targets = targets_with(vec![(delegation(name, &k.cam, pattern), &k.cam)], 1);
            let targets_bytes = sign(
                targets.clone(),
                KeyHolder::Root(root.clone()),
                std::slice::from_ref(&k.targets),
            )
            .await;
            let sub = Submission {
                roots: vec![root_bytes.clone()],
                targets: targets_bytes,
                roles: BTreeMap::new(),
            };
            assert!(
                matches!(
                    verify_submission(&Published::default(), &sub, &online_id(&k), now()),
                    Err(VerifyError::BadDelegation { .. })
                ),
                "{name} {pattern}"
            );
        }
    }

    #[tokio::test]
    async fn versions_never_go_back_and_are_not_reused() {
        let k = keys();
        let (sub, targets) = valid(&k).await;
        let v = verify_submission(&Published::default(), &sub, &online_id(&k), now()).unwrap();
        let published = published_from(&v);
        // same submission again: accepted, nothing changed
        let again = verify_submission(&published, &sub, &online_id(&k), now()).unwrap();
        assert!(!again.products["acme-cam"].changed && !again.targets_changed);
        // same version, different content
        let cam = product_role(1, vec![("acme-cam/support.json", target(None))]);
        let mut reused = sub.clone();
        reused.roles.insert(
            "acme-cam".into(),
            sign_role("acme-cam", cam, &targets, &k.cam).await,
        );
        assert!(matches!(
            verify_submission(&published, &reused, &online_id(&k), now()),
            Err(VerifyError::VersionReused { .. })
        ));
        // a lower version after a higher one
        let cam3 = product_role(3, vec![("acme-cam/support.json", target(None))]);
        let mut higher = sub.clone();
        higher.roles.insert(
            "acme-cam".into(),
            sign_role("acme-cam", cam3, &targets, &k.cam).await,
        );
        let v3 = verify_submission(&published, &higher, &online_id(&k), now()).unwrap();
        let published3 = published_from(&v3);
        let cam2 = product_role(2, vec![("acme-cam/support.json", target(None))]);
        let mut lower = sub.clone();
        lower.roles.insert(
            "acme-cam".into(),
            sign_role("acme-cam", cam2, &targets, &k.cam).await,
        );
        assert!(matches!(
            verify_submission(&published3, &lower, &online_id(&k), now()),
            Err(VerifyError::VersionRollback { .. })
        ));
    }

    /// A root that says version u64::MAX has no successor: refused as a gap, not an
    /// overflow (the version is read before any signature is checked).
    #[test]
    fn nothing_follows_the_last_root_version() {
        let k = keys();
        let unsigned = |version| tough::schema::Signed {
            signed: root(&k, version, vec![&k.root], 1),
            signatures: Vec::new(),
        };
        let last = unsigned(u64::MAX);
        for next in [1, u64::MAX] {
            assert!(matches!(
                verify_root_successor(&last, &unsigned(next)),
                Err(VerifyError::RootVersionGap {
                    trusted: u64::MAX,
                    expected: u64::MAX,
                    ..
                })
            ));
        }
    }

    #[tokio::test]
    async fn root_rotation_needs_old_and_new_thresholds() {
        let k = keys();
        let (sub, _) = valid(&k).await;
        let v = verify_submission(&Published::default(), &sub, &online_id(&k), now()).unwrap();
        let published = published_from(&v);
        let new_root_key = SigningKey::generate();
        let r2 = root(&k, 2, vec![&new_root_key], 1);
        // signed only by the new key: the trusted root's threshold is not met
        let only_new = sign(
            r2.clone(),
            KeyHolder::Root(r2.clone()),
            std::slice::from_ref(&new_root_key),
        )
        .await;
        let mut s = sub.clone();
        s.roots.push(only_new);
        assert!(matches!(
            verify_submission(&published, &s, &online_id(&k), now()),
            Err(VerifyError::Signature { .. })
        ));
        // cross-signed by old and new: accepted
        let mut both_holder = r2.clone();
        both_holder.keys.insert(id(&k.root), k.root.tuf_key());
        both_holder
            .roles
            .insert(RoleType::Root, role_keys(vec![&new_root_key, &k.root], 1));
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signed = SignedRole::new(
            r2.clone(),
            &KeyHolder::Root(both_holder),
            &key_sources(&[new_root_key.clone(), k.root.clone()]),
            &rng,
        )
        .await
        .unwrap();
        let mut s = sub.clone();
        s.roots.push(signed.buffer().clone());
        let v2 = verify_submission(&published, &s, &online_id(&k), now()).unwrap();
        assert_eq!(v2.root.version(), 2);
        // skipping a version is refused
        let r3 = root(&k, 3, vec![&k.root], 1);
        let r3_bytes = sign(
            r3.clone(),
            KeyHolder::Root(r3.clone()),
            std::slice::from_ref(&k.root),
        )
        .await;
        let mut s = sub.clone();
        s.roots.push(r3_bytes);
        assert!(matches!(
            verify_submission(&published, &s, &online_id(&k), now()),
            Err(VerifyError::RootVersionGap { .. })
        ));
    }

    #[tokio::test]
    async fn the_online_key_may_not_hold_root_targets_or_a_product_role() {
        let k = keys();
        let online = online_id(&k);
        let (sub, _) = valid(&k).await;
        assert!(verify_submission(&Published::default(), &sub, &online, now()).is_ok());
        // the online key among the root keys, then among the targets keys
        for role in [RoleType::Root, RoleType::Targets] {
            let mut r = root(&k, 1, vec![&k.root], 1);
            r.roles.get_mut(&role).unwrap().keyids.push(id(&k.online));
            let signers = [k.root.clone(), k.online.clone()];
            let bytes = sign(r.clone(), KeyHolder::Root(r.clone()), &signers).await;
            let s = Submission {
                roots: vec![bytes],
                ..sub.clone()
            };
            assert!(
                matches!(
                    verify_submission(&Published::default(), &s, &online, now()),
                    Err(VerifyError::OnlineKeyHoldsOfflineRole { .. })
                ),
                "{role:?}"
            );
        }
        // a product delegated to the online key
        let r = root(&k, 1, vec![&k.root], 1);
        let targets = targets_with(
            vec![(delegation("acme-cam", &k.online, "acme-cam/*"), &k.online)],
            1,
        );
        let targets_bytes = sign(
            targets.clone(),
            KeyHolder::Root(r.clone()),
            std::slice::from_ref(&k.targets),
        )
        .await;
        let s = Submission {
            targets: targets_bytes,
            ..sub
        };
        assert!(matches!(
            verify_submission(&Published::default(), &s, &online, now()),
            Err(VerifyError::OnlineKeyHoldsOfflineRole { holds, .. }) if holds == "product role acme-cam"
        ));
    }

    #[tokio::test]
    async fn first_root_must_be_v1_and_name_the_online_key() {
        let k = keys();
        let (sub, _) = valid(&k).await;
        let stranger = SigningKey::generate().key_id().unwrap();
        assert!(matches!(
            verify_submission(&Published::default(), &sub, &stranger, now()),
            Err(VerifyError::OnlineKeyNotAuthorised { .. })
        ));
        let r2 = root(&k, 2, vec![&k.root], 1);
        let r2_bytes = sign(
            r2.clone(),
            KeyHolder::Root(r2.clone()),
            std::slice::from_ref(&k.root),
        )
        .await;
        let s = Submission {
            roots: vec![r2_bytes],
            ..sub
        };
        assert!(matches!(
            verify_submission(&Published::default(), &s, &online_id(&k), now()),
            Err(VerifyError::FirstRootNotV1(2))
        ));
    }

    #[test]
    fn security_releases_are_retained_unless_a_forced_withdrawal_is_recorded() {
        let support = support_record();
        let old = Release {
            name: "acme-cam/old.bin".into(),
            length: 1,
            sha256: "00".repeat(32),
            info: info("acme-cam", "1.0.0"),
        };
        let gone = check_retention(
            "acme-cam",
            std::slice::from_ref(&old),
            &[],
            &support,
            now(),
            10,
        );
        assert!(matches!(gone, Err(VerifyError::RetentionViolation { .. })));
        // after the retention period it may go, withdrawn on the record
        let later: jiff::Timestamp = "2036-06-01T00:00:00Z".parse().unwrap();
        let silent = check_retention(
            "acme-cam",
            std::slice::from_ref(&old),
            &[],
            &support,
            later,
            10,
        );
        assert!(
            matches!(silent, Err(VerifyError::UnrecordedWithdrawal { .. })),
            "{silent:?}"
        );
        let mut withdrawn = support.clone();
        withdrawn
            .history
            .push(withdrawal(later, &old.name, "superseded", false));
        assert_eq!(
            check_retention(
                "acme-cam",
                std::slice::from_ref(&old),
                &[],
                &withdrawn,
                later,
                10
            )
            .unwrap(),
            Vec::<String>::new()
        );
        // a plain withdrawal does not release a security update inside its retention period
        assert!(matches!(
            check_retention(
                "acme-cam",
                std::slice::from_ref(&old),
                &[],
                &withdrawn,
                now(),
                10
            ),
            Err(VerifyError::RetentionViolation { .. })
        ));
        // a feature release is not retained, but its removal is recorded too
        let feature = Release {
            info: ReleaseInfo {
                kind: ReleaseKind::Feature,
                ..old.info.clone()
            },
            ..old.clone()
        };
        assert!(matches!(
            check_retention(
                "acme-cam",
                std::slice::from_ref(&feature),
                &[],
                &support,
                now(),
                10
            ),
            Err(VerifyError::UnrecordedWithdrawal { .. })
        ));
        assert!(check_retention(
            "acme-cam",
            std::slice::from_ref(&feature),
            &[],
            &withdrawn,
            now(),
            10
        )
        .is_ok());
        // a forced withdrawal with a reason is accepted and reported
        let mut forced = support.clone();
        forced
            .history
            .push(withdrawal(now(), &old.name, "bricks units", true));
        assert_eq!(
            check_retention(
                "acme-cam",
                std::slice::from_ref(&old),
                &[],
                &forced,
                now(),
                10
            )
            .unwrap(),
            vec![old.name.clone()]
        );
        // kept releases are fine
        assert!(check_retention(
            "acme-cam",
            std::slice::from_ref(&old),
            std::slice::from_ref(&old),
            &support,
            now(),
            10
        )
        .is_ok());
    }

    #[tokio::test]
    async fn a_role_too_large_for_clients_is_refused_before_parsing() {
        let k = keys();
        let (sub, _) = valid(&k).await;
        assert!(verify_submission(&Published::default(), &sub, &online_id(&k), now()).is_ok());
        let mut big = sub.clone();
        big.roles
            .insert("acme-cam".into(), vec![b' '; CLIENT_TARGETS_LIMIT + 1]);
        let err =
            verify_submission(&Published::default(), &big, &online_id(&k), now()).unwrap_err();
        assert!(
            matches!(&err, VerifyError::RoleTooLarge { role, size, .. } if role == "acme-cam" && *size == CLIENT_TARGETS_LIMIT + 1),
            "{err}"
        );
        assert!(check_role_size("targets", CLIENT_TARGETS_LIMIT).is_ok());
        assert!(check_role_size("targets", CLIENT_TARGETS_LIMIT + 1).is_err());
    }

    #[test]
    fn a_product_is_removable_only_after_support_and_retention() {
        let mut support = support_record();
        let release = |kind: ReleaseKind| Release {
            name: "acme-cam/fw-1.0.0.bin".into(),
            length: 1,
            sha256: "00".repeat(32),
            info: ReleaseInfo {
                kind,
                ..info("acme-cam", "1.0.0")
            },
        };
        let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
        // no releases: always removable, even inside the support window
        assert!(check_product_removal("acme-cam", &[], &support, now(), 10).is_ok());
        // a feature release in the field: not while security updates are owed
        let feature = [release(ReleaseKind::Feature)];
        let err = check_product_removal("acme-cam", &feature, &support, now(), 10).unwrap_err();
        assert!(
            err.to_string()
                .contains("security updates run until 2030-01-01"),
            "{err}"
        );
        assert!(check_product_removal(
            "acme-cam",
            &feature,
            &support,
            at("2030-01-02T00:00:00Z"),
            10
        )
        .is_ok());
        // a product whose releases were all withdrawn still has devices in the field
        let mut emptied = support.clone();
        emptied.history.push(withdrawal(
            now(),
            "acme-cam/fw-1.0.0.bin",
            "recalled",
            false,
        ));
        let err = check_product_removal("acme-cam", &[], &emptied, now(), 10).unwrap_err();
        assert!(err.to_string().contains("1 withdrawn"), "{err}");
        // a security release (released 2026-01-01): kept ten years, support window or not
        let security = [release(ReleaseKind::Security)];
        support.security_updates_until = jiff::civil::date(2027, 1, 1);
        let err = check_product_removal(
            "acme-cam",
            &security,
            &support,
            at("2030-01-02T00:00:00Z"),
            10,
        )
        .unwrap_err();
        assert!(
            matches!(&err, VerifyError::ProductRemoval { reason, .. } if reason.contains("acme-cam/fw-1.0.0.bin") && reason.contains("2036-01-01")),
            "{err}"
        );
        assert!(check_product_removal(
            "acme-cam",
            &security,
            &support,
            at("2036-01-01T00:00:00Z"),
            10
        )
        .is_ok());
        assert!(check_product_removal(
            "acme-cam",
            &security,
            &support,
            at("2030-01-02T00:00:00Z"),
            3
        )
        .is_ok());
    }

    #[test]
    fn product_rules_check_support_changes_and_new_releases() {
        let support = SupportRecord {
            min_security_version: 1,
            ..support_record()
        };
        let mut feature = Release {
            name: "acme-cam/f.bin".into(),
            length: 1,
            sha256: "00".repeat(32),
            info: info("acme-cam", "2.0.0"),
        };
        feature.info.kind = ReleaseKind::Feature;
        feature.info.released = "2026-03-01T00:00:00Z".parse().unwrap();
        // a feature release dated after the feature window
        assert!(matches!(
            check_product_rules("acme-cam", None, &support, &[feature.clone()], now()),
            Err(VerifyError::ReleaseRule(
                ReleaseRuleError::FeatureAfterWindow { .. }
            ))
        ));
        // ... is fine when it was already published
        let prev = PublishedProduct {
            support: support.clone(),
            release_names: BTreeSet::from([feature.name.clone()]),
        };
        assert!(
            check_product_rules("acme-cam", Some(&prev), &support, &[feature.clone()], now())
                .is_ok()
        );
        // shortened support
        let mut shorter = support.clone();
        shorter.security_updates_until = jiff::civil::date(2029, 1, 1);
        assert!(matches!(
            check_product_rules("acme-cam", Some(&prev), &shorter, &[], now()),
            Err(VerifyError::Support(SupportError::SupportShortened { .. }))
        ));
        // a release from the future
        let mut future = feature.clone();
        future.name = "acme-cam/future.bin".into();
        future.info.kind = ReleaseKind::Security;
        future.info.released = "2027-01-01T00:00:00Z".parse().unwrap();
        assert!(matches!(
            check_product_rules("acme-cam", Some(&prev), &support, &[future], now()),
            Err(VerifyError::ReleaseInFuture { .. })
        ));
        // an empty image, new in this publish
        let mut empty = feature.clone();
        empty.name = "acme-cam/empty.bin".into();
        empty.info.kind = ReleaseKind::Security;
        empty.length = 0;
        assert!(matches!(
            check_product_rules("acme-cam", Some(&prev), &support, &[empty], now()),
            Err(VerifyError::EmptyImage { .. })
        ));
    }

    /// An image and its SBOM target, bound both ways (custom.sbom, custom.sbom_for).
    fn image_with_sbom(version: &str, sbom_len: u64) -> (Target, Target) {
        let image_name = format!("acme-cam/fw-{version}.bin");
        let mut image = target(Some(info("acme-cam", version)));
        let reference = crate::sbom::SbomRef {
            path: format!("{image_name}.cdx.json"),
            sha256: hex::encode([2u8; 32]),
            length: sbom_len,
            format: crate::sbom::SbomFormat::Cyclonedx,
            spec_version: "1.5".into(),
        };
        image.custom.insert(
            crate::sbom::IMAGE_FIELD.into(),
            serde_json::to_value(&reference).unwrap(),
        );
        let sbom = Target {
            length: sbom_len,
            hashes: tough::schema::Hashes {
                sha256: vec![2u8; 32].into(),
                _extra: HashMap::new(),
            },
            custom: crate::sbom::SbomTargetInfo {
                sbom_for: image_name,
                format: crate::sbom::SbomFormat::Cyclonedx,
                spec_version: "1.5".into(),
            }
            .to_custom(),
            _extra: HashMap::new(),
        };
        (image, sbom)
    }

    #[test]
    fn sbom_targets_are_bound_to_their_image() {
        let support = ("acme-cam/support.json", target(None));
        let (image, sbom) = image_with_sbom("1.0.0", 7);
        let read = read_product_targets(
            "acme-cam",
            &product_role(
                1,
                vec![
                    support.clone(),
                    ("acme-cam/fw-1.0.0.bin", image.clone()),
                    ("acme-cam/fw-1.0.0.bin.cdx.json", sbom.clone()),
                    (
                        "acme-cam/fw-1.1.0.bin",
                        target(Some(info("acme-cam", "1.1.0"))),
                    ),
                ],
            ),
        )
        .unwrap();
        assert_eq!(read.releases.len(), 2, "the SBOM is not a release");
        assert_eq!(read.sboms.len(), 1);
        let s = read.sbom_of("acme-cam/fw-1.0.0.bin").unwrap();
        assert_eq!(
            (s.name.as_str(), s.length),
            ("acme-cam/fw-1.0.0.bin.cdx.json", 7)
        );
        assert!(read.sbom_of("acme-cam/fw-1.1.0.bin").is_none());

        let refused = |entries: Vec<(&str, Target)>| match read_product_targets(
            "acme-cam",
            &product_role(1, entries),
        ) {
            Err(VerifyError::SbomBinding { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        // the image names an SBOM the role does not list
        let why = refused(vec![
            support.clone(),
            ("acme-cam/fw-1.0.0.bin", image.clone()),
        ]);
        assert!(why.contains("does not list it"), "{why}");
        // an SBOM whose image is gone (withdrawn without it)
        let why = refused(vec![
            support.clone(),
            ("acme-cam/fw-1.0.0.bin.cdx.json", sbom.clone()),
        ]);
        assert!(why.contains("is not a release"), "{why}");
        // another hash or length than the image's signed fields say
        let (_, other_len) = image_with_sbom("1.0.0", 8);
        let why = refused(vec![
            support.clone(),
            ("acme-cam/fw-1.0.0.bin", image.clone()),
            ("acme-cam/fw-1.0.0.bin.cdx.json", other_len),
        ]);
        assert!(why.contains("names sha256"), "{why}");
        // an SBOM target under another name than its image's
        let why = refused(vec![
            support.clone(),
            ("acme-cam/fw-1.0.0.bin", image.clone()),
            ("acme-cam/other.cdx.json", sbom.clone()),
        ]);
        assert!(why.contains("must be the image's name"), "{why}");
        // custom.sbom that is not an SBOM reference
        let mut bad = image.clone();
        bad.custom.insert("sbom".into(), serde_json::json!("yes"));
        let why = refused(vec![support.clone(), ("acme-cam/fw-1.0.0.bin", bad)]);
        assert!(why.contains("custom.sbom is invalid"), "{why}");
        // format disagreeing
        let mut spdx = sbom.clone();
        spdx.custom
            .insert("format".into(), serde_json::json!("spdx"));
        let why = refused(vec![
            support,
            ("acme-cam/fw-1.0.0.bin", image),
            ("acme-cam/fw-1.0.0.bin.spdx.json", spdx),
        ]);
        assert!(why.contains("does not list it"), "{why}");
    }
}
