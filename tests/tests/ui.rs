//! The operator dashboard (`/ui`, issue 17) against the real server: sessions and CSRF checked
//! over HTTP here, then the rollout story, device revocation, accessibility (axe-core) and
//! screenshots in a real browser (Debian's chromium driven by playwright-core:
//! tests/interop/ui_browser.js), and sessions ending on the server as a browser meets it
//! (tests/interop/ui_expiry.js). Needs /usr/bin/chromium and tests/interop/node_modules (made by
//! scripts/test); skips loudly without them, and under CI the skip is a failure.
//! `AIRLOCK_UI_SCREENSHOTS=DIR` keeps the screenshots there (scripts/ui-screenshots: docs/ui).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::*;
use reqwest::blocking::Client;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Where the overview sends a browser whose session cookie names no live session.
const ENDED_AT_OVERVIEW: &str = "/ui/sign-in?next=%2Fui&expired=1";

/// A form body, as a browser sends it.
trait FormBody {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::blocking::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
    }
}

/// story_repo, a product role near expiry, a withdrawn release and a held one, published by a
/// server started with `extra` flags.
fn dashboard_story(dir: &Path, extra: &[&str]) -> Server {
    story_repo(dir);
    // acme-old's role expires in 10 days: the overview must warn
    let soon = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24 * 10))
        .unwrap();
    resign_product_role(&dir.join("repo"), "acme-old", |signed| {
        signed["expires"] = serde_json::json!(soon.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    });
    let server = Server::start_with(dir, extra);
    publish(dir, &server);
    let release = |version: &str, seed: u8| {
        let file = format!("fw-{version}.bin");
        std::fs::write(dir.join(&file), firmware(seed, 4096)).unwrap();
        ok(
            dir,
            "airlock",
            &[
                "release",
                "add",
                "repo",
                "acme-cam",
                &file,
                "--version",
                version,
                "--security-version",
                "3",
                "--kind",
                "feature",
            ],
        );
    };
    release("1.2.5", 7);
    publish(dir, &server);
    ok(
        dir,
        "airlock",
        &[
            "release",
            "withdraw",
            "repo",
            "acme-cam",
            "1.2.5",
            "--reason",
            "bricks cameras with SD cards",
        ],
    );
    publish(dir, &server);
    release("1.3.0", 9);
    ok(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "--hold",
        ],
    );
    server
}

/// The directory of the browser scripts, or `None` after reporting `test` skipped: the browser
/// tests need Node.js, /usr/bin/chromium, and playwright-core and axe-core in
/// tests/interop/node_modules.
fn browser_scripts(test: &str) -> Option<std::path::PathBuf> {
    let interop = workspace_root().join("tests/interop");
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok
        || !Path::new(CHROMIUM).exists()
        || !interop.join("node_modules/playwright-core").is_dir()
        || !interop.join("node_modules/axe-core").is_dir()
    {
        skip(
            test,
            "no Node.js, /usr/bin/chromium, playwright-core or axe-core (run scripts/test)",
        );
        return None;
    }
    Some(interop)
}

/// Runs the browser script `script` of `interop` with `env`; fails the test with its output
/// when it fails.
fn run_browser_script(interop: &Path, script: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let out = Command::new("node")
        .arg(interop.join(script))
        .envs(env.iter().copied())
        .current_dir(interop)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser test {script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CSRF token in a page's first form.
fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token in the page: {html}"))
        .to_string()
}

fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with `token`: the session cookie (`name=value`) and the whole Set-Cookie line.
fn sign_in(server: &Server, token: &str) -> (String, String) {
    let resp = no_redirects()
        .post(format!("{}/ui/sign-in", server.url))
        .form_body(&[("token", token), ("next", "/ui/rollouts")])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()[LOCATION], "/ui/rollouts");
    let line = resp.headers()[SET_COOKIE].to_str().unwrap().to_string();
    let pair = line.split(';').next().unwrap().to_string();
    (pair, line)
}

#[test]
fn sessions_csrf_and_the_rollout_story_in_a_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = dashboard_story(dir, &[]);
    let created: serde_json::Value = serde_json::from_str(&ok(
        dir,
        "airlock-server",
        &[
            "token", "create", "--data", "srv", "--name", "ops", "--scope", "read", "--scope",
            "rollout", "--scope", "devices", "--json",
        ],
    ))
    .unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let client = no_redirects();

    // pages need a session: a browser is sent to sign in, anything else is refused
    let resp = client
        .get(format!("{}/ui/devices", server.url))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()[LOCATION], "/ui/sign-in?next=%2Fui%2Fdevices");
    let resp = client
        .post(format!("{}/ui/rollouts", server.url))
        .form_body(&[("release", "acme-cam@1.3.0")])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // a wrong token is refused; a forged cookie is no session
    let resp = client
        .post(format!("{}/ui/sign-in", server.url))
        .form_body(&[("token", "wrong-token-wrong-token")])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().get(SET_COOKIE).is_none());
    let resp = client
        .get(format!("{}/ui", server.url))
        .header(COOKIE, "airlock_session=forged")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()[LOCATION], ENDED_AT_OVERVIEW);

    // the session cookie: HttpOnly, SameSite=Strict, limited to /ui; not Secure over plain HTTP
    let (cookie, line) = sign_in(&server, &token);
    // Max-Age: the 8 hours of the session, and the day the cookie outlives it (so that a page
    // asked for after the end says the session ended)
    for part in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=115200"] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    assert!(!line.contains("Secure"), "{line}");
    let page = client
        .get(format!("{}/ui/rollouts", server.url))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    let csrf = csrf_in(&page.text().unwrap());

    // a change without the CSRF token, or with another, is refused and changes nothing
    for form in [
        vec![("release", "acme-cam@1.3.0")],
        vec![
            ("release", "acme-cam@1.3.0"),
            ("csrf", "0".repeat(64).as_str()),
        ],
    ] {
        let resp = client
            .post(format!("{}/ui/rollouts", server.url))
            .header(COOKIE, &cookie)
            .form_body(&form)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403);
    }
    let admin = admin_token(dir);
    let state: serde_json::Value = Client::new()
        .get(format!("{}/v1/admin/rollouts/acme-cam/1.3.0", server.url))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(state["state"], "held", "a refused change changed nothing");
    // signing out ends the session on the server (a copied cookie is no use after)
    let resp = client
        .post(format!("{}/ui/sign-out", server.url))
        .header(COOKIE, &cookie)
        .form_body(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert!(resp.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let resp = client
        .get(format!("{}/ui", server.url))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303, "signed out");
    assert_eq!(resp.headers()[LOCATION], ENDED_AT_OVERVIEW);
    // a revoked token's sessions end with it
    let gone = ok(
        dir,
        "airlock-server",
        &[
            "token", "create", "--data", "srv", "--name", "gone", "--scope", "read",
        ],
    );
    let (gone_cookie, _) = sign_in(&server, gone.trim());
    ok(
        dir,
        "airlock-server",
        &["token", "revoke", "--data", "srv", "gone"],
    );
    let resp = client
        .get(format!("{}/ui", server.url))
        .header(COOKIE, &gone_cookie)
        .send()
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        303,
        "the revoked token's session ended"
    );
    assert_eq!(resp.headers()[LOCATION], ENDED_AT_OVERVIEW);
    // a read-only token sees pages but may change nothing (403 even with the CSRF token)
    let viewer = ok(
        dir,
        "airlock-server",
        &[
            "token", "create", "--data", "srv", "--name", "viewer", "--scope", "read",
        ],
    );
    let (cookie, _) = sign_in(&server, viewer.trim());
    let html = client
        .get(format!("{}/ui/rollouts", server.url))
        .header(COOKIE, &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        !html.contains("Start rollout"),
        "no start form without the rollout scope"
    );
    let csrf = csrf_in(&html);
    let resp = client
        .post(format!("{}/ui/rollouts", server.url))
        .header(COOKIE, &cookie)
        .form_body(&[("release", "acme-cam@1.3.0"), ("csrf", &csrf)])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    // the browser part
    let Some(interop) = browser_scripts("sessions_csrf_and_the_rollout_story_in_a_browser") else {
        return;
    };
    let shots = std::env::var("AIRLOCK_UI_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.join("screenshots"));
    run_browser_script(
        &interop,
        "ui_browser.js",
        &[
            ("AIRLOCK_UI_URL", server.url.as_ref()),
            ("AIRLOCK_UI_TOKEN", token.as_ref()),
            ("AIRLOCK_UI_ACTOR", "ops".as_ref()),
            ("AIRLOCK_UI_SHOTS", shots.as_os_str()),
        ],
    );
    for page in ["overview", "rollout", "devices", "audit"] {
        for width in [1280, 390] {
            let shot = shots.join(format!("{page}-{width}.png"));
            assert!(shot.is_file(), "{} missing", shot.display());
        }
    }
    // what the browser did is in the audit log under the token's name
    let audit: serde_json::Value = Client::new()
        .get(format!("{}/v1/admin/audit?actor=ops", server.url))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "rollout.start",
        "rollout.resume",
        "rollout.abort",
        "device.revoke",
    ] {
        assert!(actions.contains(&action), "{action} missing: {actions:?}");
    }
}

/// Without a browser: the rollout page's live part carries the event history, so the
/// auto-pause shows there with its reason as soon as the health rule trips; the overview's
/// timeline bars carry their product's name and a description; the rollout list pages its
/// ended rollouts with plain links.
#[test]
fn the_live_rollout_part_shows_the_auto_pause_and_the_timeline_is_labelled() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = dashboard_story(dir, &[]);
    ok(
        dir,
        "airlock",
        &[
            "rollout",
            "start",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "acme-cam",
            "1.3.0",
            "--waves",
            "100%@0h",
            "--pause-if",
            "failures>=50% after 4 reports",
        ],
    );
    let client = Client::new();
    let json = |id: &str, path: &str, body: serde_json::Value| {
        client
            .post(format!("{}/v1/devices/{id}/{path}", server.url))
            .json(&body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    for i in 0..4 {
        let id = format!("cam-{i}");
        let check_in =
            serde_json::json!({"product": "acme-cam", "version": "1.2.0", "security_version": 3});
        assert_eq!(json(&id, "check-in", check_in), 200);
        let status = if i < 3 { "failed" } else { "installed" };
        let report = serde_json::json!({"status": status, "version": "1.3.0", "code": "boot_loop"});
        assert_eq!(json(&id, "reports", report), 202);
    }
    let token = ok(
        dir,
        "airlock-server",
        &[
            "token", "create", "--data", "srv", "--name", "viewer", "--scope", "read",
        ],
    );
    let (cookie, _) = sign_in(&server, token.trim());
    let page = |path: &str| {
        let resp = no_redirects()
            .get(format!("{}{path}", server.url))
            .header(COOKIE, &cookie)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        resp.text().unwrap()
    };
    let live = page("/ui/rollouts/acme-cam/1.3.0/live");
    let event = live
        .split("<li>")
        .find(|li| li.contains("rollout.auto_pause"))
        .unwrap_or_else(|| panic!("no auto-pause event in the live part: {live}"));
    assert!(
        event.contains("by server")
            && event.contains("health rule")
            && event.contains("3 failed of 4"),
        "{event}"
    );
    let overview = page("/ui");
    assert!(
        overview.contains(r#"<text class="bar-label""#) && overview.contains(">acme-cam</text>"),
        "no bar labels"
    );
    assert!(overview.contains(r#"aria-describedby="timeline-desc""#));
    assert!(
        overview.contains("acme-cam: supported from"),
        "no timeline description"
    );
    // one ended rollout (the hold the started rollout replaced): one page, no links
    let rollouts = page("/ui/rollouts");
    assert!(
        rollouts.contains(r#"<span id="ended-shown">1–1 of 1</span>"#),
        "{rollouts}"
    );
    assert!(!rollouts.contains(r#"rel="next""#) && !rollouts.contains(r#"rel="prev""#));
    let past = page("/ui/rollouts?ended=50");
    assert!(
        past.contains("None yet.") && !past.contains("ended-shown"),
        "{past}"
    );
    // a page past the end of the numbers: the same empty page, no overflow
    let beyond = page(&format!("/ui/rollouts?ended={}", usize::MAX));
    assert!(beyond.contains("None yet.") && !beyond.contains(r#"rel="next""#));
}

/// `--ui-session-seconds`: the session lifetime in seconds, for strict sites and tests; it
/// conflicts with `--ui-session-hours`, must be at least 1, and comes from a config file too.
/// Then, in a real browser, a session past its lifetime is ended by the server: the browser
/// still holds the cookie, and even the old value put back as a cookie that never expires
/// signs nobody in; the sign-in page says the session ended and leads back to the page asked
/// for; a change sent with the old CSRF token is refused (401) and does nothing.
#[test]
fn sessions_expire_on_the_server_in_a_browser() {
    const SECONDS: &str = "5";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let serve = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--data",
            "srv",
            "--admin-token-file",
            "admin.token",
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        fails(dir, "airlock-server", &args)
    };
    let both = serve(&["--ui-session-hours", "1", "--ui-session-seconds", "900"]);
    assert!(
        both.contains("--ui-session-seconds") && both.contains("cannot be used with"),
        "{both}"
    );
    let zero = serve(&["--ui-session-seconds", "0"]);
    assert!(
        zero.contains("--ui-session-seconds") && zero.contains("must be at least 1"),
        "{zero}"
    );
    // lifetimes beyond a century would overflow timestamps: refused, never a panic
    for flag in [
        "--ui-session-seconds",
        "--ui-session-hours",
        "--timestamp-hours",
        "--snapshot-hours",
        "--expiry-warning-days",
    ] {
        let huge = serve(&[flag, &i64::MAX.to_string()]);
        assert!(
            huge.contains("at most a century") && !huge.contains("panicked"),
            "{flag}: {huge}"
        );
    }
    std::fs::write(dir.join("server.toml"), "ui-session-seconds = 0\n").unwrap();
    let from_file = serve(&["--config", "server.toml"]);
    assert!(from_file.contains("must be at least 1"), "{from_file}");

    let server = dashboard_story(dir, &["--ui-session-seconds", SECONDS]);
    let created: serde_json::Value = serde_json::from_str(&ok(
        dir,
        "airlock-server",
        &[
            "token", "create", "--data", "srv", "--name", "ops", "--scope", "read", "--scope",
            "rollout", "--json",
        ],
    ))
    .unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    // the cookie lasts the session's seconds and the day past its end
    let (_, line) = sign_in(&server, &token);
    assert!(line.contains("Max-Age=86405"), "{line}");

    let Some(interop) = browser_scripts("sessions_expire_on_the_server_in_a_browser") else {
        return;
    };
    run_browser_script(
        &interop,
        "ui_expiry.js",
        &[
            ("AIRLOCK_UI_URL", server.url.as_ref()),
            ("AIRLOCK_UI_TOKEN", token.as_ref()),
            ("AIRLOCK_UI_ACTOR", "ops".as_ref()),
            ("AIRLOCK_UI_SESSION_SECONDS", SECONDS.as_ref()),
        ],
    );
    // the change refused for the ended session did nothing: the release is still held, and
    // no rollout was started by anyone
    let admin = admin_token(dir);
    let get = |path: &str| -> serde_json::Value {
        Client::new()
            .get(format!("{}{path}", server.url))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(get("/v1/admin/rollouts/acme-cam/1.3.0")["state"], "held");
    let audit = get("/v1/admin/audit?action=rollout.start");
    assert_eq!(audit["entries"], serde_json::json!([]), "{audit}");
    let signed_in = get("/v1/admin/audit?actor=ops&action=ui.sign_in");
    assert_eq!(
        signed_in["entries"].as_array().unwrap().len(),
        3,
        "one sign-in over HTTP, two in the browser: {signed_in}"
    );
}
