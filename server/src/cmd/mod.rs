//! The commands of `airlock-server`, one module each: its arguments, its run and its output.

pub mod healthcheck;
pub mod init;
pub mod migrate;
pub mod migrate_storage;
pub mod serve;
pub mod storage_args;
pub mod tls_args;
pub mod token;
