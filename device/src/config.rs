//! What a device agent is configured with: where its server is, the root it pins, where it
//! keeps its state, and what it runs when its state records nothing yet.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL used for the check-in, enrolment and reports.
    pub server: url::Url,
    /// Base URL for TUF metadata and targets (normally the same server; a mirror or a proxy).
    pub tuf_base: url::Url,
    /// The pinned root metadata the device trusts first (TUF 5.2).
    pub trusted_root: PathBuf,
    /// The device's state directory: trusted metadata, credential, images, `device.json`.
    pub state_dir: PathBuf,
    pub id: String,
    pub product: String,
    /// Installed version (used until the state directory records an install).
    pub version: semver::Version,
    pub security_version: u64,
    /// The device's clock; `None` is the system clock. It is the time at which the device judges
    /// its verified metadata fresh and an offer allowed (support windows).
    pub now: Option<jiff::Timestamp>,
    /// Enrolment token, used once when the state directory holds no device credential yet.
    pub enrol_token: Option<String>,
    /// How requests that failed for a passing reason (no connection, 502/503/504, 429) are
    /// retried within a cycle ([`crate::retry`]).
    pub retry: crate::retry::Backoff,
}

impl Config {
    /// The device's time for this cycle.
    pub fn now(&self) -> jiff::Timestamp {
        self.now.unwrap_or_else(jiff::Timestamp::now)
    }
}
