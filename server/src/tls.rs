//! HTTPS without a proxy (`--tls-cert`, `--tls-key`) and devices authenticated by their X.509
//! client certificate (`--device-auth mtls --client-ca FILE [--client-crl FILE]`).
//!
//! The files are read again when they change (their modification time and size are polled) or
//! on SIGHUP: new connections get the new certificate, CA or CRL; a pair that does not load is
//! logged and the one in use kept, so a half-copied renewal never takes the server down.
//!
//! A device's id is the certificate's URI subject alternative name
//! `urn:airlock:device:<device-id>` ([`DEVICE_ID_URI_PREFIX`]): exactly one such name. A SAN
//! rather than the subject's common name because rustls's verifier (webpki) reads SANs already,
//! they are typed and unambiguous, and RFC 6125 moved identities out of the CN.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use thiserror::Error;

/// The URI SAN that names a device: `urn:airlock:device:cam-0001` is device `cam-0001`.
pub const DEVICE_ID_URI_PREFIX: &str = "urn:airlock:device:";

/// The files TLS is configured from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) that issue device certificates; set with `--device-auth mtls`.
    pub client_ca: Option<PathBuf>,
    /// Certificate revocation lists (PEM or DER) of the device CA.
    pub client_crl: Option<PathBuf>,
}

/// Why the TLS files could not be used.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no {what} in PEM form (-----BEGIN ...-----)")]
    Missing { path: PathBuf, what: &'static str },
    #[error("{path}: malformed {what}: {detail}")]
    Malformed {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("the certificate {cert} and the key {key} do not make a usable pair: {source}")]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("the device CA {path} cannot verify client certificates: {detail}")]
    ClientVerifier { path: PathBuf, detail: String },
}

/// One load of the files: the rustls configuration and the device CA's CRLs.
struct Loaded {
    config: Arc<ServerConfig>,
    crls: Vec<webpki::OwnedCertRevocationList>,
}

/// Modification time and length of each file: a change of either means "read it again".
type Stamp = Vec<Option<(SystemTime, u64)>>;

/// The server's TLS state: what new connections are accepted with, reloadable.
pub struct Tls {
    files: TlsFiles,
    current: RwLock<Arc<Loaded>>,
    /// The files as they were at the last attempt to load them (good or bad), so a bad pair is
    /// logged once, not at every poll.
    seen: Mutex<Stamp>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn malformed(path: &Path, what: &'static str, detail: impl std::fmt::Display) -> TlsError {
    TlsError::Malformed {
        path: path.to_path_buf(),
        what,
        detail: detail.to_string(),
    }
}

/// Every certificate of a PEM file.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(path, "certificate", e))?;
    if certs.is_empty() {
        return Err(TlsError::Missing {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Missing {
            path: path.to_path_buf(),
            what: "private key",
        },
        other => malformed(path, "private key", other),
    })
}

/// The CRLs of a file: PEM (`-----BEGIN X509 CRL-----`, one or more) or a single DER CRL.
fn crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let pem = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(path, "CRL", e))?;
    let list = if pem.is_empty() {
        vec![CertificateRevocationListDer::from(bytes)]
    } else {
        pem
    };
    for crl in &list {
        webpki::OwnedCertRevocationList::from_der(crl).map_err(|e| malformed(path, "CRL", e))?;
    }
    Ok(list)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn load(files: &TlsFiles) -> Result<Loaded, TlsError> {
    let chain = certificates(&files.cert)?;
    let key = private_key(&files.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Pair {
            cert: files.cert.clone(),
            key: files.key.clone(),
            source,
        })?;
    let mut crl_list = Vec::new();
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| malformed(ca, "CA certificate", e))?;
            }
            let crl_der = match &files.client_crl {
                Some(path) => crls(path)?,
                None => Vec::new(),
            };
            for crl in &crl_der {
                // checked above: parses
                if let Ok(owned) = webpki::OwnedCertRevocationList::from_der(crl) {
                    crl_list.push(owned);
                }
            }
            // Optional at the handshake, so that health checks, /tuf/ and the admin API work
            // without a client certificate; the device endpoints refuse a request without one
            // (401). A certificate that is presented must chain to the CA and not be revoked
            // by the CRL (only the device's own certificate is checked against it).
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .allow_unauthenticated();
            if !crl_der.is_empty() {
                verifier = verifier
                    .with_crls(crl_der)
                    .only_check_end_entity_revocation();
            }
            let verifier = verifier.build().map_err(|e| TlsError::ClientVerifier {
                path: ca.clone(),
                detail: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Pair {
            cert: files.cert.clone(),
            key: files.key.clone(),
            source,
        })?;
    // HTTP/2 for the clients that offer it, HTTP/1.1 for the rest
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Loaded {
        config: Arc::new(config),
        crls: crl_list,
    })
}

fn stamp(files: &TlsFiles) -> Stamp {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
        files.client_crl.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
    .collect()
}

impl Tls {
    /// Reads the files; an error names the file and what is wrong with it.
    pub fn load(files: TlsFiles) -> Result<Arc<Tls>, TlsError> {
        let seen = stamp(&files);
        let loaded = load(&files)?;
        Ok(Arc::new(Tls {
            files,
            current: RwLock::new(Arc::new(loaded)),
            seen: Mutex::new(seen),
        }))
    }

    /// Whether client certificates are verified (a device CA was given).
    pub fn verifies_clients(&self) -> bool {
        self.files.client_ca.is_some()
    }

    fn current(&self) -> Arc<Loaded> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The acceptor for a new connection (the files as last loaded).
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current().config.clone())
    }

    /// Reads the files again; on error the configuration in use is kept.
    pub fn reload(&self) -> Result<(), TlsError> {
        let seen = stamp(&self.files);
        if let Ok(mut s) = self.seen.lock() {
            *s = seen;
        }
        let loaded = load(&self.files)?;
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(loaded),
            Err(p) => *p.into_inner() = Arc::new(loaded),
        }
        Ok(())
    }

    /// Reloads when a file's modification time or length changed since the last attempt:
    /// `None` when nothing changed.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let now = stamp(&self.files);
        let changed = self.seen.lock().map_or(true, |s| *s != now);
        changed.then(|| self.reload())
    }

    /// Whether the current CRLs revoke the certificate `serial` of `issuer` (for connections
    /// opened before a CRL was replaced; new ones are refused at the handshake).
    fn is_revoked(&self, issuer: &[u8], serial: &[u8]) -> bool {
        self.current().crls.iter().any(|owned| {
            let crl = webpki::CertRevocationList::from(owned.clone());
            crl.issuer() == issuer && matches!(crl.find_serial(serial), Ok(Some(_)))
        })
    }

    /// What the verified client certificate of a finished handshake says, if one was sent.
    pub fn client_certificate(
        self: &Arc<Self>,
        connection: &rustls::ServerConnection,
    ) -> Option<ClientCertificate> {
        let leaf = connection.peer_certificates()?.first()?;
        let cert = webpki::EndEntityCert::try_from(leaf).ok()?;
        Some(ClientCertificate {
            device_id: device_id_of(&cert),
            issuer: cert.issuer().to_vec(),
            serial: cert.serial().to_vec(),
            tls: self.clone(),
        })
    }
}

/// The verified client certificate of a connection, as a request extension.
#[derive(Clone)]
pub struct ClientCertificate {
    /// The device id the certificate names, or why it names none.
    pub device_id: Result<String, CertificateIdError>,
    issuer: Vec<u8>,
    serial: Vec<u8>,
    tls: Arc<Tls>,
}

impl ClientCertificate {
    /// Whether the CRL as loaded now revokes this certificate.
    pub fn revoked_now(&self) -> bool {
        self.tls.is_revoked(&self.issuer, &self.serial)
    }
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("device_id", &self.device_id)
            .field("serial", &hex::encode(&self.serial))
            .finish()
    }
}

/// Why a verified certificate names no device.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateIdError {
    #[error("the client certificate has no URI subject alternative name {DEVICE_ID_URI_PREFIX}<device-id>")]
    NoDeviceId,
    #[error("the client certificate names more than one device ({0} and {1})")]
    SeveralDeviceIds(String, String),
    #[error("the client certificate's device id {0:?} is not 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'")]
    BadDeviceId(String),
}

/// The device id of a certificate: its one URI SAN `urn:airlock:device:<id>`.
pub fn device_id_of(cert: &webpki::EndEntityCert<'_>) -> Result<String, CertificateIdError> {
    let mut ids = cert
        .valid_uri_names()
        .filter_map(|uri| uri.strip_prefix(DEVICE_ID_URI_PREFIX));
    let id = ids.next().ok_or(CertificateIdError::NoDeviceId)?;
    if let Some(other) = ids.next() {
        return Err(CertificateIdError::SeveralDeviceIds(
            id.to_string(),
            other.to_string(),
        ));
    }
    crate::deviceauth::check_device_id(id)
        .map_err(|_| CertificateIdError::BadDeviceId(id.to_string()))?;
    Ok(id.to_string())
}

/// Reloads the files when they change (polled every `every`) and on SIGHUP.
pub fn spawn_reload(tls: Arc<Tls>, every: Duration) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let forced = tokio::select! {
                _ = tick.tick() => false,
                Some(()) = async {
                    match hangup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                } => true,
            };
            #[cfg(not(unix))]
            let forced = {
                tick.tick().await;
                false
            };
            let outcome = if forced {
                Some(tls.reload())
            } else {
                tls.reload_if_changed()
            };
            match outcome {
                Some(Ok(())) => tracing::info!(
                    cert = %tls.files.cert.display(),
                    "TLS certificate, key and device CA files reloaded"
                ),
                Some(Err(e)) => tracing::error!(
                    error = %e,
                    "TLS files not reloaded: new connections keep the previous certificate"
                ),
                None => {}
            }
        }
    });
}

#[cfg(test)]
mod tests;
