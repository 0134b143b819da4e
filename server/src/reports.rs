//! The report service: records a device's download/installation report and lets `installed`
//! and `failed` reports feed the health rule of a staged rollout.

use thiserror::Error;

use airlock_core::api::{DeviceReport, ReportStatus};

use crate::app::AppState;
use crate::auth::Device;
use crate::decide::{parse_version, CheckInError};
use crate::rollouts::RolloutError;
use crate::storage::StateError;

/// Why a report was refused or not recorded.
#[derive(Debug, Error)]
pub enum ReportError {
    #[error(transparent)]
    Malformed(#[from] CheckInError),
    #[error("code must be at most 256 characters")]
    CodeTooLong,
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Rollout(#[from] RolloutError),
}

/// The report body's own checks (version, code length), before anything is recorded.
pub fn validate(report: &DeviceReport) -> Result<(), ReportError> {
    parse_version(&report.version)?;
    if report.code.as_ref().is_some_and(|c| c.len() > 256) {
        return Err(ReportError::CodeTooLong);
    }
    Ok(())
}

pub async fn record(
    app: &AppState,
    device: &Device,
    report: DeviceReport,
) -> Result<(), ReportError> {
    validate(&report)?;
    // Written after the device's check-in record (its product), in a shared transaction.
    app.check_ins
        .report(&device.id, &report, app.clock.now())
        .await?;
    app.metrics
        .reports
        .get_or_create(&crate::metrics::StatusLabels {
            status: report.status.as_str().to_string(),
        })
        .inc();
    if report.status != ReportStatus::Downloading {
        crate::rollouts::after_report(app, &device.id, &report.version).await?;
    }
    Ok(())
}
