//! The enrolment service: enrolment tokens (per product or per device) with an expiry and a
//! use count, a device's enrolment with one (it receives its own credential), revocation and
//! reinstatement. Tokens and credentials are shown once; only their digests are stored.
//!
//! Every refused enrolment gets the same answer ([`EnrolmentError::Refused`]), whether the
//! token is unknown, expired, used up, revoked or for another product or device, or the device
//! id is enrolled or revoked: the answer must not tell a caller which device ids exist.

use thiserror::Error;

use airlock_core::api::{
    EnrolRequest, EnrolResponse, EnrolmentTokenInfo, EnrolmentTokenRequest, EnrolmentTokenResponse,
    TokenUses,
};

use crate::app::AppState;
use crate::deviceauth::{check_device_id, random_secret, sha256_hex, DeviceAuth, DeviceAuthError};
use crate::storage::{DeviceCredential, EnrolOutcome, EnrolmentStore, EnrolmentToken, StateError};

/// How long a token lives when the request names no expiry.
pub const DEFAULT_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

/// The one message of every refused enrolment.
pub const REFUSED: &str = "enrolment refused: the token is unknown, expired, used up or revoked, \
or it does not admit this device id and product (ask the operator for a new token)";

/// Why an enrolment request was refused.
#[derive(Debug, Error)]
pub enum EnrolmentError {
    #[error("unknown product {0:?}")]
    UnknownProduct(String),
    #[error(transparent)]
    BadDeviceId(#[from] DeviceAuthError),
    #[error("{0}")]
    BadExpiry(String),
    #[error("{0}")]
    BadUses(String),
    /// The credential a device proposed does not have the form of one.
    #[error("{0}")]
    BadCredential(String),
    /// The one answer to a refused enrolment; the reason goes to the log only.
    #[error("{REFUSED}")]
    Refused(Refusal),
    #[error("device {0} is not enrolled")]
    NotEnrolled(String),
    #[error("device {0} is not revoked (only a revoked device can be reinstated)")]
    NotRevoked(String),
    #[error("no enrolment token with id {0:?} (see GET /v1/admin/enrolment-tokens)")]
    UnknownToken(String),
    #[error(transparent)]
    State(#[from] StateError),
}

/// Why an enrolment was refused, for the server's log (never for the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, expired, used up, revoked, or for another product or device.
    NoUsableToken,
    /// The device id is enrolled or revoked.
    DeviceKnown,
}

/// When a token expires and how many uses it has (`None`: unlimited), by the rules: an expiry
/// in the future (default [`DEFAULT_LIFETIME`]); a per-device token is one use; a product
/// token has the uses it names, unlimited when it names none (the request of earlier releases
/// stays valid; `airlock enrolment-token create` always names them).
pub fn token_terms(
    req: &EnrolmentTokenRequest,
    now: jiff::Timestamp,
) -> Result<(jiff::Timestamp, Option<u64>), EnrolmentError> {
    let expires = match (&req.expires_in, req.expires_at) {
        (Some(_), Some(_)) => {
            return Err(EnrolmentError::BadExpiry(
                "give expires_in or expires_at, not both".into(),
            ))
        }
        (Some(text), None) => now.checked_add(parse_lifetime(text)?).map_err(|_| {
            EnrolmentError::BadExpiry(format!("expires_in {text:?} is too far in the future"))
        })?,
        (None, Some(at)) => at,
        (None, None) => now
            .checked_add(DEFAULT_LIFETIME)
            .map_err(|_| EnrolmentError::BadExpiry("the clock is out of range".into()))?,
    };
    if expires <= now {
        return Err(EnrolmentError::BadExpiry(format!(
            "expires_at {expires} is not in the future (now is {now})"
        )));
    }
    let uses = match (&req.device_id, req.uses) {
        (Some(_), None | Some(TokenUses::Count(1))) => Some(1),
        (Some(_), Some(other)) => {
            return Err(EnrolmentError::BadUses(format!(
                "a per-device token is for one enrolment, not {other}: leave out uses (or give 1)"
            )))
        }
        (None, Some(TokenUses::Count(0))) => {
            return Err(EnrolmentError::BadUses(
                "uses must be at least 1, or \"unlimited\"".into(),
            ))
        }
        (None, Some(TokenUses::Count(n))) => Some(u64::from(n)),
        (None, None | Some(TokenUses::Unlimited(_))) => None,
    };
    Ok((expires, uses))
}

/// A lifetime such as `7d`, `12h` or `30m` (a whole number and a unit).
pub fn parse_lifetime(text: &str) -> Result<jiff::SignedDuration, EnrolmentError> {
    let bad = || {
        EnrolmentError::BadExpiry(format!(
            "expires_in {text:?}: expected a whole number and a unit, e.g. \"7d\", \"12h\", \"30m\""
        ))
    };
    let text = text.trim();
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at_checked(split).ok_or_else(bad)?;
    let n: i64 = number.parse().map_err(|_| bad())?;
    let seconds_per = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        _ => return Err(bad()),
    };
    if n < 1 {
        return Err(bad());
    }
    n.checked_mul(seconds_per)
        .map(jiff::SignedDuration::from_secs)
        .ok_or_else(bad)
}

/// `active`, or why the token no longer enrols anyone (revoked first, then expired, used up).
pub fn token_state(t: &EnrolmentToken, now: jiff::Timestamp) -> &'static str {
    if t.revoked {
        "revoked"
    } else if t.expires <= now {
        "expired"
    } else if t.uses_left == Some(0) {
        "used_up"
    } else {
        "active"
    }
}

fn uses(n: Option<u64>) -> TokenUses {
    match n {
        None => TokenUses::UNLIMITED,
        Some(n) => TokenUses::Count(u32::try_from(n).unwrap_or(u32::MAX)),
    }
}

/// A token as the admin API lists it (never the token itself).
pub fn token_info(t: &EnrolmentToken, now: jiff::Timestamp) -> EnrolmentTokenInfo {
    EnrolmentTokenInfo {
        id: t.id.clone(),
        product: t.product.clone(),
        device_id: t.device_id.clone(),
        created_at: t.created,
        expires_at: t.expires,
        uses_left: uses(t.uses_left),
        revoked: t.revoked,
        state: token_state(t, now).to_string(),
        drill: t.drill,
    }
}

/// Creates an enrolment token for a published product (and optionally one device).
pub async fn create_token(
    app: &AppState,
    req: EnrolmentTokenRequest,
    actor: &str,
) -> Result<EnrolmentTokenResponse, EnrolmentError> {
    if !app.view().products.contains_key(&req.product) {
        return Err(EnrolmentError::UnknownProduct(req.product));
    }
    let (token, stored) = new_token(app.state.as_ref(), &req, app.clock.now()).await?;
    app.state
        .audit(
            app.clock.now(),
            actor,
            "enrolment_token.create",
            &serde_json::json!({"id": stored.id, "product": req.product, "device_id": req.device_id,
                "expires_at": stored.expires, "uses": uses(stored.uses_left), "drill": stored.drill}),
        )
        .await?;
    Ok(EnrolmentTokenResponse {
        token,
        id: stored.id,
        product: stored.product,
        device_id: stored.device_id,
        expires_at: stored.expires,
        uses: uses(stored.uses_left),
        drill: stored.drill,
    })
}

/// Makes and stores a token by the rules of [`token_terms`]: the token, and what was stored.
pub async fn new_token(
    state: &dyn EnrolmentStore,
    req: &EnrolmentTokenRequest,
    now: jiff::Timestamp,
) -> Result<(String, EnrolmentToken), EnrolmentError> {
    if let Some(d) = &req.device_id {
        check_device_id(d)?;
    }
    let (expires, uses_left) = token_terms(req, now)?;
    let token = random_secret();
    let digest = sha256_hex(&token);
    let stored = EnrolmentToken {
        id: digest[..16].to_string(),
        token_sha256: digest,
        product: req.product.clone(),
        device_id: req.device_id.clone(),
        created: now,
        expires,
        uses_left,
        revoked: false,
        drill: req.drill,
    };
    state.insert_enrolment_token(&stored).await?;
    Ok((token, stored))
}

/// Every enrolment token (scope `devices`).
pub async fn list_tokens(app: &AppState) -> Result<Vec<EnrolmentTokenInfo>, EnrolmentError> {
    let now = app.clock.now();
    Ok(app
        .state
        .enrolment_tokens()
        .await?
        .iter()
        .map(|t| token_info(t, now))
        .collect())
}

/// Revokes an enrolment token: no device enrols with it from now on (audited).
pub async fn revoke_token(
    app: &AppState,
    id: &str,
    actor: &str,
) -> Result<EnrolmentTokenInfo, EnrolmentError> {
    let Some(t) = app.state.revoke_enrolment_token(id).await? else {
        return Err(EnrolmentError::UnknownToken(id.to_string()));
    };
    app.state
        .audit(
            app.clock.now(),
            actor,
            "enrolment_token.revoke",
            &serde_json::json!({"id": id, "product": t.product, "device_id": t.device_id}),
        )
        .await?;
    Ok(token_info(&t, app.clock.now()))
}

/// Shortest and longest credential a device may propose ([`EnrolRequest::credential`]).
pub const PROPOSED_CREDENTIAL_CHARS: std::ops::RangeInclusive<usize> = 32..=128;

/// A credential a device proposes: 32 to 128 characters of `A-Z a-z 0-9 - _ .` (the device
/// library sends 64 hex digits of 32 random bytes). The length is what keeps it unguessable;
/// the alphabet keeps it a valid bearer token.
pub fn check_proposed_credential(proposed: &str) -> Result<(), EnrolmentError> {
    let ok = PROPOSED_CREDENTIAL_CHARS.contains(&proposed.len())
        && proposed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(EnrolmentError::BadCredential(format!(
            "the proposed credential must be {} to {} characters of A-Z a-z 0-9 - _ . (for \
             example 64 hex digits of 32 random bytes); or send none and the server chooses one",
            PROPOSED_CREDENTIAL_CHARS.start(),
            PROPOSED_CREDENTIAL_CHARS.end()
        )))
    }
}

/// Exchanges an enrolment token for the device's own credential.
pub async fn enrol(
    app: &AppState,
    device_id: String,
    req: EnrolRequest,
) -> Result<EnrolResponse, EnrolmentError> {
    let (response, record) =
        enrol_device(app.state.as_ref(), device_id, req, app.clock.now()).await?;
    app.credentials.set(record);
    tracing::info!(device = %response.device_id, product = %response.product,
        drill = response.drill, "device enrolled");
    Ok(response)
}

/// Uses the token once and stores the new credential, atomically; any refusal is
/// [`EnrolmentError::Refused`] and changes nothing.
pub async fn enrol_device(
    state: &dyn EnrolmentStore,
    device_id: String,
    req: EnrolRequest,
    now: jiff::Timestamp,
) -> Result<(EnrolResponse, DeviceCredential), EnrolmentError> {
    check_device_id(&device_id)?;
    let credential = match &req.credential {
        Some(proposed) => {
            check_proposed_credential(proposed)?;
            proposed.clone()
        }
        None => random_secret(),
    };
    let mut record = DeviceCredential {
        device_id: device_id.clone(),
        product: req.product.clone(),
        credential_sha256: sha256_hex(&credential),
        revoked: false,
        drill: false,
    };
    let refusal = match state
        .enrol_with_token(&sha256_hex(req.token.trim()), &record, now)
        .await?
    {
        EnrolOutcome::Enrolled { drill } => {
            record.drill = drill;
            None
        }
        EnrolOutcome::Repeated { drill } => {
            record.drill = drill;
            tracing::info!(device = %device_id, "enrolment repeated with the device's own credential (its first answer was lost): answered again, nothing changed");
            None
        }
        EnrolOutcome::NoUsableToken => Some(Refusal::NoUsableToken),
        EnrolOutcome::DeviceKnown => Some(Refusal::DeviceKnown),
    };
    if let Some(reason) = refusal {
        tracing::info!(device = %device_id, ?reason, "enrolment refused");
        return Err(EnrolmentError::Refused(reason));
    }
    Ok((
        EnrolResponse {
            device_id,
            product: req.product,
            credential,
            drill: record.drill,
        },
        record,
    ))
}

/// Revokes a device: its credential stops working (403) and its id cannot enrol again until
/// an operator reinstates it.
///
/// With `--device-auth mtls` any id may be revoked (devices with certificates never enrol):
/// every certificate naming it is refused until the id is reinstated.
pub async fn revoke(app: &AppState, device_id: &str, actor: &str) -> Result<(), EnrolmentError> {
    check_device_id(device_id)?;
    let by_certificate = app.config.device_auth == DeviceAuth::Mtls;
    if by_certificate {
        app.state
            .revoke_device_id(device_id, app.clock.now())
            .await?;
    }
    if !app.state.revoke_device(device_id).await? && !by_certificate {
        return Err(EnrolmentError::NotEnrolled(device_id.to_string()));
    }
    app.credentials.revoke(device_id);
    app.state
        .audit(
            app.clock.now(),
            actor,
            "device.revoke",
            &serde_json::json!({"device_id": device_id}),
        )
        .await?;
    Ok(())
}

/// Reinstates a revoked device (audited): its old credential stays refused (it may have
/// leaked), and its id may enrol again with a new token.
pub async fn reinstate(app: &AppState, device_id: &str, actor: &str) -> Result<(), EnrolmentError> {
    check_device_id(device_id)?;
    // both: an id may have been revoked under either mode
    let by_id = app.state.reinstate_device_id(device_id).await?;
    if !app.state.reinstate_device(device_id).await? && !by_id {
        return Err(EnrolmentError::NotRevoked(device_id.to_string()));
    }
    app.credentials.forget(device_id);
    app.state
        .audit(
            app.clock.now(),
            actor,
            "device.reinstate",
            &serde_json::json!({"device_id": device_id}),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
