//! Test certificate authorities (rcgen): a server certificate for 127.0.0.1 and device
//! certificates naming their id in the URI SAN `urn:airlock:device:<id>`, and CRLs.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use std::path::{Path, PathBuf};

/// A certificate authority: its certificate as PEM and its signing key.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

/// A certificate and its key, as PEM, and the certificate's DER.
pub struct Pair {
    pub cert: String,
    pub key: String,
    pub der: Vec<u8>,
}

impl Pair {
    /// Writes `<name>.pem` and `<name>.key` into `dir`: their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&key, &self.key).unwrap();
        std::fs::write(&cert, &self.cert).unwrap();
        (cert, key)
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    fn issue(&self, sans: Vec<SanType>, serial: u64, usage: ExtendedKeyUsagePurpose) -> Pair {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        params.serial_number = Some(SerialNumber::from(serial));
        params.extended_key_usages = vec![usage];
        params
            .distinguished_name
            .push(DnType::CommonName, format!("test {serial}"));
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self, serial: u64) -> Pair {
        self.issue(
            vec![
                SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
                SanType::DnsName("localhost".try_into().unwrap()),
            ],
            serial,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A device certificate naming `id` (`urn:airlock:device:<id>`).
    pub fn device(&self, id: &str, serial: u64) -> Pair {
        let uri = format!("urn:airlock:device:{id}");
        self.issue(
            vec![SanType::URI(uri.as_str().try_into().unwrap())],
            serial,
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    /// A client certificate that names no device (a DNS name only).
    pub fn client_without_id(&self, serial: u64) -> Pair {
        self.issue(
            vec![SanType::DnsName("cam.acme.example".try_into().unwrap())],
            serial,
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    /// A CRL (PEM) revoking these serials.
    pub fn crl(&self, number: u64, revoked: &[u64]) -> String {
        CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2025, 1, 1),
            next_update: rcgen::date_time_ymd(2040, 1, 1),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(*serial),
                    revocation_time: rcgen::date_time_ymd(2025, 1, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer)
        .unwrap()
        .pem()
        .unwrap()
    }
}
