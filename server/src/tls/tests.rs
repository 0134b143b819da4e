#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca(name: &str) -> Ca {
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

/// A certificate of `ca` with these SANs and serial: (certificate PEM, key PEM).
fn leaf(
    ca: &Ca,
    sans: Vec<SanType>,
    serial: u64,
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = sans;
    params.serial_number = Some(SerialNumber::from(serial));
    params.extended_key_usages = vec![usage];
    params.distinguished_name.push(DnType::CommonName, "leaf");
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn uri(text: &str) -> SanType {
    SanType::URI(text.try_into().unwrap())
}

fn device(ca: &Ca, id: &str, serial: u64) -> (String, String) {
    leaf(
        ca,
        vec![uri(&format!("{DEVICE_ID_URI_PREFIX}{id}"))],
        serial,
        ExtendedKeyUsagePurpose::ClientAuth,
    )
}

fn server_pair(ca: &Ca) -> (String, String) {
    leaf(
        ca,
        vec![SanType::DnsName("localhost".try_into().unwrap())],
        1,
        ExtendedKeyUsagePurpose::ServerAuth,
    )
}

fn crl(ca: &Ca, revoked: &[u64]) -> String {
    CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2025, 1, 1),
        next_update: rcgen::date_time_ymd(2040, 1, 1),
        crl_number: SerialNumber::from(1u64),
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
    .signed_by(&ca.issuer)
    .unwrap()
    .pem()
    .unwrap()
}

fn id_of(cert_pem: &str) -> Result<String, CertificateIdError> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let cert = webpki::EndEntityCert::try_from(&der).unwrap();
    device_id_of(&cert)
}

#[test]
fn the_device_id_is_the_one_airlock_uri_san() {
    let ca = ca("fleet");
    let client = ExtendedKeyUsagePurpose::ClientAuth;
    assert_eq!(
        id_of(&device(&ca, "cam-0001", 2).0),
        Ok("cam-0001".to_string())
    );
    // other URIs (SPIFFE ids, URLs) and DNS names are not device ids
    let mixed = leaf(
        &ca,
        vec![
            uri("spiffe://acme.example/cam-9"),
            SanType::DnsName("cam-9.acme.example".try_into().unwrap()),
            uri("urn:airlock:device:cam-9"),
        ],
        3,
        client.clone(),
    );
    assert_eq!(id_of(&mixed.0), Ok("cam-9".to_string()));
    let none = leaf(
        &ca,
        vec![SanType::DnsName("cam-9.acme.example".try_into().unwrap())],
        4,
        client.clone(),
    );
    assert_eq!(id_of(&none.0), Err(CertificateIdError::NoDeviceId));
    assert_eq!(
        id_of(&leaf(&ca, vec![], 5, client.clone()).0),
        Err(CertificateIdError::NoDeviceId)
    );
    let two = leaf(
        &ca,
        vec![uri("urn:airlock:device:a"), uri("urn:airlock:device:b")],
        6,
        client.clone(),
    );
    assert_eq!(
        id_of(&two.0),
        Err(CertificateIdError::SeveralDeviceIds("a".into(), "b".into()))
    );
    for bad in ["", "a/b", "cam 1", "../x"] {
        let cert = leaf(
            &ca,
            vec![uri(&format!("urn:airlock:device:{bad}"))],
            7,
            client.clone(),
        );
        assert_eq!(
            id_of(&cert.0),
            Err(CertificateIdError::BadDeviceId(bad.to_string())),
            "{bad:?}"
        );
    }
}

/// The files of a test server: server.pem/key, and optionally the device CA and its CRL.
fn files(dir: &Path, ca: &Ca, crl_pem: Option<&str>) -> TlsFiles {
    let (cert, key) = server_pair(ca);
    std::fs::write(dir.join("server.pem"), cert).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    std::fs::write(dir.join("ca.pem"), &ca.pem).unwrap();
    if let Some(c) = crl_pem {
        std::fs::write(dir.join("ca.crl"), c).unwrap();
    }
    TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        client_ca: Some(dir.join("ca.pem")),
        client_crl: crl_pem.map(|_| dir.join("ca.crl")),
    }
}

/// Bumps a file's modification time past the previous one (file systems with coarse times).
fn touch_later(path: &Path, seconds: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(seconds))
        .unwrap();
}

#[test]
fn a_bad_new_pair_keeps_the_old_one_and_a_good_one_is_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = ca("servers");
    let files = files(dir, &ca, None);
    let tls = Tls::load(files.clone()).unwrap();
    let first = tls.current();
    assert!(tls.reload_if_changed().is_none(), "nothing changed");

    // a renewal copied half-way: the new certificate, the old key
    let (new_cert, new_key) = server_pair(&ca);
    std::fs::write(&files.cert, &new_cert).unwrap();
    touch_later(&files.cert, 5);
    let refused = tls.reload_if_changed().expect("the change is seen");
    assert!(matches!(refused, Err(TlsError::Pair { .. })), "{refused:?}");
    assert!(
        Arc::ptr_eq(&first, &tls.current()),
        "the old pair stays in use"
    );
    assert!(
        tls.reload_if_changed().is_none(),
        "a bad pair is tried once"
    );

    // the key arrives: taken
    std::fs::write(&files.key, &new_key).unwrap();
    touch_later(&files.key, 10);
    tls.reload_if_changed()
        .expect("the change is seen")
        .unwrap();
    assert!(!Arc::ptr_eq(&first, &tls.current()));
    assert_eq!(
        tls.current().config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn unusable_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = ca("servers");
    let good = files(dir, &ca, None);
    let missing = TlsFiles {
        cert: dir.join("nope.pem"),
        ..good.clone()
    };
    let e = Tls::load(missing).err().unwrap();
    assert!(
        matches!(e, TlsError::Read { ref path, .. } if path.ends_with("nope.pem")),
        "{e}"
    );
    std::fs::write(dir.join("empty.pem"), "not PEM\n").unwrap();
    let empty = TlsFiles {
        cert: dir.join("empty.pem"),
        ..good.clone()
    };
    let e = Tls::load(empty).err().unwrap();
    assert!(
        matches!(
            e,
            TlsError::Missing {
                what: "certificate",
                ..
            }
        ),
        "{e}"
    );
    let no_key = TlsFiles {
        key: dir.join("ca.pem"),
        ..good.clone()
    };
    let e = Tls::load(no_key).err().unwrap();
    assert!(
        matches!(
            e,
            TlsError::Missing {
                what: "private key",
                ..
            }
        ),
        "{e}"
    );
    std::fs::write(dir.join("bad.crl"), b"\x30\x03\x02\x01\x01").unwrap();
    let bad_crl = TlsFiles {
        client_crl: Some(dir.join("bad.crl")),
        ..good
    };
    let e = Tls::load(bad_crl).err().unwrap();
    assert!(matches!(e, TlsError::Malformed { what: "CRL", .. }), "{e}");
}

#[test]
fn the_crl_as_loaded_now_revokes_by_issuer_and_serial() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fleet = ca("fleet");
    let other = ca("other");
    let tls = Tls::load(files(dir, &fleet, Some(&crl(&fleet, &[])))).unwrap();
    let (revoked_pem, _) = device(&fleet, "cam-1", 77);
    let (kept_pem, _) = device(&fleet, "cam-2", 78);
    let (same_serial_elsewhere, _) = device(&other, "cam-3", 77);
    let issuer_serial = |pem: &str| {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let cert = webpki::EndEntityCert::try_from(&der).unwrap();
        (cert.issuer().to_vec(), cert.serial().to_vec())
    };
    let revoked = |pem: &str| {
        let (issuer, serial) = issuer_serial(pem);
        tls.is_revoked(&issuer, &serial)
    };
    assert!(!revoked(&revoked_pem));
    // a new CRL, reloaded: serial 77 of the fleet CA only
    std::fs::write(dir.join("ca.crl"), crl(&fleet, &[77])).unwrap();
    touch_later(&dir.join("ca.crl"), 5);
    tls.reload_if_changed().unwrap().unwrap();
    assert!(revoked(&revoked_pem));
    assert!(!revoked(&kept_pem));
    assert!(
        !revoked(&same_serial_elsewhere),
        "a serial is unique per issuer only"
    );
}

#[test]
fn certificate_refusals_are_401_or_403_with_their_code() {
    use crate::deviceauth::DeviceAuthError;
    use crate::error::ApiError;
    let answer = |e: DeviceAuthError| {
        let e = ApiError::from(e);
        (e.status.as_u16(), e.code)
    };
    assert_eq!(
        answer(DeviceAuthError::NoClientCertificate),
        (401, "unauthorized")
    );
    assert_eq!(
        answer(DeviceAuthError::CertificateWithoutId(
            CertificateIdError::NoDeviceId
        )),
        (403, "no_device_id")
    );
    assert_eq!(
        answer(DeviceAuthError::NotCertificateDevice {
            path: "b".into(),
            certificate: "a".into()
        }),
        (403, "wrong_device")
    );
    assert_eq!(
        answer(DeviceAuthError::Revoked("a".into())),
        (403, "revoked")
    );
}
