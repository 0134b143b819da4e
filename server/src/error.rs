//! One error type for every HTTP answer: status + `{"error": code, "message": text}`.
//! 4xx for the caller's mistakes, 5xx only for ours. The services return their own error
//! enums; this is the one place that maps each kind to its status and code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use airlock_core::api::ErrorBody;
use airlock_core::verify::VerifyError;

use crate::auth::AdminAuthError;
use crate::decide::CheckInError;
use crate::deviceauth::DeviceAuthError;
use crate::enrolment::EnrolmentError;
use crate::fleet::FleetError;
use crate::publish::PublishError;
use crate::reports::ReportError;
use crate::rollouts::RolloutError;
use crate::storage::{BlobError, StateError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds after which the same request may succeed (`Retry-After`).
    pub retry_after: Option<u32>,
}

/// `Retry-After` of a 503 for a store that is unavailable: long enough for a database restart
/// or a full disk's alert to be acted on to matter, short enough that devices and the publish
/// tooling retry soon after it recovers (the server itself needs no restart).
pub const STORAGE_RETRY_AFTER_SECONDS: u32 = 5;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// 503 `storage_unavailable` with Retry-After: `store` cannot serve or take this request
    /// now. The cause goes to the log only; the caller learns which store and when to retry.
    pub fn storage_unavailable(store: &str, cause: impl std::fmt::Display) -> Self {
        tracing::warn!(%store, cause = %cause, "storage unavailable");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            format!("the {store} is unavailable for now: retry in {STORAGE_RETRY_AFTER_SECONDS} s"),
        );
        e.retry_after = Some(STORAGE_RETRY_AFTER_SECONDS);
        e
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
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Conflict { .. } | StateError::FileExists(_) => {
                ApiError::conflict(e.to_string())
            }
            StateError::Unavailable(cause) => {
                ApiError::storage_unavailable("state database", cause)
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
            BlobError::Unavailable(cause) => ApiError::storage_unavailable("blob store", cause),
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
            VerifyError::OnlineKeyHoldsOfflineRole { .. } => "online_key_misuse",
            VerifyError::EmptyImage { .. } => "empty_image",
            VerifyError::Delta { .. } => "invalid_delta",
            _ => "invalid_metadata",
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, e.to_string())
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        let message = e.to_string();
        match e {
            PublishError::Verify(e) => e.into(),
            PublishError::Blob(e) => e.into(),
            PublishError::State(e) => e.into(),
            PublishError::Rollout(e) => e.into(),
            PublishError::MissingBlob { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "missing_blob", message)
            }
            PublishError::LengthMismatch { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "length_mismatch", message)
            }
            PublishError::SupportRecordMissing(_) => ApiError::bad_request(message),
            PublishError::SupportRecordInvalid { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "support_rule", message)
            }
            PublishError::RetiredRoleReused { .. } | PublishError::NothingPublished => {
                ApiError::conflict(message)
            }
            PublishError::ClientCheckFailed(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "client_check_failed",
                message,
            ),
            PublishError::Internal(_) => ApiError::internal(message),
        }
    }
}

impl From<RolloutError> for ApiError {
    fn from(e: RolloutError) -> Self {
        let message = e.to_string();
        match e {
            RolloutError::BadVersion { .. } | RolloutError::BadRule(_) | RolloutError::BadId(_) => {
                ApiError::bad_request(message)
            }
            RolloutError::UnknownProduct(_) => ApiError::not_found("unknown_product", message),
            RolloutError::UnknownRelease { .. } => ApiError::not_found("unknown_release", message),
            RolloutError::NoRollout { .. } => ApiError::not_found("no_rollout", message),
            RolloutError::UnknownAction(_) => ApiError::not_found("not_found", message),
            RolloutError::IdTaken(_)
            | RolloutError::InProgress { .. }
            | RolloutError::NotApplicable { .. } => ApiError::conflict(message),
            RolloutError::State(e) => e.into(),
        }
    }
}

impl From<AdminAuthError> for ApiError {
    fn from(e: AdminAuthError) -> Self {
        let message = e.to_string();
        match e {
            AdminAuthError::MissingToken | AdminAuthError::InvalidToken => {
                ApiError::unauthorized(message)
            }
            AdminAuthError::LacksScope { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            AdminAuthError::State(e) => e.into(),
        }
    }
}

impl From<DeviceAuthError> for ApiError {
    fn from(e: DeviceAuthError) -> Self {
        let message = e.to_string();
        match e {
            DeviceAuthError::BadDeviceId => ApiError::bad_request(message),
            DeviceAuthError::Unauthenticated => ApiError::unauthorized(message),
            DeviceAuthError::Revoked(_) => ApiError::new(StatusCode::FORBIDDEN, "revoked", message),
            DeviceAuthError::WrongProduct { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "wrong_product", message)
            }
            DeviceAuthError::NoClientCertificate => ApiError::unauthorized(message),
            DeviceAuthError::CertificateWithoutId(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "no_device_id", message)
            }
            DeviceAuthError::NotCertificateDevice { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "wrong_device", message)
            }
            DeviceAuthError::State(e) => e.into(),
        }
    }
}

impl From<EnrolmentError> for ApiError {
    fn from(e: EnrolmentError) -> Self {
        let message = e.to_string();
        match e {
            EnrolmentError::UnknownProduct(_) => ApiError::not_found("unknown_product", message),
            EnrolmentError::BadDeviceId(e) => e.into(),
            EnrolmentError::BadExpiry(_)
            | EnrolmentError::BadUses(_)
            | EnrolmentError::BadCredential(_) => ApiError::bad_request(message),
            // one status, code and message for every refused enrolment
            EnrolmentError::Refused(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "enrolment_refused", message)
            }
            EnrolmentError::NotEnrolled(_) => ApiError::not_found("not_enrolled", message),
            EnrolmentError::NotRevoked(_) => ApiError::not_found("not_revoked", message),
            EnrolmentError::UnknownToken(_) => ApiError::not_found("not_found", message),
            EnrolmentError::State(e) => e.into(),
        }
    }
}

impl From<CheckInError> for ApiError {
    fn from(e: CheckInError) -> Self {
        let message = e.to_string();
        match e {
            CheckInError::Device(e) => e.into(),
            CheckInError::BadProduct(_)
            | CheckInError::BadVersion { .. }
            | CheckInError::BadPolicy(_) => ApiError::bad_request(message),
            CheckInError::UnknownProduct(_) => ApiError::not_found("unknown_product", message),
            CheckInError::State(e) => e.into(),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Malformed(e) => e.into(),
            ReportError::CodeTooLong | ReportError::DeltaTooLong => {
                ApiError::bad_request(e.to_string())
            }
            ReportError::State(e) => e.into(),
            ReportError::Rollout(e) => e.into(),
        }
    }
}

impl From<FleetError> for ApiError {
    fn from(e: FleetError) -> Self {
        match e {
            FleetError::UnknownProduct(_) => ApiError::not_found("unknown_product", e.to_string()),
            FleetError::State(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that is unavailable for now is a 503 with Retry-After and the JSON body, never
    /// a 500 carrying the cause.
    #[test]
    fn unavailable_stores_answer_503_with_retry_after() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let read_only = std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem);
        let errors: Vec<ApiError> = vec![
            StateError::from(sqlx::Error::PoolTimedOut).into(),
            StateError::from(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            )))
            .into(),
            BlobError::from(full).into(),
            BlobError::from(read_only).into(),
        ];
        for e in errors {
            assert_eq!(
                (e.status, e.code, e.retry_after),
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    Some(STORAGE_RETRY_AFTER_SECONDS)
                ),
                "{e:?}"
            );
            let response = e.into_response();
            assert_eq!(
                response.headers()[axum::http::header::RETRY_AFTER],
                STORAGE_RETRY_AFTER_SECONDS.to_string().as_str()
            );
        }
        // other storage faults stay 500s without Retry-After
        let other: ApiError = BlobError::from(std::io::Error::other("bad")).into();
        assert_eq!(
            (other.status, other.retry_after),
            (StatusCode::INTERNAL_SERVER_ERROR, None)
        );
        let other: ApiError = StateError::from(sqlx::Error::RowNotFound).into();
        assert_eq!(other.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
