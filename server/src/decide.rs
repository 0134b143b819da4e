//! The check-in service: the update decision for one device, from the published releases, the
//! product's support record, the device's policy and the rollouts; the check-in is recorded
//! (in batches) and counted. A check-in that offers a release answers only once the offer is
//! committed: a report counts only for a release the server offered that device.

use thiserror::Error;

use airlock_core::api::{CheckInRequest, CheckInResponse};
use airlock_core::decision::{decide_with_policy, Decision, DevicePolicy, DeviceState};
use airlock_core::hold::hold_expired;
use airlock_core::names;
use airlock_core::release::Release;

use crate::app::AppState;
use crate::auth::Device;
use crate::deviceauth::DeviceAuthError;
use crate::storage::{CheckInRecord, StateError};

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
    /// The offer could not be recorded (the device is told to try again).
    #[error(transparent)]
    State(#[from] StateError),
}

pub(crate) fn parse_version(v: &str) -> Result<semver::Version, CheckInError> {
    semver::Version::parse(v).map_err(|e| CheckInError::BadVersion {
        version: v.to_string(),
        reason: e.to_string(),
    })
}

/// The device state a check-in body claims, once its product id and version are well formed
/// (the body's own checks, before any lookup; `fuzz/` drives this with untrusted bodies).
pub fn device_state(req: &CheckInRequest) -> Result<DeviceState, CheckInError> {
    names::check_product_id(&req.product).map_err(|e| CheckInError::BadProduct(e.to_string()))?;
    Ok(DeviceState {
        product: req.product.clone(),
        version: parse_version(&req.version)?,
        security_version: req.security_version,
    })
}

/// Decides what `device` should do, records its check-in (unless it is a drill device) and
/// answers.
pub async fn check_in(
    app: &AppState,
    device: &Device,
    req: CheckInRequest,
) -> Result<CheckInResponse, CheckInError> {
    device.check_product(&req.product)?;
    let state = device_state(&req)?;
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
    if device.drill {
        // answered as any device, recorded nowhere: drills must not count in fleet figures
        tracing::info!(device = %device.id, product = %req.product, drill = true,
            "check-in of a drill device: answered, not recorded");
    } else {
        record(app, &device.id, &req, &decision, now).await?;
    }
    let mut answer = CheckInResponse::from_decision(decision);
    match &mut answer {
        CheckInResponse::UpToDate { deferred: d } => *d = deferred,
        CheckInResponse::Update { target, .. } => {
            target.advisories = fixed_between(&product.releases, &state.version, &target.version);
            let deltas = view.deltas.get(&req.product).map_or(&[][..], Vec::as_slice);
            target.delta = offered_delta(
                &product.releases,
                deltas,
                target,
                req.installed_sha256.as_deref(),
                &req.accepted_delta_algorithms(),
                &policy,
            );
        }
        _ => {}
    }
    Ok(answer)
}

/// Counts the check-in and queues its record. An offer is committed before the answer goes
/// out (the device's report of it must find it, on any replica); any other record is written
/// in a later batch and the answer does not wait for it.
async fn record(
    app: &AppState,
    device_id: &str,
    req: &CheckInRequest,
    decision: &Decision,
    now: jiff::Timestamp,
) -> Result<(), StateError> {
    let (label, offered) = match decision {
        Decision::Update { release, .. } => ("update", Some(release.info.version.to_string())),
        Decision::UpToDate => ("up_to_date", None),
        Decision::EndOfSupport(_) => ("end_of_support", None),
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
        offered,
    };
    if record.offered.is_some() {
        return app.check_ins.offer(record).await;
    }
    // Written in batches.
    if !app.check_ins.record(record) {
        tracing::warn!("check-in queue full: record dropped");
    }
    Ok(())
}

/// The signed delta that rebuilds the offered target from the device's installed image with an
/// algorithm the device applies (its first choice that the role signs), unless the device's
/// policy asks for full images (docs/deltas.md). The server only picks among the
/// deltas the product role signed; it never makes one (it holds no product key).
fn offered_delta(
    releases: &[Release],
    deltas: &[airlock_core::delta::Delta],
    target: &airlock_core::api::OfferedTarget,
    installed_sha256: Option<&str>,
    accepted: &[&str],
    policy: &DevicePolicy,
) -> Option<Box<airlock_core::api::OfferedDelta>> {
    let installed = installed_sha256?;
    if policy.full_images {
        return None;
    }
    let release = releases.iter().find(|r| r.name == target.name)?;
    airlock_core::delta::delta_for(deltas, release, installed, accepted)
        .map(|d| Box::new(airlock_core::api::OfferedDelta::from_delta(d)))
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
