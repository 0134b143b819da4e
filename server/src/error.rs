//! One error type for every HTTP answer: status + `{"error": code, "message": text}`.
//! 4xx for the caller's mistakes, 5xx only for ours.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use airlock_core::api::ErrorBody;
use airlock_core::verify::VerifyError;

use crate::storage::{BlobError, StateError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(%message, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Conflict { .. } | StateError::FileExists(_) => {
                ApiError::conflict(e.to_string())
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::BadDigest(_) => ApiError::bad_request(e.to_string()),
            BlobError::HashMismatch { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "hash_mismatch", e.to_string())
            }
            BlobError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            BlobError::Interrupted(_) => ApiError::bad_request(e.to_string()),
            BlobError::Io(_) => ApiError::internal(e.to_string()),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        let code = match &e {
            VerifyError::VersionRollback { .. }
            | VerifyError::VersionReused { .. }
            | VerifyError::RootFork { .. } => {
                return ApiError::conflict(e.to_string());
            }
            VerifyError::Signature { .. } => "bad_signature",
            VerifyError::Expired { .. } => "expired",
            VerifyError::Support(_) | VerifyError::ReleaseRule(_) => "support_rule",
            VerifyError::RetentionViolation { .. } => "retention",
            VerifyError::ProductRemoval { .. } => "product_removal",
            VerifyError::RoleTooLarge { .. } => "role_too_large",
            _ => "invalid_metadata",
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, e.to_string())
    }
}
