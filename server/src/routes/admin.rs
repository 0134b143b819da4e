//! Admin API (bearer admin token): blob upload, publish, repository state.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use crate::auth::{scope, Admin};
use axum::Json;
use futures::TryStreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use airlock_core::api::{
    DeviceEnrolment, DeviceHistory, DeviceRevocation, EnrolmentTokenInfo, EnrolmentTokenRequest,
    EnrolmentTokenResponse, ErrorBody, FleetReport, OfferInfo, PublishRequest, PublishResponse,
    ReportInfo, RolloutAction, RolloutRequest, RolloutStatus,
};

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::openapi::{Binary, BlobPath, DevicePath, ProductPath, ReleasePath, TokenPath};
use crate::routes::responses::{AdminRefusals, ServerFault, Timeout, TooLarge, UnknownProduct};
use crate::routes::{parse_json, LimitedBody};

pub use crate::auth::Scope;

/// A stored blob (firmware image or other target file).
#[derive(Debug, Serialize, ToSchema)]
pub struct BlobInfo {
    /// Hex SHA-256 of the content: the blob's name.
    pub sha256: String,
    /// Length in bytes.
    pub length: u64,
}

/// `POST /v1/admin/resign` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Resigned {
    pub snapshot_version: u64,
    pub timestamp_version: u64,
}

/// `GET /v1/admin/repository` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepositoryState {
    /// Incremented by every commit (publish, re-sign, renewal).
    pub generation: u64,
    /// Current metadata versions and expiry dates, and each product's verified support record.
    #[schema(value_type = Object)]
    pub index: crate::storage::RepoIndex,
    /// Key id of the online key (snapshot + timestamp).
    pub online_key: String,
}

/// Whether a blob is stored (scope `publish`); uploads skip blobs the server has.
#[utoipa::path(
    get,
    path = "/v1/admin/blobs/{sha256}",
    tag = "admin",
    params(BlobPath),
    responses(
        (status = 200, description = "Stored", body = BlobInfo),
        (status = 400, description = "Not a SHA-256 digest", body = ErrorBody),
        (status = 404, description = "No such blob", body = ErrorBody),
        AdminRefusals<scope::Publish>,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn head_blob(
    State(app): State<AppState>,
    _admin: Admin<scope::Publish>,
    Path(sha256): Path<String>,
) -> Result<Json<BlobInfo>, ApiError> {
    match app.blobs.stat(&sha256).await? {
        Some(length) => Ok(Json(BlobInfo { sha256, length })),
        None => Err(ApiError::not_found(
            "not_found",
            format!("no blob {sha256}"),
        )),
    }
}

/// Uploads a blob (scope `publish`), streamed to storage and checked against its name.
///
/// Upload every target file before the publish that lists it.
#[utoipa::path(
    put,
    path = "/v1/admin/blobs/{sha256}",
    tag = "admin",
    params(BlobPath),
    request_body(content = inline(Binary), content_type = "application/octet-stream", description = "The content"),
    responses(
        (status = 201, description = "Stored", body = BlobInfo),
        (status = 400, description = "Not a SHA-256 digest (`bad_request`), content does not match it (`hash_mismatch`), or upload interrupted", body = ErrorBody),
        (status = 413, description = "Larger than `--max-upload-bytes` (`too_large`)", body = ErrorBody),
        AdminRefusals<scope::Publish>,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn put_blob(
    State(app): State<AppState>,
    admin: Admin<scope::Publish>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<BlobInfo>), ApiError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let limit = app.config.max_upload_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(crate::storage::BlobError::TooLarge { limit }.into());
    }
    let received = std::sync::Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let stream = body
        .into_data_stream()
        .inspect_ok(move |chunk| {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        })
        .map_err(|e| std::io::Error::other(e.to_string()));
    let length = match app.blobs.put(&sha256, Box::pin(stream), limit).await {
        Ok(length) => length,
        Err(e) => {
            if matches!(e, crate::storage::BlobError::Interrupted(_)) {
                // the client went away mid-body (or its connection broke): nothing is stored
                tracing::warn!(
                    route = "/v1/admin/blobs/{sha256}", remote = %admin.remote,
                    token = admin.name(), %sha256, received = received.load(Ordering::Relaxed),
                    declared, error = %e, "blob upload aborted"
                );
            }
            return Err(e.into());
        }
    };
    tracing::info!(%sha256, length, "blob stored");
    Ok((StatusCode::CREATED, Json(BlobInfo { sha256, length })))
}

/// Publishes signed metadata (scope `publish`), verified in full before it is served.
///
/// Root chain from the pinned root, signatures and thresholds, increasing versions, delegation
/// paths, support-record rules, uploaded blobs against signed lengths and hashes; then the
/// server signs snapshot and timestamp and switches the repository in one step.
#[utoipa::path(
    post,
    path = "/v1/admin/publish",
    tag = "admin",
    request_body = PublishRequest,
    responses(
        (status = 200, description = "Published", body = PublishResponse),
        (status = 400, description = "Refused: `bad_request`, `invalid_metadata`, `bad_signature`, `expired`, `support_rule`, ...", body = ErrorBody),
        (status = 409, description = "A version rollback or reuse, a root fork, or a concurrent publish won (`conflict`)", body = ErrorBody),
        (status = 413, description = "Body larger than `--max-metadata-bytes` (`too_large`)", body = ErrorBody),
        (status = 422, description = "A TUF client could not load the result (`client_check_failed`)", body = ErrorBody),
        AdminRefusals<scope::Publish>,
        Timeout,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn publish(
    State(app): State<AppState>,
    admin: Admin<scope::Publish>,
    LimitedBody(body): LimitedBody,
) -> Result<Json<PublishResponse>, ApiError> {
    let req: PublishRequest = parse_json(&body)?;
    let started = std::time::Instant::now();
    let result = crate::publish::publish(&app, req, admin.name())
        .await
        .map_err(ApiError::from);
    record_publish(&app, &result, started, admin.name()).await?;
    Ok(Json(result?))
}

/// Every publish, accepted or refused, is logged, timed, counted and audited (by the admin
/// token's name, `actor`).
async fn record_publish(
    app: &AppState,
    result: &Result<PublishResponse, ApiError>,
    started: std::time::Instant,
    actor: &str,
) -> Result<(), ApiError> {
    let ms = started.elapsed().as_millis() as u64;
    let detail = match result {
        Ok(r) => {
            tracing::info!(ms, ok = true, changed = ?r.changed, "publish");
            serde_json::json!({"ok": true, "changed": r.changed, "snapshot_version": r.snapshot_version})
        }
        Err(e) => {
            // the reason in the log line too: an operator reading the log sees why
            tracing::warn!(ms, ok = false, error = e.code, reason = %e.message, "publish refused");
            serde_json::json!({"ok": false, "error": e.code, "message": e.message})
        }
    };
    app.metrics
        .publish_seconds
        .observe(started.elapsed().as_secs_f64());
    app.metrics
        .publishes
        .get_or_create(&crate::metrics::ResultLabels {
            result: if result.is_ok() { "ok" } else { "refused" }.to_string(),
        })
        .inc();
    app.state
        .audit(app.clock.now(), actor, "publish", &detail)
        .await?;
    Ok(())
}

/// Re-signs snapshot and timestamp now (scope `publish`).
///
/// New versions, e.g. to push fresh expiry dates or in drills that need an older timestamp.
#[utoipa::path(
    post,
    path = "/v1/admin/resign",
    tag = "admin",
    responses(
        (status = 200, description = "Re-signed", body = Resigned),
        (status = 409, description = "Nothing is published yet", body = ErrorBody),
        AdminRefusals<scope::Publish>,
        Timeout,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn resign(
    State(app): State<AppState>,
    admin: Admin<scope::Publish>,
) -> Result<Json<Resigned>, ApiError> {
    let view = crate::publish::resign(&app).await?;
    app.state
        .audit(
            app.clock.now(),
            admin.name(),
            "resign",
            &serde_json::json!({"timestamp_version": view.index.timestamp_version}),
        )
        .await?;
    Ok(Json(Resigned {
        snapshot_version: view.index.snapshot_version,
        timestamp_version: view.index.timestamp_version,
    }))
}

/// Starts a staged rollout of a published release (scope `rollout`).
#[utoipa::path(
    post,
    path = "/v1/admin/rollouts",
    tag = "admin",
    request_body = RolloutRequest,
    responses(
        (status = 201, description = "Started", body = RolloutStatus),
        (status = 400, description = "Malformed body, version, waves or health rule", body = ErrorBody),
        (status = 404, description = "Unknown product or release", body = ErrorBody),
        (status = 409, description = "The release already has a rollout in progress", body = ErrorBody),
        AdminRefusals<scope::Rollout>,
        Timeout,
        TooLarge,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn start_rollout(
    State(app): State<AppState>,
    admin: Admin<scope::Rollout>,
    LimitedBody(body): LimitedBody,
) -> Result<(StatusCode, Json<RolloutStatus>), ApiError> {
    let req: RolloutRequest = parse_json(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(crate::rollouts::start(&app, req, admin.name()).await?),
    ))
}

/// Every rollout, with progress and health (scope `read`).
#[utoipa::path(
    get,
    path = "/v1/admin/rollouts",
    tag = "admin",
    responses(
        (status = 200, description = "All rollouts", body = Vec<RolloutStatus>),
        AdminRefusals<scope::Read>,
        Timeout,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn list_rollouts(
    State(app): State<AppState>,
    _admin: Admin<scope::Read>,
) -> Result<Json<Vec<RolloutStatus>>, ApiError> {
    Ok(Json(crate::rollouts::list(&app).await?))
}

/// The latest rollout of one release (scope `read`).
#[utoipa::path(
    get,
    path = "/v1/admin/rollouts/{product}/{version}",
    tag = "admin",
    params(ReleasePath),
    responses(
        (status = 200, description = "The rollout", body = RolloutStatus),
        (status = 400, description = "Not a semantic version", body = ErrorBody),
        (status = 404, description = "Unknown product or release, or no rollout (`no_rollout`)", body = ErrorBody),
        AdminRefusals<scope::Read>,
        Timeout,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn rollout_status(
    State(app): State<AppState>,
    _admin: Admin<scope::Read>,
    Path((product, version)): Path<(String, String)>,
) -> Result<Json<RolloutStatus>, ApiError> {
    Ok(Json(
        crate::rollouts::status(&app, &product, &version).await?,
    ))
}

/// Pauses, resumes or aborts a rollout (scope `rollout`).
///
/// A rollout paused by its health rule resumes only this way.
#[utoipa::path(
    post,
    path = "/v1/admin/rollouts/{product}/{version}/{action}",
    tag = "admin",
    params(
        ReleasePath,
        ("action" = String, Path, description = "`pause`, `resume` or `abort`", example = "pause"),
    ),
    request_body(content = Option<RolloutAction>, description = "Optional; an empty body records a default reason"),
    responses(
        (status = 200, description = "The rollout in its new state", body = RolloutStatus),
        (status = 400, description = "Malformed body or version", body = ErrorBody),
        (status = 404, description = "Unknown product, release, rollout or action", body = ErrorBody),
        (status = 409, description = "The action does not apply in the rollout's state", body = ErrorBody),
        AdminRefusals<scope::Rollout>,
        Timeout,
        TooLarge,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn rollout_action(
    State(app): State<AppState>,
    admin: Admin<scope::Rollout>,
    Path((product, version, action)): Path<(String, String, String)>,
    LimitedBody(body): LimitedBody,
) -> Result<Json<RolloutStatus>, ApiError> {
    // no body, or JSON `null`: the document's body is optional (`Option<RolloutAction>`)
    let req: RolloutAction = if body.is_empty() {
        RolloutAction::default()
    } else {
        parse_json::<Option<RolloutAction>>(&body)?.unwrap_or_default()
    };
    Ok(Json(
        crate::rollouts::act(&app, &product, &version, &action, req.reason, admin.name()).await?,
    ))
}

/// Fleet figures of one product (scope `read`): evidence for compliance reports.
///
/// Devices by the version of their last check-in, the share on a supported security version
/// (at or above the signed floor), and per release the median time from its signed release
/// time to each device's first install and its rollout's outcome.
#[utoipa::path(
    get,
    path = "/v1/admin/products/{product}/fleet",
    tag = "admin",
    params(ProductPath),
    responses(
        (status = 200, description = "The fleet figures", body = FleetReport),
        UnknownProduct,
        AdminRefusals<scope::Read>,
        Timeout,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn fleet(
    State(app): State<AppState>,
    _admin: Admin<scope::Read>,
    Path(product): Path<String>,
) -> Result<Json<FleetReport>, ApiError> {
    Ok(Json(crate::fleet::fleet(&app, &product).await?))
}

/// The published repository's state (scope `read`).
#[utoipa::path(
    get,
    path = "/v1/admin/repository",
    tag = "admin",
    responses(
        (status = 200, description = "Generation, metadata versions, online key", body = RepositoryState),
        AdminRefusals<scope::Read>,
        Timeout,
    ),
    security(("admin_token" = []))
)]
pub async fn repository(
    State(app): State<AppState>,
    _admin: Admin<scope::Read>,
) -> Result<Json<RepositoryState>, ApiError> {
    let view = app.view();
    Ok(Json(RepositoryState {
        generation: view.generation,
        index: view.index.clone(),
        online_key: app.online_key_id(),
    }))
}

/// Creates an enrolment token devices enrol with (scope `devices`).
///
/// Per product (a factory line: `uses` a count or `"unlimited"`, unlimited when left out), or
/// for one device (one use). It expires after `expires_in` (e.g. `"7d"`, the default) or at
/// `expires_at`. The token is shown once; the server keeps only its digest.
#[utoipa::path(
    post,
    path = "/v1/admin/enrolment-tokens",
    tag = "admin",
    request_body = EnrolmentTokenRequest,
    responses(
        (status = 201, description = "Created", body = EnrolmentTokenResponse),
        (status = 400, description = "Malformed body or device id, an expiry not in the future, or uses other than one for a per-device token", body = ErrorBody),
        UnknownProduct,
        AdminRefusals<scope::Devices>,
        Timeout,
        TooLarge,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn create_enrolment_token(
    State(app): State<AppState>,
    admin: Admin<scope::Devices>,
    LimitedBody(body): LimitedBody,
) -> Result<(StatusCode, Json<EnrolmentTokenResponse>), ApiError> {
    let req: EnrolmentTokenRequest = parse_json(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(crate::enrolment::create_token(&app, req, admin.name()).await?),
    ))
}

/// Every enrolment token: id, product, device, expiry, uses left, state (scope `devices`).
///
/// Never the token itself: the server keeps only its digest.
#[utoipa::path(
    get,
    path = "/v1/admin/enrolment-tokens",
    tag = "admin",
    responses(
        (status = 200, description = "Every enrolment token, oldest first", body = Vec<EnrolmentTokenInfo>),
        AdminRefusals<scope::Devices>,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn list_enrolment_tokens(
    State(app): State<AppState>,
    _admin: Admin<scope::Devices>,
) -> Result<Json<Vec<EnrolmentTokenInfo>>, ApiError> {
    Ok(Json(crate::enrolment::list_tokens(&app).await?))
}

/// Revokes an enrolment token (scope `devices`, audited): no device enrols with it from now on.
#[utoipa::path(
    post,
    path = "/v1/admin/enrolment-tokens/{token_id}/revoke",
    tag = "admin",
    params(TokenPath),
    responses(
        (status = 200, description = "Revoked", body = EnrolmentTokenInfo),
        (status = 404, description = "No token with this id (`not_found`)", body = ErrorBody),
        AdminRefusals<scope::Devices>,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn revoke_enrolment_token(
    State(app): State<AppState>,
    admin: Admin<scope::Devices>,
    Path(token_id): Path<String>,
) -> Result<Json<EnrolmentTokenInfo>, ApiError> {
    Ok(Json(
        crate::enrolment::revoke_token(&app, &token_id, admin.name()).await?,
    ))
}

/// One device's history (scope `read`): its enrolment, its check-ins as runs of the same
/// answer, the releases offered to it and its newest reports (the dashboard's device page).
#[utoipa::path(
    get,
    path = "/v1/admin/devices/{device_id}",
    tag = "admin",
    params(DevicePath),
    responses(
        (status = 200, description = "What the server knows of the device", body = DeviceHistory),
        (status = 400, description = "Malformed device id", body = ErrorBody),
        (status = 404, description = "The device never checked in or enrolled (`unknown_device`)", body = ErrorBody),
        AdminRefusals<scope::Read>,
        Timeout,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn device_history(
    State(app): State<AppState>,
    _admin: Admin<scope::Read>,
    Path(device_id): Path<String>,
) -> Result<Json<DeviceHistory>, ApiError> {
    crate::deviceauth::check_device_id(&device_id)?;
    // check-ins written in batches: the latest are counted first
    app.check_ins.flush().await;
    let h = app.state.device_history(&device_id, HISTORY_ROWS).await?;
    if h.device.is_none() && h.enrolled.is_none() {
        return Err(ApiError::not_found(
            "unknown_device",
            format!("no device {device_id:?} has checked in or enrolled"),
        ));
    }
    Ok(Json(DeviceHistory {
        device_id,
        enrolment: h
            .enrolled
            .map(|(product, revoked)| DeviceEnrolment { product, revoked }),
        check_ins: h.check_ins,
        offers: h
            .offers
            .into_iter()
            .map(|(version, first_offered_at)| OfferInfo {
                version,
                first_offered_at,
            })
            .collect(),
        reports: h
            .reports
            .into_iter()
            .map(|r| ReportInfo {
                at: r.at,
                status: r.status,
                version: r.version,
                code: r.code,
                counted: r.offered,
            })
            .collect(),
    }))
}

/// Reports and ended runs of check-ins in a device's history: as many runs as the store keeps.
const HISTORY_ROWS: u32 = 1 + crate::storage::KEPT_CHECK_IN_RUNS as u32;

/// Revokes a device (scope `devices`, audited): its credential stops working (403) and its id
/// cannot enrol again until an operator reinstates it.
#[utoipa::path(
    post,
    path = "/v1/admin/devices/{device_id}/revoke",
    tag = "admin",
    params(DevicePath),
    responses(
        (status = 200, description = "Revoked", body = DeviceRevocation),
        (status = 400, description = "Malformed device id", body = ErrorBody),
        (status = 404, description = "The device is not enrolled (`not_enrolled`)", body = ErrorBody),
        AdminRefusals<scope::Devices>,
        Timeout,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn revoke_device(
    State(app): State<AppState>,
    admin: Admin<scope::Devices>,
    Path(device_id): Path<String>,
) -> Result<Json<DeviceRevocation>, ApiError> {
    crate::enrolment::revoke(&app, &device_id, admin.name()).await?;
    Ok(Json(DeviceRevocation {
        device_id,
        revoked: true,
    }))
}

/// Reinstates a revoked device (scope `devices`, audited).
///
/// Its old credential stays refused (it may have leaked); the id may enrol again with a new
/// token (a per-device token, or a product token).
#[utoipa::path(
    post,
    path = "/v1/admin/devices/{device_id}/reinstate",
    tag = "admin",
    params(DevicePath),
    responses(
        (status = 200, description = "Reinstated: the id may enrol again", body = DeviceRevocation),
        (status = 400, description = "Malformed device id", body = ErrorBody),
        (status = 404, description = "The device is not revoked (`not_revoked`)", body = ErrorBody),
        AdminRefusals<scope::Devices>,
        ServerFault,
    ),
    security(("admin_token" = []))
)]
pub async fn reinstate_device(
    State(app): State<AppState>,
    admin: Admin<scope::Devices>,
    Path(device_id): Path<String>,
) -> Result<Json<DeviceRevocation>, ApiError> {
    crate::enrolment::reinstate(&app, &device_id, admin.name()).await?;
    Ok(Json(DeviceRevocation {
        device_id,
        revoked: false,
    }))
}
