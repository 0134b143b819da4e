//! The report service: records a device's download/installation report and lets `installed`
//! and `failed` reports feed the health rule of a staged rollout. Only reports of a release the
//! server offered that device count (one vote per device, its latest): any device can send a
//! report, and 40 devices that were never offered a release must not pause its rollout (nor
//! fake its success in the fleet figures). The others are recorded with `offered = 0`, counted
//! in `airlock_device_reports_unoffered_total` and excluded from rollouts and fleet figures.

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
    #[error("delta.name must be at most 256 characters and delta.reason at most 1024")]
    DeltaTooLong,
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
    if let Some(d) = &report.delta {
        if d.name.len() > 256 || d.reason.as_ref().is_some_and(|r| r.len() > 1024) {
            return Err(ReportError::DeltaTooLong);
        }
    }
    Ok(())
}

/// Records a report; true if it counts (its release was offered to the device). A drill
/// device's report is neither recorded nor counted.
pub async fn record(
    app: &AppState,
    device: &Device,
    report: DeviceReport,
) -> Result<bool, ReportError> {
    validate(&report)?;
    if device.drill {
        tracing::info!(device = %device.id, version = %report.version, status = report.status.as_str(),
            drill = true, "report of a drill device: not recorded, not counted");
        return Ok(false);
    }
    if let Some(d) = &report.delta {
        // stored with the report (migration 12) and counted per release and rollout
        tracing::info!(device = %device.id, version = %report.version, delta = %d.name,
            applied = d.applied, reason = d.reason.as_deref().unwrap_or(""), "delta update");
    }
    // Written after the device's check-in record (its product), in a shared transaction.
    let offered = app
        .check_ins
        .report(&device.id, &report, app.clock.now())
        .await?;
    app.metrics
        .reports
        .get_or_create(&crate::metrics::StatusLabels {
            status: report.status.as_str().to_string(),
        })
        .inc();
    if !offered {
        app.metrics.reports_unoffered.inc();
        tracing::warn!(device = %device.id, version = %report.version, status = report.status.as_str(),
            "report of a release this device was not offered: recorded, not counted");
        return Ok(false);
    }
    if let Some(d) = report
        .delta
        .as_ref()
        .filter(|_| report.status != ReportStatus::Downloading)
    {
        let outcome = if d.applied { "applied" } else { "fell_back" };
        app.metrics
            .delta_reports
            .get_or_create(&crate::metrics::DeltaLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }
    if report.status != ReportStatus::Downloading {
        crate::rollouts::after_report(app, &device.id, &report.version).await?;
    }
    Ok(true)
}
