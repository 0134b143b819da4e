//! HTTP semantics against the real server: ETag / 304, Range / 206 / 416, gzip for JSON,
//! cache headers, metrics, readiness; racing publishers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;

#[test]
fn caching_ranges_compression_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    let client = reqwest::blocking::Client::new();
    let url = |p: &str| format!("{}{p}", server.url);

    // metadata: ETag, 304, short-lived cache for timestamp, immutable for versioned files
    let ts = client
        .get(url("/tuf/metadata/timestamp.json"))
        .send()
        .unwrap();
    assert_eq!(ts.headers()["cache-control"], "no-cache");
    let etag = ts.headers()["etag"].to_str().unwrap().to_string();
    let again = client
        .get(url("/tuf/metadata/timestamp.json"))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().unwrap().is_empty());
    let other = client
        .get(url("/tuf/metadata/timestamp.json"))
        .header("if-none-match", "\"nope\"")
        .send()
        .unwrap();
    assert_eq!(other.status(), 200);
    let root = client.get(url("/tuf/metadata/1.root.json")).send().unwrap();
    assert!(root.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));

    // gzip for JSON when asked
    let gz = client
        .get(url("/tuf/metadata/1.root.json"))
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(
        gz.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    let plain = client.get(url("/tuf/metadata/1.root.json")).send().unwrap();
    assert!(plain.headers().get("content-encoding").is_none());

    // targets: ETag is the sha256, ranges resume downloads
    let fw = firmware(1, 300_000);
    let sha = sha256_hex(&fw);
    let path = url(&format!("/tuf/targets/acme-cam/{sha}.fw-1.2.0.bin"));
    let full = client.get(&path).send().unwrap();
    assert_eq!(
        full.headers()["etag"].to_str().unwrap(),
        format!("\"{sha}\"")
    );
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    let part = client
        .get(&path)
        .header("range", "bytes=1000-1999")
        .send()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 1000-1999/300000");
    assert_eq!(&part.bytes().unwrap()[..], &fw[1000..2000]);
    let tail = client
        .get(&path)
        .header("range", "bytes=299000-")
        .send()
        .unwrap();
    assert_eq!(&tail.bytes().unwrap()[..], &fw[299_000..]);
    let bad = client
        .get(&path)
        .header("range", "bytes=400000-")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 416);
    assert_eq!(bad.headers()["content-range"], "bytes */300000");
    let stale = client
        .get(&path)
        .header("range", "bytes=0-9")
        .header("if-range", "\"old\"")
        .send()
        .unwrap();
    assert_eq!(
        stale.status(),
        200,
        "If-Range mismatch sends the whole image"
    );
    let cached = client
        .get(&path)
        .header("if-none-match", format!("\"{sha}\""))
        .send()
        .unwrap();
    assert_eq!(cached.status(), 304);

    // metrics and readiness
    server.post_json(
        "/v1/devices/m1/check-in",
        r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 1}"#,
    );
    let metrics = client.get(url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("airlock_check_ins_total{decision=\"update\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("airlock_metadata_expires_timestamp_seconds{role=\"timestamp\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("airlock_publishes_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/tuf/targets/{*path}\""),
        "{metrics}"
    );
    let ready: serde_json::Value = client.get(url("/readyz")).send().unwrap().json().unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["published"], true);

    // an operator re-signs snapshot and timestamp; every timestamp stays readable by version
    let token = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    let r: serde_json::Value = client
        .post(url("/v1/admin/resign"))
        .bearer_auth(token.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["timestamp_version"], 2);
    assert_eq!(
        client
            .post(url("/v1/admin/resign"))
            .send()
            .unwrap()
            .status(),
        401
    );
    let old = client
        .get(url("/tuf/metadata/1.timestamp.json"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let current = client
        .get(url("/tuf/metadata/timestamp.json"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_ne!(old, current);
    assert_eq!(
        client
            .get(url("/tuf/metadata/2.timestamp.json"))
            .send()
            .unwrap()
            .bytes()
            .unwrap(),
        current
    );
}

#[test]
fn racing_publishers_one_wins_the_other_gets_409() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    // two release managers work from the same state
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(status.success());
    };
    copy(&dir.join("repo"), &dir.join("repo-b"));
    std::fs::write(dir.join("a.bin"), firmware(5, 100)).unwrap();
    std::fs::write(dir.join("b.bin"), firmware(6, 100)).unwrap();
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "a.bin",
            "--version",
            "1.3.0",
            "--security-version",
            "3",
            "--kind",
            "security",
        ],
    );
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo-b",
            "acme-cam",
            "b.bin",
            "--version",
            "1.4.0",
            "--security-version",
            "3",
            "--kind",
            "security",
        ],
    );
    publish(dir, &server);
    let e = fails(
        dir,
        "airlock",
        &[
            "publish",
            "repo-b",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
        ],
    );
    assert!(
        e.contains("409") && e.contains("acme-cam") && e.contains("different content"),
        "{e}"
    );
    let (_, answer) = server.post_json(
        "/v1/devices/r/check-in",
        r#"{"product": "acme-cam", "version": "1.2.0", "security_version": 3}"#,
    );
    assert_eq!(
        answer["target"]["version"], "1.3.0",
        "the winner's release is served"
    );
}

#[test]
fn per_client_rate_limits_answer_429() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start_with(dir, &["--device-rate", "2", "--device-burst", "5"]);
    publish(dir, &server);
    let client = reqwest::blocking::Client::new();
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..12 {
        let resp = client
            .post(format!("{}/v1/devices/d1/check-in", server.url))
            .body(r#"{"product": "acme-cam", "version": "1.2.0", "security_version": 3}"#)
            .send()
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 && limited.is_none() {
            let retry = resp.headers()["retry-after"].to_str().unwrap().to_string();
            let body: serde_json::Value = resp.json().unwrap();
            limited = Some((retry, body));
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    let (retry, body) = limited.expect("some requests were limited");
    assert!(retry.parse::<u64>().unwrap() >= 1);
    assert_eq!(body["error"], "rate_limited");
    // TUF metadata stays readable: not limited
    for _ in 0..20 {
        assert_eq!(
            client
                .get(format!("{}/tuf/metadata/timestamp.json", server.url))
                .send()
                .unwrap()
                .status(),
            200
        );
    }
}

#[test]
fn scoped_admin_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let read = ok(
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
    )
    .trim()
    .to_string();
    let publisher: serde_json::Value = serde_json::from_str(&ok(
        dir,
        "airlock-server",
        &[
            "token", "create", "--data", "srv", "--name", "ci", "--scope", "publish", "--json",
        ],
    ))
    .unwrap();
    std::fs::write(dir.join("ci.token"), publisher["token"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join("read.token"), &read).unwrap();
    let e = fails(
        dir,
        "airlock-server",
        &[
            "token",
            "create",
            "--data",
            "srv",
            "--name",
            "x",
            "--scope",
            "everything",
        ],
    );
    assert!(e.contains("unknown scope"), "{e}");
    let server = Server::start(dir);
    // the publish-scoped token publishes; the read-only one cannot
    let e = fails(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "read.token",
        ],
    );
    assert!(e.contains("403") && e.contains("scope"), "{e}");
    ok(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "ci.token",
        ],
    );
    let client = reqwest::blocking::Client::new();
    let status = |token: &str, path: &str| {
        client
            .get(format!("{}{path}", server.url))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status(&read, "/v1/admin/repository"), 200);
    assert_eq!(
        status(publisher["token"].as_str().unwrap(), "/v1/admin/repository"),
        403
    );
    let e = fails(
        dir,
        "airlock",
        &[
            "rollout",
            "start",
            "--server",
            &server.url,
            "--admin-token-file",
            "ci.token",
            "acme-cam",
            "1.2.0",
        ],
    );
    assert!(e.contains("lacks the rollout scope"), "{e}");
    // listed by name and scope, never by value; revoked tokens stop working
    let list: serde_json::Value = serde_json::from_str(&ok(
        dir,
        "airlock-server",
        &["token", "list", "--data", "srv", "--json"],
    ))
    .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&read));
    ok(
        dir,
        "airlock-server",
        &["token", "revoke", "--data", "srv", "dashboard"],
    );
    assert_eq!(status(&read, "/v1/admin/repository"), 401);
}
