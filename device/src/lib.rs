//! airlock-device: the update agent library a vendor embeds in a device.
//!
//! It trusts nothing the server says that it cannot verify. One [`Device::run_cycle`]:
//!
//! 1. enrols once with a token if the server requires device credentials ([`server`]);
//! 2. checks in, telling the server what it runs;
//! 3. refreshes its TUF metadata from its own trusted copy, starting from a pinned root
//!    ([`metadata`], tough's client), and reads its product's signed releases and support
//!    record, rejecting anything expired by the device's own clock;
//! 4. re-checks the server's answer, whether an offer, "up to date" or "end of support",
//!    against that verified metadata with the rules the server used ([`offer`],
//!    `airlock_core::decision::check_offer`); "up to date" cannot withhold a security
//!    release the device may install once its hold ran out (`airlock_core::hold`): the device
//!    installs it from its verified metadata and reports it;
//! 5. downloads the image, resuming a partial one with a Range request, and verifies its
//!    length and sha256 ([`download`]);
//! 6. hands the verified image to the vendor's [`Installer`] ([`install`]);
//! 7. reports to the server and persists what it runs ([`state`]).
//!
//! [`fetch_sbom`] fetches a release's SBOM through the same TUF client: the SBOM target its
//! image's signed fields name, with its signed length and sha256 checked, and checked to be a
//! valid CycloneDX or SPDX document.
//!
//! A request to the server that fails for a passing reason (no connection, a 502/503/504 from
//! a restarting server or its load balancer, 429) is sent again after an exponentially growing,
//! capped and jittered wait, a bounded number of times ([`retry`], `Config::retry`).
//!
//! Every refusal carries a [`Refusal`] kind (`HashMismatch`, `RolledBackMetadata`,
//! `BelowFloor`, ...), so an agent or a test judges it by kind, never by message text.
//!
//! The dependency tree holds no server, signer, database, S3, PKCS#11, PDF or chart crate
//! (`tests/dependencies.rs` checks it).
//!
//! # Example
//!
//! ```no_run
//! use airlock_device::{Config, Device, Direct, KeepImage, Outcome};
//!
//! # async fn agent() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config {
//!     server: "https://updates.example/".parse()?,
//!     tuf_base: "https://updates.example/".parse()?,
//!     trusted_root: "/etc/airlock/1.root.json".into(),
//!     state_dir: "/var/lib/airlock".into(),
//!     id: "cam-000001".into(),
//!     product: "acme-cam".into(),
//!     version: "1.0.0".parse()?,
//!     security_version: 1,
//!     now: None,
//!     enrol_token: None,
//!     retry: airlock_device::Backoff::default(),
//! };
//! let client = airlock_device::reqwest::Client::new();
//! // A real agent implements `Installer` to write the image to its inactive slot.
//! let device = Device {
//!     config: &config,
//!     client: &client,
//!     installer: &KeepImage,
//!     link: &Direct,
//! };
//! match device.run_cycle().await?.outcome {
//!     Outcome::Refused { kind, reason } => eprintln!("refused ({kind:?}): {reason}"),
//!     Outcome::EndOfSupport { statement, .. } => println!("{statement}"),
//!     other => println!("{other:?}"),
//! }
//! # Ok(())
//! # }
//! ```

pub mod bsdiff;
pub mod config;
pub mod cycle;
pub mod delta;
pub mod download;
pub mod error;
pub mod install;
pub mod link;
pub mod metadata;
pub mod offer;
pub mod refusal;
pub mod retry;
pub mod server;
pub mod state;
pub mod transport;

pub use config::{Config, TlsConfig};
pub use cycle::{Device, DeviceRun, Outcome};
pub use error::Error;
pub use install::{InstallError, Installer, KeepImage};
pub use link::{Arrival, Direct, Link};
pub use metadata::{fetch_sbom, VerifiedSbom};
pub use refusal::{MetadataRole, Refusal, Refused};
pub use retry::Backoff;
pub use state::Installed;
pub use transport::HttpTransport;

/// The HTTP client the agent takes (so an agent builds it with the same version).
pub use reqwest;
