//! Device endpoints: check-in (the decision) and reports.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use crate::deviceauth::DeviceAuth;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use airlock_core::api::{
    CheckInRequest, CheckInResponse, DeviceReport, EnrolRequest, EnrolResponse, ErrorBody,
    ReportStatus,
};
use airlock_core::decision::{decide_with_policy, Decision, DevicePolicy, DeviceState};
use airlock_core::names;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::parse_json;
use crate::storage::state::CheckInRecord;

/// Device ids: 1-128 characters of A-Z a-z 0-9 . _ : -
pub fn check_device_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "device id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'",
        ))
    }
}

fn parse_version(v: &str) -> Result<semver::Version, ApiError> {
    semver::Version::parse(v)
        .map_err(|e| ApiError::bad_request(format!("version {v:?} is not a semantic version: {e}")))
}

/// `POST /v1/devices/{device_id}/reports` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportAccepted {
    /// Always `true`.
    pub accepted: bool,
}

/// Check-in: the update decision for one device.
///
/// Answers `update` (with the target to fetch through TUF), `up_to_date` (possibly naming an
/// update the device's policy defers) or `end_of_support`. With `--device-auth required` (the
/// default) the device's credential from enrolment is required.
#[utoipa::path(
    post,
    path = "/v1/devices/{device_id}/check-in",
    tag = "devices",
    params(("device_id" = String, Path, description = "1-128 characters of A-Z a-z 0-9 . _ : -")),
    request_body = CheckInRequest,
    responses(
        (status = 200, description = "The decision", body = CheckInResponse),
        (status = 400, description = "Malformed device id, body, version or policy", body = ErrorBody),
        (status = 401, description = "No or unknown device credential", body = ErrorBody),
        (status = 403, description = "Credential revoked or for another product", body = ErrorBody),
        (status = 404, description = "Unknown product (`unknown_product`)", body = ErrorBody),
        (status = 408, description = "The request took longer than the request timeout"),
        (status = 429, description = "Rate limited (`Retry-After` says when to retry)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    ),
    security((), ("device_credential" = []))
)]
pub async fn check_in(
    State(app): State<AppState>,
    Path(device_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CheckInResponse>, ApiError> {
    check_device_id(&device_id)?;
    let req: CheckInRequest = parse_json(&body)?;
    if app.config.device_auth == DeviceAuth::Required {
        app.credentials
            .check(&device_id, &headers, Some(&req.product))?;
    }
    names::check_product_id(&req.product).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let device = DeviceState {
        product: req.product.clone(),
        version: parse_version(&req.version)?,
        security_version: req.security_version,
    };
    let view = app.view();
    let product = view.products.get(&req.product).ok_or_else(|| {
        ApiError::not_found(
            "unknown_product",
            format!("unknown product {:?}", req.product),
        )
    })?;
    let now = app.clock.now();
    let policy = req.policy.clone().unwrap_or_else(DevicePolicy::automatic);
    policy
        .validate(now, app.config.max_postpone_days)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // A release with a rollout reaches the device when its wave does; one without, at once.
    let rollouts = app.rollouts();
    let (decision, deferred) = decide_with_policy(
        &device,
        &product.releases,
        &product.support,
        now,
        |r| crate::rollouts::released_to(&rollouts, r, &device_id, now),
        &policy,
    );
    let label = match &decision {
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
        device_id,
        product: req.product,
        version: req.version,
        security_version: req.security_version,
        decision: label.to_string(),
        at: now,
        // the device's choice is recorded with its check-in (CRA Annex I opt-out)
        policy: req
            .policy
            .as_ref()
            .and_then(|p| serde_json::to_string(p).ok()),
    };
    // Written in batches; the answer does not depend on the record.
    if !app.check_ins.record(record) {
        tracing::warn!("check-in queue full: record dropped");
    }
    let mut answer = CheckInResponse::from_decision(decision);
    if let CheckInResponse::UpToDate { deferred: d } = &mut answer {
        *d = deferred;
    }
    if let CheckInResponse::Update { target, .. } = &mut answer {
        // Name every vulnerability fixed between what the device runs and what it is offered.
        if let Ok(offered) = semver::Version::parse(&target.version) {
            target.advisories = product
                .releases
                .iter()
                .filter(|r| r.info.version > device.version && r.info.version <= offered)
                .flat_map(|r| r.info.advisories.iter().cloned())
                .collect();
        }
    }
    Ok(Json(answer))
}

/// Report: download and installation progress of an offered update.
///
/// `installed` and `failed` reports feed the health rule of a staged rollout, which pauses
/// itself when the rule trips.
#[utoipa::path(
    post,
    path = "/v1/devices/{device_id}/reports",
    tag = "devices",
    params(("device_id" = String, Path, description = "1-128 characters of A-Z a-z 0-9 . _ : -")),
    request_body = DeviceReport,
    responses(
        (status = 202, description = "Recorded", body = ReportAccepted),
        (status = 400, description = "Malformed device id, body, version or code", body = ErrorBody),
        (status = 401, description = "No or unknown device credential", body = ErrorBody),
        (status = 403, description = "Credential revoked", body = ErrorBody),
        (status = 408, description = "The request took longer than the request timeout"),
        (status = 429, description = "Rate limited (`Retry-After` says when to retry)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    ),
    security((), ("device_credential" = []))
)]
pub async fn report(
    State(app): State<AppState>,
    Path(device_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<ReportAccepted>), ApiError> {
    check_device_id(&device_id)?;
    if app.config.device_auth == DeviceAuth::Required {
        app.credentials.check(&device_id, &headers, None)?;
    }
    let report: DeviceReport = parse_json(&body)?;
    parse_version(&report.version)?;
    if report.code.as_ref().is_some_and(|c| c.len() > 256) {
        return Err(ApiError::bad_request("code must be at most 256 characters"));
    }
    // Written after the device's check-in record (its product), in a shared transaction.
    app.check_ins
        .report(&device_id, &report, app.clock.now())
        .await?;
    app.metrics
        .reports
        .get_or_create(&crate::metrics::StatusLabels {
            status: report.status.as_str().to_string(),
        })
        .inc();
    if report.status != ReportStatus::Downloading {
        crate::rollouts::after_report(&app, &device_id, &report.version).await?;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(ReportAccepted { accepted: true }),
    ))
}

/// Enrolment: exchanges an enrolment token for the device's own credential.
///
/// The credential is shown once; the server keeps only its digest.
#[utoipa::path(
    post,
    path = "/v1/devices/{device_id}/enrol",
    tag = "devices",
    params(("device_id" = String, Path, description = "1-128 characters of A-Z a-z 0-9 . _ : -")),
    request_body = EnrolRequest,
    responses(
        (status = 201, description = "Enrolled; use `credential` as bearer token", body = EnrolResponse),
        (status = 400, description = "Malformed device id or body", body = ErrorBody),
        (status = 401, description = "Invalid or revoked enrolment token", body = ErrorBody),
        (status = 403, description = "Token for another product or device", body = ErrorBody),
        (status = 409, description = "Device already enrolled", body = ErrorBody),
        (status = 429, description = "Rate limited (`Retry-After` says when to retry)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
pub async fn enrol(
    State(app): State<AppState>,
    Path(device_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<EnrolResponse>), ApiError> {
    use crate::deviceauth::{random_secret, sha256_hex};
    check_device_id(&device_id)?;
    let req: EnrolRequest = parse_json(&body)?;
    let token = app
        .state
        .enrolment_token(&sha256_hex(req.token.trim()))
        .await?
        .filter(|t| !t.revoked)
        .ok_or_else(|| ApiError::unauthorized("invalid enrolment token"))?;
    if token.product != req.product {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_product",
            format!(
                "this enrolment token is for {}, not {}",
                token.product, req.product
            ),
        ));
    }
    if token.device_id.as_ref().is_some_and(|d| *d != device_id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_device",
            "this enrolment token is for another device",
        ));
    }
    let credential = random_secret();
    let record = crate::storage::state::DeviceCredential {
        device_id: device_id.clone(),
        product: req.product.clone(),
        credential_sha256: sha256_hex(&credential),
        revoked: false,
    };
    app.state
        .insert_credential(&record, app.clock.now())
        .await
        .map_err(|e| match e {
            crate::storage::StateError::FileExists(_) => ApiError::conflict(format!(
                "device {device_id} is already enrolled (revoke it first to enrol it again)"
            )),
            other => other.into(),
        })?;
    app.credentials.set(record);
    tracing::info!(device = %device_id, product = %req.product, "device enrolled");
    Ok((
        StatusCode::CREATED,
        Json(EnrolResponse {
            device_id,
            product: req.product,
            credential,
        }),
    ))
}
