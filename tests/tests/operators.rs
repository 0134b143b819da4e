//! What an operator sees (issue 14, "Operators left blind"), with the real binaries: refused
//! publishes, refused admin requests and aborted uploads in the log (without colour codes when
//! the log is a file), the audit log through `airlock audit`, the documented alert rules
//! against a real /metrics, and rollouts that end by themselves (withdrawn, superseded) in
//! `rollout status`, `rollout list`, the audit log and /metrics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::*;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

fn admin_cli(dir: &Path, server: &Server, args: &[&str]) -> Value {
    admin_cli_as(dir, server, "admin.token", args)
}

/// `airlock ARGS --json` against `server` with the admin token in `token_file`.
fn admin_cli_as(dir: &Path, server: &Server, token_file: &str, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend([
        "--server",
        &server.url,
        "--admin-token-file",
        token_file,
        "--json",
    ]);
    serde_json::from_str(&ok(dir, "airlock", &full)).unwrap()
}

/// Waits (up to 10 s) until the server's log holds `needle`; returns the log.
fn log_with(log: &Path, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap();
        if text.contains(needle) || std::time::Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The log line that holds `needle` (asserting there is one).
fn line_with<'a>(log: &'a str, needle: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no log line with {needle:?} in:\n{log}"))
}

fn admin_request(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

#[test]
fn refusals_and_aborted_uploads_are_logged_and_the_audit_log_is_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let log = dir.join("server.log");
    let server = Server::start_logging(dir, &[], &log);
    publish(dir, &server);
    let admin = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    let admin = admin.trim();

    // a refused publish: the reason is in the log line, not only in the audit table
    let (status, answer) = admin_request(
        &server,
        reqwest::Method::POST,
        "/v1/admin/publish",
        admin,
        r#"{"roots": ["{}"], "targets": "{}", "roles": {}}"#,
    );
    assert_eq!(status, 400, "{answer}");
    let text = log_with(&log, "publish refused");
    let line = line_with(&text, "publish refused");
    assert!(line.contains("ok=false"), "{line}");
    let code = answer["error"].as_str().unwrap();
    assert!(
        line.contains(&format!("error=\"{code}\"")) || line.contains(&format!("error={code}")),
        "{line}"
    );
    let message = answer["message"].as_str().unwrap();
    assert!(line.contains(message), "the reason {message:?} in {line}");

    // 401 and 403 on admin routes: route, client address, token name; never the token
    let (status, _) = admin_request(
        &server,
        reqwest::Method::GET,
        "/v1/admin/repository",
        "guessed-token-123",
        "",
    );
    assert_eq!(status, 401);
    let dashboard = ok(
        dir,
        "airlock-server",
        &[
            "token",
            "create",
            "--data",
            "srv",
            "--name",
            "dashboard",
            "--scope",
            "read",
        ],
    );
    let dashboard = dashboard.trim();
    let (status, _) = admin_request(
        &server,
        reqwest::Method::POST,
        "/v1/admin/resign",
        dashboard,
        "",
    );
    assert_eq!(status, 403);
    let text = log_with(&log, "refused (403)");
    let line = line_with(&text, "refused (401)");
    assert!(
        line.contains("route=/v1/admin/repository") && line.contains("remote=127.0.0.1"),
        "{line}"
    );
    let line = line_with(&text, "refused (403)");
    assert!(
        line.contains("route=/v1/admin/resign") && line.contains("token=dashboard"),
        "{line}"
    );
    assert!(
        line.contains("scope=\"publish\"") || line.contains("scope=publish"),
        "{line}"
    );

    // an upload the client abandons mid-body
    let addr = server.url.strip_prefix("http://").unwrap();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    let digest = "ab".repeat(32);
    write!(
        conn,
        "PUT /v1/admin/blobs/{digest} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
    )
    .unwrap();
    conn.write_all(&[7u8; 1000]).unwrap();
    conn.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(conn);
    let text = log_with(&log, "blob upload aborted");
    let line = line_with(&text, "blob upload aborted");
    assert!(
        line.contains("remote=127.0.0.1")
            && line.contains("token=\"admin-token-file\"")
                | line.contains("token=admin-token-file")
            && line.contains("received=1000")
            && line.contains(&digest),
        "{line}"
    );

    // never a token in the log, and no colour codes in a log file
    assert!(!text.contains(admin) && !text.contains(dashboard) && !text.contains("guessed-token"));
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape codes in a log file:\n{text}"
    );

    // the audit log: refused and accepted publishes, filtered and paged
    let page = admin_cli(dir, &server, &["audit", "--action", "publish"]);
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{page}");
    assert_eq!(entries[0]["detail"]["ok"], false);
    assert_eq!(entries[0]["detail"]["error"], code);
    assert_eq!(entries[1]["detail"]["ok"], true);
    assert!(
        entries[0]["id"].as_u64() > entries[1]["id"].as_u64(),
        "newest first"
    );
    let text = ok(
        dir,
        "airlock",
        &[
            "audit",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "--action",
            "publish",
            "--limit",
            "1",
        ],
    );
    assert!(
        text.contains(&format!("publish  refused ({code}): {message}")),
        "{text}"
    );
    assert!(text.contains("(more: add --before"), "{text}");
    let first = entries[0]["id"].as_u64().unwrap().to_string();
    let older = admin_cli(
        dir,
        &server,
        &["audit", "--action", "publish", "--before", &first],
    );
    assert_eq!(older["entries"][0]["detail"]["ok"], true);
    let tokens = admin_cli(
        dir,
        &server,
        &[
            "audit",
            "--actor",
            "admin-token-file",
            "--since",
            "2000-01-01",
        ],
    );
    assert!(tokens["entries"].as_array().unwrap().len() >= 2, "{tokens}");
    let future = admin_cli(dir, &server, &["audit", "--since", "2999-01-01"]);
    assert_eq!(future["entries"], serde_json::json!([]));
    let e = fails(
        dir,
        "airlock",
        &[
            "audit",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "--since",
            "31/12/2026",
        ],
    );
    assert!(e.contains("use an RFC 3339 time"), "{e}");
}

/// A PromQL label matcher's regex, fully anchored, for the subset the documented rules use:
/// alternatives of literal text and `.*` (anything else fails the test: extend this then).
fn regex_matches(pattern: &str, value: &str) -> bool {
    pattern.split('|').any(|branch| {
        let parts: Vec<&str> = branch.split(".*").collect();
        for p in &parts {
            assert!(
                !p.contains(['.', '*', '+', '?', '(', '[', '^', '$', '\\']),
                "regex {pattern:?} needs a fuller matcher"
            );
        }
        if parts.len() == 1 {
            return branch == value;
        }
        let (first, last) = (parts[0], parts[parts.len() - 1]);
        value.starts_with(first) && value[first.len()..].ends_with(last)
    })
}

/// The `role` label of the series of `metric` the selector `{role OP "value"}` picks.
fn selected_roles(metrics: &str, metric: &str, matcher: &str) -> Vec<String> {
    let (op, value) = ["!~", "=~", "!=", "="]
        .iter()
        .find_map(|op| {
            matcher
                .strip_prefix("role")
                .and_then(|m| m.strip_prefix(op))
                .map(|v| (*op, v.trim_matches('"')))
        })
        .unwrap_or_else(|| panic!("unexpected matcher {matcher:?}"));
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{metric}{{role=\"")))
        .filter_map(|rest| rest.split_once('"').map(|(role, _)| role.to_string()))
        .filter(|role| match op {
            "=" => role == value,
            "!=" => role != value,
            "=~" => regex_matches(value, role),
            _ => !regex_matches(value, role),
        })
        .collect()
}

/// docs/operations.md's alert rules name real metrics, and the expiry rules pick the roles
/// they are about: the offline roles (never snapshot or timestamp, which the server renews and
/// which expire within days: that rule would fire for ever) and the timestamp.
fn check_alert_rules(metrics: &str) {
    let doc = std::fs::read_to_string(workspace_root().join("docs/operations.md")).unwrap();
    let start = doc
        .find("Alert on:")
        .expect("docs/operations.md: the alert rules");
    let paragraph = doc[start..].split("\n\n").next().unwrap();
    let rules: Vec<&str> = paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|r| r.starts_with("airlock_"))
        .collect();
    assert!(rules.len() >= 3, "{paragraph}");
    let mut roles_of = Vec::new();
    for rule in &rules {
        let metric: String = rule
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            metrics.contains(&format!("# TYPE {metric} ")),
            "the rule {rule:?} names {metric}, which /metrics does not export"
        );
        if let Some(selector) = rule[metric.len()..].strip_prefix('{') {
            let matcher = selector.split('}').next().unwrap();
            roles_of.push(selected_roles(metrics, &metric, matcher));
        }
    }
    let mut offline = roles_of[0].clone();
    offline.sort();
    assert_eq!(
        offline,
        ["acme-cam", "acme-old", "root", "targets"],
        "{}",
        rules[0]
    );
    assert_eq!(roles_of[1], ["timestamp"], "{}", rules[1]);
}

fn add_release(dir: &Path, version: &str, kind: &str, seed: u8) {
    let file = format!("fw-{version}.bin");
    std::fs::write(dir.join(&file), firmware(seed, 2048)).unwrap();
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
            kind,
        ],
    );
}

fn publish_with(dir: &Path, server: &Server, extra: &[&str]) {
    let mut args = vec![
        "publish",
        "repo",
        "--server",
        &server.url,
        "--admin-token-file",
        "admin.token",
    ];
    args.extend_from_slice(extra);
    ok(dir, "airlock", &args);
}

/// The rollout series in a /metrics text: (metric, version, state).
fn rollout_series(metrics: &str) -> Vec<(String, String, String)> {
    metrics
        .lines()
        .filter(|l| l.starts_with("airlock_rollout_"))
        .map(|l| {
            let label = |name: &str| {
                let at = l.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                l[at..].split('"').next().unwrap().to_string()
            };
            let metric = l.split('{').next().unwrap().to_string();
            (metric, label("version"), label("state"))
        })
        .collect()
}

#[test]
fn rollouts_end_when_overtaken_and_metrics_show_only_current_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);

    // held at publish, then started: one rollout of 1.3.0 in /metrics, the started one
    add_release(dir, "1.3.0", "feature", 30);
    publish_with(dir, &server, &["--hold"]);
    let s = admin_cli(
        dir,
        &server,
        &[
            "rollout",
            "start",
            "acme-cam",
            "1.3.0",
            "--waves",
            "50%@0h,100%@1000h",
        ],
    );
    assert_eq!(s["state"], "active");
    let mut offered = 0;
    for i in 0..20 {
        let (_, answer) = server.post_json(
            &format!("/v1/devices/cam-{i}/check-in"),
            r#"{"product": "acme-cam", "version": "1.2.0", "security_version": 3}"#,
        );
        offered += usize::from(answer["target"]["version"] == "1.3.0");
    }
    assert!((3..=17).contains(&offered), "about half of 20: {offered}");
    // the first scrape: /metrics keeps rollout figures for 10 s
    let metrics = server.get("/metrics").text().unwrap();
    check_alert_rules(&metrics);
    let series = rollout_series(&metrics);
    assert!(
        series
            .iter()
            .all(|(_, v, state)| v == "1.3.0" && state == "active"),
        "the held rollout the started one replaced is not exported: {series:?}"
    );
    // reached, failure ratio, devices offered, delta fallback ratio
    assert_eq!(series.len(), 4, "{series:?}");
    // `rollout list` agrees: the hold the started rollout replaced is no longer `held`
    let list = admin_cli(dir, &server, &["rollout", "list"]);
    let of_130: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["version"] == "1.3.0")
        .map(|r| {
            (
                r["state"].as_str().unwrap(),
                r["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let started_id = s["id"].as_str().unwrap();
    assert_eq!(of_130.len(), 2, "{list}");
    assert_eq!(of_130[0].0, "replaced", "{list}");
    assert!(
        of_130[0]
            .1
            .starts_with(&format!("replaced by rollout {started_id} started ")),
        "{list}"
    );
    assert_eq!(of_130[1].0, "active", "{list}");
    // the wave's share and the devices reached, each named (check-ins are written in batches)
    let mut s = admin_cli(dir, &server, &["rollout", "status", "acme-cam", "1.3.0"]);
    for _ in 0..50 {
        if s["fleet_devices"] == 20 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        s = admin_cli(dir, &server, &["rollout", "status", "acme-cam", "1.3.0"]);
    }
    assert_eq!(s["reached_percent"], 50.0);
    assert_eq!(
        (s["devices_offered"].as_u64(), s["fleet_devices"].as_u64()),
        (Some(offered as u64), Some(20))
    );
    let text = ok(
        dir,
        "airlock",
        &[
            "rollout",
            "status",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "acme-cam",
            "1.3.0",
        ],
    );
    assert!(
        text.contains("the current wave opens it to 50.00% of the fleet"),
        "{text}"
    );
    assert!(
        text.contains(&format!("offered to {offered} of 20 devices")),
        "{text}"
    );

    // a newer security release overtakes the staged 1.3.0: its rollout ends, with the reason
    add_release(dir, "1.3.1", "security", 31);
    publish_with(dir, &server, &[]);
    let s = admin_cli(dir, &server, &["rollout", "status", "acme-cam", "1.3.0"]);
    assert_eq!(s["state"], "superseded", "{s}");
    assert_eq!(
        s["reason"],
        "superseded by acme-cam 1.3.1, a newer security release"
    );
    let audit = admin_cli(dir, &server, &["audit", "--action", "rollout.superseded"]);
    assert_eq!(audit["entries"][0]["detail"]["version"], "1.3.0", "{audit}");
    assert_eq!(audit["entries"][0]["actor"], "server");

    // a withdrawn release's rollout ends too, and its status still answers (no 404)
    add_release(dir, "1.4.0", "feature", 40);
    publish_with(dir, &server, &["--hold"]);
    admin_cli(
        dir,
        &server,
        &["rollout", "start", "acme-cam", "1.4.0", "--waves", "10%@0h"],
    );
    ok(
        dir,
        "airlock",
        &[
            "release",
            "withdraw",
            "repo",
            "acme-cam",
            "1.4.0",
            "--reason",
            "boot loop",
        ],
    );
    publish_with(dir, &server, &[]);
    let s = admin_cli(dir, &server, &["rollout", "status", "acme-cam", "1.4.0"]);
    assert_eq!(s["state"], "withdrawn", "{s}");
    assert!(s["reason"].as_str().unwrap().contains("withdrawn"), "{s}");
    let e = fails(
        dir,
        "airlock",
        &[
            "rollout",
            "pause",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "acme-cam",
            "1.4.0",
        ],
    );
    assert!(
        e.contains("cannot pause a rollout that is withdrawn"),
        "{e}"
    );

    // every rollout in the list, ended ones with their final state
    let list = admin_cli(dir, &server, &["rollout", "list"]);
    let states: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["version"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert!(states.contains(&("1.3.0", "superseded")), "{states:?}");
    assert!(states.contains(&("1.4.0", "withdrawn")), "{states:?}");
    let text = ok(
        dir,
        "airlock",
        &[
            "rollout",
            "list",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
        ],
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("acme-cam\t1.4.0\twithdrawn")),
        "{text}"
    );

    // ended rollouts are not exported (once the 10 s of the first scrape's figures are over)
    std::thread::sleep(std::time::Duration::from_millis(10_100));
    let series = rollout_series(&server.get("/metrics").text().unwrap());
    assert!(series.is_empty(), "ended rollouts exported: {series:?}");
}

/// A scoped admin token made with `airlock-server token create`, saved to `NAME.token`.
fn scoped_token(dir: &Path, name: &str, scopes: &[&str]) -> String {
    let mut args = vec!["token", "create", "--data", "srv", "--name", name];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    let token = ok(dir, "airlock-server", &args).trim().to_string();
    std::fs::write(dir.join(format!("{name}.token")), &token).unwrap();
    token
}

/// The audit log records which admin token acted, by its name (`token create --name`, or
/// `admin-token-file` for the token file's), never the token: `airlock audit --actor NAME` and
/// `GET /v1/admin/audit?actor=NAME` return that token's actions only.
#[test]
fn the_audit_log_names_the_admin_token_that_acted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    let ci = scoped_token(dir, "ci", &["publish"]);
    let ops = scoped_token(dir, "ops", &["rollout", "devices"]);
    let e = fails(
        dir,
        "airlock-server",
        &[
            "token",
            "create",
            "--data",
            "srv",
            "--name",
            "admin-token-file",
            "--scope",
            "read",
        ],
    );
    assert!(e.contains("choose another name"), "{e}");

    // ci publishes a held release; ops starts and pauses its rollout and makes an enrolment token
    add_release(dir, "1.3.0", "feature", 30);
    admin_cli_as(dir, &server, "ci.token", &["publish", "repo", "--hold"]);
    let release = ["acme-cam", "1.3.0"];
    admin_cli_as(
        dir,
        &server,
        "ops.token",
        &[&["rollout", "start"][..], &release].concat(),
    );
    admin_cli_as(
        dir,
        &server,
        "ops.token",
        &[&["rollout", "pause"][..], &release].concat(),
    );
    admin_cli_as(
        dir,
        &server,
        "ops.token",
        &[
            "enrolment-token",
            "create",
            "--product",
            "acme-cam",
            "--uses",
            "5",
        ],
    );

    let actions = |actor: &str| -> Vec<String> {
        let page = admin_cli(dir, &server, &["audit", "--actor", actor]);
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["actor"], actor, "{page}");
                e["action"].as_str().unwrap().to_string()
            })
            .collect()
    };
    assert_eq!(actions("ci"), vec!["publish"]);
    assert_eq!(
        actions("ops"),
        vec!["enrolment_token.create", "rollout.pause", "rollout.start"]
    );
    assert_eq!(actions("admin-token-file"), vec!["publish"]);
    assert_eq!(actions("admin"), Vec::<String>::new());
    // the API filters the same way
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/v1/admin/audit?actor=ops", server.url))
        .bearer_auth(admin_token(dir))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let page: Value = resp.json().unwrap();
    let by_ops: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(by_ops, vec!["ops"; 3], "{page}");
    // names only: no token is in the log
    let everything = admin_cli(dir, &server, &["audit"]).to_string();
    for token in [&ci, &ops, &admin_token(dir)] {
        assert!(!everything.contains(token.as_str()), "{everything}");
    }
}
