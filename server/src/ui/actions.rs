//! The dashboard's changes (POST): each checks the session's scope and CSRF token
//! ([`Change`]), calls the service the admin API calls with the token's name as the audit
//! log's actor, and sends the browser back to the page that shows the result.

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use airlock_core::api::{EnrolmentTokenRequest, RolloutRequest, TokenUses};

use crate::app::AppState;
use crate::auth::Scope;
use crate::ui::pages::{self, path_segment, SignInPage};
use crate::ui::session::{self, Change, SignInForm};
use crate::ui::{render, UiError};

/// After a change: back to the page that shows it (303: the browser GETs it).
fn back(to: &str) -> Response {
    Redirect::to(to).into_response()
}

pub async fn sign_in(State(app): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, 16 << 10).await {
        Ok(b) => b,
        Err(_) => {
            return UiError::new(StatusCode::PAYLOAD_TOO_LARGE, "sign-in form too large")
                .into_response()
        }
    };
    let form: SignInForm = match serde_urlencoded::from_bytes(&bytes) {
        Ok(f) => f,
        Err(e) => {
            return UiError::new(StatusCode::BAD_REQUEST, format!("malformed form: {e}"))
                .into_response()
        }
    };
    let next = session::safe_next(&form.next);
    match session::sign_in(&app, &parts, &form.token).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], back(next)).into_response(),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let page = render(&SignInPage {
                next,
                error: Some(&e.message),
                ended: false,
            });
            match page {
                Ok(html) => (StatusCode::UNAUTHORIZED, html).into_response(),
                Err(e) => e.into_response(),
            }
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn sign_out(State(app): State<AppState>, change: Change<Empty>) -> Response {
    match session::sign_out(&app, &change.parts, &change.session).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], back("/ui/sign-in")).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct StartForm {
    /// `product@version`, as the form's select offers them.
    release: String,
    #[serde(default)]
    waves: String,
    #[serde(default)]
    pause_if: String,
}

pub async fn start_rollout(
    State(app): State<AppState>,
    change: Change<StartForm>,
) -> Result<Response, UiError> {
    change.session.require(Scope::Rollout)?;
    let f = change.form;
    let Some((product, version)) = f.release.split_once('@') else {
        return Err(UiError::new(
            StatusCode::BAD_REQUEST,
            "choose a release (product@version)",
        ));
    };
    // the API's form, `5%@0h,100%@24h`; people type spaces after the commas
    let waves: String = f.waves.chars().filter(|c| !c.is_whitespace()).collect();
    let req = RolloutRequest {
        product: product.to_string(),
        version: version.to_string(),
        waves: if waves.is_empty() {
            "100%@0h".to_string()
        } else {
            waves
        },
        pause_if: Some(f.pause_if.trim().to_string()).filter(|p| !p.is_empty()),
        id: None,
    };
    let s = crate::rollouts::start(&app, req, &change.session.actor).await?;
    Ok(back(&pages::rollout_path(&s.product, &s.version)))
}

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

pub async fn rollout_action(
    State(app): State<AppState>,
    Path((product, version, action)): Path<(String, String, String)>,
    change: Change<ReasonForm>,
) -> Result<Response, UiError> {
    change.session.require(Scope::Rollout)?;
    let reason = Some(change.form.reason.trim().to_string()).filter(|r| !r.is_empty());
    crate::rollouts::act(
        &app,
        &product,
        &version,
        &action,
        reason,
        &change.session.actor,
    )
    .await?;
    Ok(back(&pages::rollout_path(&product, &version)))
}

pub async fn device_action(
    State(app): State<AppState>,
    Path((device_id, action)): Path<(String, String)>,
    change: Change<Empty>,
) -> Result<Response, UiError> {
    change.session.require(Scope::Devices)?;
    let actor = &change.session.actor;
    match action.as_str() {
        "revoke" => crate::enrolment::revoke(&app, &device_id, actor).await?,
        "reinstate" => crate::enrolment::reinstate(&app, &device_id, actor).await?,
        _ => {
            return Err(UiError::new(
                StatusCode::NOT_FOUND,
                format!("unknown device action {action:?} (revoke, reinstate)"),
            ))
        }
    }
    Ok(back(&format!("/ui/devices/{}", path_segment(&device_id))))
}

#[derive(Deserialize)]
pub struct TokenForm {
    product: String,
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    expires_in: String,
    /// A count, or empty for unlimited.
    #[serde(default)]
    uses: String,
}

pub async fn create_enrolment_token(
    State(app): State<AppState>,
    change: Change<TokenForm>,
) -> Result<Response, UiError> {
    change.session.require(Scope::Devices)?;
    let f = change.form;
    let uses = match f.uses.trim() {
        "" | "unlimited" => None,
        n => Some(TokenUses::Count(n.parse().map_err(|_| {
            UiError::new(
                StatusCode::BAD_REQUEST,
                format!("uses {n:?}: give a whole number, or leave it empty for unlimited"),
            )
        })?)),
    };
    let device_id = Some(f.device_id.trim().to_string()).filter(|d| !d.is_empty());
    let req = EnrolmentTokenRequest {
        product: f.product,
        // a per-device token is one use; the service refuses anything else for one
        uses: if device_id.is_some() { None } else { uses },
        device_id,
        expires_in: Some(f.expires_in.trim().to_string()).filter(|e| !e.is_empty()),
        expires_at: None,
        drill: false,
    };
    let created = crate::enrolment::create_token(&app, req, &change.session.actor).await?;
    // shown once, on this answer; a reload does not show it again
    Ok((
        StatusCode::CREATED,
        pages::tokens_page(&app, &change.session, Some(created)).await?,
    )
        .into_response())
}

pub async fn revoke_enrolment_token(
    State(app): State<AppState>,
    Path(token_id): Path<String>,
    change: Change<Empty>,
) -> Result<Response, UiError> {
    change.session.require(Scope::Devices)?;
    crate::enrolment::revoke_token(&app, &token_id, &change.session.actor).await?;
    Ok(back("/ui/enrolment-tokens"))
}
