//! Dashboard sessions: signing in with an admin token, the session cookie, the CSRF token of
//! every change, signing out.
//!
//! A session is a random id in an HttpOnly, SameSite=Strict cookie (Secure over TLS); the
//! state store keeps only its SHA-256, so sessions work on every replica and a copy of the
//! table signs nobody in. The session acts as the admin token it was opened with, looked up
//! again on every request: revoking the token ends its sessions. The CSRF token is derived
//! from the session id (a digest under another label), so it needs no storage and is known
//! only to a page the session was given.
//!
//! The cookie outlives its session by [`ENDED_NOTICE`]: the server alone decides when a session
//! ends, and a browser that still sends the cookie of an ended session (expired, signed out
//! elsewhere, its token revoked) is told so on the sign-in page instead of being shown a bare
//! form.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::auth::{AdminCaller, Scope, FILE_TOKEN_NAME};
use crate::deviceauth::{random_secret, sha256_hex};
use crate::storage::UiSession;
use crate::ui::UiError;

/// The session cookie's name.
pub const COOKIE: &str = "airlock_session";

/// How long the browser keeps the cookie past the session's end, so that a page asked for
/// within this time after the end says the session expired. The session itself ends on the
/// server at its lifetime: the cookie of an ended session signs nobody in.
pub const ENDED_NOTICE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// The query parameter the sign-in page is sent with when the request's session had ended.
pub const ENDED_PARAM: &str = "expired";

/// Whether the session cookie carries `Secure` (browsers then send it over HTTPS only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SecureCookie {
    /// When the request came over TLS: a [`ServedOverTls`] connection, or
    /// `X-Forwarded-Proto: https` from a trusted reverse proxy (`--trust-forwarded-for`).
    #[default]
    Auto,
    Always,
    Never,
}

/// A request extension the accept loop adds to requests of a TLS connection.
#[derive(Debug, Clone, Copy)]
pub struct ServedOverTls;

/// Whether this request's session cookie should be `Secure`.
fn secure(app: &AppState, parts: &Parts) -> bool {
    match app.config.ui_secure_cookie {
        SecureCookie::Always => true,
        SecureCookie::Never => false,
        SecureCookie::Auto => {
            if parts.extensions.get::<ServedOverTls>().is_some() {
                return true;
            }
            // the header counts only from a proxy the operator trusts
            let from_proxy = parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .is_some_and(|peer| {
                    app.config
                        .trust_forwarded_for
                        .iter()
                        .any(|c| c.contains(peer.0.ip()))
                });
            from_proxy
                && parts
                    .headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
        }
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        // what a signed-out browser that kept the cleared cookie sends: no session at all
        .filter(|value| !value.is_empty())
}

/// The CSRF token of the session with this id.
fn csrf_of(session_id: &str) -> String {
    sha256_hex(&format!("airlock-ui-csrf:{session_id}"))
}

/// A signed-in operator: the token's name and scopes, and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Session {
    /// The admin token's name: the audit log's actor.
    pub actor: String,
    pub scopes: Vec<Scope>,
    pub csrf: String,
    id_sha256: String,
}

impl Session {
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// 403 unless the session's token carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), UiError> {
        if self.may(scope) {
            return Ok(());
        }
        Err(UiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the admin token {:?} lacks the {} scope: sign in with a token that has it",
                self.actor,
                scope.as_str()
            ),
        ))
    }
}

/// Why a request has no session: pages send the browser to the sign-in form, other requests
/// get 401. `ended`: the request carried a session cookie, but its session is unknown, expired
/// or was ended (signed out, its token revoked); the sign-in page then says so.
pub enum NoSession {
    SignIn { next: String, ended: bool },
    Refused { ended: bool },
    Failed(UiError),
}

/// Where a page sends a browser without a session: the sign-in form, back to `next` after.
pub fn sign_in_location(next: &str, ended: bool) -> String {
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    if ended {
        format!("/ui/sign-in?next={next}&{ENDED_PARAM}=1")
    } else {
        format!("/ui/sign-in?next={next}")
    }
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            NoSession::SignIn { next, ended } => {
                Redirect::to(&sign_in_location(&next, ended)).into_response()
            }
            NoSession::Refused { ended: false } => {
                UiError::new(StatusCode::UNAUTHORIZED, "not signed in: sign in first")
                    .into_response()
            }
            NoSession::Refused { ended: true } => UiError::new(
                StatusCode::UNAUTHORIZED,
                "your session expired or was ended: sign in again (nothing was changed)",
            )
            .into_response(),
            NoSession::Failed(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, NoSession> {
        let missing = |ended: bool| {
            if parts.method == axum::http::Method::GET {
                NoSession::SignIn {
                    next: parts
                        .uri
                        .path_and_query()
                        .map_or("/ui", |p| p.as_str())
                        .to_string(),
                    ended,
                }
            } else {
                NoSession::Refused { ended }
            }
        };
        let Some(id) = cookie_value(&parts.headers) else {
            return Err(missing(false));
        };
        let id_sha256 = sha256_hex(id);
        let now = app.clock.now();
        let stored = app
            .state
            .ui_session(&id_sha256, now)
            .await
            .map_err(|e| NoSession::Failed(e.into()))?;
        let Some(stored) = stored else {
            // unknown, expired, or signed out (the row is gone)
            return Err(missing(true));
        };
        let Some(caller) = caller_of(app, &stored).await.map_err(NoSession::Failed)? else {
            // the token was revoked (or the token file replaced): the session ends with it
            let _ = app.state.delete_ui_session(&id_sha256).await;
            return Err(missing(true));
        };
        Ok(Session {
            actor: stored.actor,
            scopes: caller.scopes,
            csrf: csrf_of(id),
            id_sha256,
        })
    }
}

/// The token a session was opened with, if it is still live.
async fn caller_of(app: &AppState, s: &UiSession) -> Result<Option<AdminCaller>, UiError> {
    if s.token_sha256 == hex::encode(app.admin_token_sha256) {
        return Ok(Some(AdminCaller {
            name: None,
            scopes: Scope::ALL.to_vec(),
        }));
    }
    Ok(app
        .state
        .admin_token(&s.token_sha256)
        .await?
        .map(|(name, scopes)| AdminCaller {
            name: Some(name),
            scopes: scopes.split(',').filter_map(Scope::parse).collect(),
        }))
}

/// A change made from a page: the session, and the form `T`, whose `csrf` field matched the
/// session's CSRF token (compared in constant time). Without it: 403, nothing done.
pub struct Change<T> {
    pub session: Session,
    pub form: T,
    /// The request's head (for the session cookie of a sign-out).
    pub parts: Parts,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Change<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let head = parts.clone();
        let req = Request::from_parts(parts, body);
        let bytes = axum::body::Bytes::from_request(req, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let given: CsrfField = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            UiError::new(StatusCode::BAD_REQUEST, format!("malformed form: {e}")).into_response()
        })?;
        if !bool::from(given.csrf.as_bytes().ct_eq(session.csrf.as_bytes())) {
            tracing::warn!(actor = %session.actor, "dashboard change refused: wrong or missing CSRF token");
            return Err(UiError::new(
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or wrong: reload the page and try again",
            )
            .into_response());
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            UiError::new(StatusCode::BAD_REQUEST, format!("malformed form: {e}")).into_response()
        })?;
        Ok(Change {
            session,
            form,
            parts: head,
        })
    }
}

/// The sign-in form's fields.
#[derive(serde::Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub next: String,
}

/// Where to go after signing in: a dashboard path only (never another site).
pub fn safe_next(next: &str) -> &str {
    let inside = next == "/ui" || next.starts_with("/ui/") || next.starts_with("/ui?");
    if inside && !next.contains("//") && !next.contains('\\') {
        next
    } else {
        "/ui"
    }
}

/// Opens a session for `token`: the `Set-Cookie` header, or why not (401 for a wrong token).
pub async fn sign_in(app: &AppState, parts: &Parts, token: &str) -> Result<HeaderValue, UiError> {
    let caller = match AdminCaller::from_token(app, token.trim()).await {
        Ok(caller) => caller,
        Err(crate::auth::AdminAuthError::State(e)) => return Err(e.into()),
        Err(_) => {
            tracing::warn!(remote = %crate::auth::remote_address(parts, app), "dashboard sign-in refused: invalid admin token");
            return Err(UiError::new(
                StatusCode::UNAUTHORIZED,
                "that is not a valid admin token",
            ));
        }
    };
    let now = app.clock.now();
    // sign-ins are rare: a good moment to forget expired sessions
    app.state.delete_expired_ui_sessions(now).await?;
    let id = random_secret();
    let lifetime = app.config.ui_session_lifetime;
    let actor = caller.name.unwrap_or_else(|| FILE_TOKEN_NAME.to_string());
    let session = UiSession {
        token_sha256: sha256_hex(token.trim()),
        actor: actor.clone(),
        expires: now.checked_add(lifetime).unwrap_or(now),
    };
    app.state
        .insert_ui_session(&sha256_hex(&id), &session, now)
        .await?;
    app.state
        .audit(
            now,
            &actor,
            "ui.sign_in",
            &serde_json::json!({"remote": crate::auth::remote_address(parts, app)}),
        )
        .await?;
    let kept = lifetime.checked_add(ENDED_NOTICE).unwrap_or(lifetime);
    cookie(app, parts, &id, kept.as_secs())
}

/// Ends `session`: the `Set-Cookie` header that clears the cookie.
pub async fn sign_out(
    app: &AppState,
    parts: &Parts,
    session: &Session,
) -> Result<HeaderValue, UiError> {
    app.state.delete_ui_session(&session.id_sha256).await?;
    app.state
        .audit(
            app.clock.now(),
            &session.actor,
            "ui.sign_out",
            &serde_json::json!({}),
        )
        .await?;
    cookie(app, parts, "", 0)
}

fn cookie(
    app: &AppState,
    parts: &Parts,
    value: &str,
    max_age: i64,
) -> Result<HeaderValue, UiError> {
    let secure = if secure(app, parts) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| UiError::internal(format!("session cookie: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_paths_are_followed_after_sign_in() {
        for ok in ["/ui", "/ui/rollouts", "/ui/devices?q=cam"] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/ui//evil",
            "/uix",
            "/ui\\x",
            "",
        ] {
            assert_eq!(safe_next(bad), "/ui", "{bad}");
        }
    }

    #[test]
    fn the_sign_in_location_carries_the_page_and_whether_the_session_ended() {
        assert_eq!(
            sign_in_location("/ui/devices?q=cam 1&x=/", false),
            "/ui/sign-in?next=%2Fui%2Fdevices%3Fq%3Dcam+1%26x%3D%2F"
        );
        assert_eq!(
            sign_in_location("/ui", true),
            "/ui/sign-in?next=%2Fui&expired=1"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; airlock_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_value(&headers), Some("abc"));
        headers.insert(header::COOKIE, "airlock_sessionx=1".parse().unwrap());
        assert_eq!(cookie_value(&headers), None);
        // a cleared cookie is no cookie: the plain sign-in form, no "session ended"
        headers.insert(header::COOKIE, "airlock_session=; a=1".parse().unwrap());
        assert_eq!(cookie_value(&headers), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_from_the_stored_digest() {
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_ne!(csrf_of("a"), sha256_hex("a"));
    }
}
