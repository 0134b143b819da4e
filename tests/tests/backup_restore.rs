//! Backup and restore as docs/operations.md ("Back up and restore") tells an operator: the
//! stores of a running server are backed up with their own tools, wiped, restored with the
//! server stopped, and a restarted server holds everything again: the fleet and audit rows
//! are as they were, and a new device verifies and installs the release from the restored
//! metadata and firmware.
//!   - embedded: `sqlite3 .backup` (online) + a copy of the blob directory and the online key
//!   - shared: `pg_dump -Fc` / `pg_restore` + a copy of the bucket (boto3 from .venv), against
//!     the PostgreSQL and S3-protocol servers scripts/test starts
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A device of the story that checks in, verifies, installs and reports; its summary.
fn device(dir: &Path, server: &Server, id: &str) -> Value {
    let out = run(
        dir,
        "airlock-sim",
        &[
            "device",
            "--server",
            &server.url,
            "--trusted-root",
            "repo/metadata/1.root.json",
            "--state",
            id,
            "--id",
            id,
            "--product",
            "acme-cam",
            "--version",
            "1.0.0",
            "--security-version",
            "2",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "device {id}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn admin_get(dir: &Path, server: &Server, path: &str) -> Value {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}{path}", server.url))
        .bearer_auth(admin_token(dir))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().unwrap()
}

/// What a restore must bring back: the fleet figures (without the instants they are computed
/// at: when, and the points of the history, whose counts stay) and the whole audit log.
fn records(dir: &Path, server: &Server) -> (Value, Value) {
    let mut fleet = admin_get(dir, server, "/v1/admin/products/acme-cam/fleet");
    let figures = fleet.as_object_mut().unwrap();
    figures.remove("generated_at");
    if let Some(points) = figures.get_mut("history").and_then(Value::as_array_mut) {
        for point in points {
            point.as_object_mut().unwrap().remove("at");
        }
    }
    let audit = admin_get(dir, server, "/v1/admin/audit?limit=1000");
    (fleet, audit)
}

/// Publishes the story and runs one device through an update, so that every store holds
/// something: metadata and firmware, a device, its report, the audit of the publish.
fn populate(dir: &Path, server: &Server) -> (Value, Value) {
    publish(dir, server);
    let installed = device(dir, server, "cam-before");
    assert_eq!(
        (&installed["outcome"], &installed["to"]),
        (&Value::from("installed"), &Value::from("1.2.0")),
        "{installed}"
    );
    let (fleet, audit) = records(dir, server);
    assert!(
        fleet.to_string().contains("1.2.0"),
        "the device's install is in the fleet figures: {fleet}"
    );
    assert!(
        audit["entries"].as_array().is_some_and(|e| !e.is_empty()),
        "{audit}"
    );
    (fleet, audit)
}

/// After the restore: the same records, and a device never seen before installs the release.
fn check_restored(dir: &Path, server: &Server, before: &(Value, Value)) {
    assert_eq!(
        &records(dir, server),
        before,
        "fleet and audit after restore"
    );
    let fresh = device(dir, server, "cam-after");
    assert_eq!(
        (&fresh["outcome"], &fresh["to"]),
        (&Value::from("installed"), &Value::from("1.2.0")),
        "{fresh}"
    );
}

fn tool(test: &str, name: &str, package: &str) -> bool {
    let found = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(
            test,
            &format!("{name} is missing (Debian package {package})"),
        );
    }
    found
}

fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn embedded_stores_are_backed_up_while_serving_and_restored() {
    let test = "embedded_stores_are_backed_up_while_serving_and_restored";
    if !tool(test, "sqlite3", "sqlite3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    let before = populate(dir, &server);

    // the backup, taken while the server runs (docs/operations.md)
    let backup = dir.join("backup");
    std::fs::create_dir_all(&backup).unwrap();
    sh(
        "sqlite3",
        &[
            dir.join("srv/airlock.db").to_str().unwrap(),
            &format!(".backup '{}'", backup.join("airlock.db").display()),
        ],
    );
    copy_dir(&dir.join("srv/blobs/sha256"), &backup.join("blobs/sha256"));
    for key in ["online.key", "online.pub"] {
        std::fs::copy(dir.join("srv").join(key), backup.join(key)).unwrap();
    }

    // the data directory lost; the restore, with the server stopped
    drop(server);
    std::fs::remove_dir_all(dir.join("srv")).unwrap();
    std::fs::create_dir_all(dir.join("srv")).unwrap();
    std::fs::copy(backup.join("airlock.db"), dir.join("srv/airlock.db")).unwrap();
    copy_dir(&backup.join("blobs"), &dir.join("srv/blobs"));
    for key in ["online.key", "online.pub"] {
        std::fs::copy(backup.join(key), dir.join("srv").join(key)).unwrap();
    }
    let server = Server::start(dir);
    check_restored(dir, &server, &before);
}

/// The Python of .venv (scripts/test installs boto3 there with moto).
fn python_with_boto3(test: &str) -> Option<PathBuf> {
    let py = workspace_root().join(".venv/bin/python");
    let found = Command::new(&py)
        .args(["-c", "import boto3"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(
            test,
            "no .venv with boto3 (scripts/test installs it with moto)",
        );
        return None;
    }
    Some(py)
}

/// With boto3: `copy FROM TO` copies every object of bucket FROM to bucket TO (made if missing),
/// as an operator's `aws s3 sync s3://FROM s3://TO` does; `clear FROM` empties it; each prints
/// how many objects FROM held (`count FROM` only that).
const BUCKET_TOOL: &str = r#"
import sys, boto3
endpoint, action, source = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=source)
        for o in page.get("Contents", [])]
if action == "copy":
    target = sys.argv[4]
    if target not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=target)
    for key in keys:
        s3.copy_object(Bucket=target, Key=key, CopySource={"Bucket": source, "Key": key})
elif action == "clear":
    for key in keys:
        s3.delete_object(Bucket=source, Key=key)
print(len(keys))
"#;

fn bucket(py: &Path, endpoint: &str, args: &[&str]) -> usize {
    let out = Command::new(py)
        .args(["-c", BUCKET_TOOL, endpoint])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bucket {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn postgres_and_s3_stores_are_backed_up_and_restored() {
    let test = "postgres_and_s3_stores_are_backed_up_and_restored";
    if !tool(test, "pg_dump", "postgresql-client") || !tool(test, "pg_restore", "postgresql-client")
    {
        return;
    }
    let Some(py) = python_with_boto3(test) else {
        return;
    };
    let Some(pg) = postgres_database(test) else {
        return;
    };
    let Some((endpoint, bucket_name)) = s3_bucket(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let blobs = format!("s3://{bucket_name}/firmware");
    let flags = [
        "--state-url",
        &pg,
        "--blobs",
        &blobs,
        "--s3-endpoint",
        &endpoint,
        "--s3-path-style",
    ];
    let server = Server::start_with(dir, &flags);
    let before = populate(dir, &server);

    // the backup, taken while the server runs
    let dump = dir.join("airlock.dump");
    sh("pg_dump", &["-Fc", "-f", dump.to_str().unwrap(), &pg]);
    let backup_bucket = format!("{bucket_name}-backup");
    let objects = bucket(&py, &endpoint, &["copy", &bucket_name, &backup_bucket]);
    assert!(objects >= 1, "the firmware is in the bucket");

    // both stores lost: a new empty database under the same name, an emptied bucket
    drop(server);
    let admin = std::env::var("AIRLOCK_TEST_POSTGRES_URL").unwrap();
    let name = url::Url::parse(&pg)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    sh(
        "psql",
        &[
            &admin,
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("DROP DATABASE {name}"),
        ],
    );
    sh(
        "psql",
        &[
            &admin,
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ],
    );
    assert_eq!(bucket(&py, &endpoint, &["clear", &bucket_name]), objects);
    assert_eq!(bucket(&py, &endpoint, &["count", &bucket_name]), 0);

    // the restore, with the server stopped
    sh(
        "pg_restore",
        &[
            "--no-owner",
            "--exit-on-error",
            "-d",
            &pg,
            dump.to_str().unwrap(),
        ],
    );
    assert_eq!(
        bucket(&py, &endpoint, &["copy", &backup_bucket, &bucket_name]),
        objects
    );
    let server = Server::start_with(dir, &flags);
    check_restored(dir, &server, &before);
}
