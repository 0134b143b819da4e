//! The check-in service: the update decision for one device, from the published releases, the
//! product's support record, the device's policy and the rollouts; the check-in is recorded
//! (in batches) and counted.

use thiserror::Error;

use airlock_core::api::{CheckInRequest, CheckInResponse};
use airlock_core::decision::{decide_with_policy, Decision, DevicePolicy, DeviceState};
use airlock_core::hold::hold_expired;
use airlock_core::names;
use airlock_core::release::Release;

use crate::app::AppState;
use crate::auth::Device;
use crate::deviceauth::DeviceAuthError;
use crate::storage::CheckInRecord;

/// Why a check-in or report was refused.
#[derive(Debug, Error)]
pub enum CheckInError {
    #[error(transparent)]
    Device(#[from] DeviceAuthError),
    /// A malformed product id.
    #[error("{0}")]
    BadProduct(String),
    #[error("version {version:?} is not a semantic version: {reason}")]
    BadVersion { version: String, reason: String },
    /// A policy the device may not have (e.g. postponing security updates too long).
    #[error("{0}")]
    BadPolicy(String),
    #[error("unknown product {0:?}")]
    UnknownProduct(String),
}

pub(crate) fn parse_version(v: &str) -> Result<semver::Version, CheckInError> {
    semver::Version::parse(v).map_err(|e| CheckInError::BadVersion {
        version: v.to_string(),
        reason: e.to_string(),
    })
}

/// Decides what `device` should do, records its check-in and answers.
pub fn check_in(
    app: &AppState,
    device: &Device,
    req: CheckInRequest,
) -> Result<CheckInResponse, CheckInError> {
    device.check_product(&req.product)?;
    names::check_product_id(&req.product).map_err(|e| CheckInError::BadProduct(e.to_string()))?;
    let state = DeviceState {
        product: req.product.clone(),
        version: parse_version(&req.version)?,
        security_version: req.security_version,
    };
    let view = app.view();
    let product = view
        .products
        .get(&req.product)
        .ok_or_else(|| CheckInError::UnknownProduct(req.product.clone()))?;
    let now = app.clock.now();
    let policy = req.policy.clone().unwrap_or_else(DevicePolicy::automatic);
    policy
        .validate(now, app.config.max_postpone_days)
        .map_err(|e| CheckInError::BadPolicy(e.to_string()))?;
    // A release with a rollout reaches the device when its wave does; one without, at once.
    // A security release held back past its limit reaches every device it may be installed on:
    // the device would install it anyway (core/src/hold.rs), and an honest server agrees.
    let rollouts = app.rollouts();
    let (decision, deferred) = decide_with_policy(
        &state,
        &product.releases,
        &product.support,
        now,
        |r| hold_expired(r, now) || crate::rollouts::released_to(&rollouts, r, &device.id, now),
        &policy,
    );
    record(app, &device.id, &req, &decision, now);
    let mut answer = CheckInResponse::from_decision(decision);
    match &mut answer {
        CheckInResponse::UpToDate { deferred: d } => *d = deferred,
        CheckInResponse::Update { target, .. } => {
            target.advisories = fixed_between(&product.releases, &state.version, &target.version)
        }
        _ => {}
    }
    Ok(answer)
}

/// Counts the check-in and queues its record; the answer does not depend on the record.
fn record(
    app: &AppState,
    device_id: &str,
    req: &CheckInRequest,
    decision: &Decision,
    now: jiff::Timestamp,
) {
    let label = match decision {
        Decision::Update { .. } => "update",
        Decision::UpToDate => "up_to_date",
        Decision::EndOfSupport(_) => "end_of_support",
    };
    tracing::debug!(device = %device_id, product = %req.product, decision = label, "check-in");
    app.metrics
        .check_ins
        .get_or_create(&crate::metrics::DecisionLabels {
            decision: label.to_string(),
        })
        .inc();
    let record = CheckInRecord {
        device_id: device_id.to_string(),
        product: req.product.clone(),
        version: req.version.clone(),
        security_version: req.security_version,
        decision: label.to_string(),
        at: now,
        // the device's choice is recorded with its check-in (CRA Annex I opt-out)
        policy: req
            .policy
            .as_ref()
            .and_then(|p| serde_json::to_string(p).ok()),
    };
    // Written in batches.
    if !app.check_ins.record(record) {
        tracing::warn!("check-in queue full: record dropped");
    }
}

/// Every vulnerability fixed between what the device runs and what it is offered.
fn fixed_between(
    releases: &[Release],
    running: &semver::Version,
    offered: &str,
) -> Vec<airlock_core::release::Advisory> {
    let Ok(offered) = semver::Version::parse(offered) else {
        return Vec::new();
    };
    releases
        .iter()
        .filter(|r| r.info.version > *running && r.info.version <= offered)
        .flat_map(|r| r.info.advisories.iter().cloned())
        .collect()
}
