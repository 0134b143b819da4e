//! The publish service: verify a submitted repository completely, sign snapshot and timestamp,
//! check that a TUF client can load the result, then switch to it in one commit.
//! A publish that fails any check changes nothing.

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU64;

use airlock_core::api::{PublishRequest, PublishResponse};
use airlock_core::keys::SigningKey;
use airlock_core::online::{sign_snapshot_and_timestamp, SnapshotContents};
use airlock_core::support::SupportRecord;
use airlock_core::verify::{
    check_product_removal, check_product_rules, check_retention, verify_submission, Published,
    PublishedProduct, Submission, VerifiedSubmission, VerifyError,
};
use thiserror::Error;

use crate::app::AppState;
use crate::rollouts::RolloutError;
use crate::selfcheck;
use crate::storage::{BlobError, Head, RepoIndex, StateError};
use crate::view::RepoView;

/// Why a publish (or a re-signing) was refused or failed.
#[derive(Debug, Error)]
pub enum PublishError {
    /// The submitted metadata failed verification (signatures, versions, support rules...).
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(
        "{name}: no uploaded content with sha256 {sha256} (PUT /v1/admin/blobs/{sha256} first)"
    )]
    MissingBlob { name: String, sha256: String },
    #[error("{name}: signed length {signed} but the uploaded content has {uploaded} bytes")]
    LengthMismatch {
        name: String,
        signed: u64,
        uploaded: u64,
    },
    #[error("{0}/support.json was not uploaded")]
    SupportRecordMissing(String),
    #[error("{product}/support.json is not a valid support record: {reason}")]
    SupportRecordInvalid { product: String, reason: String },
    #[error("{product} was removed at role v{last} and snapshot.json still lists it: the role of the product added again must be above v{last}")]
    RetiredRoleReused { product: String, last: u64 },
    #[error("nothing is published yet")]
    NothingPublished,
    #[error("a TUF client could not load the resulting repository: {0}")]
    ClientCheckFailed(String),
    /// Our own fault: signing, the online key files.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Rollout(#[from] RolloutError),
}

/// Largest support record accepted.
const SUPPORT_RECORD_LIMIT: u64 = 1 << 20;

fn response(view: &RepoView, changed: Vec<String>) -> PublishResponse {
    let ix = &view.index;
    PublishResponse {
        root_version: ix.root_version,
        targets_version: ix.targets_version,
        snapshot_version: ix.snapshot_version,
        timestamp_version: ix.timestamp_version,
        products: view.products.keys().cloned().collect(),
        targets: view.targets.len(),
        changed,
        held: Vec::new(),
    }
}

/// `actor`: the admin token's name, recorded in the audit log.
pub async fn publish(
    app: &AppState,
    req: PublishRequest,
    actor: &str,
) -> Result<PublishResponse, PublishError> {
    let guard = app.publish_lock.lock().await;
    let base = app.view();
    let now = app.clock.now();
    let hold = req.hold;
    let (verified, promote) = verify(app, &base, &Submission::from(&req), now)?;
    check_uploads(app, &verified).await?;
    let (supports, forced_withdrawals) = check_support_records(app, &base, &verified, now).await?;
    check_products_added_again(&base, &verified)?;
    let removed_products = check_removals(app, &base, &verified, now)?;

    let Changes {
        files,
        changed,
        published,
        removed,
    } = changes(&base, &verified);
    if base.is_published() && files.is_empty() && !removed && supports == base.index.supports {
        return Ok(response(&base, changed));
    }
    let signing_key = match &promote {
        Some(next) => std::sync::Arc::new(next.clone()),
        None => app.online_key(),
    };
    let view = commit(
        app,
        &base,
        published,
        supports,
        files,
        now,
        &signing_key,
        hold,
    )
    .await?;
    if let Some(next) = promote {
        let id = next.key_id().unwrap_or_default();
        app.promote_online_key(next);
        tracing::warn!(online_key = %id, "online key rotated by a new root");
        app.state
            .audit(
                now,
                "server",
                "online_key.rotated",
                &serde_json::json!({"key_id": id}),
            )
            .await?;
    }
    tracing::info!(
        generation = view.generation,
        snapshot = view.index.snapshot_version,
        changed = ?changed,
        "published"
    );
    drop(guard);
    audit_removals(
        app,
        &view,
        &removed_products,
        &forced_withdrawals,
        now,
        actor,
    )
    .await?;
    // committed: a failure here leaves rollouts to end at the next publish or start
    if let Err(e) = crate::rollouts::end_overtaken(app).await {
        tracing::error!(error = %e, "ending the rollouts this publish overtook failed");
    }
    let mut answer = response(&view, changed);
    if hold {
        answer.held = crate::rollouts::new_releases(&base, &view)
            .map(|r| r.name.clone())
            .collect();
    }
    Ok(answer)
}

/// Verifies the submission against what is published. A new root that names the prepared next
/// online key instead of the current one rotates the online key: the repository is verified
/// and signed with the next key, which then becomes the online key (no downtime: the switch
/// happens with the commit); that key is returned too.
fn verify(
    app: &AppState,
    base: &RepoView,
    submission: &Submission,
    now: jiff::Timestamp,
) -> Result<(VerifiedSubmission, Option<SigningKey>), PublishError> {
    match verify_submission(&base.published, submission, &app.online_key_id(), now) {
        Ok(v) => Ok((v, None)),
        Err(VerifyError::OnlineKeyNotAuthorised { .. }) if app.next_online_key().is_some() => {
            let next = app
                .next_online_key()
                .ok_or_else(|| PublishError::Internal("the next online key vanished".into()))?;
            let next_id = next
                .key_id()
                .map_err(|e| PublishError::Internal(e.to_string()))?;
            let v = verify_submission(&base.published, submission, &next_id, now)?;
            Ok((v, Some(next)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Every target must have been uploaded, with its signed length (the content hash was
/// verified when the blob was stored under its sha256).
async fn check_uploads(app: &AppState, verified: &VerifiedSubmission) -> Result<(), PublishError> {
    for (name, sha256, length) in verified.all_targets() {
        match app.blobs.stat(&sha256).await? {
            None => return Err(PublishError::MissingBlob { name, sha256 }),
            Some(len) if len != length => {
                return Err(PublishError::LengthMismatch {
                    name,
                    signed: length,
                    uploaded: len,
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Support records and release rules, against what is published now: each product's verified
/// record, and the security releases withdrawn inside their retention period (product, target).
async fn check_support_records(
    app: &AppState,
    base: &RepoView,
    verified: &VerifiedSubmission,
    now: jiff::Timestamp,
) -> Result<(BTreeMap<String, SupportRecord>, Vec<(String, String)>), PublishError> {
    let mut supports = BTreeMap::new();
    let mut forced_withdrawals: Vec<(String, String)> = Vec::new();
    for (product, p) in &verified.products {
        let bytes = app
            .blobs
            .read_small(&p.support_sha256, SUPPORT_RECORD_LIMIT)
            .await?
            .ok_or_else(|| PublishError::SupportRecordMissing(product.clone()))?;
        let record: SupportRecord =
            serde_json::from_slice(&bytes).map_err(|e| PublishError::SupportRecordInvalid {
                product: product.clone(),
                reason: e.to_string(),
            })?;
        let previous = base.products.get(product).map(|pv| PublishedProduct {
            support: pv.support.clone(),
            release_names: pv.releases.iter().map(|r| r.name.clone()).collect(),
        });
        check_product_rules(product, previous.as_ref(), &record, &p.releases, now)?;
        if let Some(pv) = base.products.get(product) {
            for name in check_retention(
                product,
                &pv.releases,
                &p.releases,
                &record,
                now,
                app.config.retention_years,
            )? {
                forced_withdrawals.push((product.clone(), name));
            }
        }
        supports.insert(product.clone(), record);
    }
    Ok((supports, forced_withdrawals))
}

/// A product added again after its removal: its role starts above the version that
/// snapshot.json still lists for it.
fn check_products_added_again(
    base: &RepoView,
    verified: &VerifiedSubmission,
) -> Result<(), PublishError> {
    for (product, p) in &verified.products {
        if let Some(&last) = base.index.retired_roles.get(product) {
            if p.role.version() <= last {
                return Err(PublishError::RetiredRoleReused {
                    product: product.clone(),
                    last,
                });
            }
        }
    }
    Ok(())
}

/// Products the submission no longer delegates to: removed only once nothing is owed to
/// their devices (support window over, no security release inside its retention period).
fn check_removals(
    app: &AppState,
    base: &RepoView,
    verified: &VerifiedSubmission,
    now: jiff::Timestamp,
) -> Result<Vec<String>, PublishError> {
    let mut removed_products = Vec::new();
    for (product, pv) in &base.products {
        if !verified.products.contains_key(product) {
            check_product_removal(
                product,
                &pv.releases,
                &pv.support,
                now,
                app.config.retention_years,
            )?;
            removed_products.push(product.clone());
        }
    }
    Ok(removed_products)
}

/// What a verified submission changes: the new metadata files, their names for the answer,
/// the repository after it, and whether a product role was removed.
struct Changes {
    files: Vec<(String, Vec<u8>)>,
    changed: Vec<String>,
    published: Published,
    removed: bool,
}

fn changes(base: &RepoView, verified: &VerifiedSubmission) -> Changes {
    let mut files = Vec::new();
    let mut changed = Vec::new();
    for r in &verified.new_roots {
        files.push((format!("{}.root.json", r.version()), r.bytes.clone()));
        changed.push(format!("root v{}", r.version()));
    }
    let targets = if verified.targets_changed || base.published.targets.is_none() {
        files.push((
            format!("{}.targets.json", verified.targets.version()),
            verified.targets.bytes.clone(),
        ));
        changed.push(format!("targets v{}", verified.targets.version()));
        verified.targets.clone()
    } else {
        base.published
            .targets
            .clone()
            .unwrap_or_else(|| verified.targets.clone())
    };
    let mut roles = BTreeMap::new();
    for (name, p) in &verified.products {
        let role = match base.published.roles.get(name) {
            Some(old) if !p.changed => old.clone(),
            _ => {
                files.push((
                    format!("{}.{name}.json", p.role.version()),
                    p.role.bytes.clone(),
                ));
                changed.push(format!("{name} v{}", p.role.version()));
                p.role.clone()
            }
        };
        roles.insert(name.clone(), role);
    }
    let removed = base
        .published
        .roles
        .keys()
        .any(|name| !roles.contains_key(name));
    let mut roots = base.published.roots.clone();
    roots.extend(verified.new_roots.iter().cloned());
    Changes {
        files,
        changed,
        published: Published {
            roots,
            targets: Some(targets),
            roles,
        },
        removed,
    }
}

/// Audits the removed products and the forced withdrawals of a publish.
async fn audit_removals(
    app: &AppState,
    view: &RepoView,
    removed_products: &[String],
    forced_withdrawals: &[(String, String)],
    now: jiff::Timestamp,
    actor: &str,
) -> Result<(), PublishError> {
    for product in removed_products {
        tracing::warn!(%product, "product removed from the repository");
        app.state
            .audit(
                now,
                actor,
                "product.removed",
                &serde_json::json!({"product": product}),
            )
            .await?;
    }
    for (product, name) in forced_withdrawals {
        let reason = view
            .products
            .get(product)
            .and_then(|p| {
                p.support
                    .history
                    .iter()
                    .rev()
                    .find(|c| c.withdrawn.as_deref() == Some(name.as_str()))
            })
            .map(|c| c.reason.clone())
            .unwrap_or_default();
        tracing::warn!(%product, target = %name, %reason, "security release withdrawn inside its retention period");
        app.state
            .audit(
                now,
                actor,
                "release.forced_withdrawal",
                &serde_json::json!({"product": product, "target": name, "reason": reason}),
            )
            .await?;
    }
    Ok(())
}

/// The version after `version` (0: none yet) of the snapshot or timestamp, read from the
/// state store. At u64::MAX there is none: wrapping to 1 would be a rollback every TUF client
/// refuses, so the publish fails instead.
fn next_version(version: u64, role: &str) -> Result<NonZeroU64, PublishError> {
    version
        .checked_add(1)
        .and_then(NonZeroU64::new)
        .ok_or_else(|| {
            PublishError::Internal(format!(
                "{role}.json is at version {version}, the last one: nothing can follow it"
            ))
        })
}

/// Signs a new snapshot and timestamp over `published`, checks the result with a TUF client,
/// and commits it together with `files` (new metadata files) as the next generation; with
/// `hold`, every new release's held rollout is committed in the same transaction.
/// The caller holds the publish lock.
#[allow(clippy::too_many_arguments)]
pub async fn commit(
    app: &AppState,
    base: &RepoView,
    published: Published,
    supports: BTreeMap<String, SupportRecord>,
    mut files: Vec<(String, Vec<u8>)>,
    now: jiff::Timestamp,
    key: &airlock_core::keys::SigningKey,
    hold: bool,
) -> Result<RepoView, PublishError> {
    let root = published
        .roots
        .last()
        .ok_or_else(|| PublishError::Internal("no root to publish".into()))?;
    let targets = published
        .targets
        .as_ref()
        .ok_or_else(|| PublishError::Internal("no targets to publish".into()))?;
    // Removed products stay listed at their last version (see RepoIndex::retired_roles).
    let mut retired = base.index.retired_roles.clone();
    for (name, m) in &base.published.roles {
        if !published.roles.contains_key(name) {
            retired.insert(name.clone(), m.version());
        }
    }
    retired.retain(|name, _| !published.roles.contains_key(name));
    let mut roles: BTreeMap<String, NonZeroU64> = retired
        .iter()
        .filter_map(|(n, v)| NonZeroU64::new(*v).map(|v| (n.clone(), v)))
        .collect();
    roles.extend(
        published
            .roles
            .iter()
            .map(|(n, m)| (n.clone(), m.signed.signed.version)),
    );
    let contents = SnapshotContents {
        targets_version: targets.signed.signed.version,
        roles,
    };
    let snapshot_version = next_version(base.index.snapshot_version, "snapshot")?;
    let timestamp_version = next_version(base.index.timestamp_version, "timestamp")?;
    let expires = |d: jiff::SignedDuration| now.checked_add(d).unwrap_or(now);
    let (snapshot, timestamp) = sign_snapshot_and_timestamp(
        &root.signed.signed,
        key,
        &contents,
        snapshot_version,
        expires(app.config.snapshot_lifetime),
        timestamp_version,
        expires(app.config.timestamp_lifetime),
    )
    .await
    .map_err(|e| PublishError::Internal(e.to_string()))?;
    files.push((
        format!("{snapshot_version}.snapshot.json"),
        snapshot.bytes.clone(),
    ));
    // Every timestamp is kept too (audit; `/tuf/metadata/N.timestamp.json`), though clients
    // only ever read `timestamp.json`.
    files.push((
        format!("{timestamp_version}.timestamp.json"),
        timestamp.bytes.clone(),
    ));

    // Load it as a device would before anyone can see it.
    let mut all: HashMap<String, Bytes> = HashMap::new();
    for r in &published.roots {
        all.insert(
            format!("{}.root.json", r.version()),
            Bytes::from(r.bytes.clone()),
        );
    }
    all.insert(
        format!("{}.targets.json", targets.version()),
        Bytes::from(targets.bytes.clone()),
    );
    for (name, m) in &published.roles {
        all.insert(
            format!("{}.{name}.json", m.version()),
            Bytes::from(m.bytes.clone()),
        );
    }
    all.insert(
        format!("{snapshot_version}.snapshot.json"),
        Bytes::from(snapshot.bytes.clone()),
    );
    all.insert(
        "timestamp.json".into(),
        Bytes::from(timestamp.bytes.clone()),
    );
    let root_v1 = published
        .roots
        .first()
        .map(|r| r.bytes.clone())
        .unwrap_or_default();
    selfcheck::load_like_a_device(&root_v1, all)
        .await
        .map_err(|e| PublishError::ClientCheckFailed(e.to_string()))?;

    let index = RepoIndex {
        root_version: root.version(),
        targets_version: targets.version(),
        roles: published
            .roles
            .iter()
            .map(|(n, m)| (n.clone(), m.version()))
            .collect(),
        snapshot_version: snapshot_version.get(),
        timestamp_version: timestamp_version.get(),
        snapshot_expires: Some(snapshot.expires),
        timestamp_expires: Some(timestamp.expires),
        supports,
        retired_roles: retired,
    };
    let head = Head {
        generation: base.generation.checked_add(1).ok_or_else(|| {
            PublishError::Internal(format!(
                "the repository is at generation {}, the last one",
                base.generation
            ))
        })?,
        timestamp: timestamp.bytes,
        index,
    };
    let view = RepoView::from_parts(&head, published, snapshot.bytes)
        .map_err(|e| PublishError::Internal(e.to_string()))?;
    let held = if hold {
        crate::rollouts::held_rollouts(base, &view, now)
    } else {
        Vec::new()
    };
    if let Err(e) = app
        .state
        .commit_with_rollouts(base.generation, files, &head, &held)
        .await
    {
        if matches!(e, StateError::Conflict { .. }) {
            // Another replica committed first: follow it, so that a retry starts from there.
            if let Err(e) = app.follow_store().await {
                tracing::warn!(error = %e, "could not follow the other replica's publish");
            }
        }
        return Err(e.into());
    }
    app.switch_committed(view.clone(), &held);
    Ok(view)
}

/// Re-signs snapshot and timestamp when either has used up half its lifetime, so devices never
/// meet an expired timestamp because nobody republished. Returns whether it renewed.
pub async fn renew_if_due(app: &AppState) -> Result<bool, PublishError> {
    let _guard = app.publish_lock.lock().await;
    let base = app.view();
    if !base.is_published() {
        return Ok(false);
    }
    let now = app.clock.now();
    let due = |expires: Option<jiff::Timestamp>, lifetime: jiff::SignedDuration| match expires {
        Some(e) => e.duration_since(now) < lifetime / 2,
        None => true,
    };
    if !due(base.index.timestamp_expires, app.config.timestamp_lifetime)
        && !due(base.index.snapshot_expires, app.config.snapshot_lifetime)
    {
        return Ok(false);
    }
    resign_locked(app, &base, now).await?;
    Ok(true)
}

/// Re-signs snapshot and timestamp now, whatever their expiry (e.g. after an online key
/// incident, or to test clients). Fails if nothing is published.
pub async fn resign(app: &AppState) -> Result<RepoView, PublishError> {
    let _guard = app.publish_lock.lock().await;
    let base = app.view();
    if !base.is_published() {
        return Err(PublishError::NothingPublished);
    }
    resign_locked(app, &base, app.clock.now()).await
}

async fn resign_locked(
    app: &AppState,
    base: &RepoView,
    now: jiff::Timestamp,
) -> Result<RepoView, PublishError> {
    let view = commit(
        app,
        base,
        base.published.clone(),
        base.index.supports.clone(),
        Vec::new(),
        now,
        &app.online_key(),
        false,
    )
    .await?;
    tracing::info!(
        timestamp = view.index.timestamp_version,
        "re-signed snapshot and timestamp"
    );
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_snapshot_or_timestamp_version_has_no_successor() {
        assert_eq!(next_version(0, "snapshot").ok(), NonZeroU64::new(1));
        assert_eq!(next_version(41, "timestamp").ok(), NonZeroU64::new(42));
        match next_version(u64::MAX, "timestamp") {
            Err(PublishError::Internal(m)) => assert!(m.contains("timestamp.json"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
