//! airlock-core: the pieces that the signer, the server and the device must agree on.
//!
//! Everything here is pure: no sockets, no files, no clock reads. Time is always passed in
//! (`now`), so expiry and support windows can be tested and simulated.
//!
//! - [`names`]: which product ids and target names are acceptable (path-safety rules).
//! - [`release`]: the signed release fields carried in a target's TUF `custom` field.
//! - [`support`]: the product support record and the rules that protect it.
//! - [`decision`]: the update decision (server offer) and the device's own check of an offer.
//! - [`hold`]: how long a server may hold a signed security release back from a device.
//! - [`incident`]: the CRA Art. 14 reporting clock (deadlines of early warning, notification
//!   and final report).
//! - [`cvss`]: CVSS v3 base vectors and CWE references of advisories.
//! - [`vex`]: signed VEX "not affected" statements (in the support record).
//! - [`keys`]: ed25519 keys in PKCS#8 PEM, as TUF keys and tough signers.
//! - [`verify`]: TUF verification helpers used when accepting a publish.
//! - [`online`]: building and signing snapshot and timestamp metadata.

pub mod api;
pub mod canonical;
pub mod config;
pub mod cvss;
pub mod decision;
pub mod delta;
pub mod hold;
pub mod incident;
pub mod keys;
pub mod names;
pub mod online;
pub mod release;
pub mod rollout;
pub mod sbom;
pub mod support;
pub mod verify;
pub mod vex;

/// The TUF specification version written into every metadata file we sign.
pub const SPEC_VERSION: &str = "1.0.31";

/// Truncates a timestamp to whole seconds. Sub-second expiry dates make python-tuf refuse
/// metadata (PEERS.md), so everything we sign goes through this.
pub fn whole_seconds(t: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// An error and its sources on one line (`outer: inner: cause`), skipping repeats.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}
