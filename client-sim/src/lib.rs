//! airlock-sim: simulated devices that verify everything as real TUF clients.
//!
//! - [`cli`]: the subcommands (arguments, run, output); `main.rs` dispatches to them.
//! - [`device`]: one simulated device: an `airlock_device` agent with simulated faults (boot
//!   failures, latency, bandwidth, cut-off downloads).
//! - [`lab`]: the in-process server and signed repository the demo, scenarios and drills run
//!   against; the only module that uses `airlock_server` and `airlock_signer`.
//! - [`proxy`]: a tampering proxy in front of the server, for attack drills.
//! - [`demo`]: the whole story on the embedded default, in a temp dir.
//! - [`scenario`]: fleet rollout rehearsals from a scenario file, on a simulated clock.
//! - [`attack`]: attack drills: a device behind the tampering proxy, in a lab or against a
//!   server; every attack must be refused for its specific reason.
//! - [`tuf_client`]: the TUF conformance suite's client-under-test (a spec-workflow TUF
//!   client of its own, run as `airlock-sim tuf-client`).

pub mod attack;
pub mod cli;
pub mod demo;
pub mod device;
pub mod lab;
pub mod proxy;
pub mod scenario;
pub mod tuf_client;
