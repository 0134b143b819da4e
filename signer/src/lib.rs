//! airlock, the offline signing tool: library half. `main.rs` only parses and dispatches, so
//! the simulator's demo and the tests can drive the same code.
//!
//! One module per subcommand group (as tuftool): [`init`], [`product`], [`release`],
//! [`publish`], [`status`]; [`repo`] is the on-disk repository they share.

pub mod compliance;
pub mod export;
pub mod fsutil;
pub mod init;
pub mod keys;
pub mod passphrase;
pub mod pkcs11;
pub mod product;
pub mod proposal;
pub mod publish;
pub mod release;
pub mod release_dir;
pub mod repo;
pub mod rollout;
pub mod root;
pub mod status;
pub mod support;
pub mod targets;
pub mod transport;
pub mod verify;

/// Default lifetime of root, targets and product role metadata.
pub const DEFAULT_EXPIRY_DAYS: i64 = 365;
