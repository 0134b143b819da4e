//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the process answers.
    pub status: &'static str,
}

/// `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The state store answers.
    pub state_store: bool,
    /// The blob store answers.
    pub blob_store: bool,
    /// Key id of the online key (snapshot + timestamp).
    pub online_key: String,
    /// A repository has been published (not needed for readiness).
    pub published: bool,
    /// Offline-signed metadata (root, targets, product roles) that has expired or expires
    /// within [`EXPIRY_WARNING`]: a key holder must re-sign it. A warning only: readiness does
    /// not depend on it, and one product's expired role stops only that product's devices.
    pub expiring: Vec<RoleExpiry>,
}

/// How far ahead `/readyz` warns of offline-signed metadata expiring (the same horizon as
/// `airlock status --check`'s default).
pub const EXPIRY_WARNING: jiff::SignedDuration = jiff::SignedDuration::from_hours(30 * 24);

/// One role whose metadata expires soon or has expired.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleExpiry {
    /// `root`, `targets` or a product id.
    pub role: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires: jiff::Timestamp,
    /// Already expired: devices relying on this role refuse updates until it is re-signed.
    pub expired: bool,
}

/// Offline-signed roles expiring before `now + EXPIRY_WARNING` (snapshot and timestamp are
/// renewed by the server and not listed).
fn expiring(view: &crate::view::RepoView, now: jiff::Timestamp) -> Vec<RoleExpiry> {
    crate::background::expiring_offline_roles(view, now, EXPIRY_WARNING)
        .into_iter()
        .map(|(role, expires)| RoleExpiry {
            role,
            expires,
            expired: expires <= now,
        })
        .collect()
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// How long /readyz waits for each store's answer.
const READINESS_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether a store's probe answered "ok" within [`READINESS_PROBE_TIMEOUT`].
async fn answers_in_time(probe: impl std::future::Future<Output = bool>) -> bool {
    tokio::time::timeout(READINESS_PROBE_TIMEOUT, probe)
        .await
        .unwrap_or(false)
}

/// Readiness: the state store and the blob store answer.
///
/// Ready does not require a published repository (`published` says whether there is one).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "A store does not answer", body = Readiness),
    )
)]
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let checked = app.readiness.get(std::time::Instant::now(), async {
        // a store that does not answer within the probe's time is not ready: a probe must
        // not hang with it (a database restarting, an S3 service that went silent)
        let (state_ok, blobs_ok) = tokio::join!(
            answers_in_time(async { app.state.check().await.is_ok() }),
            answers_in_time(async { app.blobs.check().await.is_ok() }),
        );
        Ok::<_, std::convert::Infallible>((state_ok, blobs_ok))
    });
    let (state_ok, blobs_ok) = match checked.await {
        Ok(pair) => pair,
        Err(never) => match never {},
    };
    let view = app.view();
    let published = view.is_published();
    let expiring = expiring(&view, app.clock.now());
    let ready = state_ok && blobs_ok;
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(Readiness {
            status: if ready { "ready" } else { "not_ready" },
            state_store: state_ok,
            blob_store: blobs_ok,
            online_key: app.online_key_id(),
            published,
            expiring,
        }),
    )
}

/// Prometheus metrics (OpenMetrics text).
///
/// Requests by route and status, check-ins by decision, device reports, publishes and their
/// duration, metadata expiry times, progress and failure rate of the current rollouts (held,
/// active, paused: not ended ones). Gauges derived from the published state are refreshed per
/// scrape; rollout figures (one query for all) at most every 10 s.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((
        status = 200,
        description = "Metrics in OpenMetrics text format",
        body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    ))
)]
pub async fn metrics(State(app): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let view = app.view();
    let m = &app.metrics;
    m.metadata_expiry.clear();
    let set = |role: &str, t: jiff::Timestamp| {
        m.metadata_expiry
            .get_or_create(&crate::metrics::RoleLabels {
                role: role.to_string(),
            })
            .set(t.as_second() as f64);
    };
    if let Some(root) = view.latest_root() {
        set("root", root.signed.signed.expires);
    }
    if let Some(t) = &view.published.targets {
        set("targets", t.signed.signed.expires);
    }
    if let Some(t) = view.index.snapshot_expires {
        set("snapshot", t);
    }
    if let Some(t) = view.index.timestamp_expires {
        set("timestamp", t);
    }
    for (name, role) in &view.published.roles {
        set(name, role.signed.signed.expires);
    }
    m.rollout_reached.clear();
    m.rollout_failure_rate.clear();
    m.rollout_offered.clear();
    m.rollout_delta_fallback.clear();
    // current rollouts only (ended ones would be exported for ever), in one query
    let figures = app.rollout_figures.get(std::time::Instant::now(), async {
        crate::rollouts::current_statuses(&app)
            .await
            .map(std::sync::Arc::new)
    });
    if let Ok(list) = figures.await {
        for r in list.iter() {
            let labels = crate::metrics::RolloutLabels {
                product: r.product.clone(),
                version: r.version.clone(),
                state: r.state.clone(),
            };
            m.rollout_reached
                .get_or_create(&labels)
                .set(r.reached_percent / 100.0);
            m.rollout_failure_rate
                .get_or_create(&labels)
                .set(r.failure_rate_percent / 100.0);
            m.rollout_offered
                .get_or_create(&labels)
                .set(i64::try_from(r.devices_offered).unwrap_or(i64::MAX));
            // 0 until a device reported how a delta went, as the failure ratio before reports
            m.rollout_delta_fallback
                .get_or_create(&labels)
                .set(r.delta_fallback_percent.unwrap_or(0.0) / 100.0);
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

/// A request id: the caller's `x-request-id` when it is a plain token, else a new one.
fn request_id(req: &axum::extract::Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            use rand_core::RngCore;
            format!("{:016x}", rand_core::OsRng.next_u64())
        })
}

/// Runs every request in a span with its request id (echoed as `x-request-id`), and counts it
/// by matched route, method and status.
pub async fn track(
    State(app): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let method_label = crate::metrics::method_label(req.method());
    let id = request_id(&req);
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let mut response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(status = response.status().as_u16(), "answered");
    });
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    app.metrics
        .requests
        .get_or_create(&crate::metrics::RequestLabels {
            route,
            method: method_label.to_string(),
            status: response.status().as_u16(),
        })
        .inc();
    response
}
