//! Admin and device authentication run before a handler reads the body: a request without
//! valid credentials is refused (401/403) whatever it sends. With them, a body the API document
//! allows is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use airlock_server::{ServeConfig, Storage, SystemClock};

mod common;
use common::{start, ADMIN};

async fn server(dir: &std::path::Path) -> String {
    let config = ServeConfig {
        max_metadata_bytes: 1024,
        ..ServeConfig::default()
    };
    start(dir, config, Arc::new(SystemClock)).await.1
}

async fn post(url: &str, token: Option<&str>, body: Vec<u8>) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().post(url).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn credentials_are_checked_before_the_body() {
    let tmp = tempfile::tempdir().unwrap();
    let url = server(tmp.path()).await;
    let publish = format!("{url}/v1/admin/publish");
    let too_large = vec![b'x'; 4096];

    let (status, body) = post(&publish, None, too_large.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = post(&publish, Some("wrong-token-0123456789"), b"{".to_vec()).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("invalid admin token"))
    );
    // with the admin token the body is read: too large, then malformed
    assert_eq!(post(&publish, Some(ADMIN), too_large).await.0, 413);
    let (status, body) = post(&publish, Some(ADMIN), b"{".to_vec()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));

    // a scoped token without the scope
    let token = airlock_server::create_admin_token(
        &tmp.path().join("srv"),
        &Storage::default(),
        "reader",
        &["read".to_string()],
    )
    .await
    .unwrap();
    let (status, body) = post(&publish, Some(&token), b"{".to_vec()).await;
    assert_eq!(
        (status, body["error"].as_str(), body["message"].as_str()),
        (
            403,
            Some("forbidden"),
            Some("admin token \"reader\" lacks the publish scope")
        )
    );

    // devices: an unknown device is refused before its check-in is parsed, with the answer a
    // missing or wrong credential gets (it does not tell which device ids exist)
    let check_in = format!("{url}/v1/devices/cam-1/check-in");
    let (status, body) = post(&check_in, Some("nope"), b"{".to_vec()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(post(&check_in, None, b"{".to_vec()).await, (status, body));
    let (status, _) = post(
        &format!("{url}/v1/devices/bad id/check-in"),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(status, 400);
}

/// Found by schemathesis (scripts/api-fuzz): the document gives a rollout action an optional
/// body (`Option<RolloutAction>`, so JSON `null` is allowed), which the server refused with 400.
#[tokio::test]
async fn a_rollout_action_takes_no_body_null_or_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let url = server(tmp.path()).await;
    let pause = format!("{url}/v1/admin/rollouts/acme-cam/1.0.0/pause");
    // read, then answered for the rollout that does not exist
    for body in ["", "null", "{}", r#"{"reason": "canary crashed"}"#] {
        let (status, answer) = post(&pause, Some(ADMIN), body.as_bytes().to_vec()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (404, Some("unknown_product")),
            "{body:?}: {answer}"
        );
    }
    let (status, _) = post(&pause, Some(ADMIN), b"\"soon\"".to_vec()).await;
    assert_eq!(status, 400, "not a rollout action");
}

/// A replica judges a device credential it cannot judge from memory by the state store: the
/// device unknown here (enrolled at another replica a moment ago) or another credential kept
/// here (the device revoked, reinstated and enrolled again at another replica). Before, a kept
/// credential that was not the presented one was refused at once, so a lagging replica answered
/// 401 to a device holding its new, valid credential until the change notice arrived; and the
/// decision read the map twice, so a notice landing between the two reads turned a miss into a
/// 401 (one check-in of 1,000 in the load-balanced replicas test, 2026-12-02).
#[tokio::test]
async fn a_credential_this_replica_cannot_judge_is_judged_by_the_state_store() {
    use airlock_server::deviceauth::sha256_hex;
    use airlock_server::storage::DeviceCredential;

    let (_tmp, app, url, credential) = enrolled_replica(ServeConfig::default()).await;
    let http = reqwest::Client::new();
    let check_in = |credential: String| {
        let http = http.clone();
        let url = format!("{url}/v1/devices/cam-1/check-in");
        async move {
            post_json(
                &http,
                &url,
                Some(&credential),
                serde_json::json!({"product": "acme-cam", "version": "1.0.0", "security_version": 1}),
            )
            .await
        }
    };
    // authenticated: the check-in is answered for what it says (no product is published here)
    let accepted = check_in(credential.clone()).await;
    assert_eq!(
        (accepted.0, accepted.1["error"].as_str()),
        (404, Some("unknown_product")),
        "{}",
        accepted.1
    );

    // this replica keeps an older credential of cam-1 (it missed the re-enrolment)
    let kept = |credential_sha256: String| DeviceCredential {
        device_id: "cam-1".into(),
        product: "acme-cam".into(),
        credential_sha256,
        revoked: false,
        drill: false,
    };
    app.credentials
        .set(kept(sha256_hex("the-credential-of-before")));
    assert_eq!(check_in(credential.clone()).await, accepted);
    // ... which the store's answer replaced: the old credential is refused now
    let refused = check_in("the-credential-of-before".into()).await;
    assert_eq!(refused.0, 401, "{}", refused.1);
    // a wrong credential is refused whatever is kept
    assert_eq!(check_in("wrong".into()).await.0, 401);

    // this replica does not know cam-1 at all (the enrolment notice is still on its way)
    app.credentials.forget("cam-1");
    assert_eq!(check_in(credential.clone()).await, accepted);

    // a device the store does not know is refused, and forgotten here
    app.credentials.set(DeviceCredential {
        device_id: "ghost".into(),
        ..kept(sha256_hex("ghost-credential"))
    });
    let (status, _) = post_json(
        &http,
        &format!("{url}/v1/devices/ghost/check-in"),
        Some("another-credential"),
        serde_json::json!({"product": "acme-cam", "version": "1.0.0", "security_version": 1}),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        app.credentials
            .check("ghost", &bearer("ghost-credential"))
            .is_err(),
        "the store does not know ghost: forgotten here"
    );
}

/// A server with device authentication required (and `config`'s other settings), and the
/// credential of device cam-1, enrolled through it.
async fn enrolled_replica(
    config: ServeConfig,
) -> (tempfile::TempDir, airlock_server::AppState, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        device_auth: airlock_server::deviceauth::DeviceAuth::Required,
        ..config
    };
    let (app, url) = start(tmp.path(), config, Arc::new(SystemClock)).await;
    let http = reqwest::Client::new();
    // a token straight into the store: no product need be published for what is tested here
    let (token, _) = airlock_server::enrolment::new_token(
        app.state.as_ref(),
        &airlock_core::api::EnrolmentTokenRequest {
            product: "acme-cam".into(),
            device_id: None,
            expires_in: None,
            expires_at: None,
            uses: Some(airlock_core::api::TokenUses::UNLIMITED),
            drill: false,
        },
        jiff::Timestamp::now(),
    )
    .await
    .unwrap();
    let (status, enrolled) = post_json(
        &http,
        &format!("{url}/v1/devices/cam-1/enrol"),
        None,
        serde_json::json!({"token": token.as_str(), "product": "acme-cam"}),
    )
    .await;
    assert_eq!(status, 201, "{enrolled}");
    let credential = enrolled["credential"].as_str().unwrap().to_string();
    (tmp, app, url, credential)
}

/// `--tuf-access enrolled`: a credential this replica does not know (the device enrolled at
/// another replica a moment ago) is looked up in the state store by its digest, and kept; a
/// revoked or unknown one is refused.
#[tokio::test]
async fn tuf_access_by_a_credential_this_replica_does_not_know_asks_the_state_store() {
    let (_tmp, app, url, credential) = enrolled_replica(ServeConfig {
        tuf_access: airlock_server::deviceauth::TufAccess::Enrolled,
        ..ServeConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let tuf = |token: Option<String>| {
        let mut req = http.get(format!("{url}/tuf/metadata/1.root.json"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(tuf(None).await, 401);
    assert_eq!(tuf(Some("not-a-credential".into())).await, 401);
    let served = tuf(Some(credential.clone())).await;
    assert_ne!(served, 401, "the enrolled device is served");

    // this replica has not heard of the enrolment yet
    app.credentials.forget("cam-1");
    assert!(!app.credentials.is_live(&credential));
    assert_eq!(tuf(Some(credential.clone())).await, served);
    assert!(
        app.credentials.is_live(&credential),
        "kept after the store's answer"
    );

    // revoked in the store (at another replica), not yet heard of here
    assert!(app.state.revoke_device("cam-1").await.unwrap());
    app.credentials.forget("cam-1");
    assert_eq!(tuf(Some(credential.clone())).await, 401);
    assert!(!app.credentials.is_live(&credential));
}

fn bearer(s: &str) -> axum::http::HeaderMap {
    let mut h = axum::http::HeaderMap::new();
    h.insert(
        axum::http::header::AUTHORIZATION,
        format!("Bearer {s}").parse().unwrap(),
    );
    h
}

async fn post_json(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}
