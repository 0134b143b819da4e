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

/// HTTPS settings of a device: the CA it trusts for its server and its own client certificate
/// (for servers that authenticate devices by certificate, `--device-auth mtls`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA certificates (PEM) to trust for the server, instead of the system's roots: a fleet
    /// pins its vendor's CA.
    pub ca: Option<PathBuf>,
    /// The device's certificate chain (PEM); needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// The private key of `client_cert` (PEM, PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

impl TlsConfig {
    /// A client builder that trusts `ca` (only) and presents the client certificate, when set.
    pub fn client_builder(&self) -> Result<reqwest::ClientBuilder, crate::Error> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| crate::Error::TlsFile {
                path: path.clone(),
                source,
            })
        };
        let unusable = |path: &PathBuf, what: &'static str| {
            let path = path.clone();
            move |source| crate::Error::TlsUnusable { path, what, source }
        };
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = &self.ca {
            let roots = reqwest::Certificate::from_pem_bundle(&read(ca)?)
                .map_err(unusable(ca, "CA certificates"))?;
            builder = builder.tls_certs_only(roots);
        }
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert)?;
                pem.push(b'\n');
                pem.extend(read(key)?);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(unusable(cert, "client certificate and key"))?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            (Some(path), None) | (None, Some(path)) => {
                return Err(crate::Error::TlsIncomplete(path.clone()))
            }
        }
        Ok(builder)
    }
}
