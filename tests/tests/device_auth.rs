//! Device authentication (`--device-auth required`, the default): enrolment tokens per product
//! or per device, credentials on check-ins and reports, 401 / 403, revocation and
//! reinstatement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;

#[test]
fn devices_enrol_and_unknown_or_revoked_devices_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start_with(dir, &["--device-auth", "required"]);
    publish(dir, &server);
    let admin = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let client = reqwest::blocking::Client::new();
    let url = |p: &str| format!("{}{p}", server.url);
    let check_in = |id: &str, cred: Option<&str>, product: &str| {
        let mut req = client
            .post(url(&format!("/v1/devices/{id}/check-in")))
            .body(format!(
                r#"{{"product": "{product}", "version": "1.0.0", "security_version": 2}}"#
            ));
        if let Some(c) = cred {
            req = req.bearer_auth(c);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().unwrap())
    };
    let token = |body: &str| -> Value {
        let resp = client
            .post(url("/v1/admin/enrolment-tokens"))
            .bearer_auth(&admin)
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201);
        resp.json().unwrap()
    };
    let enrol = |id: &str, token: &str, product: &str| {
        let resp = client
            .post(url(&format!("/v1/devices/{id}/enrol")))
            .body(format!(r#"{{"token": "{token}", "product": "{product}"}}"#))
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().unwrap())
    };

    let (s, body) = check_in("d1", None, "acme-cam");
    assert_eq!((s, body["error"].as_str().unwrap()), (401, "unauthorized"));

    let product_token = token(r#"{"product": "acme-cam"}"#)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, e) = enrol("d1", &product_token, "acme-cam");
    assert_eq!(s, 201, "{e}");
    let cred = e["credential"].as_str().unwrap().to_string();
    let (s, answer) = check_in("d1", Some(&cred), "acme-cam");
    assert_eq!((s, answer["decision"].as_str().unwrap()), (200, "update"));
    let (s, _) = check_in("d1", Some("wrong"), "acme-cam");
    assert_eq!(s, 401);
    let (s, body) = check_in("d1", Some(&cred), "acme-old");
    assert_eq!((s, body["error"].as_str().unwrap()), (403, "wrong_product"));
    let (s, _) = check_in("d2", Some(&cred), "acme-cam");
    assert_eq!(s, 401, "a credential belongs to one device");
    // every refused enrolment gets one answer (issue 12: it must not tell which ids exist)
    let refused = enrol("d1", &product_token, "acme-cam");
    assert_eq!(
        (refused.0, refused.1["error"].as_str().unwrap()),
        (403, "enrolment_refused"),
        "already enrolled"
    );
    assert_eq!(
        enrol("d5", &product_token, "acme-old"),
        refused,
        "token for another product"
    );
    assert_eq!(enrol("d5", "not-a-token", "acme-cam"), refused);
    let report = client
        .post(url("/v1/devices/d1/reports"))
        .body(r#"{"status": "installed", "version": "1.2.0"}"#)
        .send()
        .unwrap();
    assert_eq!(report.status(), 401);
    let report = client
        .post(url("/v1/devices/d1/reports"))
        .bearer_auth(&cred)
        .body(r#"{"status": "installed", "version": "1.2.0"}"#)
        .send()
        .unwrap();
    assert_eq!(report.status(), 202);

    // a per-device token works for that device only
    let one = token(r#"{"product": "acme-cam", "device_id": "d3"}"#)["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(enrol("d4", &one, "acme-cam"), refused);
    let (s, _) = enrol("d3", &one, "acme-cam");
    assert_eq!(s, 201);
    assert_eq!(enrol("d3", &one, "acme-cam"), refused, "used once");

    // revocation: 403, and the id stays revoked whatever token it presents until an operator
    // reinstates it; then it enrols again with a token and its old credential stays refused
    let resp = client
        .post(url("/v1/admin/devices/d1/revoke"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (s, body) = check_in("d1", Some(&cred), "acme-cam");
    assert_eq!((s, body["error"].as_str().unwrap()), (403, "revoked"));
    assert_eq!(enrol("d1", &product_token, "acme-cam"), refused);
    let resp = client
        .post(url("/v1/admin/devices/d1/reinstate"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (s, e) = enrol("d1", &product_token, "acme-cam");
    assert_eq!(s, 201);
    let (s, _) = check_in("d1", Some(e["credential"].as_str().unwrap()), "acme-cam");
    assert_eq!(s, 200);
    let (s, _) = check_in("d1", Some(&cred), "acme-cam");
    assert_eq!(s, 401, "the credential from before the revocation");
    assert_eq!(
        client
            .post(url("/v1/admin/devices/nobody/revoke"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client
            .post(url("/v1/admin/enrolment-tokens"))
            .body(r#"{"product": "acme-cam"}"#)
            .send()
            .unwrap()
            .status(),
        401
    );

    // survives a restart; /tuf/ stays readable for plain TUF clients
    drop(server);
    let server = Server::start_with(dir, &["--device-auth", "required"]);
    let url2 = |p: &str| format!("{}{p}", server.url);
    let resp = client
        .post(url2("/v1/devices/d3/check-in"))
        .body(r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        client
            .get(url2("/tuf/metadata/timestamp.json"))
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn simulated_devices_enrol_once_and_keep_their_credential() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start_with(dir, &["--device-auth", "required"]);
    publish(dir, &server);
    let admin = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let token: Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/admin/enrolment-tokens", server.url))
        .bearer_auth(&admin)
        .body(r#"{"product": "acme-cam"}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["token"].as_str().unwrap();
    let device = |extra: &[&str]| {
        let mut args = vec![
            "device",
            "--server",
            &server.url,
            "--trusted-root",
            "repo/metadata/1.root.json",
            "--state",
            "dev",
            "--id",
            "cam-7",
            "--product",
            "acme-cam",
            "--version",
            "1.0.0",
            "--security-version",
            "2",
            "--json",
        ];
        args.extend_from_slice(extra);
        run(dir, "airlock-sim", &args)
    };
    // without a token or credential: refused by the server (exit 4, docs/cli.md)
    let out = device(&[]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = device(&["--enrol-token", token]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run1: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run1["outcome"], "installed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("dev/credential"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // later cycles use the stored credential
    let out = device(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run2: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run2["outcome"], "up_to_date");
}

#[test]
fn tuf_access_enrolled_serves_tuf_to_enrolled_devices_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start_with(
        dir,
        &["--device-auth", "required", "--tuf-access", "enrolled"],
    );
    publish(dir, &server);
    let admin = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let client = reqwest::blocking::Client::new();
    let get = |path: &str, bearer: Option<&str>| {
        let mut req = client.get(format!("{}{path}", server.url));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send().unwrap()
    };
    let fw = firmware(1, 300_000);
    let image = format!("/tuf/targets/acme-cam/{}.fw-1.2.0.bin", sha256_hex(&fw));
    for path in [
        "/tuf/metadata/timestamp.json",
        "/tuf/metadata/1.root.json",
        &image,
    ] {
        let resp = get(path, None);
        assert_eq!(resp.status(), 401, "{path} without a credential");
        let body: Value = resp.json().unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert_eq!(get(path, Some("not-a-credential")).status(), 401);
        assert_eq!(
            get(path, Some(&admin)).status(),
            200,
            "{path} with the admin token"
        );
    }
    // public pages stay public
    assert_eq!(get("/v1/products/acme-cam/support", None).status(), 200);

    // a simulated device enrols, then verifies and installs through the closed /tuf/
    let token: Value = client
        .post(format!("{}/v1/admin/enrolment-tokens", server.url))
        .bearer_auth(&admin)
        .body(r#"{"product": "acme-cam"}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let out = run(
        dir,
        "airlock-sim",
        &[
            "device",
            "--server",
            &server.url,
            "--trusted-root",
            "repo/metadata/1.root.json",
            "--state",
            "dev",
            "--id",
            "cam-9",
            "--product",
            "acme-cam",
            "--version",
            "1.0.0",
            "--security-version",
            "2",
            "--json",
            "--enrol-token",
            token["token"].as_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["outcome"], "installed", "{result}");
    let credential = std::fs::read_to_string(dir.join("dev/credential")).unwrap();
    let credential = credential.trim();
    assert_eq!(get(&image, Some(credential)).status(), 200);
    // revoked: the credential no longer opens /tuf/
    let resp = client
        .post(format!("{}/v1/admin/devices/cam-9/revoke", server.url))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(
        get("/tuf/metadata/timestamp.json", Some(credential)).status(),
        401
    );
}

/// A proxy in front of `upstream` that forwards every request and its answer, except the
/// answer to the first enrolment, which it swallows (the connection is closed without an
/// answer: a replica killed after its commit, a cut link). One request per connection.
fn answer_losing_proxy(upstream: String) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_string();
    let lost = Arc::new(AtomicBool::new(false));
    let enrolments = Arc::new(AtomicU32::new(0));
    let counted = enrolments.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let (upstream, lost, counted) = (upstream.clone(), lost.clone(), counted.clone());
            std::thread::spawn(move || {
                // the request: its head, then as many body bytes as it says
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                let head_end = loop {
                    let n = client.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    let n = client.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let enrolment = head.starts_with("POST ") && head.contains("/enrol ");
                // one request per connection, both ways
                let mut forwarded = head[..head_end - 2].to_string();
                forwarded.push_str("connection: close\r\n\r\n");
                let mut server = std::net::TcpStream::connect(&upstream).unwrap();
                server.write_all(forwarded.as_bytes()).unwrap();
                server.write_all(&request[head_end..]).unwrap();
                let mut answer = Vec::new();
                let _ = server.read_to_end(&mut answer);
                if enrolment {
                    counted.fetch_add(1, Ordering::SeqCst);
                    if !lost.swap(true, Ordering::SeqCst) {
                        return; // taken by the server, the answer never sent
                    }
                }
                let _ = client.write_all(&answer);
            });
        }
    });
    (url, enrolments)
}

/// The device proposes its own credential, so an enrolment whose answer was lost is sent again
/// and answered as the first time, even with a one-use token the first attempt used up.
/// (Before, the repeat was refused and the device could not enrol without a new token.)
#[test]
fn an_enrolment_whose_answer_was_lost_is_sent_again_and_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server =
        Server::start_logging(dir, &["--device-auth", "required"], &dir.join("server.log"));
    publish(dir, &server);
    let token: Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/admin/enrolment-tokens", server.url))
        .bearer_auth(admin_token(dir))
        .body(r#"{"product": "acme-cam", "device_id": "cam-5"}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(token["uses"], 1, "{token}");
    let (proxy, enrolments) = answer_losing_proxy(server.url.clone());
    let out = run(
        dir,
        "airlock-sim",
        &[
            "device",
            "--server",
            &proxy,
            "--trusted-root",
            "repo/metadata/1.root.json",
            "--state",
            "dev",
            "--id",
            "cam-5",
            "--product",
            "acme-cam",
            "--version",
            "1.0.0",
            "--security-version",
            "2",
            "--json",
            "--enrol-token",
            token["token"].as_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["outcome"], "installed", "{result}");
    assert_eq!(
        enrolments.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the enrolment was sent twice (its first answer lost)"
    );
    // the credential the device keeps is the one the server holds, and no proposal is left
    let credential = std::fs::read_to_string(dir.join("dev/credential")).unwrap();
    assert_eq!(credential.trim().len(), 64);
    assert!(!dir.join("dev/credential.proposed").exists());
    let status = reqwest::blocking::Client::new()
        .post(format!("{}/v1/devices/cam-5/check-in", server.url))
        .bearer_auth(credential.trim())
        .body(r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#)
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap();
    assert!(log.contains("enrolment repeated"), "{log}");
    // the token was used once
    let tokens: Value = reqwest::blocking::Client::new()
        .get(format!("{}/v1/admin/enrolment-tokens", server.url))
        .bearer_auth(admin_token(dir))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (&tokens[0]["uses_left"], &tokens[0]["state"]),
        (&Value::from(0), &Value::from("used_up")),
        "{tokens}"
    );
}
