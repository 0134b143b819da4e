//! The operator dashboard at `/ui` (issue 17): products, releases, rollouts, the fleet and the
//! audit log in a browser, served by the server itself.
//!
//! Pages are rendered on the server with askama (every value escaped) from the same service
//! functions the admin API calls ([`crate::rollouts`], [`crate::fleet`], [`crate::enrolment`],
//! the audit log); they read without JavaScript, and a little hand-written script (`ui.js`)
//! refreshes rollout figures in place. Sign-in, the session cookie and the CSRF token of every
//! change are in [`session`]; every change is audited under the admin token's name.

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;
use crate::error::ApiError;

mod actions;
mod pages;
pub mod session;
mod svg;

pub use session::{SecureCookie, ServedOverTls};

/// Largest form a dashboard change sends.
const FORM_BYTES: usize = 16 << 10;

/// The dashboard's routes, under `/ui`.
pub fn router(app: AppState) -> Router<AppState> {
    Router::new()
        .route("/ui", get(pages::overview))
        .route("/ui/", get(pages::overview))
        .route(
            "/ui/sign-in",
            get(pages::sign_in_form).post(actions::sign_in),
        )
        .route("/ui/sign-out", post(actions::sign_out))
        .route("/ui/products/{product}", get(pages::product))
        .route(
            "/ui/rollouts",
            get(pages::rollouts).post(actions::start_rollout),
        )
        .route("/ui/rollouts/{product}/{version}", get(pages::rollout))
        .route(
            "/ui/rollouts/{product}/{version}/live",
            get(pages::rollout_live),
        )
        .route(
            "/ui/rollouts/{product}/{version}/{action}",
            get(pages::confirm_rollout_action).post(actions::rollout_action),
        )
        .route("/ui/devices", get(pages::devices))
        .route("/ui/devices/{device_id}", get(pages::device))
        .route(
            "/ui/devices/{device_id}/{action}",
            post(actions::device_action),
        )
        .route(
            "/ui/enrolment-tokens",
            get(pages::enrolment_tokens).post(actions::create_enrolment_token),
        )
        .route(
            "/ui/enrolment-tokens/{token_id}/revoke",
            post(actions::revoke_enrolment_token),
        )
        .route("/ui/audit", get(pages::audit))
        .route("/ui/assets/ui.css", get(css))
        .route("/ui/assets/ui.js", get(js))
        .route_layer(axum::extract::DefaultBodyLimit::max(FORM_BYTES))
        .route_layer(axum::middleware::from_fn(security_headers))
        .route_layer(axum::middleware::from_fn_with_state(
            app,
            crate::ratelimit::limit_admin,
        ))
}

/// No framing (clickjacking), no inline script, nothing from elsewhere, no caching of pages
/// that show the fleet.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, axum::http::HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(headers, "x-frame-options", "DENY");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
    response
}

const CSS: &str = include_str!("../../assets/ui.css");
const JS: &str = include_str!("../../assets/ui.js");

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

/// A refusal or failure, as a page: its status and a message naming what to do.
#[derive(Debug)]
pub struct UiError {
    pub status: StatusCode,
    pub message: String,
}

impl UiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        UiError {
            status,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::internal(message).into()
    }
}

/// Every service error becomes the status and message the admin API would answer.
impl<E: Into<ApiError>> From<E> for UiError {
    fn from(e: E) -> Self {
        let e: ApiError = e.into();
        UiError {
            status: e.status,
            message: e.message,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    title: String,
    message: &'a str,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            title: format!(
                "{} {}",
                self.status.as_u16(),
                self.status.canonical_reason().unwrap_or("")
            ),
            message: &self.message,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}

/// Renders a page template.
pub(crate) fn render(page: &impl Template) -> Result<Html<String>, UiError> {
    page.render()
        .map(Html)
        .map_err(|e| UiError::internal(format!("rendering a dashboard page: {e}")))
}
