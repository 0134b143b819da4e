//! airlock, the offline signing tool: library half. The binary's `cmd` modules own each
//! command's arguments and output and call in here, so the simulator's demo and the tests can
//! drive the same code.
//!
//! What each command does: [`init`], [`product`] (with [`removal`]), [`release`] (and
//! [`release_dir`] for `--from-dir`), [`support`], [`targets`] (staged changes of targets.json),
//! [`root`] (rotation and [`root::proposal`]), [`publish`] and [`export`] (`publish --out`),
//! [`verify`], [`status`], [`renew`], [`rollout`], [`audit`], [`compliance`], [`incident`] (the
//! CRA Art. 14 reporting clock), [`advisory`] (CSAF 2.0 advisories). What they share: [`repo`] (the on-disk
//! repository), [`keys`], [`passphrase`] and [`pkcs11`] (where keys are held),
//! [`retired_keys`], [`durable`] (crash-safe writes), [`digest`], [`transport`].

pub mod advisory;
pub mod audit;
pub mod compliance;
pub mod delta;
pub mod devices;
pub mod digest;
pub mod durable;
pub mod export;
pub mod incident;
pub mod init;
pub mod keys;
pub mod leftovers;
pub mod passphrase;
pub mod pkcs11;
pub mod product;
pub mod publish;
pub mod release;
pub mod release_dir;
pub mod removal;
pub mod renew;
pub mod repo;
pub mod retired_keys;
pub mod rollout;
pub mod root;
pub mod sbom;
pub mod status;
pub mod support;
pub mod targets;
pub mod transport;
pub mod verify;

/// Default lifetime of root, targets and product role metadata.
pub const DEFAULT_EXPIRY_DAYS: i64 = 365;
