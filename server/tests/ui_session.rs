//! Dashboard sessions end on the server (on an injected clock): past its lifetime a session's
//! cookie signs nobody in, a page sends the browser to sign in with a notice that the session
//! ended (and back to the page after), and a change is refused with nothing done. A request
//! that never had a session gets the plain sign-in form.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use airlock_server::{Clock, ServeConfig};

mod common;
use common::{start, ADMIN};
const LIFETIME_SECONDS: i64 = 60;

#[derive(Debug)]
struct FakeClock(Mutex<jiff::Timestamp>);

impl Clock for FakeClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

impl FakeClock {
    fn advance(&self, seconds: i64) {
        let mut t = self.0.lock().unwrap();
        *t = t
            .checked_add(jiff::SignedDuration::from_secs(seconds))
            .unwrap();
    }
}

async fn server(dir: &std::path::Path, clock: Arc<FakeClock>) -> String {
    let config = ServeConfig {
        ui_session_lifetime: jiff::SignedDuration::from_secs(LIFETIME_SECONDS),
        ..ServeConfig::default()
    };
    start(dir, config, clock).await.1
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// GET `path` with `cookie` (if any): the status and the Location header.
async fn get(url: &str, path: &str, cookie: Option<&str>) -> (u16, Option<String>) {
    let mut req = client().get(format!("{url}{path}"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    let location = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (resp.status().as_u16(), location)
}

async fn post(url: &str, path: &str, cookie: &str, body: String) -> (u16, String) {
    let resp = client()
        .post(format!("{url}{path}"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Signs in: the cookie (`name=value`) and the Set-Cookie line.
async fn sign_in(url: &str, next: &str) -> (String, String) {
    let resp = client()
        .post(format!("{url}/ui/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", ADMIN), ("next", next)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], next);
    let line = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    (line.split(';').next().unwrap().to_string(), line)
}

async fn csrf_of_page(url: &str, cookie: &str) -> String {
    let html = client()
        .get(format!("{url}/ui/audit"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string()
}

const NOTICE: &str = "Your session expired or was ended: sign in again.";

#[tokio::test]
async fn an_ended_session_sends_pages_to_sign_in_with_a_notice() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock(Mutex::new(jiff::Timestamp::now())));
    let url = server(tmp.path(), clock.clone()).await;
    let page = "/ui/audit?actor=ops";
    let ended_location = "/ui/sign-in?next=%2Fui%2Faudit%3Factor%3Dops&expired=1";

    // never signed in (no cookie, or the empty one a sign-out leaves): the plain sign-in form
    for cookie in [None, Some("airlock_session="), Some("other=1")] {
        assert_eq!(
            get(&url, page, cookie).await,
            (
                303,
                Some("/ui/sign-in?next=%2Fui%2Faudit%3Factor%3Dops".into())
            ),
            "{cookie:?}"
        );
    }
    // a cookie the server does not know: no session, and it says so
    assert_eq!(
        get(&url, page, Some("airlock_session=forged")).await,
        (303, Some(ended_location.into()))
    );

    // the cookie outlives the session by a day, so the browser still sends it when it ended
    let (cookie, line) = sign_in(&url, page).await;
    let kept = LIFETIME_SECONDS + 24 * 3600;
    assert!(
        line.split("; ")
            .any(|part| part == format!("Max-Age={kept}")),
        "{line}"
    );
    let csrf = csrf_of_page(&url, &cookie).await;
    clock.advance(LIFETIME_SECONDS - 1);
    assert_eq!(get(&url, page, Some(&cookie)).await, (200, None));

    // at its lifetime the session ends on the server: pages send the browser to sign in,
    // with the notice, back to the page after
    clock.advance(1);
    assert_eq!(
        get(&url, page, Some(&cookie)).await,
        (303, Some(ended_location.into()))
    );
    // a change with the session's own CSRF token is refused (401) and does nothing: the
    // sign-out it asks for is not audited
    let (status, body) = post(
        &url,
        "/ui/sign-out",
        &cookie,
        form(&[("csrf", csrf.as_str())]),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("session expired or was ended"), "{body}");
    let audit: serde_json::Value = client()
        .get(format!("{url}/v1/admin/audit?action=ui.sign_out"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"], serde_json::json!([]), "{audit}");
    let (status, body) = post(&url, "/ui/sign-out", "", form(&[("csrf", &csrf)])).await;
    assert_eq!(status, 401);
    assert!(body.contains("not signed in"), "{body}");

    // the sign-in page shows the notice only when sent there by an ended session
    let html = |query: &'static str| {
        let url = url.clone();
        async move {
            let resp = client()
                .get(format!("{url}/ui/sign-in{query}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            resp.text().await.unwrap()
        }
    };
    let notice = html("?next=%2Fui%2Faudit%3Factor%3Dops&expired=1").await;
    assert!(
        notice.contains(&format!(
            r#"<p class="notice" role="status" id="session-ended">{NOTICE}</p>"#
        )),
        "{notice}"
    );
    assert!(notice.contains(r#"aria-describedby="session-ended""#));
    assert!(
        notice.contains(r#"name="next" value="/ui/audit?actor=ops""#),
        "{notice}"
    );
    for plain in ["?next=%2Fui", "?next=%2Fui&expired=0", ""] {
        assert!(!html(plain).await.contains(NOTICE), "{plain}");
    }
    // next stays a dashboard path with the notice too
    let elsewhere = html("?next=https%3A%2F%2Fevil.example%2F&expired=1").await;
    assert!(elsewhere.contains(NOTICE));
    assert!(
        elsewhere.contains(r#"name="next" value="/ui""#),
        "{elsewhere}"
    );

    // signing in again brings the browser back to the page; signing out ends that session
    let expired = cookie;
    let (cookie, _) = sign_in(&url, page).await;
    assert_eq!(get(&url, page, Some(&cookie)).await, (200, None));
    let csrf = csrf_of_page(&url, &cookie).await;
    let (status, _) = post(&url, "/ui/sign-out", &cookie, form(&[("csrf", &csrf)])).await;
    assert_eq!(status, 303);
    assert_eq!(
        get(&url, page, Some(&cookie)).await,
        (303, Some(ended_location.into())),
        "a copied cookie of a signed-out session"
    );
    // the session that expired is still refused later, when expired sessions are forgotten
    clock.advance(2 * 24 * 3600);
    let _ = sign_in(&url, "/ui").await;
    assert_eq!(
        get(&url, page, Some(&expired)).await,
        (303, Some(ended_location.into()))
    );
}
