//! Admin and device authentication run before a handler reads the body: a request without
//! valid credentials is refused (401/403) whatever it sends. With them, a body the API document
//! allows is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use airlock_server::{ServeConfig, Storage, SystemClock};

const ADMIN: &str = "test-admin-token-0123456789";

async fn server(dir: &std::path::Path) -> String {
    let srv = dir.join("srv");
    airlock_server::init_data_dir(&srv, &Storage::default())
        .await
        .unwrap();
    let config = ServeConfig {
        max_metadata_bytes: 1024,
        ..ServeConfig::default()
    };
    let app = airlock_server::open(
        &srv,
        &Storage::default(),
        config,
        ADMIN,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(airlock_server::serve(listener, app, std::future::pending()));
    url
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
