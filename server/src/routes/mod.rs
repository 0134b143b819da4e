//! The router, built in one place.
//!
//! Every route here needs a `#[utoipa::path]` on its handler, listed in [`openapi::ApiDoc`]; the
//! tests in `openapi.rs` read the route calls of this file (string literal paths) to check that.

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;

use crate::app::AppState;
use crate::error::ApiError;

pub mod admin;
pub mod audit;
pub mod csaf;
pub mod devices;
pub mod openapi;
pub mod ops;
pub mod public;
pub mod responses;
pub mod sbom;
pub mod support_page;
pub mod tuf;

pub fn router(app: AppState) -> Router {
    let metadata_limit = app.config.max_metadata_bytes;
    let timeout = tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        app.config.request_timeout,
    );
    let admin_timeout = tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        app.config.admin_timeout,
    );
    let devices = Router::new()
        .route(
            "/v1/devices/{device_id}/check-in",
            post(devices::check_in).layer::<_, std::convert::Infallible>(timeout),
        )
        .route(
            "/v1/devices/{device_id}/reports",
            post(devices::report).layer::<_, std::convert::Infallible>(timeout),
        )
        .route(
            "/v1/devices/{device_id}/enrol",
            post(devices::enrol).layer::<_, std::convert::Infallible>(timeout),
        )
        .route_layer(BodyLimit::layer(DEVICE_BODY_BYTES, None))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::ratelimit::limit_devices,
        ));
    // uploads stream to storage with their own limit (--max-upload-bytes) and take as long as
    // the firmware takes
    let blobs = Router::new().route(
        "/v1/admin/blobs/{sha256}",
        put(admin::put_blob)
            .get(admin::head_blob)
            .layer(DefaultBodyLimit::disable()),
    );
    let admin = Router::new()
        .route(
            "/v1/admin/publish",
            post(admin::publish).layer(BodyLimit::layer(
                metadata_limit,
                Some("--max-metadata-bytes"),
            )),
        )
        .route("/v1/admin/repository", get(admin::repository))
        .route("/v1/admin/resign", post(admin::resign))
        .route(
            "/v1/admin/enrolment-tokens",
            post(admin::create_enrolment_token).get(admin::list_enrolment_tokens),
        )
        .route(
            "/v1/admin/enrolment-tokens/{token_id}/revoke",
            post(admin::revoke_enrolment_token),
        )
        .route("/v1/admin/devices/{device_id}", get(admin::device_history))
        .route(
            "/v1/admin/devices/{device_id}/revoke",
            post(admin::revoke_device),
        )
        .route(
            "/v1/admin/devices/{device_id}/reinstate",
            post(admin::reinstate_device),
        )
        .route(
            "/v1/admin/rollouts",
            post(admin::start_rollout).get(admin::list_rollouts),
        )
        .route(
            "/v1/admin/rollouts/{product}/{version}",
            get(admin::rollout_status),
        )
        .route(
            "/v1/admin/rollouts/{product}/{version}/{action}",
            post(admin::rollout_action),
        )
        .route("/v1/admin/products/{product}/fleet", get(admin::fleet))
        .route("/v1/admin/audit", get(audit::audit))
        .route_layer(BodyLimit::layer(ADMIN_BODY_BYTES, None))
        .route_layer::<_>(admin_timeout)
        .merge(blobs)
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::ratelimit::limit_admin,
        ));
    let mut tuf_routes = Router::new()
        .route(
            "/tuf/metadata/{file}",
            // JSON compresses well; targets (firmware) are sent as they are
            get(tuf::metadata)
                .layer::<_, std::convert::Infallible>(
                    tower_http::compression::CompressionLayer::new().gzip(true),
                )
                .layer::<_, std::convert::Infallible>(timeout),
        )
        .route("/tuf/targets/{*path}", get(tuf::target));
    // the access check costs a middleware on the hottest path: only where it is wanted
    if app.config.tuf_access == crate::deviceauth::TufAccess::Enrolled {
        tuf_routes = tuf_routes.route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            tuf::require_access,
        ));
    }
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/v1/products", get(public::products))
        .route("/v1/products/{product}/support", get(public::support_json))
        .route("/v1/products/{product}/advisories", get(public::advisories))
        .route(
            "/v1/products/{product}/releases/{version}/sbom",
            get(sbom::release_sbom),
        )
        .route("/products/{product}", get(public::support_page))
        .route("/.well-known/security.txt", get(public::security_txt))
        .route(
            "/.well-known/csaf/provider-metadata.json",
            get(csaf::provider_metadata),
        )
        .route("/.well-known/csaf/white/index.txt", get(csaf::index_txt))
        .route(
            "/.well-known/csaf/white/changes.csv",
            get(csaf::changes_csv),
        )
        .route(
            "/.well-known/csaf/white/{year}/{document}",
            get(csaf::document),
        )
        .merge(tuf_routes)
        .merge(devices)
        .merge(admin)
        .merge(crate::ui::router(app.clone()))
        .fallback(|| async { ApiError::not_found("not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this endpoint",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            ops::track,
        ))
        .with_state(app)
}

/// Largest check-in, report or enrolment body: a few fields, nothing a device needs more for.
pub const DEVICE_BODY_BYTES: usize = 16 << 10;
/// Largest body of an admin request other than a publish or a blob upload.
pub const ADMIN_BODY_BYTES: usize = 64 << 10;

/// A route's body limit, as the request carries it for [`LimitedBody`]'s error message.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    pub bytes: usize,
    /// The flag that raises it, if one does.
    pub flag: Option<&'static str>,
}

impl BodyLimit {
    /// The layers that enforce `bytes` on a route (the innermost limit wins).
    pub fn layer(
        bytes: usize,
        flag: Option<&'static str>,
    ) -> tower::layer::util::Stack<DefaultBodyLimit, axum::Extension<BodyLimit>> {
        tower::layer::util::Stack::new(
            DefaultBodyLimit::max(bytes),
            axum::Extension(BodyLimit { bytes, flag }),
        )
    }
}

/// A whole request body within its route's limit; over it: 413 `too_large` as JSON.
pub struct LimitedBody(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for LimitedBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().copied();
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(LimitedBody(bytes)),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                let limit = limit.unwrap_or(BodyLimit {
                    bytes: 0,
                    flag: None,
                });
                let raise = limit
                    .flag
                    .map(|f| format!(" (the server's {f} raises it)"))
                    .unwrap_or_default();
                Err(ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "request body larger than this endpoint accepts ({} bytes){raise}",
                        limit.bytes
                    ),
                ))
            }
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// Parses a JSON body, answering 400 with a JSON error for anything malformed.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}
