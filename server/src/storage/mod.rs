//! Storage behind two traits (DESIGN.md): [`BlobStore`] for firmware images (content-addressed
//! by sha256) and [`StateStore`] for metadata, the published head and device records.
//! Embedded defaults: a local directory ([`LocalBlobs`]) and SQLite ([`SqlState`]). For several
//! replicas: an S3 bucket ([`S3Blobs`]) and PostgreSQL (the same [`SqlState`] code through
//! sqlx's `Any` driver; the SQL is kept portable: `$N` placeholders, standard types,
//! `ON CONFLICT` upserts).

pub mod blobs;
pub mod s3;
pub mod state;

pub use blobs::{BlobError, BlobStore, LocalBlobs};
pub use s3::{S3Blobs, S3Config};
pub use state::{Head, RepoIndex, SqlState, StateError, StateStore};
