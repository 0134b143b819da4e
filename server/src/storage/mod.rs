//! Storage (DESIGN.md): [`BlobStore`] for firmware images (content-addressed by sha256), and the
//! state database behind one small trait per concern, all implemented by [`SqlState`]:
//! [`RepositoryStore`] (metadata files and the published head), [`DeviceRecords`] (check-ins and
//! reports), [`FleetQueries`], [`RolloutStore`], [`EnrolmentStore`] (enrolment tokens and device
//! credentials), [`AdminTokenStore`], [`AuditLog`], [`UiStore`] (the dashboard's sessions and
//! look-ups) and [`Readiness`].
//! Embedded defaults: a local directory ([`LocalBlobs`]) and SQLite. For several replicas: an S3
//! bucket ([`S3Blobs`]) and PostgreSQL (the same [`SqlState`] code through sqlx's `Any` driver;
//! the SQL is kept portable: `$N` placeholders, standard types, `ON CONFLICT` upserts). The
//! schema is versioned migrations ([`migrations`]).

pub mod admin_tokens;
pub mod audit;
pub mod blobs;
pub mod changes;
pub mod device_records;
pub mod enrolment;
pub mod fleet_queries;
pub mod migrations;
pub mod repository;
pub mod rollout_store;
pub mod s3;
pub mod sql;
#[cfg(test)]
pub(crate) mod tests;
pub mod ui_store;
#[cfg(test)]
mod upgrade_tests;

pub use admin_tokens::AdminTokenStore;
pub use audit::{AuditLog, AuditQuery};
pub use blobs::{BlobError, BlobStore, LocalBlobs};
pub use changes::Change;
pub use device_records::{CheckInRecord, DeviceRecords};
pub use enrolment::{DeviceCredential, EnrolOutcome, EnrolmentStore, EnrolmentToken};
pub use fleet_queries::{
    DeltaOutcomes, FleetQueries, HistoryInstants, RolloutFigures, RolloutKey, VersionCount,
};
pub use migrations::{AppliedMigration, SchemaPolicy};
pub use repository::{Head, RepoIndex, RepositoryStore};
pub use rollout_store::RolloutStore;
pub use s3::{S3Blobs, S3Config};
pub use sql::{redact_url, Backend, Readiness, SqlState, StateError};
pub use ui_store::{DeviceHistory, DeviceRow, ReportRow, UiSession, UiStore, KEPT_CHECK_IN_RUNS};

/// Everything the server keeps in its state database: what [`crate::AppState`] holds.
pub trait StateStore:
    RepositoryStore
    + DeviceRecords
    + FleetQueries
    + RolloutStore
    + EnrolmentStore
    + AdminTokenStore
    + AuditLog
    + UiStore
    + Readiness
{
}

impl StateStore for SqlState {}
