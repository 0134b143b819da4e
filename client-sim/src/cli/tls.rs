//! HTTPS flags of the subcommands that talk to a server.

use clap::Args;
use std::path::PathBuf;

/// `--ca`, `--client-cert`, `--client-key`.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// CA certificates (PEM) to trust for an HTTPS server, instead of the system's roots.
    #[arg(long, env = "AIRLOCK_CA")]
    pub ca: Option<PathBuf>,
    /// The device's client certificate (PEM), for servers that authenticate devices by
    /// certificate (`airlock-server serve --device-auth mtls`); needs --client-key.
    #[arg(long, env = "AIRLOCK_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The private key of --client-cert (PEM).
    #[arg(long, env = "AIRLOCK_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

impl TlsArgs {
    pub fn config(&self) -> airlock_device::TlsConfig {
        airlock_device::TlsConfig {
            ca: self.ca.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
        }
    }
}
