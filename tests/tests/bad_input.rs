//! Bad input gives a clear error and a non-zero exit / 4xx with a JSON body, and changes
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::process::Output;

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[test]
fn signer_refuses_bad_input_with_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);

    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "missing.bin",
            "--version",
            "2.0.0",
            "--security-version",
            "3",
            "--kind",
            "security",
        ],
    );
    assert!(
        e.contains("missing.bin") && e.contains("does not exist"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");

    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-nope",
            "fw-1.2.0.bin",
            "--version",
            "2.0.0",
            "--security-version",
            "3",
            "--kind",
            "security",
        ],
    );
    assert!(e.contains("unknown product"), "{e}");

    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw-1.2.0.bin",
            "--version",
            "two",
            "--security-version",
            "3",
            "--kind",
            "security",
        ],
    );
    assert!(first_line(&e).contains("invalid value 'two'"), "{e}");

    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw-1.2.0.bin",
            "--version",
            "1.2.0",
            "--security-version",
            "3",
            "--kind",
            "security",
        ],
    );
    assert!(e.contains("already released"), "{e}");

    // the support rules, refused by the signer
    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-old",
            "fw-1.2.0.bin",
            "--version",
            "9.0.0",
            "--security-version",
            "3",
            "--kind",
            "security",
        ],
    );
    assert!(e.contains("only a sunset release"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-old",
            "fw-1.2.0.bin",
            "--version",
            "9.0.0",
            "--security-version",
            "3",
            "--kind",
            "feature",
            "--released",
            "2023-01-01T00:00:00Z",
        ],
    );
    assert!(e.contains("feature window"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw-1.2.0.bin",
            "--name",
            "low.bin",
            "--version",
            "9.0.0",
            "--security-version",
            "1",
            "--kind",
            "security",
        ],
    );
    assert!(e.contains("below the product's floor"), "{e}");

    let e = fails(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "bad",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2031-01-01",
            "--security-until",
            "2030-12-31",
        ],
    );
    assert!(e.contains("feature_updates_until"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "../x",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2026-01-01",
            "--security-until",
            "2030-12-31",
        ],
    );
    assert!(e.contains("invalid"), "{e}");
    let e = fails(dir, "airlock", &["status", "nowhere"]);
    assert!(e.contains("not an airlock repository"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &["init", "repo", "--online-key", "srv/online.pub"],
    );
    assert!(e.contains("already"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &["init", "repo2", "--online-key", "nope.pub"],
    );
    assert!(e.contains("nope.pub"), "{e}");
    assert!(!dir.join("repo2").exists(), "nothing half-made");
    let e = fails(dir, "airlock-server", &["init", "--data", "srv"]);
    assert!(e.contains("already initialised"), "{e}");

    // a failed command leaves the repository as it was
    let status = ok(dir, "airlock", &["status", "repo", "--json"]);
    let s: Value = serde_json::from_str(&status).unwrap();
    let cam = s["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == "acme-cam")
        .unwrap();
    assert_eq!(cam["releases"].as_array().unwrap().len(), 1);
    assert_eq!(cam["role_version"], 2);
}

#[test]
fn server_refuses_bad_publishes_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);

    // firmware changed after signing: the signer notices before uploading
    let fw_path = dir.join("repo/targets/acme-cam/fw-1.2.0.bin");
    let original = std::fs::read(&fw_path).unwrap();
    let mut tampered = original.clone();
    tampered[10] ^= 1;
    std::fs::write(&fw_path, &tampered).unwrap();
    let e = fails(
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
        e.contains("does not match its signed length and sha256"),
        "{e}"
    );
    assert_eq!(
        server.get("/tuf/metadata/timestamp.json").status(),
        404,
        "nothing published"
    );
    std::fs::write(&fw_path, &original).unwrap();

    publish(dir, &server);
    let ts = server.get("/tuf/metadata/timestamp.json").bytes().unwrap();

    // metadata changed after signing: the server refuses it
    let role_path = dir.join("repo/metadata/acme-cam.json");
    let signed = std::fs::read_to_string(&role_path).unwrap();
    let forged = signed.replace("\"security_version\": 3", "\"security_version\": 9");
    assert_ne!(signed, forged);
    std::fs::write(&role_path, forged).unwrap();
    let e = fails(
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
    assert!(e.contains("400") && e.contains("signature"), "{e}");
    assert_eq!(
        server.get("/tuf/metadata/timestamp.json").bytes().unwrap(),
        ts,
        "a refused publish changes nothing"
    );
    std::fs::write(&role_path, signed).unwrap();

    // wrong admin token
    std::fs::write(dir.join("wrong.token"), "not-the-token-at-all\n").unwrap();
    let e = fails(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "wrong.token",
        ],
    );
    assert!(e.contains("401"), "{e}");

    // the server checks uploaded content against the digest it is stored under
    let token = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    let client = reqwest::blocking::Client::new();
    let sha = sha256_hex(b"right");
    let resp = client
        .put(format!("{}/v1/admin/blobs/{sha}", server.url))
        .bearer_auth(token.trim())
        .body("wrong")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["error"], "hash_mismatch");
    let resp = client
        .put(format!("{}/v1/admin/blobs/{sha}", server.url))
        .body("right")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client
        .post(format!("{}/v1/admin/publish", server.url))
        .bearer_auth(token.trim())
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["error"], "bad_request");
    assert_eq!(
        server.get("/tuf/metadata/timestamp.json").bytes().unwrap(),
        ts
    );
}

#[test]
fn device_endpoints_answer_bad_input_with_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    for (body, status, code) in [
        ("{not json", 400, "bad_request"),
        (
            r#"{"product": "acme-cam", "version": "1.0", "security_version": 1}"#,
            400,
            "bad_request",
        ),
        (
            r#"{"product": "acme-cam", "version": "1.0.0", "security_version": -1}"#,
            400,
            "bad_request",
        ),
        (
            r#"{"product": "acme-cam", "version": "1.0.0"}"#,
            400,
            "bad_request",
        ),
        (
            r#"{"product": "../etc", "version": "1.0.0", "security_version": 1}"#,
            400,
            "bad_request",
        ),
        (
            r#"{"product": "acme-nope", "version": "1.0.0", "security_version": 1}"#,
            404,
            "unknown_product",
        ),
    ] {
        let (s, json) = server.post_json("/v1/devices/d1/check-in", body);
        assert_eq!(
            (s, json["error"].as_str().unwrap()),
            (status, code),
            "{body}"
        );
        assert!(json["message"].as_str().unwrap().len() > 5);
    }
    let (s, _) = server.post_json(
        "/v1/devices/d1/reports",
        r#"{"status": "exploded", "version": "1.0.0"}"#,
    );
    assert_eq!(s, 400);
    let (s, json) = server.post_json(
        "/v1/devices/bad%20id/check-in",
        r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 1}"#,
    );
    assert_eq!((s, json["error"].as_str().unwrap()), (400, "bad_request"));
    let (s, json) = server.post_json("/v1/nothing", "{}");
    assert_eq!((s, json["error"].as_str().unwrap()), (404, "not_found"));
}

#[test]
fn no_path_traversal_through_tuf_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    std::fs::write(dir.join("srv/secret.json"), "{}").unwrap();
    let sha = sha256_hex(&firmware(1, 300_000));
    for path in [
        "/tuf/metadata/..%2Fsecret.json",
        "/tuf/metadata/%2e%2e%2fsecret.json",
        "/tuf/metadata/..%2F..%2Fsrv%2Fsecret.json",
        "/tuf/targets/..%2F..%2Fsecret.json",
        "/tuf/targets/acme-cam/..%2F..%2Fsecret.json",
        "/tuf/targets/%2Fetc%2Fpasswd",
        "/tuf/targets/acme-cam/%00.fw-1.2.0.bin",
        &format!("/tuf/targets/acme-cam/{sha}.fw-1.2.0.bin%00"),
        &format!("/tuf/targets/acme-cam/{sha}.%2e%2e%2f%2e%2e%2fsecret.json"),
        &format!("/tuf/targets/acme-cam/{sha}.other.bin"),
    ] {
        let resp = server.get(path);
        assert_eq!(resp.status(), 404, "{path}");
    }
    assert_eq!(
        server
            .get(&format!("/tuf/targets/acme-cam/{sha}.fw-1.2.0.bin"))
            .status(),
        200
    );
    // tough's spelling of the same target
    assert_eq!(
        server
            .get(&format!("/tuf/targets/{sha}.acme-cam/fw-1.2.0.bin"))
            .status(),
        200
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let e = fails(
        dir,
        "airlock-server",
        &[
            "serve",
            "--data",
            "srv",
            "--listen",
            &addr,
            "--admin-token-file",
            "admin.token",
        ],
    );
    assert!(e.contains(&format!("cannot listen on {addr}")), "{e}");
    let e = fails(
        dir,
        "airlock-server",
        &[
            "serve",
            "--data",
            "nowhere",
            "--listen",
            "127.0.0.1:0",
            "--admin-token-file",
            "admin.token",
        ],
    );
    assert!(e.contains("not an airlock-server data directory"), "{e}");
}

/// A full disk: `release add` (one file, and `--from-dir`) stops with the system's error naming
/// the file, exits non-zero, and leaves the repository byte for byte as it was (no half-written
/// image or metadata, no temporary files). The repository sits on a 2 MiB tmpfs mounted in a
/// private mount namespace (`unshare`), filled up before the command runs.
#[test]
fn a_full_disk_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    std::fs::write(dir.join("fw-2.0.0.bin"), firmware(9, 600_000)).unwrap();
    std::fs::create_dir(dir.join("many")).unwrap();
    for i in 0..4 {
        std::fs::write(
            dir.join(format!("many/acme-cam-3.0.{i}.bin")),
            firmware(10 + i as u8, 200_000),
        )
        .unwrap();
    }
    std::fs::create_dir(dir.join("tiny")).unwrap();
    let script = r#"
set -u
mount -t tmpfs -o size=2m tmpfs tiny || exit 90
cp -a repo tiny/repo || exit 91
free=$(df -B1 --output=avail tiny | tail -1)
head -c $((free - 300000)) /dev/zero > tiny/filler || exit 92
state() { (cd tiny/repo && find . -print0 | sort -z | xargs -0 -I{} sh -c 'if [ -f "{}" ]; then sha256sum "{}"; else echo "dir {}"; fi'); }
state > before.txt
"$AIRLOCK" release add tiny/repo acme-cam fw-2.0.0.bin --version 2.0.0 --security-version 3 --kind security 2> one.err
echo "one=$?"
state > after-one.txt
"$AIRLOCK" release add tiny/repo acme-cam --from-dir many --security-version 3 --kind security 2> dir.err
echo "dir=$?"
state > after-dir.txt
"#;
    std::fs::write(dir.join("full.sh"), script).unwrap();
    // root: a private mount namespace; otherwise a user namespace that maps us to root in it
    let args: &[&str] = if running_as_root() {
        &["-m", "bash", "full.sh"]
    } else {
        &["-rm", "bash", "full.sh"]
    };
    let out = std::process::Command::new("unshare")
        .args(args)
        .current_dir(dir)
        .env("AIRLOCK", bin("airlock"))
        .output();
    let out = match out {
        // 90: the mount was refused; 1 with no output: unshare itself was
        Ok(o)
            if o.status.code() == Some(90)
                || (o.status.code() == Some(1) && o.stdout.is_empty()) =>
        {
            skip_without_privilege(
                "a_full_disk_changes_nothing",
                &format!(
                    "cannot mount a small tmpfs here (unshare: {})",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
            );
            return;
        }
        Ok(o) => o,
        Err(e) => {
            skip_without_privilege("a_full_disk_changes_nothing", &format!("no unshare: {e}"));
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("one=") && stdout.contains("dir="),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("one=0"), "{stdout}");
    assert!(!stdout.contains("dir=0"), "{stdout}");
    let one = std::fs::read_to_string(dir.join("one.err")).unwrap();
    assert!(
        one.contains("No space left on device") && one.contains("fw-2.0.0.bin"),
        "{one}"
    );
    let many = std::fs::read_to_string(dir.join("dir.err")).unwrap();
    assert!(
        many.contains("No space left on device") && many.contains("acme-cam-3.0."),
        "{many}"
    );
    let before = std::fs::read_to_string(dir.join("before.txt")).unwrap();
    assert!(before.contains("metadata/acme-cam.json"), "{before}");
    assert_eq!(
        std::fs::read_to_string(dir.join("after-one.txt")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("after-dir.txt")).unwrap(),
        before
    );
}

/// Operator values past what a date or a duration can hold (docs/security.md, "Panics"): a
/// usage error or a sound answer, never a panic (exit 101), and nothing half-made.
#[test]
fn signer_values_past_the_calendar_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).to_string();

    // checked before a key is generated or a directory made
    let out = run(
        dir,
        "airlock",
        &[
            "init",
            "far",
            "--online-key",
            "srv/online.pub",
            "--expiry-days",
            "200000000000000",
        ],
    );
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("--expiry-days") && !e.contains("panicked"),
        "{e}"
    );
    assert!(!dir.join("far").exists(), "nothing half-made");

    // a retention period past jiff's ±19998 years keeps the security release: refused
    let out = run(
        dir,
        "airlock",
        &[
            "release",
            "withdraw",
            "repo",
            "acme-cam",
            "1.2.0",
            "--reason",
            "bad build",
            "--retention-years",
            "32767",
        ],
    );
    let e = stderr(&out);
    assert!(
        !out.status.success() && out.status.code() != Some(101),
        "{:?}: {e}",
        out.status
    );
    assert!(
        e.contains("must stay available") && !e.contains("panicked"),
        "{e}"
    );

    // publish --out: lifetimes past i64 seconds, before anything is written
    for flag in ["--timestamp-hours", "--snapshot-hours"] {
        let out = run(
            dir,
            "airlock",
            &[
                "publish",
                "repo",
                "--out",
                "static",
                "--online-key-file",
                "srv/online.key",
                flag,
                "9223372036854775807",
            ],
        );
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag}: {e}");
        assert!(e.contains(flag) && !e.contains("panicked"), "{e}");
        assert!(!dir.join("static").exists(), "nothing half-made");
    }

    // a timestamp.json in --out at the last version: no successor (wrapping to 1 would be a
    // rollback), and the export is left as it was
    let export = [
        "publish",
        "repo",
        "--out",
        "static",
        "--online-key-file",
        "srv/online.key",
    ];
    ok(dir, "airlock", &export);
    let path = dir.join("static/metadata/timestamp.json");
    let mut timestamp: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    timestamp["signed"]["version"] = u64::MAX.into();
    let edited = serde_json::to_vec(&timestamp).unwrap();
    std::fs::write(&path, &edited).unwrap();
    let out = run(dir, "airlock", &export);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("timestamp.json") && e.contains("the last one") && !e.contains("panicked"),
        "{e}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), edited);
}

/// The server's bounds from its command line, at their extremes: a postponement bound past
/// the calendar is no bound, a retention period past jiff's years keeps a release for good.
/// Both panicked inside a request (a check-in, a publish) before.
#[test]
fn server_bounds_past_the_calendar_answer_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start_with(
        dir,
        &[
            "--max-postpone-days",
            "9223372036854775807",
            "--retention-years",
            "32767",
        ],
    );
    publish(dir, &server);
    let (s, a) = server.post_json(
        "/v1/devices/p1/check-in",
        r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2,
            "policy": {"security_updates": "postponed", "postpone_until": "9999-12-31",
                       "feature_updates": false}}"#,
    );
    assert_eq!(
        (s, a["decision"].as_str()),
        (200, Some("up_to_date")),
        "{a}"
    );
    assert!(a["deferred"]["reason"]
        .as_str()
        .unwrap()
        .contains("9999-12-31"));

    // a forced withdrawal of the security release: inside a 32767-year retention period,
    // accepted as forced (the signer's --force and reason)
    ok(
        dir,
        "airlock",
        &[
            "release",
            "withdraw",
            "repo",
            "acme-cam",
            "1.2.0",
            "--reason",
            "bad build",
            "--force",
        ],
    );
    let report: Value = serde_json::from_str(&publish(dir, &server)).unwrap();
    assert!(report["targets_version"].as_u64().unwrap() >= 2, "{report}");
}
