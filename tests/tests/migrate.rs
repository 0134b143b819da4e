//! Schema migrations as an operator runs them (`airlock-server migrate`, `serve --no-migrate`,
//! a schema newer than the binary), and `airlock-server migrate-storage`: an embedded install
//! moved onto PostgreSQL and S3, interrupted with SIGKILL, resumed, verified, then served.
//! The tests that edit a SQLite file by hand use the sqlite3 shell (scripts/test installs it);
//! migrate-storage needs PostgreSQL and the S3 server (scripts/postgres, scripts/s3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn sqlite3(test: &str) -> bool {
    let found = Command::new("sqlite3")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(
            test,
            "the sqlite3 shell is missing (Debian package sqlite3)",
        );
    }
    found
}

fn sql(db: &Path, script: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn psql(url: &str, query: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", query])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn serve_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
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
    args
}

#[test]
fn migrate_reports_what_it_applied_and_serve_no_migrate_refuses_an_old_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    let report: Value = serde_json::from_str(&ok(
        dir,
        "airlock-server",
        &["migrate", "--data", "srv", "--json"],
    ))
    .unwrap();
    let known = report["known_version"].as_i64().unwrap();
    assert!(known >= 6, "{report}");
    assert_eq!(
        (&report["applied"], report["schema_version"].as_i64()),
        (&Value::Array(vec![]), Some(known)),
        "init left the schema current"
    );

    // an empty database lacks every migration: serve --no-migrate refuses (exit 4, refused)
    // and names the command that applies them
    std::fs::write(dir.join("srv/airlock.db"), b"").unwrap();
    let out = Command::new(bin("airlock-server"))
        .args(serve_args(&["--no-migrate"]))
        .current_dir(dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("schema version 0") && err.contains("`airlock-server migrate`"),
        "{err}"
    );
    // the same through the environment variable
    let out = Command::new(bin("airlock-server"))
        .args(serve_args(&[]))
        .env("AIRLOCK_NO_MIGRATE", "true")
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));

    let text = ok(dir, "airlock-server", &["migrate", "--data", "srv"]);
    assert!(text.contains("applied 1 initial schema"), "{text}");
    assert!(text.contains(&format!("schema version {known}")), "{text}");
    let server = Server::start_with(dir, &["--no-migrate"]);
    assert_eq!(server.get("/healthz").status(), 200);
    drop(server);

    // no data directory: not found, naming init
    let err = fails(dir, "airlock-server", &["migrate", "--data", "nope"]);
    assert!(err.contains("airlock-server init"), "{err}");
}

#[test]
fn a_schema_newer_than_the_binary_is_refused_with_the_upgrade_to_make() {
    let test = "a_schema_newer_than_the_binary_is_refused_with_the_upgrade_to_make";
    if !sqlite3(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    let report: Value = serde_json::from_str(&ok(
        dir,
        "airlock-server",
        &["migrate", "--data", "srv", "--json"],
    ))
    .unwrap();
    let known = report["known_version"].as_i64().unwrap();
    let db = dir.join("srv/airlock.db");
    sql(
        &db,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a newer release', 1, x'00', 1)",
    );
    let before = std::fs::read(&db).unwrap();
    for args in [
        serve_args(&[]),
        vec!["migrate", "--data", "srv"],
        vec!["token", "list", "--data", "srv"],
    ] {
        let out = run(dir, "airlock-server", &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {err}");
        assert!(
            err.contains("9999")
                && err.contains(&format!("versions up to {known}"))
                && err.contains("upgrade airlock-server"),
            "{args:?}: {err}"
        );
    }
    let out = run(
        dir,
        "airlock-server",
        &["--json", "migrate", "--data", "srv"],
    );
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"], "refused");
    assert_eq!(std::fs::read(&db).unwrap(), before, "nothing was written");
}

/// `airlock-server migrate-storage` and the output of a run to completion.
fn migrate_storage(dir: &Path, pg: &str, endpoint: &str, bucket: &str) -> Value {
    let out = ok(
        dir,
        "airlock-server",
        &[
            "--json",
            "--s3-endpoint",
            endpoint,
            "--s3-path-style",
            "migrate-storage",
            "--data",
            "srv",
            "--to-state",
            pg,
            "--to-blobs",
            &format!("s3://{bucket}/firmware"),
        ],
    );
    serde_json::from_str(&out).unwrap()
}

fn rows_of(report: &Value, table: &str) -> (u64, u64) {
    let t = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .unwrap_or_else(|| panic!("no table {table} in {report}"));
    (t["rows"].as_u64().unwrap(), t["copied"].as_u64().unwrap())
}

#[test]
fn migrate_storage_moves_an_embedded_install_resumes_after_a_kill_and_serves_the_same() {
    let test = "migrate_storage_moves_an_embedded_install_resumes_after_a_kill_and_serves_the_same";
    if !sqlite3(test) {
        return;
    }
    let Some(pg) = postgres_database(test) else {
        return;
    };
    let Some((endpoint, bucket)) = s3_bucket(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);

    // an embedded install in use: a publish, an enrolled device, check-ins, a report, a rollout
    let server = Server::start_with(dir, &["--device-auth", "required"]);
    publish(dir, &server);
    let admin = admin_token(dir);
    let client = reqwest::blocking::Client::new();
    let token: Value = client
        .post(format!("{}/v1/admin/enrolment-tokens", server.url))
        .bearer_auth(&admin)
        .body(r#"{"product": "acme-cam", "uses": 5}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let enrolled: Value = client
        .post(format!("{}/v1/devices/cam-1/enrol", server.url))
        .body(format!(
            r#"{{"token": "{}", "product": "acme-cam"}}"#,
            token["token"].as_str().unwrap()
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let credential = enrolled["credential"].as_str().unwrap().to_string();
    let check_in = |server: &Server| {
        let resp = client
            .post(format!("{}/v1/devices/cam-1/check-in", server.url))
            .bearer_auth(&credential)
            .body(r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().unwrap_or_default())
    };
    let (status, answer) = check_in(&server);
    assert_eq!((status, answer["decision"].as_str()), (200, Some("update")));
    let timestamp = server.get("/tuf/metadata/timestamp.json").bytes().unwrap();
    drop(server);

    // a fleet large enough that the copy takes a while: 200,000 devices
    let db = dir.join("srv/airlock.db");
    sql(
        &db,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) \
         INSERT INTO devices (id, product, version, security_version, last_decision, policy, \
         last_seen_ms) SELECT printf('bulk-%06d', i), 'acme-cam', '1.0.0', 2, 'update', NULL, \
         1796000000000 + i FROM n",
    );
    let devices: u64 = sql(&db, "SELECT COUNT(*) FROM devices").parse().unwrap();
    assert_eq!(devices, 200_001);

    // interrupted: killed while it copies the devices
    let mut child = Command::new(bin("airlock-server"))
        .args([
            "--s3-endpoint",
            &endpoint,
            "--s3-path-style",
            "migrate-storage",
            "--data",
            "srv",
            "--to-state",
            &pg,
            "--to-blobs",
            &format!("s3://{bucket}/firmware"),
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut progress = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            progress.read_line(&mut line).unwrap() > 0,
            "migrate-storage ended before it copied the devices: {seen:?}"
        );
        seen.push(line.clone());
        if line.contains("copying devices:") && !line.contains("200001/200001") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial: u64 = psql(&pg, "SELECT COUNT(*) FROM devices").parse().unwrap();
    assert!(
        partial > 0 && partial < devices,
        "killed mid-copy: {partial} of {devices} devices in the target ({seen:?})"
    );
    assert!(
        seen.iter().any(|l| l.contains("copying blobs: ")),
        "blobs go first: {seen:?}"
    );
    assert_eq!(
        psql(&pg, "SELECT COUNT(*) FROM head"),
        "0",
        "the head is copied last"
    );

    // resumed: completes, copying only what the first run did not
    let report = migrate_storage(dir, &pg, &endpoint, &bucket);
    let (rows, copied) = rows_of(&report, "devices");
    assert_eq!(rows, devices);
    assert_eq!(copied, devices - partial, "{report}");
    assert_eq!(rows_of(&report, "head"), (1, 1));
    assert_eq!(rows_of(&report, "device_credentials").0, 1);
    let blobs = &report["blobs"];
    assert!(blobs["blobs"].as_u64().unwrap() >= 2, "{report}");
    assert_eq!(blobs["verified"], blobs["blobs"]);
    assert_eq!(blobs["copied"], 0, "every blob went over before the kill");
    // every table's count and digest, the same on both sides (the command checked them);
    // counted again here independently
    for t in report["tables"].as_array().unwrap() {
        let table = t["table"].as_str().unwrap();
        let sqlite_rows = sql(&db, &format!("SELECT COUNT(*) FROM {table}"));
        assert_eq!(sqlite_rows, t["rows"].to_string(), "{table}");
        assert_eq!(
            psql(&pg, &format!("SELECT COUNT(*) FROM {table}")),
            sqlite_rows,
            "{table}"
        );
    }

    // a third run finds everything there: nothing copied
    let again = migrate_storage(dir, &pg, &endpoint, &bucket);
    assert!(
        again["tables"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["copied"] == 0),
        "{again}"
    );
    assert_eq!(again["blobs"]["copied"], 0);

    // the server on the new stores serves the same repository and knows the same devices
    let flags = [
        "--state-url",
        pg.as_str(),
        "--blobs",
        &format!("s3://{bucket}/firmware"),
        "--s3-endpoint",
        endpoint.as_str(),
        "--s3-path-style",
        "--device-auth",
        "required",
    ];
    let server = Server::start_with(dir, &flags);
    assert_eq!(
        server.get("/tuf/metadata/timestamp.json").bytes().unwrap(),
        timestamp
    );
    let fw = firmware(1, 300_000);
    let image = reqwest::blocking::get(target_url(&server, "acme-cam/fw-1.2.0.bin", &fw))
        .unwrap()
        .bytes()
        .unwrap();
    assert!(
        image.as_ref() == &fw[..],
        "the image from the bucket differs"
    );
    let (status, answer) = check_in(&server);
    assert_eq!(
        (status, answer["decision"].as_str()),
        (200, Some("update")),
        "the enrolled device's credential moved"
    );
    let fleet: Value = client
        .get(format!("{}/v1/admin/products/acme-cam/fleet", server.url))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(fleet["devices"].as_u64(), Some(devices), "{fleet}");
    // a new audit entry continues the moved ids
    let audit: Value = client
        .get(format!("{}/v1/admin/audit?limit=1", server.url))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let last_moved = audit["entries"][0]["id"].as_u64().unwrap();
    client
        .post(format!("{}/v1/admin/enrolment-tokens", server.url))
        .bearer_auth(&admin)
        .body(r#"{"product": "acme-cam", "uses": 1}"#)
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
    let audit: Value = client
        .get(format!("{}/v1/admin/audit?limit=1", server.url))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(audit["entries"][0]["id"].as_u64().unwrap() > last_moved);
    drop(server);

    // another install's data in the target: refused before anything is written
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    ok(&other, "airlock-server", &["init", "--data", "srv"]);
    ok(
        &other,
        "airlock-server",
        &[
            "token", "create", "--data", "srv", "--name", "ci", "--scope", "read",
        ],
    );
    let out = run(
        &other,
        "airlock-server",
        &[
            "--s3-endpoint",
            &endpoint,
            "--s3-path-style",
            "migrate-storage",
            "--data",
            "srv",
            "--to-state",
            &pg,
            "--to-blobs",
            &format!("s3://{bucket}/firmware"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("holds other data"), "{err}");
    assert_eq!(
        psql(&pg, "SELECT COUNT(*) FROM admin_tokens WHERE name = 'ci'"),
        "0"
    );
}
