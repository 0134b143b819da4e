//! Admin API (bearer admin token): blob upload, publish, repository state.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use futures::TryStreamExt;
use serde_json::{json, Value};

use airlock_core::api::{
    PublishRequest, PublishResponse, RolloutAction, RolloutRequest, RolloutStatus,
};

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::parse_json;

/// What an admin token may do. The token of `--admin-token-file` may do everything; tokens made
/// with `airlock-server token create --scope ...` only what their scopes name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Upload blobs, publish, re-sign.
    Publish,
    /// Start, pause, resume, abort rollouts.
    Rollout,
    /// Enrolment tokens, device revocation.
    Devices,
    /// Read-only admin views.
    Read,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Publish => "publish",
            Scope::Rollout => "rollout",
            Scope::Devices => "devices",
            Scope::Read => "read",
        }
    }

    pub const ALL: [Scope; 4] = [Scope::Publish, Scope::Rollout, Scope::Devices, Scope::Read];
}

async fn require_admin(app: &AppState, headers: &HeaderMap, scope: Scope) -> Result<(), ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("admin token required (Authorization: Bearer ...)")
        })?;
    if app.is_admin_token(token) {
        return Ok(());
    }
    // Scoped tokens are looked up by digest (only digests are stored).
    let digest = crate::deviceauth::sha256_hex(token);
    match app.state.admin_token(&digest).await? {
        Some((_, scopes)) if scopes.split(',').any(|s| s == scope.as_str()) => Ok(()),
        Some((name, _)) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("admin token {name:?} lacks the {} scope", scope.as_str()),
        )),
        None => Err(ApiError::unauthorized("invalid admin token")),
    }
}

pub async fn head_blob(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&app, &headers, Scope::Publish).await?;
    match app.blobs.stat(&sha256).await? {
        Some(length) => Ok(Json(json!({"sha256": sha256, "length": length}))),
        None => Err(ApiError::not_found(
            "not_found",
            format!("no blob {sha256}"),
        )),
    }
}

pub async fn put_blob(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&app, &headers, Scope::Publish).await?;
    let limit = app.config.max_upload_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(crate::storage::BlobError::TooLarge { limit }.into());
    }
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    let length = app.blobs.put(&sha256, Box::pin(stream), limit).await?;
    tracing::info!(%sha256, length, "blob stored");
    Ok((
        StatusCode::CREATED,
        Json(json!({"sha256": sha256, "length": length})),
    ))
}

pub async fn publish(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PublishResponse>, ApiError> {
    require_admin(&app, &headers, Scope::Publish).await?;
    let req: PublishRequest = parse_json(&body)?;
    let started = std::time::Instant::now();
    let result = crate::publish::publish(&app, req).await;
    let detail = match &result {
        Ok(r) => {
            serde_json::json!({"ok": true, "changed": r.changed, "snapshot_version": r.snapshot_version})
        }
        Err(e) => serde_json::json!({"ok": false, "error": e.code, "message": e.message}),
    };
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        ok = result.is_ok(),
        "publish"
    );
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
        .audit(app.clock.now(), "admin", "publish", &detail)
        .await?;
    Ok(Json(result?))
}

/// Re-signs snapshot and timestamp now (new versions), e.g. to push fresh expiry dates or in
/// drills that need an older timestamp.
pub async fn resign(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_admin(&app, &headers, Scope::Publish).await?;
    let view = crate::publish::resign(&app).await?;
    app.state
        .audit(
            app.clock.now(),
            "admin",
            "resign",
            &json!({"timestamp_version": view.index.timestamp_version}),
        )
        .await?;
    Ok(Json(json!({
        "snapshot_version": view.index.snapshot_version,
        "timestamp_version": view.index.timestamp_version,
    })))
}

pub async fn start_rollout(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<RolloutStatus>), ApiError> {
    require_admin(&app, &headers, Scope::Rollout).await?;
    let req: RolloutRequest = parse_json(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(crate::rollouts::start(&app, req).await?),
    ))
}

pub async fn list_rollouts(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<RolloutStatus>>, ApiError> {
    require_admin(&app, &headers, Scope::Read).await?;
    Ok(Json(crate::rollouts::list(&app).await?))
}

pub async fn rollout_status(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((product, version)): Path<(String, String)>,
) -> Result<Json<RolloutStatus>, ApiError> {
    require_admin(&app, &headers, Scope::Read).await?;
    Ok(Json(
        crate::rollouts::status(&app, &product, &version).await?,
    ))
}

pub async fn rollout_action(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((product, version, action)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<RolloutStatus>, ApiError> {
    require_admin(&app, &headers, Scope::Rollout).await?;
    let req: RolloutAction = if body.is_empty() {
        RolloutAction::default()
    } else {
        parse_json(&body)?
    };
    Ok(Json(
        crate::rollouts::act(&app, &product, &version, &action, req.reason).await?,
    ))
}

pub async fn repository(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_admin(&app, &headers, Scope::Read).await?;
    let view = app.view();
    Ok(Json(json!({
        "generation": view.generation,
        "index": view.index,
        "online_key": app.online_key_id(),
    })))
}

/// `POST /v1/admin/enrolment-tokens`.
pub async fn create_enrolment_token(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<airlock_core::api::EnrolmentTokenResponse>), ApiError> {
    use crate::deviceauth::{random_secret, sha256_hex};
    require_admin(&app, &headers, Scope::Devices).await?;
    let req: airlock_core::api::EnrolmentTokenRequest = parse_json(&body)?;
    if !app.view().products.contains_key(&req.product) {
        return Err(ApiError::not_found(
            "unknown_product",
            format!("unknown product {:?}", req.product),
        ));
    }
    if let Some(d) = &req.device_id {
        crate::routes::devices::check_device_id(d)?;
    }
    let token = random_secret();
    app.state
        .insert_enrolment_token(
            &crate::storage::state::EnrolmentToken {
                token_sha256: sha256_hex(&token),
                product: req.product.clone(),
                device_id: req.device_id.clone(),
                revoked: false,
            },
            app.clock.now(),
        )
        .await?;
    app.state
        .audit(
            app.clock.now(),
            "admin",
            "enrolment_token.create",
            &json!({"product": req.product, "device_id": req.device_id}),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(airlock_core::api::EnrolmentTokenResponse {
            token,
            product: req.product,
            device_id: req.device_id,
        }),
    ))
}

/// `POST /v1/admin/devices/{id}/revoke`: the device's credential stops working (403).
pub async fn revoke_device(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(device_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&app, &headers, Scope::Devices).await?;
    crate::routes::devices::check_device_id(&device_id)?;
    if !app.state.revoke_device(&device_id).await? {
        return Err(ApiError::not_found(
            "not_enrolled",
            format!("device {device_id} is not enrolled"),
        ));
    }
    app.credentials.revoke(&device_id);
    app.state
        .audit(
            app.clock.now(),
            "admin",
            "device.revoke",
            &json!({"device_id": device_id}),
        )
        .await?;
    Ok(Json(json!({"device_id": device_id, "revoked": true})))
}
