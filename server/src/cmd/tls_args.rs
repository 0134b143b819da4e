//! `airlock-server serve`'s HTTPS and device-certificate flags.

use anyhow::Result;
use std::path::PathBuf;

use airlock_server::deviceauth::DeviceAuth;
use airlock_server::tls::TlsFiles;

#[derive(clap::Args)]
pub struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM, server certificate first); needs
    /// --tls-key. Reloaded without a restart when the file changes (or on SIGHUP). HTTP/2 for
    /// clients that offer it. Without it the server speaks plain HTTP.
    #[arg(long, env = "AIRLOCK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "AIRLOCK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With `--device-auth mtls`: the CA certificates (PEM) that issue device certificates. A
    /// device's id is its certificate's URI subject alternative name
    /// `urn:airlock:device:<device-id>`.
    #[arg(long, env = "AIRLOCK_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// Certificate revocation lists (PEM or DER) of the device CA: a device certificate they
    /// list is refused. Reloaded like the certificate.
    #[arg(long, env = "AIRLOCK_CLIENT_CRL", requires = "client_ca")]
    pub client_crl: Option<PathBuf>,
    /// How often to look for changed TLS files, in seconds (SIGHUP reloads at once).
    #[arg(long, env = "AIRLOCK_TLS_RELOAD_SECONDS", default_value_t = 10)]
    pub tls_reload_seconds: u64,
}

impl TlsArgs {
    /// The TLS files, `None` for plain HTTP; refuses combinations that cannot work.
    pub fn files(&self, device_auth: DeviceAuth) -> Result<Option<TlsFiles>> {
        let mtls = device_auth == DeviceAuth::Mtls;
        if mtls && (self.tls_cert.is_none() || self.client_ca.is_none()) {
            anyhow::bail!(
                "--device-auth mtls needs HTTPS and the device CA: give --tls-cert, --tls-key \
                 and --client-ca"
            );
        }
        if !mtls && self.client_ca.is_some() {
            anyhow::bail!(
                "--client-ca is used only with --device-auth mtls (devices authenticated by \
                 their certificate)"
            );
        }
        if self.tls_reload_seconds < 1 {
            anyhow::bail!("--tls-reload-seconds must be at least 1");
        }
        Ok(match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.client_ca.clone(),
                client_crl: self.client_crl.clone(),
            }),
            _ => None,
        })
    }
}
