//! Who is calling: admin tokens (the token file's, or scoped tokens made by `airlock-server
//! token create`) and enrolled devices' credentials, checked by extractors before a handler
//! runs and before any body is read. A handler that takes [`Admin<S>`] or [`Device`] cannot
//! forget the check.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::marker::PhantomData;
use thiserror::Error;

use crate::app::AppState;
use crate::deviceauth::{sha256_hex, DeviceAuth, DeviceAuthError, Verdict};
use crate::error::ApiError;
use crate::storage::StateError;

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

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    pub const ALL: [Scope; 4] = [Scope::Publish, Scope::Rollout, Scope::Devices, Scope::Read];
}

/// The name of the `--admin-token-file` token: in logs and as the audit log's actor.
pub const FILE_TOKEN_NAME: &str = "admin-token-file";

/// Actors of the audit log that are not a scoped token's name: the file token, the server by
/// itself, `airlock-server` commands, and `admin` (every admin token, in entries written before
/// tokens were named there). `token create` refuses them as names, so that `?actor=NAME` finds
/// one token's actions only.
pub const RESERVED_ACTORS: [&str; 4] = [FILE_TOKEN_NAME, "server", "cli", "admin"];

/// Why an admin request was refused.
#[derive(Debug, Error)]
pub enum AdminAuthError {
    #[error("admin token required (Authorization: Bearer ...)")]
    MissingToken,
    #[error("invalid admin token")]
    InvalidToken,
    #[error("admin token {name:?} lacks the {} scope", scope.as_str())]
    LacksScope { name: String, scope: Scope },
    #[error(transparent)]
    State(#[from] StateError),
}

/// The bearer token of a request, if it sent one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// An authenticated admin caller: its token's name and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    /// The scoped token's name; `None` for the token of `--admin-token-file`.
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
}

impl AdminCaller {
    /// Finds who holds `token`: the token file's token (every scope) or a live scoped token
    /// (looked up by digest: only digests are stored).
    pub async fn authenticate(
        app: &AppState,
        headers: &HeaderMap,
    ) -> Result<AdminCaller, AdminAuthError> {
        let token = bearer_token(headers).ok_or(AdminAuthError::MissingToken)?;
        AdminCaller::from_token(app, token).await
    }

    /// Who holds `token` (as [`AdminCaller::authenticate`], for a token given otherwise: the
    /// dashboard's sign-in form).
    pub async fn from_token(app: &AppState, token: &str) -> Result<AdminCaller, AdminAuthError> {
        if app.is_admin_token(token) {
            return Ok(AdminCaller {
                name: None,
                scopes: Scope::ALL.to_vec(),
            });
        }
        let digest = sha256_hex(token);
        let (name, scopes) = app
            .state
            .admin_token(&digest)
            .await?
            .ok_or(AdminAuthError::InvalidToken)?;
        Ok(AdminCaller {
            name: Some(name),
            scopes: scopes.split(',').filter_map(Scope::parse).collect(),
        })
    }

    pub fn require(&self, scope: Scope) -> Result<(), AdminAuthError> {
        if self.scopes.contains(&scope) {
            return Ok(());
        }
        Err(AdminAuthError::LacksScope {
            name: self.name.clone().unwrap_or_default(),
            scope,
        })
    }
}

/// The scope a handler needs, as a type: `Admin<scope::Publish>`.
pub trait RequiredScope {
    const SCOPE: Scope;
}

/// The scopes as types, for [`Admin`].
pub mod scope {
    use super::{RequiredScope, Scope};

    pub struct Publish;
    pub struct Rollout;
    pub struct Devices;
    pub struct Read;

    impl RequiredScope for Publish {
        const SCOPE: Scope = Scope::Publish;
    }
    impl RequiredScope for Rollout {
        const SCOPE: Scope = Scope::Rollout;
    }
    impl RequiredScope for Devices {
        const SCOPE: Scope = Scope::Devices;
    }
    impl RequiredScope for Read {
        const SCOPE: Scope = Scope::Read;
    }
}

/// An admin caller whose token carries scope `S`: 401 without a valid token, 403 without
/// the scope (each refusal logged as a warning: route, client address, token name when known;
/// never the token).
pub struct Admin<S> {
    pub caller: AdminCaller,
    /// The client's address (the peer, or the address a trusted proxy named), for logs.
    pub remote: String,
    scope: PhantomData<S>,
}

impl<S> Admin<S> {
    /// The caller's name for logs and the audit log's actor: the scoped token's name, or
    /// [`FILE_TOKEN_NAME`]. Never the token.
    pub fn name(&self) -> &str {
        self.caller.name.as_deref().unwrap_or(FILE_TOKEN_NAME)
    }
}

/// The client's address as the rate limiter sees it, or `unknown` (a test without a socket).
pub fn remote_address(parts: &Parts, app: &AppState) -> String {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|peer| {
            crate::ratelimit::client_ip(
                peer.0.ip(),
                &parts.headers,
                &app.config.trust_forwarded_for,
            )
            .to_string()
        })
        .unwrap_or_else(|| "unknown".to_string())
}

impl<S: RequiredScope + Send> FromRequestParts<AppState> for Admin<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let remote = remote_address(parts, app);
        let checked = match AdminCaller::authenticate(app, &parts.headers).await {
            Ok(caller) => caller.require(S::SCOPE).map(|()| caller),
            Err(e) => Err(e),
        };
        match checked {
            Ok(caller) => Ok(Admin {
                caller,
                remote,
                scope: PhantomData,
            }),
            Err(e) => {
                log_refusal(parts, &remote, &e);
                Err(e.into())
            }
        }
    }
}

/// A refused admin request, for the operator: which route, from where, which token (by name,
/// when it is a known one) and why. The token itself is never logged.
fn log_refusal(parts: &Parts, remote: &str, e: &AdminAuthError) {
    let route = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let method = parts.method.as_str();
    match e {
        AdminAuthError::MissingToken | AdminAuthError::InvalidToken => {
            tracing::warn!(%route, %method, %remote, reason = %e, "admin request refused (401)")
        }
        AdminAuthError::LacksScope { name, scope } => tracing::warn!(
            %route, %method, %remote, token = %name, scope = scope.as_str(),
            "admin request refused (403)"
        ),
        AdminAuthError::State(_) => {}
    }
}

/// A device endpoint's caller: the device id of the path (checked), authenticated by its
/// credential when `--device-auth required`, by its client certificate when `mtls`.
pub struct Device {
    pub id: String,
    /// The product the device enrolled for; `None` with `--device-auth open` or `mtls`.
    pub enrolled_product: Option<String>,
    /// A drill device (enrolled with a drill token): answered as any device, but none of its
    /// check-ins or reports is recorded, so attack drills never count in fleet figures or a
    /// rollout's health. With `--device-auth open` a device is a drill device when it sends a
    /// valid drill credential (anyone may check in there, so a missing or wrong one is ignored).
    pub drill: bool,
}

impl Device {
    /// 403 when an authenticated device claims another product than it enrolled for.
    pub fn check_product(&self, product: &str) -> Result<(), DeviceAuthError> {
        match &self.enrolled_product {
            Some(enrolled) if enrolled != product => Err(DeviceAuthError::WrongProduct {
                device: self.id.clone(),
                enrolled: enrolled.clone(),
                claimed: product.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, app)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        crate::deviceauth::check_device_id(&id)?;
        Ok(match app.config.device_auth {
            DeviceAuth::Required => {
                let enrolled = match app.credentials.verdict(&id, &parts.headers) {
                    Verdict::Judged(checked) => checked?,
                    Verdict::NotHere { presented_sha256 } => {
                        judged_by_the_store(app, &id, &presented_sha256).await?
                    }
                };
                Device {
                    id,
                    enrolled_product: Some(enrolled.product),
                    drill: enrolled.drill,
                }
            }
            DeviceAuth::Mtls => {
                certified_device(app, &parts.extensions, Some(&id)).await?;
                Device {
                    id,
                    // the product comes from the check-in, as with `open`
                    enrolled_product: None,
                    drill: false,
                }
            }
            DeviceAuth::Open => {
                let drill = app
                    .credentials
                    .check(&id, &parts.headers)
                    .is_ok_and(|enrolled| enrolled.drill);
                Device {
                    id,
                    enrolled_product: None,
                    drill,
                }
            }
        })
    }
}

/// A credential this replica cannot judge from memory: the device is unknown here, or the
/// credential kept here is not the one presented. Either can be this replica lagging behind
/// another: the device enrolled (or, reinstated, enrolled again) at another replica a moment
/// ago, before that replica's change notice arrived here (a device's next request may reach
/// any replica behind a load balancer). The device's one row is read from the state store (a
/// read by primary key: what a wrong credential costs), judged as read, and kept; a device the
/// store does not know is forgotten here and refused as unknown.
async fn judged_by_the_store(
    app: &AppState,
    id: &str,
    presented_sha256: &str,
) -> Result<crate::deviceauth::Enrolled, ApiError> {
    match app.state.credential(id).await? {
        Some(credential) => {
            // judged on the row as read, not on the map, which a full sync may replace meanwhile
            let judged = crate::deviceauth::judge(id, &credential, presented_sha256);
            app.credentials.set(credential);
            Ok(judged?)
        }
        None => {
            app.credentials.forget(id);
            Err(DeviceAuthError::Unauthenticated.into())
        }
    }
}

/// `--device-auth mtls`: the device id the connection's verified client certificate names,
/// refused when there is no certificate (401), when it names no device or another one than
/// `claimed` (403), when the CRL as loaded now lists it (403, for connections opened before the
/// CRL changed) or when the id is revoked in the state store (403, `airlock device revoke`).
pub async fn certified_device(
    app: &AppState,
    extensions: &axum::http::Extensions,
    claimed: Option<&str>,
) -> Result<String, DeviceAuthError> {
    let certificate = extensions
        .get::<crate::tls::ClientCertificate>()
        .ok_or(DeviceAuthError::NoClientCertificate)?;
    let id = certificate
        .device_id
        .clone()
        .map_err(DeviceAuthError::CertificateWithoutId)?;
    if let Some(path) = claimed {
        if path != id {
            return Err(DeviceAuthError::NotCertificateDevice {
                path: path.to_string(),
                certificate: id,
            });
        }
    }
    if certificate.revoked_now() || app.state.is_device_id_revoked(&id).await? {
        return Err(DeviceAuthError::Revoked(id));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scoped_token_may_do_only_what_its_scopes_name() {
        let ci = AdminCaller {
            name: Some("ci".into()),
            scopes: "publish,read,bogus"
                .split(',')
                .filter_map(Scope::parse)
                .collect(),
        };
        assert_eq!(ci.scopes, vec![Scope::Publish, Scope::Read]);
        assert!(ci.require(Scope::Publish).is_ok() && ci.require(Scope::Read).is_ok());
        let refused = ApiError::from(ci.require(Scope::Rollout).unwrap_err());
        assert_eq!((refused.status.as_u16(), refused.code), (403, "forbidden"));
        assert_eq!(
            refused.message,
            "admin token \"ci\" lacks the rollout scope"
        );
        let owner = AdminCaller {
            name: None,
            scopes: Scope::ALL.to_vec(),
        };
        assert!(Scope::ALL.iter().all(|s| owner.require(*s).is_ok()));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer  abc ".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }
}
