//! airlock-sim: simulated devices that verify everything as real TUF clients.
//!
//! - [`transport`]: tough's `Transport` over HTTP (the seam for fault injection).
//! - [`device`]: one device: check in, refresh TUF metadata, verify the offer against its own
//!   signed metadata, download and verify, "install", report.
//! - [`proxy`]: a tampering proxy in front of the server, for attack drills.
//! - [`demo`]: the whole story on the embedded default, in a temp dir (and the lab it runs in).
//! - [`scenario`]: fleet rollout rehearsals from a scenario file, on a simulated clock.
//! - [`attack`]: attack drills: a device behind the tampering proxy, in a lab or against a
//!   server; every attack must be refused for its specific reason.

pub mod attack;
pub mod demo;
pub mod device;
pub mod proxy;
pub mod scenario;
pub mod transport;
pub mod tuf_client;
