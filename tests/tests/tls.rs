//! HTTPS (`serve --tls-cert --tls-key`): devices update over it, HTTP/2 is negotiated when
//! offered, a renewed certificate is served without a restart; and devices authenticated by
//! their client certificate (`--device-auth mtls`): the certificate names the device, and a
//! certificate without one, from another CA, on the CRL or of a revoked id is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::pki::{Ca, Pair};
use airlock_e2e::*;
use std::path::Path;
use std::process::{Command, Output};

/// The fleet's PKI in `dir/tls`: the CA (ca.pem) and the server's pair (server.pem/.key).
fn pki(dir: &Path) -> Ca {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let ca = Ca::new("airlock test CA");
    std::fs::write(tls.join("ca.pem"), &ca.pem).unwrap();
    ca.server(1).write(&tls, "server");
    ca
}

const TLS: [&str; 4] = [
    "--tls-cert",
    "tls/server.pem",
    "--tls-key",
    "tls/server.key",
];

/// A blocking client that trusts the test CA (only), with a client certificate if given.
fn client(dir: &Path, identity: Option<&Pair>) -> reqwest::blocking::Client {
    let ca = std::fs::read(dir.join("tls/ca.pem")).unwrap();
    let mut builder = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .tls_info(true);
    if let Some(pair) = identity {
        let pem = format!("{}\n{}", pair.cert, pair.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// Runs an `airlock` / `airlock-sim` command that talks to the HTTPS server: the signer trusts
/// the test CA through SSL_CERT_FILE (as any rustls-platform-verifier client on Linux).
fn run_tls(dir: &Path, name: &str, args: &[&str]) -> Output {
    Command::new(bin(name))
        .args(args)
        .current_dir(dir)
        .env("SSL_CERT_FILE", dir.join("tls/ca.pem"))
        .output()
        .unwrap()
}

fn publish_tls(dir: &Path, server: &Server) {
    let out = run_tls(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `airlock-sim device` for `id` with its own state directory and these extra flags.
fn device(dir: &Path, server: &Server, id: &str, extra: &[&str]) -> Output {
    let state = format!("state-{id}");
    let mut args = vec![
        "device",
        "--server",
        &server.url,
        "--trusted-root",
        "repo/metadata/1.root.json",
        "--state",
        &state,
        "--id",
        id,
        "--product",
        "acme-cam",
        "--version",
        "1.0.0",
        "--security-version",
        "2",
        "--json",
    ];
    args.extend_from_slice(extra);
    Command::new(bin("airlock-sim"))
        .args(&args)
        .current_dir(dir)
        .env_remove("SSL_CERT_FILE")
        .output()
        .unwrap()
}

fn installed(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["outcome"], "installed", "{run}");
    run["to"].as_str().unwrap().to_string()
}

#[test]
fn devices_update_over_https_and_http2_is_negotiated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pki(dir);
    story_repo(dir);
    let server = Server::start_with(dir, &TLS);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    publish_tls(dir, &server);

    // the device trusts the fleet's CA for its server: it updates and verifies
    let out = device(dir, &server, "cam-1", &["--ca", "tls/ca.pem"]);
    assert_eq!(installed(&out), "1.2.0");
    // without it, the system's roots do not know the server's certificate
    let out = device(dir, &server, "cam-2", &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("checking in with https://"), "{err}");

    // HTTP/2 for a client that offers it (ALPN h2), HTTP/1.1 for one that does not
    let h2 = client(dir, None)
        .get(format!("{}/healthz", server.url))
        .send()
        .unwrap();
    assert_eq!(
        (h2.status().as_u16(), h2.version()),
        (200, reqwest::Version::HTTP_2)
    );
    let h1 = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            &std::fs::read(dir.join("tls/ca.pem")).unwrap(),
        )
        .unwrap()])
        .http1_only()
        .build()
        .unwrap()
        .get(format!("{}/tuf/metadata/timestamp.json", server.url))
        .send()
        .unwrap();
    assert_eq!(
        (h1.status().as_u16(), h1.version()),
        (200, reqwest::Version::HTTP_11)
    );
    // TUF metadata over HTTP/2 as well
    let meta = client(dir, None)
        .get(format!("{}/tuf/metadata/timestamp.json", server.url))
        .send()
        .unwrap();
    assert_eq!(meta.status(), 200);
    assert_eq!(meta.version(), reqwest::Version::HTTP_2);

    // the dashboard's session cookie is Secure over HTTPS (`--ui-secure-cookie auto`)
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &admin_token(dir))
        .finish();
    let signed_in = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            &std::fs::read(dir.join("tls/ca.pem")).unwrap(),
        )
        .unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/ui/sign-in", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // plain HTTP to the HTTPS port gets no answer
    let plain = server.url.replacen("https://", "http://", 1);
    assert!(reqwest::blocking::get(format!("{plain}/healthz")).is_err());
}

/// The certificate the server presents now (a new connection each time).
fn served(dir: &Path, server: &Server) -> Vec<u8> {
    let resp = client(dir, None)
        .get(format!("{}/healthz", server.url))
        .send()
        .unwrap();
    let info = resp.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    info.peer_certificate().unwrap().to_vec()
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = pki(dir);
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    let first = std::fs::read_to_string(dir.join("tls/server.pem")).unwrap();
    let mut args = TLS.to_vec();
    args.extend(["--tls-reload-seconds", "1"]);
    let server = Server::start_with(dir, &args);
    let first_der = served(dir, &server);

    // a broken renewal (not a certificate): logged, the old one kept
    std::fs::write(
        dir.join("tls/server.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(
        served(dir, &server),
        first_der,
        "a bad pair must not replace the good one"
    );

    // the renewal proper: key first, then the certificate
    let renewed = ca.server(2);
    renewed.write(&dir.join("tls"), "server");
    eventually("the renewed certificate is served", || {
        served(dir, &server) == renewed.der
    });
    assert_ne!(renewed.cert, first);
    drop(server);

    // SIGHUP reloads at once, whatever the polling interval
    let mut args = TLS.to_vec();
    args.extend(["--tls-reload-seconds", "3600"]);
    let server = Server::start_with(dir, &args);
    assert_eq!(served(dir, &server), renewed.der);
    let third = ca.server(3);
    third.write(&dir.join("tls"), "server");
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    eventually("SIGHUP reloads the certificate", || {
        served(dir, &server) == third.der
    });
}

/// A check-in of `path_id` with `client`: the status and the JSON body, or `None` when the
/// TLS handshake refused the client.
fn check_in(
    client: &reqwest::blocking::Client,
    server: &Server,
    path_id: &str,
) -> Option<(u16, serde_json::Value)> {
    let resp = client
        .post(format!("{}/v1/devices/{path_id}/check-in", server.url))
        .header("content-type", "application/json")
        .body(r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#)
        .send()
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.json().unwrap()))
}

fn refused(answer: Option<(u16, serde_json::Value)>) -> (u16, String) {
    let (status, body) = answer.expect("an HTTP answer, not a refused handshake");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn devices_authenticate_by_certificate_and_revoked_ones_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fleet = pki(dir);
    let tls = dir.join("tls");
    std::fs::write(tls.join("ca.crl"), fleet.crl(1, &[])).unwrap();
    let good = fleet.device("cam-1", 101);
    good.write(&tls, "cam-1");
    let stolen = fleet.device("cam-2", 102);
    let revoked_by_id = fleet.device("cam-3", 103);
    let nameless = fleet.client_without_id(104);
    let foreign = Ca::new("someone else's CA").device("cam-1", 101);
    story_repo(dir);
    let mut args = TLS.to_vec();
    args.extend([
        "--device-auth",
        "mtls",
        "--client-ca",
        "tls/ca.pem",
        "--client-crl",
        "tls/ca.crl",
        "--tls-reload-seconds",
        "1",
    ]);
    let server = Server::start_with(dir, &args);
    publish_tls(dir, &server);

    // a device with a good certificate updates; its id is the certificate's
    let with_cert = [
        "--ca",
        "tls/ca.pem",
        "--client-cert",
        "tls/cam-1.pem",
        "--client-key",
        "tls/cam-1.key",
    ];
    assert_eq!(
        installed(&device(dir, &server, "cam-1", &with_cert)),
        "1.2.0"
    );
    // ... and cannot claim another id (exit 4: the server refused it)
    let out = device(dir, &server, "cam-9", &with_cert);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong_device"));
    let as_good = client(dir, Some(&good));
    assert_eq!(check_in(&as_good, &server, "cam-1").unwrap().0, 200);
    assert_eq!(
        refused(check_in(&as_good, &server, "cam-2")),
        (403, "wrong_device".into())
    );

    // no certificate: 401 (the rest of the server needs none)
    let anonymous = client(dir, None);
    assert_eq!(
        refused(check_in(&anonymous, &server, "cam-1")),
        (401, "unauthorized".into())
    );
    assert_eq!(
        anonymous
            .get(format!("{}/healthz", server.url))
            .send()
            .unwrap()
            .status(),
        200
    );
    // a certificate naming no device: 403
    assert_eq!(
        refused(check_in(&client(dir, Some(&nameless)), &server, "cam-1")),
        (403, "no_device_id".into())
    );
    // a certificate of another CA (same id and serial): refused at the handshake
    assert!(check_in(&client(dir, Some(&foreign)), &server, "cam-1").is_none());

    // revoked by the CRL: a new CRL is picked up without a restart; a connection opened before
    // it is refused with 403, a new one at the handshake
    let as_stolen = client(dir, Some(&stolen));
    assert_eq!(check_in(&as_stolen, &server, "cam-2").unwrap().0, 200);
    std::fs::write(tls.join("ca.crl"), fleet.crl(2, &[102])).unwrap();
    eventually("the CRL revokes cam-2 for new connections", || {
        check_in(&client(dir, Some(&stolen)), &server, "cam-2").is_none()
    });
    assert_eq!(
        refused(check_in(&as_stolen, &server, "cam-2")),
        (403, "revoked".into())
    );
    assert_eq!(check_in(&as_good, &server, "cam-1").unwrap().0, 200);

    // revoked in the state store (`airlock device revoke`): every certificate of that id
    let as_revoked = client(dir, Some(&revoked_by_id));
    assert_eq!(check_in(&as_revoked, &server, "cam-3").unwrap().0, 200);
    let admin = |action: &str| {
        let out = run_tls(
            dir,
            "airlock",
            &[
                "device",
                action,
                "--server",
                &server.url,
                "--admin-token-file",
                "admin.token",
                "cam-3",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    admin("revoke");
    assert_eq!(
        refused(check_in(&as_revoked, &server, "cam-3")),
        (403, "revoked".into())
    );
    let reports = as_revoked
        .post(format!("{}/v1/devices/cam-3/reports", server.url))
        .header("content-type", "application/json")
        .body(r#"{"status": "installed", "version": "1.2.0"}"#)
        .send()
        .unwrap();
    assert_eq!(reports.status(), 403);
    assert_eq!(check_in(&as_good, &server, "cam-1").unwrap().0, 200);
    admin("reinstate");
    assert_eq!(check_in(&as_revoked, &server, "cam-3").unwrap().0, 200);
}

#[test]
fn mtls_needs_https_and_a_device_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pki(dir);
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    let serve = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--data",
            "srv",
            "--admin-token-file",
            "admin.token",
        ];
        args.extend_from_slice(extra);
        fails(dir, "airlock-server", &args)
    };
    let err = serve(&["--device-auth", "mtls", "--client-ca", "tls/ca.pem"]);
    assert!(err.contains("--device-auth mtls needs HTTPS"), "{err}");
    let mut args = TLS.to_vec();
    args.extend(["--device-auth", "mtls"]);
    assert!(serve(&args).contains("--client-ca"));
    args = TLS.to_vec();
    args.extend(["--client-ca", "tls/ca.pem"]);
    assert!(serve(&args).contains("only with --device-auth mtls"));
    // a key that is not the certificate's: named, and nothing served
    let err = serve(&["--tls-cert", "tls/server.pem", "--tls-key", "tls/ca.pem"]);
    assert!(err.contains("tls/ca.pem"), "{err}");
}
