//! Device endpoints: check-in (the decision), reports and enrolment.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use airlock_core::api::{
    CheckInRequest, CheckInResponse, DeviceReport, EnrolRequest, EnrolResponse, ErrorBody,
};

use crate::app::AppState;
use crate::auth::Device;
use crate::error::ApiError;
use crate::routes::openapi::DevicePath;
use crate::routes::responses::{RateLimited, ServerFault, Timeout, TooLarge, UnknownProduct};
use crate::routes::{parse_json, LimitedBody};

/// `POST /v1/devices/{device_id}/reports` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportAccepted {
    /// Always `true`.
    pub accepted: bool,
    /// Whether the report counts toward its release's rollout health rule and fleet figures:
    /// `false` when the server never offered that release to this device (recorded and
    /// flagged, not counted).
    pub counted: bool,
}

/// Check-in: the update decision for one device.
///
/// Answers `update` (with the target to fetch through TUF), `up_to_date` (possibly naming an
/// update the device's policy defers) or `end_of_support`. With `--device-auth required` (the
/// default) the device's credential from enrolment is required.
#[utoipa::path(
    post,
    path = "/v1/devices/{device_id}/check-in",
    tag = "devices",
    params(DevicePath),
    request_body = CheckInRequest,
    responses(
        (status = 200, description = "The decision", body = CheckInResponse),
        (status = 400, description = "Malformed device id, body, version or policy", body = ErrorBody),
        (status = 401, description = "No credential, a wrong one or an unknown device (one answer)", body = ErrorBody),
        (status = 403, description = "The device's own credential, but revoked (`revoked`) or for another product", body = ErrorBody),
        UnknownProduct,
        Timeout,
        TooLarge,
        RateLimited,
        ServerFault,
    ),
    security((), ("device_credential" = []))
)]
pub async fn check_in(
    State(app): State<AppState>,
    device: Device,
    LimitedBody(body): LimitedBody,
) -> Result<Json<CheckInResponse>, ApiError> {
    let req: CheckInRequest = parse_json(&body)?;
    Ok(Json(crate::decide::check_in(&app, &device, req).await?))
}

/// Report: download and installation progress of an offered update.
///
/// `installed` and `failed` reports feed the health rule of a staged rollout, which pauses
/// itself when the rule trips.
#[utoipa::path(
    post,
    path = "/v1/devices/{device_id}/reports",
    tag = "devices",
    params(DevicePath),
    request_body = DeviceReport,
    responses(
        (status = 202, description = "Recorded", body = ReportAccepted),
        (status = 400, description = "Malformed device id, body, version or code", body = ErrorBody),
        (status = 401, description = "No credential, a wrong one or an unknown device (one answer)", body = ErrorBody),
        (status = 403, description = "Credential revoked", body = ErrorBody),
        Timeout,
        TooLarge,
        RateLimited,
        ServerFault,
    ),
    security((), ("device_credential" = []))
)]
pub async fn report(
    State(app): State<AppState>,
    device: Device,
    LimitedBody(body): LimitedBody,
) -> Result<(StatusCode, Json<ReportAccepted>), ApiError> {
    let report: DeviceReport = parse_json(&body)?;
    let counted = crate::reports::record(&app, &device, report).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReportAccepted {
            accepted: true,
            counted,
        }),
    ))
}

/// Enrolment: exchanges an enrolment token for the device's own credential.
///
/// The credential is shown once; the server keeps only its digest.
#[utoipa::path(
    post,
    path = "/v1/devices/{device_id}/enrol",
    tag = "devices",
    params(DevicePath),
    request_body = EnrolRequest,
    responses(
        (status = 201, description = "Enrolled; use `credential` as bearer token", body = EnrolResponse),
        (status = 400, description = "Malformed device id or body, or a proposed `credential` that is not 32 to 128 characters of A-Z a-z 0-9 - _ .", body = ErrorBody),
        (status = 403, description = "Refused (`enrolment_refused`), one answer whatever the reason: the token is unknown, expired, used up, revoked or for another product or device, or the id is enrolled or revoked", body = ErrorBody),
        Timeout,
        TooLarge,
        RateLimited,
        ServerFault,
    )
)]
pub async fn enrol(
    State(app): State<AppState>,
    Path(device_id): Path<String>,
    LimitedBody(body): LimitedBody,
) -> Result<(StatusCode, Json<EnrolResponse>), ApiError> {
    crate::deviceauth::check_device_id(&device_id)?;
    let req: EnrolRequest = parse_json(&body)?;
    let enrolled = crate::enrolment::enrol(&app, device_id, req).await?;
    Ok((StatusCode::CREATED, Json(enrolled)))
}
