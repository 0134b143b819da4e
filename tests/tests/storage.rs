//! Shared storage: the server on a real PostgreSQL server and a real S3-protocol server
//! (started by scripts/test with scripts/postgres and scripts/s3), and two replicas over the
//! same database and bucket following each other's publishes and enrolments.
//! Without those servers the tests skip loudly; under CI a skip is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;

fn shared_flags(pg: &str, endpoint: &str, bucket: &str) -> Vec<String> {
    [
        "--state-url",
        pg,
        "--blobs",
        &format!("s3://{bucket}/firmware"),
        "--s3-endpoint",
        endpoint,
        "--s3-path-style",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn server_on_postgres_and_s3_serves_the_story() {
    let test = "server_on_postgres_and_s3_serves_the_story";
    let Some(pg) = postgres_database(test) else {
        return;
    };
    let Some((endpoint, bucket)) = s3_bucket(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let flags = shared_flags(&pg, &endpoint, &bucket);
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = Server::start_with(dir, &args);
    let ready: Value = server.get("/readyz").json().unwrap();
    assert_eq!(
        (
            &ready["status"],
            &ready["state_store"],
            &ready["blob_store"]
        ),
        (
            &Value::from("ready"),
            &Value::from(true),
            &Value::from(true)
        ),
        "{ready}"
    );
    publish(dir, &server);

    // the image comes back from the bucket, whole and resumed from an offset
    let fw = firmware(1, 300_000);
    let resp = reqwest::blocking::get(target_url(&server, "acme-cam/fw-1.2.0.bin", &fw)).unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().unwrap().as_ref() == &fw[..], "image differs");
    let resp = reqwest::blocking::Client::new()
        .get(target_url(&server, "acme-cam/fw-1.2.0.bin", &fw))
        .header("range", "bytes=250000-")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert!(
        resp.bytes().unwrap().as_ref() == &fw[250_000..],
        "resumed part differs"
    );

    let (status, answer) = server.post_json(
        "/v1/devices/cam-1/check-in",
        r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#,
    );
    assert_eq!((status, answer["decision"].as_str()), (200, Some("update")));

    // a real TUF client reads the repository served from PostgreSQL + S3
    if let Some(py) = python_with_tuf() {
        let got = ngclient(&py, dir, &server, "acme-cam/fw-1.2.0.bin");
        assert_eq!(got["sha256"], sha256_hex(&fw).as_str());
    } else {
        skip(test, "no Python with python-tuf for the ngclient part");
    }

    // the local SQLite file of the data directory is not where the state went: a restarted
    // server on the same database serves the same repository
    let timestamp = server.get("/tuf/metadata/timestamp.json").bytes().unwrap();
    drop(server);
    let server = Server::start_with(dir, &args);
    assert_eq!(
        server.get("/tuf/metadata/timestamp.json").bytes().unwrap(),
        timestamp
    );
    let without = Server::start(dir);
    assert_eq!(
        without.get("/tuf/metadata/timestamp.json").status(),
        404,
        "the embedded default must not see what went to PostgreSQL"
    );
}

#[test]
fn replicas_follow_each_other_over_postgres_and_s3() {
    let test = "replicas_follow_each_other_over_postgres_and_s3";
    let Some(pg) = postgres_database(test) else {
        return;
    };
    let Some((endpoint, bucket)) = s3_bucket(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let mut flags = shared_flags(&pg, &endpoint, &bucket);
    flags.extend(
        ["--sync-seconds", "1", "--device-auth", "required"]
            .iter()
            .map(|s| s.to_string()),
    );
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = Server::start_with(dir, &args);
    // replica B: its own data directory holding the same online key, and the same admin token
    let dir_b = dir.join("replica-b");
    std::fs::create_dir_all(dir_b.join("srv")).unwrap();
    for f in ["online.key", "online.pub"] {
        std::fs::copy(dir.join("srv").join(f), dir_b.join("srv").join(f)).unwrap();
    }
    std::fs::copy(dir.join("admin.token"), dir_b.join("admin.token")).unwrap();
    let b = Server::start_with(&dir_b, &args);

    publish(dir, &a);
    let ts_a = a.get("/tuf/metadata/timestamp.json").bytes().unwrap();
    eventually("replica B serves A's publish", || {
        b.get("/tuf/metadata/timestamp.json").bytes().unwrap() == ts_a
    });
    // B serves the image A received, from the shared bucket
    let fw = firmware(1, 300_000);
    let body = reqwest::blocking::get(target_url(&b, "acme-cam/fw-1.2.0.bin", &fw))
        .unwrap()
        .bytes()
        .unwrap();
    assert!(body.as_ref() == &fw[..], "image from B differs");

    // a device enrolled through A checks in at B
    let client = reqwest::blocking::Client::new();
    let token: Value = client
        .post(format!("{}/v1/admin/enrolment-tokens", a.url))
        .bearer_auth(admin_token(dir))
        .body(r#"{"product": "acme-cam"}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let enrolled: Value = client
        .post(format!("{}/v1/devices/cam-7/enrol", a.url))
        .body(format!(
            r#"{{"token": "{}", "product": "acme-cam"}}"#,
            token["token"].as_str().unwrap()
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let credential = enrolled["credential"].as_str().unwrap().to_string();
    let check_in_at_b = || {
        let resp = client
            .post(format!("{}/v1/devices/cam-7/check-in", b.url))
            .bearer_auth(&credential)
            .body(r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().unwrap())
    };
    eventually("replica B knows the device enrolled at A", || {
        check_in_at_b().0 == 200
    });
    let (_, answer) = check_in_at_b();
    assert_eq!(answer["decision"], "update");
    assert_eq!(answer["target"]["version"], "1.2.0", "{answer}");

    // a publish through B (a new release) reaches devices checking in at A
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(3, 70_000)).unwrap();
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw-1.3.0.bin",
            "--version",
            "1.3.0",
            "--security-version",
            "4",
            "--kind",
            "security",
        ],
    );
    publish(dir, &b);
    eventually("replica A offers the release published through B", || {
        let resp = client
            .post(format!("{}/v1/devices/cam-7/check-in", a.url))
            .bearer_auth(&credential)
            .body(r#"{"product": "acme-cam", "version": "1.2.0", "security_version": 3}"#)
            .send()
            .unwrap();
        let answer: Value = resp.json().unwrap();
        answer["target"]["version"] == "1.3.0"
    });

    // publishing from a stale view loses with 409 instead of overwriting: kill the sync by
    // racing two publishes of the same signed state at both replicas
    ok(
        dir,
        "airlock",
        &[
            "support",
            "extend",
            "repo",
            "acme-cam",
            "--security-until",
            "2031-12-31",
            "--reason",
            "replica race",
        ],
    );
    let publish_to = |server: &Server| {
        run(
            dir,
            "airlock",
            &[
                "publish",
                "repo",
                "--server",
                &server.url,
                "--admin-token-file",
                "admin.token",
                "--json",
            ],
        )
    };
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| publish_to(&a));
        let hb = s.spawn(|| publish_to(&b));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let won = [&ra, &rb].iter().filter(|o| o.status.success()).count();
    assert!(won >= 1, "one racing publish must win");
    if won == 1 {
        let loser = if ra.status.success() { &rb } else { &ra };
        let err = String::from_utf8_lossy(&loser.stderr);
        assert!(
            err.contains("409") || err.contains("changed") || err.contains("already"),
            "the losing publish says why: {err}"
        );
    }
    // both replicas end on the same head
    eventually("both replicas serve the same timestamp", || {
        a.get("/tuf/metadata/timestamp.json").bytes().unwrap()
            == b.get("/tuf/metadata/timestamp.json").bytes().unwrap()
    });
}

/// Issue 12, item 8: two replicas over one PostgreSQL database, each with its own data
/// directory, reading one key directory (`--online-key-dir`, a shared secret mount). The next
/// online key is prepared once; the root naming it is published through A; B follows that root
/// and renews with the new key, with nothing copied by hand.
#[test]
fn online_key_rotation_reaches_every_replica() {
    let test = "online_key_rotation_reaches_every_replica";
    let Some(pg) = postgres_database(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for f in ["online.key", "online.pub"] {
        std::fs::rename(dir.join("srv").join(f), keys.join(f)).unwrap();
    }
    let keys_arg = keys.to_str().unwrap();
    let flags = [
        "--state-url",
        &pg,
        "--sync-seconds",
        "1",
        "--online-key-dir",
        keys_arg,
    ];
    let a = Server::start_with(dir, &flags);
    let dir_b = dir.join("replica-b");
    std::fs::create_dir_all(dir_b.join("srv")).unwrap();
    std::fs::copy(dir.join("admin.token"), dir_b.join("admin.token")).unwrap();
    let b = Server::start_with(&dir_b, &flags);
    publish(dir, &a);

    let next: Value = serde_json::from_str(&ok(
        dir,
        "airlock-server",
        &["rotate-online-key", "--data", keys_arg, "--json"],
    ))
    .unwrap();
    let next_id = next["online_key_id"].as_str().unwrap().to_string();
    let next_pub = keys.join("online-next.pub");
    ok(
        dir,
        "airlock",
        &[
            "root",
            "rotate",
            "repo",
            "--online-key",
            next_pub.to_str().unwrap(),
        ],
    );
    publish(dir, &a);
    let signer = |s: &Server| -> Value {
        let ts: Value = s.get("/tuf/metadata/timestamp.json").json().unwrap();
        ts["signatures"][0]["keyid"].clone()
    };
    assert_eq!(signer(&a), next_id.as_str());
    // B renews with the new key once it followed the root (its own re-sign, then A's view)
    let resign = |s: &Server| {
        reqwest::blocking::Client::new()
            .post(format!("{}/v1/admin/resign", s.url))
            .bearer_auth(admin_token(dir))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    eventually("replica B re-signs with the new online key", || {
        resign(&b) == 200 && signer(&b) == next_id.as_str()
    });
    eventually("replica A serves B's renewal", || {
        signer(&a) == next_id.as_str() && resign(&a) == 200
    });
    // the key files were promoted in the shared directory, the old key kept
    assert!(!keys.join("online-next.key").exists());
    let retired = std::fs::read_dir(&keys)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("online.retired.")
        })
        .count();
    assert_eq!(retired, 1);
}
