//! Storage behind two traits (DESIGN.md): [`BlobStore`] for firmware images (content-addressed
//! by sha256) and [`StateStore`] for metadata, the published head and device records.
//! Embedded defaults: a local directory ([`LocalBlobs`]) and SQLite ([`SqlState`]). S3 and
//! PostgreSQL come through the same traits; SQL is kept portable ($N placeholders, standard
//! types, `ON CONFLICT` upserts).

pub mod blobs;
pub mod state;

pub use blobs::{BlobError, BlobStore, LocalBlobs};
pub use state::{Head, RepoIndex, SqlState, StateError, StateStore};
