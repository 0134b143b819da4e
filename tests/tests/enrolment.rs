//! Enrolment tokens and device revocation through the CLI (`airlock enrolment-token ...`,
//! `airlock device ...`) against a real airlock-server (issue 12): tokens expire and are used
//! up, are listed without the token and revoked by id; a revoked device stays revoked until an
//! operator reinstates it; a factory token never takes an enrolled or revoked id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;

#[test]
fn operators_manage_tokens_and_revocations_with_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start_with(dir, &["--device-auth", "required"]);
    publish(dir, &server);
    let admin = ["--server", &server.url, "--admin-token-file", "admin.token"];
    let airlock = |args: &[&str]| -> Value {
        let mut all = args.to_vec();
        all.extend_from_slice(&admin);
        all.push("--json");
        serde_json::from_str(&ok(dir, "airlock", &all)).unwrap()
    };
    let client = reqwest::blocking::Client::new();
    let enrol = |id: &str, token: &Value| {
        let resp = client
            .post(format!("{}/v1/devices/{id}/enrol", server.url))
            .body(format!(
                r#"{{"token": "{}", "product": "acme-cam"}}"#,
                token["token"].as_str().unwrap()
            ))
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().unwrap())
    };
    let check_in = |id: &str, credential: &str| {
        client
            .post(format!("{}/v1/devices/{id}/check-in", server.url))
            .bearer_auth(credential)
            .body(r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };

    // a product (factory) token needs an explicit number of uses
    let mut no_uses = vec!["enrolment-token", "create", "--product", "acme-cam"];
    no_uses.extend_from_slice(&admin);
    let out = run(dir, "airlock", &no_uses);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--uses"));

    let once = airlock(&[
        "enrolment-token",
        "create",
        "--product",
        "acme-cam",
        "--uses",
        "1",
    ]);
    assert_eq!(once["uses"], 1);
    let own = airlock(&[
        "enrolment-token",
        "create",
        "--product",
        "acme-cam",
        "--device",
        "cam-2",
        "--expires-in",
        "1h",
    ]);
    assert_eq!(
        (own["uses"].as_u64(), own["device_id"].as_str()),
        (Some(1), Some("cam-2"))
    );

    // one use: the second device is refused
    let (s, first) = enrol("cam-1", &once);
    assert_eq!(s, 201, "{first}");
    let credential = first["credential"].as_str().unwrap().to_string();
    let (s, refusal) = enrol("cam-9", &once);
    assert_eq!(
        (s, refusal["error"].as_str()),
        (403, Some("enrolment_refused"))
    );

    // listed by id, with what is left; never the token itself
    let list = airlock(&["enrolment-token", "list"]);
    let listed = |id: &Value| -> Value {
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == *id)
            .cloned()
            .unwrap()
    };
    assert_eq!(listed(&once["id"])["state"], "used_up");
    assert_eq!(listed(&once["id"])["uses_left"], 0);
    assert_eq!(listed(&own["id"])["state"], "active");
    let text = list.to_string();
    for token in [&once, &own] {
        assert!(!text.contains(token["token"].as_str().unwrap()));
    }

    // a revoked token enrols nobody
    let revoked = airlock(&["enrolment-token", "revoke", own["id"].as_str().unwrap()]);
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(enrol("cam-2", &own), (403, refusal.clone()));

    // what the server knows of cam-1: its enrolment and its check-in (`device show`)
    assert_eq!(check_in("cam-1", &credential), 200);
    let shown = airlock(&["device", "show", "cam-1"]);
    assert_eq!(shown["enrolment"]["product"], "acme-cam");
    assert_eq!(shown["enrolment"]["revoked"], false);
    assert_eq!(shown["check_ins"].as_array().unwrap().len(), 1, "{shown}");
    assert_eq!(shown["check_ins"][0]["version"], "1.0.0");
    assert_eq!(shown["check_ins"][0]["current"], true);
    let mut show = vec!["device", "show", "cam-1"];
    show.extend_from_slice(&admin);
    let text = ok(dir, "airlock", &show);
    assert!(
        text.contains("credential: enrolled for acme-cam") && text.contains("(latest)"),
        "{text}"
    );
    let mut unknown = vec!["device", "show", "cam-404"];
    unknown.extend_from_slice(&admin);
    let out = run(dir, "airlock", &unknown);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no device \"cam-404\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // a revoked device stays revoked: neither a new factory token nor anything else brings it
    // back until an operator reinstates it
    let r = airlock(&["device", "revoke", "cam-1"]);
    assert_eq!(r["revoked"], true);
    assert_eq!(check_in("cam-1", &credential), 403);
    let factory = airlock(&[
        "enrolment-token",
        "create",
        "--product",
        "acme-cam",
        "--uses",
        "unlimited",
    ]);
    assert_eq!(factory["uses"], "unlimited");
    assert_eq!(enrol("cam-1", &factory), (403, refusal.clone()));
    let r = airlock(&["device", "reinstate", "cam-1"]);
    assert_eq!(r["revoked"], false);
    let (s, again) = enrol("cam-1", &factory);
    assert_eq!(s, 201);
    assert_eq!(
        check_in("cam-1", again["credential"].as_str().unwrap()),
        200
    );
    assert_eq!(
        check_in("cam-1", &credential),
        401,
        "the old credential stays refused"
    );
    // ... and a factory token never takes an enrolled id
    assert_eq!(enrol("cam-1", &factory), (403, refusal));

    // text output and refusals an operator can act on
    let mut list_text = vec!["enrolment-token", "list"];
    list_text.extend_from_slice(&admin);
    assert!(ok(dir, "airlock", &list_text).contains(factory["id"].as_str().unwrap()));
    let mut past = vec![
        "enrolment-token",
        "create",
        "--product",
        "acme-cam",
        "--uses",
        "5",
        "--expires-at",
        "2020-01-01T00:00:00Z",
    ];
    past.extend_from_slice(&admin);
    assert!(fails(dir, "airlock", &past).contains("not in the future"));
    let mut twice = vec!["device", "reinstate", "cam-1"];
    twice.extend_from_slice(&admin);
    assert!(fails(dir, "airlock", &twice).contains("not_revoked"));
}
