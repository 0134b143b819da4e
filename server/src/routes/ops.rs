//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when storage answers and a repository is published.
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let state_ok = app.state.check().await.is_ok();
    let blobs_ok = app.blobs.check().await.is_ok();
    let published = app.view().is_published();
    let ready = state_ok && blobs_ok;
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "state_store": state_ok,
            "blob_store": blobs_ok,
            "online_key": app.online_key_id,
            "published": published,
        })),
    )
}
