//! `airlock product add`: a product = a delegated targets role (`<product>/*`) with its own
//! key, plus its signed support record `<product>/support.json`.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::PathBuf;
use tough::schema::{DelegatedRole, Delegations, PathPattern, PathSet, Target, Targets};

use airlock_core::keys::SigningKey;
use airlock_core::names;
use airlock_core::support::SupportRecord;
use airlock_core::verify::read_product_targets;
use airlock_core::SPEC_VERSION;

use crate::durable;
use crate::keys::{open_token_keys, RoleKey};
use crate::pkcs11::TokenUri;
use crate::removal::{
    archive_product, check_removable, removed_role_version, staged_removal_path, StagedRemoval,
};
use crate::repo::{expiry_in_days, read_json, Repo};
use crate::targets::{staged_role_path, working_targets, Plan, TargetsOutcome};

#[derive(Debug, Clone)]
pub struct ProductOptions {
    pub id: String,
    pub support_start: jiff::civil::Date,
    pub feature_until: jiff::civil::Date,
    pub security_until: jiff::civil::Date,
    pub min_security_version: u64,
    pub notice_url: Option<String>,
    pub statement: Option<String>,
    pub successor: Option<String>,
    pub security_contact: Option<String>,
    pub disclosure_policy: Option<String>,
    /// Days within which a reporter's report is acknowledged.
    pub report_acknowledged_within_days: Option<u32>,
    /// Days between status updates to a reporter until resolution.
    pub status_updates_every_days: Option<u32>,
    pub updatable: bool,
    pub rationale: Option<String>,
    /// Number of keys for the product role and the signatures it needs.
    pub keys: u64,
    pub threshold: u64,
}

impl ProductOptions {
    /// A product with its support windows, one product key, updatable, and nothing else
    /// stated (no floor, notice, contact or policy); set the rest with struct update syntax.
    pub fn new(
        id: String,
        support_start: jiff::civil::Date,
        feature_until: jiff::civil::Date,
        security_until: jiff::civil::Date,
    ) -> Self {
        ProductOptions {
            id,
            support_start,
            feature_until,
            security_until,
            min_security_version: 0,
            notice_url: None,
            statement: None,
            successor: None,
            security_contact: None,
            disclosure_policy: None,
            report_acknowledged_within_days: None,
            status_updates_every_days: None,
            updatable: true,
            rationale: None,
            keys: 1,
            threshold: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductReport {
    pub product: String,
    pub key_id: String,
    pub key_path: PathBuf,
    pub role_version: u64,
    pub targets_version: u64,
    /// targets.json signed now, or staged for its key holders.
    pub targets: TargetsOutcome,
    pub support: SupportRecord,
}

/// The TUF target entry of a file already in the repository's targets/ directory.
pub fn target_entry(
    repo: &Repo,
    name: &str,
    custom: HashMap<String, serde_json::Value>,
) -> Result<Target> {
    let path = repo.target_path(name)?;
    let (sha256, length) = crate::digest::sha256_file(&path)?;
    Ok(Target {
        length,
        hashes: tough::schema::Hashes {
            sha256: hex::decode(&sha256)?.into(),
            _extra: HashMap::new(),
        },
        custom,
        _extra: HashMap::new(),
    })
}

/// Writes a support record into targets/<product>/support.json and returns its target entry.
pub fn write_support(repo: &Repo, record: &SupportRecord) -> Result<(String, Target)> {
    record.validate()?;
    let name = names::support_target_name(&record.product);
    let path = repo.target_path(&name)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut bytes = serde_json::to_vec_pretty(record)?;
    bytes.push(b'\n');
    durable::write_atomic(&path, &bytes)?;
    let entry = target_entry(repo, &name, HashMap::new())?;
    Ok((name, entry))
}

/// `airlock product add` with generated keys.
pub async fn add(repo: &Repo, opts: &ProductOptions) -> Result<ProductReport> {
    add_with_keys(repo, opts, &[], false).await
}

/// `airlock product add`: the role's keys are the token keys given (`--key URI`), then
/// generated ones up to `opts.keys`. With `stage` (or a targets change already staged) the
/// new delegation is staged for the targets key holders instead of signed now (see
/// [`crate::targets`]).
pub async fn add_with_keys(
    repo: &Repo,
    opts: &ProductOptions,
    tokens: &[TokenUri],
    stage: bool,
) -> Result<ProductReport> {
    let mut opts = opts.clone();
    opts.keys = opts.keys.max(tokens.len() as u64);
    let opts = &opts;
    names::check_product_id(&opts.id)?;
    let config = repo.config()?;
    let root = repo.load_root()?;
    let mut targets = working_targets(repo)?;
    if repo.products(&targets).contains(&opts.id) {
        bail!("product {} already exists", opts.id);
    }
    if repo.role_path(&opts.id).exists() || staged_role_path(repo, &opts.id).exists() {
        bail!(
            "{} or {} already exists: a product of that name was removed or its staged addition \
             abandoned; choose another id",
            repo.role_path(&opts.id).display(),
            staged_role_path(repo, &opts.id).display()
        );
    }
    let record = SupportRecord {
        product: opts.id.clone(),
        support_start: opts.support_start,
        feature_updates_until: opts.feature_until,
        security_updates_until: opts.security_until,
        min_security_version: opts.min_security_version,
        successor: opts.successor.clone(),
        notice_url: opts.notice_url.clone(),
        statement: opts.statement.clone().unwrap_or_else(|| {
            SupportRecord::default_statement(&opts.id, opts.security_until, opts.feature_until)
        }),
        security_contact: opts.security_contact.clone(),
        disclosure_policy: opts.disclosure_policy.clone(),
        report_acknowledged_within_days: opts.report_acknowledged_within_days,
        status_updates_every_days: opts.status_updates_every_days,
        csaf_provider_metadata: None,
        updatable: opts.updatable,
        support_period_rationale: opts.rationale.clone(),
        history: Vec::new(),
        not_affected: Vec::new(),
    };
    record.validate()?;
    crate::support::check_statement_dates(&record, "--statement")?;
    let plan = Plan::new(repo, &root.signed, stage)?;
    let expires = expiry_in_days(config.expiry_days)?;
    if opts.keys == 0 || opts.threshold == 0 || opts.threshold > opts.keys {
        bail!(
            "--threshold {} must be between 1 and --keys {}",
            opts.threshold,
            opts.keys
        );
    }

    repo.prepare_new_keys()?;
    let mut keys = open_token_keys(tokens)?;
    while (keys.len() as u64) < opts.keys {
        keys.push(RoleKey::File(SigningKey::generate()));
    }
    let mut ids = std::collections::HashSet::new();
    for k in &keys {
        if !ids.insert(k.key_id()?) {
            bail!("the same key is given twice: a threshold needs distinct keys");
        }
    }
    let key_id = keys.first().context("a product needs a key")?.key_id()?;

    // Everything is signed in memory first; files are written only once all signing worked,
    // so missing keys leave the repository as it was.
    let mut support_bytes = serde_json::to_vec_pretty(&record)?;
    support_bytes.push(b'\n');
    let support_name = names::support_target_name(&opts.id);
    let support_target = Target {
        length: support_bytes.len() as u64,
        hashes: tough::schema::Hashes {
            sha256: {
                use sha2::Digest;
                sha2::Sha256::digest(&support_bytes).to_vec().into()
            },
            _extra: HashMap::new(),
        },
        custom: HashMap::new(),
        _extra: HashMap::new(),
    };

    let delegations = targets.delegations.get_or_insert_with(Delegations::new);
    let mut keyids = Vec::new();
    for k in &keys {
        let id = hex::decode(k.key_id()?)?;
        delegations.keys.insert(id.clone().into(), k.tuf_key());
        keyids.push(id.into());
    }
    delegations.roles.push(DelegatedRole {
        name: opts.id.clone(),
        keyids,
        threshold: NonZeroU64::new(opts.threshold).unwrap_or(NonZeroU64::MIN),
        paths: PathSet::Paths(vec![PathPattern::new(names::product_path_pattern(
            &opts.id,
        ))?]),
        terminating: true,
        targets: None,
    });
    let delegations = delegations.clone();

    // A product added again after a removal starts above its last role version, which the
    // server's snapshot.json keeps listing.
    let first_version = NonZeroU64::new(removed_role_version(repo, &opts.id)?.saturating_add(1))
        .unwrap_or(NonZeroU64::MIN);
    let mut role = Targets::new(SPEC_VERSION.to_string(), first_version, expires);
    role.add_target(
        tough::TargetName::new(support_name.clone())?,
        support_target,
    );
    let role_bytes = repo.sign_role(&opts.id, role, &delegations, &keys).await?;
    let (targets_path, targets_bytes, outcome) = plan
        .finish(repo, &root.signed, targets, config.expiry_days)
        .await?;

    let key_paths = repo.save_role_keys(&opts.id, &keys)?;
    let key_path = key_paths.first().cloned().unwrap_or_default();
    let support_path = repo.target_path(&support_name)?;
    if let Some(dir) = support_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    durable::write_atomic(&support_path, &support_bytes)?;
    plan.prepare_dirs(repo)?;
    durable::write_atomic(&plan.role_path(repo, &opts.id), &role_bytes)?;
    durable::write_atomic(&targets_path, &targets_bytes)?;

    Ok(ProductReport {
        product: opts.id.clone(),
        key_id,
        key_path,
        role_version: first_version.get(),
        targets_version: outcome.version(),
        targets: outcome,
        support: record,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyRotation {
    pub product: String,
    pub new_key_id: String,
    pub revoked_key_ids: Vec<String>,
    pub targets_version: u64,
    /// targets.json signed now, or staged for its key holders.
    pub targets: TargetsOutcome,
    pub role_version: u64,
}

/// `airlock product rotate-key`: a new key for the product role; the old one is revoked (no
/// longer listed in the delegation), so nothing it signs is accepted again, e.g. after a
/// compromise.
pub async fn rotate_key(repo: &Repo, product: &str) -> Result<KeyRotation> {
    rotate_key_to(repo, product, None, false).await
}

/// `airlock product rotate-key [--key URI]`: as [`rotate_key`], the new key being a key on a
/// token when `token` is given (e.g. to move a product's key onto an HSM), else generated.
/// With `stage` (or a targets change already staged) the new delegation and the role signed
/// by the new key wait in `staged/` for the targets key holders (see [`crate::targets`]).
pub async fn rotate_key_to(
    repo: &Repo,
    product: &str,
    token: Option<&TokenUri>,
    stage: bool,
) -> Result<KeyRotation> {
    names::check_product_id(product)?;
    let config = repo.config()?;
    let root = repo.load_root()?;
    let mut targets = working_targets(repo)?;
    let plan = Plan::new(repo, &root.signed, stage)?;
    // A product rotated twice before an apply starts from its staged role.
    let staged_role = staged_role_path(repo, product);
    let mut role = if staged_role.is_file() {
        read_json::<tough::schema::Signed<Targets>>(&staged_role)?.signed
    } else {
        repo.load_role(product)?.signed
    };
    let delegations = targets
        .delegations
        .as_mut()
        .with_context(|| "targets.json has no delegations".to_string())?;
    let entry = delegations
        .roles
        .iter_mut()
        .find(|r| r.name == product)
        .ok_or_else(|| repo.unknown_product(product))?;
    let revoked: Vec<String> = entry.keyids.iter().map(|id| hex::encode(&**id)).collect();
    let key = match token {
        Some(uri) => open_token_keys(std::slice::from_ref(uri))?
            .pop()
            .context("opening the token key")?,
        None => {
            repo.prepare_new_keys()?;
            RoleKey::File(SigningKey::generate())
        }
    };
    let key_id = key.key_id()?;
    if revoked.contains(&key_id) {
        bail!("{product} already uses key {key_id}: rotate to a different key");
    }
    entry.keyids = vec![hex::decode(&key_id)?.into()];
    entry.threshold = NonZeroU64::MIN;
    drop_unused_keys(delegations);
    delegations
        .keys
        .insert(hex::decode(&key_id)?.into(), key.tuf_key());
    let delegations = delegations.clone();
    let expires = expiry_in_days(config.expiry_days)?;

    // The next version after the signed role (a product whose addition is staged has none: then
    // after any role of the product removed earlier).
    let signed_role_version = if repo.role_path(product).is_file() {
        repo.load_role(product)?.signed.version.get()
    } else {
        removed_role_version(repo, product)?
    };
    role.version =
        NonZeroU64::new(signed_role_version.saturating_add(1)).unwrap_or(NonZeroU64::MIN);
    role.expires = expires;
    let role_version = role.version.get();
    // Sign everything in memory, then write: a refusal leaves the repository as it was.
    let role_bytes = repo
        .sign_role(product, role, &delegations, std::slice::from_ref(&key))
        .await?;
    let (targets_path, targets_bytes, outcome) = plan
        .finish(repo, &root.signed, targets, config.expiry_days)
        .await?;
    crate::retired_keys::retire_role_keys(repo, product)?;
    repo.save_role_key(product, &key)?;
    plan.prepare_dirs(repo)?;
    durable::write_atomic(&plan.role_path(repo, product), &role_bytes)?;
    durable::write_atomic(&targets_path, &targets_bytes)?;
    Ok(KeyRotation {
        product: product.to_string(),
        new_key_id: key_id,
        revoked_key_ids: revoked,
        targets_version: outcome.version(),
        targets: outcome,
        role_version,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductRemoval {
    pub product: String,
    pub releases: usize,
    pub targets_version: u64,
    /// targets.json signed now, or staged for its key holders.
    pub targets: TargetsOutcome,
    /// Where the product's role, files and keys went (with the targets change signed now).
    pub archived: Option<PathBuf>,
}

/// `airlock product remove`: drops a product's delegation from targets.json. Refused while
/// anything is owed to its devices ([`airlock_core::verify::check_product_removal`]: support
/// window open with releases in the field, or a security release inside its retention period);
/// the server checks the same on publish. Nothing is deleted: the role, the product's files and its keys
/// move to `removed/<product>.<time>/` once the change is signed (at `targets apply` when it is
/// staged).
pub async fn remove(
    repo: &Repo,
    product: &str,
    stage: bool,
    retention_years: i16,
) -> Result<ProductRemoval> {
    names::check_product_id(product)?;
    crate::targets::check_product_not_staged(repo, product)?;
    let config = repo.config()?;
    let root = repo.load_root()?;
    let mut targets = working_targets(repo)?;
    if !repo.products(&targets).iter().any(|p| p == product) {
        if repo
            .products(&repo.load_targets()?.signed)
            .iter()
            .any(|p| p == product)
        {
            bail!("the removal of {product} is already staged: `airlock targets propose`, or `airlock targets discard` to drop it");
        }
        // A removal whose archiving failed after targets.json was written: finished now.
        if repo.role_path(product).exists() || repo.targets_dir().join(product).exists() {
            return finish_removal(repo, product);
        }
        return Err(repo.unknown_product(product));
    }
    let releases = check_removable(repo, product, retention_years)?;
    let plan = Plan::new(repo, &root.signed, stage)?;
    let delegations = targets
        .delegations
        .as_mut()
        .context("targets.json has no delegations")?;
    delegations.roles.retain(|r| r.name != product);
    drop_unused_keys(delegations);
    let (targets_path, targets_bytes, outcome) = plan
        .finish(repo, &root.signed, targets, config.expiry_days)
        .await?;
    plan.prepare_dirs(repo)?;
    if matches!(plan.mode, crate::targets::Mode::Stage) {
        // `targets apply` checks the removal again, with the same retention period
        durable::write_atomic(
            &staged_removal_path(repo, product),
            &serde_json::to_vec(&StagedRemoval { retention_years })?,
        )?;
    }
    durable::write_atomic(&targets_path, &targets_bytes)?;
    let archived = match plan.mode {
        crate::targets::Mode::Sign(_) => {
            Some(archive_product(repo, product).with_context(|| {
                format!(
                "targets.json no longer delegates to {product}, but its files could not be moved \
                 to removed/: run `airlock product remove {} {product}` again to finish",
                repo.dir.display()
            )
            })?)
        }
        crate::targets::Mode::Stage => None,
    };
    Ok(ProductRemoval {
        product: product.to_string(),
        releases,
        targets_version: outcome.version(),
        targets: outcome,
        archived,
    })
}

/// Archives the files a product left when its removal stopped after targets.json was written
/// (`product remove` run again).
fn finish_removal(repo: &Repo, product: &str) -> Result<ProductRemoval> {
    let releases = repo
        .load_role(product)
        .ok()
        .and_then(|role| read_product_targets(product, &role.signed).ok())
        .map_or(0, |t| t.releases.len());
    let version = repo.load_targets()?.signed.version.get();
    tracing::info!(
        product,
        "targets.json no longer delegates to it: moving its remaining files to removed/"
    );
    let archived = archive_product(repo, product)?;
    Ok(ProductRemoval {
        product: product.to_string(),
        releases,
        targets_version: version,
        targets: TargetsOutcome::Signed { version },
        archived: Some(archived),
    })
}

/// Removes from the delegations' key list the keys no delegated role lists any more.
fn drop_unused_keys(delegations: &mut Delegations) {
    let still_used: std::collections::HashSet<Vec<u8>> = delegations
        .roles
        .iter()
        .flat_map(|r| r.keyids.iter().map(|id| id.to_vec()))
        .collect();
    delegations
        .keys
        .retain(|id, _| still_used.contains(&id.to_vec()));
}
