//! The enrolment service: enrolment tokens (per product or per device), a device's enrolment
//! with one (it receives its own credential), and revocation. Tokens and credentials are shown
//! once; only their digests are stored.

use thiserror::Error;

use airlock_core::api::{
    EnrolRequest, EnrolResponse, EnrolmentTokenRequest, EnrolmentTokenResponse,
};

use crate::app::AppState;
use crate::deviceauth::{check_device_id, random_secret, sha256_hex, DeviceAuthError};
use crate::storage::{DeviceCredential, EnrolmentToken, StateError};

/// Why an enrolment request was refused.
#[derive(Debug, Error)]
pub enum EnrolmentError {
    #[error("unknown product {0:?}")]
    UnknownProduct(String),
    #[error(transparent)]
    BadDeviceId(#[from] DeviceAuthError),
    #[error("invalid enrolment token")]
    InvalidToken,
    #[error("this enrolment token is for {token_product}, not {requested}")]
    WrongProduct {
        token_product: String,
        requested: String,
    },
    #[error("this enrolment token is for another device")]
    WrongDevice,
    #[error("device {0} is already enrolled (revoke it first to enrol it again)")]
    AlreadyEnrolled(String),
    #[error("device {0} is not enrolled")]
    NotEnrolled(String),
    #[error(transparent)]
    State(#[from] StateError),
}

/// Creates an enrolment token for a published product (and optionally one device).
pub async fn create_token(
    app: &AppState,
    req: EnrolmentTokenRequest,
) -> Result<EnrolmentTokenResponse, EnrolmentError> {
    if !app.view().products.contains_key(&req.product) {
        return Err(EnrolmentError::UnknownProduct(req.product));
    }
    if let Some(d) = &req.device_id {
        check_device_id(d)?;
    }
    let token = random_secret();
    app.state
        .insert_enrolment_token(
            &EnrolmentToken {
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
            &serde_json::json!({"product": req.product, "device_id": req.device_id}),
        )
        .await?;
    Ok(EnrolmentTokenResponse {
        token,
        product: req.product,
        device_id: req.device_id,
    })
}

/// Exchanges an enrolment token for the device's own credential.
pub async fn enrol(
    app: &AppState,
    device_id: String,
    req: EnrolRequest,
) -> Result<EnrolResponse, EnrolmentError> {
    let token = app
        .state
        .enrolment_token(&sha256_hex(req.token.trim()))
        .await?
        .filter(|t| !t.revoked)
        .ok_or(EnrolmentError::InvalidToken)?;
    if token.product != req.product {
        return Err(EnrolmentError::WrongProduct {
            token_product: token.product,
            requested: req.product,
        });
    }
    if token.device_id.as_ref().is_some_and(|d| *d != device_id) {
        return Err(EnrolmentError::WrongDevice);
    }
    let credential = random_secret();
    let record = DeviceCredential {
        device_id: device_id.clone(),
        product: req.product.clone(),
        credential_sha256: sha256_hex(&credential),
        revoked: false,
    };
    app.state
        .insert_credential(&record, app.clock.now())
        .await
        .map_err(|e| match e {
            StateError::DeviceEnrolled(device) => EnrolmentError::AlreadyEnrolled(device),
            other => other.into(),
        })?;
    app.credentials.set(record);
    tracing::info!(device = %device_id, product = %req.product, "device enrolled");
    Ok(EnrolResponse {
        device_id,
        product: req.product,
        credential,
    })
}

/// Revokes a device: its credential stops working (403).
pub async fn revoke(app: &AppState, device_id: &str) -> Result<(), EnrolmentError> {
    check_device_id(device_id)?;
    if !app.state.revoke_device(device_id).await? {
        return Err(EnrolmentError::NotEnrolled(device_id.to_string()));
    }
    app.credentials.revoke(device_id);
    app.state
        .audit(
            app.clock.now(),
            "admin",
            "device.revoke",
            &serde_json::json!({"device_id": device_id}),
        )
        .await?;
    Ok(())
}
