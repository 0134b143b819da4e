//! Storage faults (issue 12): the data directory full or read-only, SQLite locked by another
//! writer, PostgreSQL restarted under load, the S3 service answering 5xx or not answering.
//! In each: the requests the fault affects get 503 `storage_unavailable` with Retry-After and
//! the JSON error body (never a 500, never a hang), the current TUF metadata keeps being
//! served, nothing half-written becomes visible, and once the fault is gone the server serves
//! and publishes again by itself (no restart): the failed publish, retried, succeeds, and
//! `airlock verify` accepts the served repository.
//!
//! The data directory faults mount a small tmpfs in a private mount namespace (`unshare`) and
//! change it from outside with `nsenter`; PostgreSQL is the test's own throwaway cluster
//! (`initdb`/`pg_ctl`, as scripts/postgres does), so restarting it disturbs no other test; S3
//! is the server scripts/s3 starts, behind a fault-injecting proxy ([`proxy`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "faults/postgres.rs"]
mod postgres;
#[path = "faults/proxy.rs"]
mod proxy;

use airlock_e2e::*;
use postgres::Postgres;
use proxy::{FaultProxy, Mode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An answer as the tests judge it.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn of(resp: reqwest::blocking::Response) -> Answer {
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Answer {
            status,
            retry_after,
            body: resp.text().unwrap_or_default(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// 503 `storage_unavailable`, with a JSON body and a Retry-After in seconds.
    fn is_storage_unavailable(&self) -> bool {
        self.status == 503
            && self.json()["error"] == "storage_unavailable"
            && self.json()["message"].is_string()
            && self
                .retry_after
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|s| s > 0)
    }

    #[track_caller]
    fn assert_storage_unavailable(&self, what: &str) {
        assert!(
            self.is_storage_unavailable(),
            "{what}: expected 503 storage_unavailable with Retry-After, got {self:?}"
        );
    }
}

fn client() -> reqwest::blocking::Client {
    // a fault must never turn into a hang: 30 s is far above any answer the tests expect
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn get(url: &str) -> Answer {
    Answer::of(client().get(url).send().unwrap())
}

/// A check-in of `cam-1` running `version` (device auth is open in these tests).
fn check_in(server: &Server, device: &str, version: &str, security_version: u32) -> Answer {
    Answer::of(
        client()
            .post(format!("{}/v1/devices/{device}/check-in", server.url))
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"product": "acme-cam", "version": "{version}", "security_version": {security_version}}}"#
            ))
            .send()
            .unwrap(),
    )
}

fn put_blob(dir: &Path, server: &Server, content: &[u8]) -> Answer {
    Answer::of(
        client()
            .put(format!(
                "{}/v1/admin/blobs/{}",
                server.url,
                sha256_hex(content)
            ))
            .bearer_auth(admin_token(dir))
            .body(content.to_vec())
            .send()
            .unwrap(),
    )
}

fn resign(dir: &Path, server: &Server) -> Answer {
    Answer::of(
        client()
            .post(format!("{}/v1/admin/resign", server.url))
            .bearer_auth(admin_token(dir))
            .send()
            .unwrap(),
    )
}

fn publish_once(dir: &Path, server: &Server) -> std::process::Output {
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
}

/// Signs release `version` of acme-cam (security) into the repository; returns its image.
fn add_release(dir: &Path, version: &str, security_version: &str, seed: u8) -> Vec<u8> {
    let image = firmware(seed, 200_000);
    let file = format!("fw-{version}.bin");
    std::fs::write(dir.join(&file), &image).unwrap();
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
            security_version,
            "--kind",
            "security",
        ],
    );
    image
}

/// What a device needs keeps being served during a fault: the current metadata (from memory)
/// and the liveness probe.
fn metadata_is_served(server: &Server) {
    for file in [
        "timestamp.json",
        "snapshot.json",
        "targets.json",
        "1.root.json",
    ] {
        let answer = get(&format!("{}/tuf/metadata/{file}", server.url));
        assert_eq!(answer.status, 200, "{file} during the fault: {answer:?}");
    }
    assert_eq!(get(&format!("{}/healthz", server.url)).status, 200);
}

/// The publish the fault made fail: its retry succeeds, devices are offered the new release
/// and get its image, and `airlock verify` accepts the served repository.
fn recovered(dir: &Path, server: &Server, version: &str, image: &[u8]) {
    publish(dir, server);
    let answer = check_in(server, "cam-9", "1.2.0", 3);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json()["target"]["version"], version, "{answer:?}");
    let name = format!("acme-cam/fw-{version}.bin");
    let resp = client()
        .get(target_url(server, &name, image))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().unwrap().as_ref() == image, "image differs");
    let verified = ok(
        dir,
        "airlock",
        &[
            "verify",
            &server.url,
            "--trusted-root",
            "repo/metadata/1.root.json",
            "--json",
        ],
    );
    assert!(!verified.is_empty());
    let ready: Value = server.get("/readyz").json().unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
}

/// The published 1.2.0 image, read back whole.
fn image_is_served(server: &Server) -> Answer {
    get(&target_url(
        server,
        "acme-cam/fw-1.2.0.bin",
        &firmware(1, 300_000),
    ))
}

// --- the data directory on a small tmpfs ---------------------------------------------------

/// Mounts a 32 MiB tmpfs over `srv` (keeping its contents) in a private mount namespace, then
/// runs the server there.
const ON_TMPFS: &str = r#"set -e
cp -a srv srv.orig
mount -t tmpfs -o size=32m tmpfs srv
cp -a srv.orig/. srv/
exec "$@""#;

/// Whether this machine lets the test mount a tmpfs in a private mount namespace (root, or
/// allowed user namespaces) and enter it; `false` after a loud skip.
fn can_mount(test: &str, dir: &Path) -> bool {
    std::fs::create_dir_all(dir.join("probe")).unwrap();
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs probe"])
        .current_dir(dir)
        .output();
    let nsenter = Command::new("nsenter").arg("--version").output();
    match (probe, nsenter) {
        (Ok(p), Ok(n)) if p.status.success() && n.status.success() => true,
        (probe, _) => {
            let why = match probe {
                Ok(p) => String::from_utf8_lossy(&p.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            skip(
                test,
                &format!(
                    "cannot mount a tmpfs in a private mount namespace, or no nsenter ({why})"
                ),
            );
            false
        }
    }
}

/// Runs `script` in the mount namespace of the server (`nsenter`); returns its stdout.
fn in_namespace(server: &Server, script: &str) -> String {
    let out = Command::new("nsenter")
        .args([
            "-t",
            &server.child.id().to_string(),
            "-m",
            "--",
            "sh",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// No half-written blob is visible: the upload spool is empty and every stored blob's content
/// has the digest it is stored under.
fn blobs_are_whole(server: &Server, srv: &Path) {
    let listing = in_namespace(
        server,
        &format!(
            "cd '{}/blobs' && find . -type f -exec sha256sum {{}} +",
            srv.display()
        ),
    );
    for line in listing.lines() {
        let (digest, path) = line.split_once("  ").unwrap();
        assert!(path.starts_with("./sha256/"), "left behind: {path}");
        assert!(path.ends_with(digest), "{path} holds content {digest}");
    }
}

/// A fault of the data directory (made and undone by `fault` and `heal`, shell run in the
/// server's mount namespace with `$SRV` the data directory): uploads are refused with 503
/// while metadata and stored images keep being served.
fn data_directory_fault(test: &str, fault: &str, heal: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    if !can_mount(test, dir) {
        return;
    }
    story_repo(dir);
    let server = Server::start_wrapped(
        dir,
        &[
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            ON_TMPFS,
            "sh",
        ],
        &[],
    );
    publish(dir, &server);
    let image = add_release(dir, "1.3.0", "4", 4);
    let srv = dir.join("srv");
    let with_srv = |script: &str| format!("SRV='{}'; {script}", srv.display());
    in_namespace(&server, &with_srv(fault));

    put_blob(dir, &server, &image).assert_storage_unavailable("an upload");
    let failed = publish_once(dir, &server);
    assert!(!failed.status.success(), "the publish must fail");
    let why = String::from_utf8_lossy(&failed.stderr);
    assert!(why.contains("503") || why.contains("unavailable"), "{why}");
    metadata_is_served(&server);
    assert_eq!(
        image_is_served(&server).status,
        200,
        "stored images are read"
    );
    // a check-in's offer is a database write: it either fits or is refused the same way
    let answer = check_in(&server, "cam-1", "1.0.0", 2);
    assert!(
        answer.status == 200 || answer.is_storage_unavailable(),
        "{answer:?}"
    );
    blobs_are_whole(&server, &srv);

    in_namespace(&server, &with_srv(heal));
    recovered(dir, &server, "1.3.0", &image);
    blobs_are_whole(&server, &srv);
}

#[test]
fn a_full_data_directory_refuses_uploads_with_503_and_recovers() {
    data_directory_fault(
        "a_full_data_directory_refuses_uploads_with_503_and_recovers",
        r#"cat /dev/zero > "$SRV/filler" 2>/dev/null; test "$(df --output=avail "$SRV" | tail -1)" -eq 0"#,
        r#"rm "$SRV/filler""#,
    );
}

/// A read-only bind mount over the data directory: new files (uploads) are refused with
/// EROFS. Files the server already holds open (the SQLite database) stay writable through their
/// descriptors, as they would while the kernel refuses to remount a busy file system.
#[test]
fn a_read_only_data_directory_refuses_uploads_with_503_and_recovers() {
    data_directory_fault(
        "a_read_only_data_directory_refuses_uploads_with_503_and_recovers",
        r#"mount --bind "$SRV" "$SRV" && mount -o remount,ro,bind "$SRV""#,
        r#"umount "$SRV""#,
    );
}

// --- SQLite locked by another writer ---------------------------------------------------------

/// Another process holds SQLite's write lock longer than the server's busy timeout (10 s):
/// writes (an offer's record, a re-signing) are answered 503 after that wait, reads go on
/// (WAL), and once the lock is released the same requests succeed.
#[test]
fn sqlite_locked_by_another_writer_answers_503_and_recovers() {
    let test = "sqlite_locked_by_another_writer_answers_503_and_recovers";
    let python = python_with_tuf().unwrap_or_else(|| PathBuf::from("python3"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    let holder = Command::new(&python)
        .args([
            "-c",
            "import sqlite3, sys\n\
             db = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             db.execute('BEGIN IMMEDIATE')\n\
             print('locked', flush=True)\n\
             sys.stdin.read()\n\
             db.execute('COMMIT')\n",
        ])
        .arg(dir.join("srv/airlock.db"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut holder) = holder else {
        skip(test, "no Python to hold the SQLite lock");
        return;
    };
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");

    let started = Instant::now();
    let (offer, resigned) = std::thread::scope(|s| {
        let offer = s.spawn(|| check_in(&server, "cam-1", "1.0.0", 2));
        let resigned = s.spawn(|| resign(dir, &server));
        // readers are not blocked by the writer (WAL)
        metadata_is_served(&server);
        assert_eq!(get(&format!("{}/readyz", server.url)).status, 200);
        (offer.join().unwrap(), resigned.join().unwrap())
    });
    offer.assert_storage_unavailable("an offer during the lock");
    resigned.assert_storage_unavailable("a re-signing during the lock");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );

    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success(), "the lock holder commits");
    let answer = check_in(&server, "cam-1", "1.0.0", 2);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(resign(dir, &server).status, 200);
    let image = add_release(dir, "1.3.0", "4", 4);
    recovered(dir, &server, "1.3.0", &image);
}

// --- PostgreSQL restarted under load ---------------------------------------------------------

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// PostgreSQL stopped and started again while devices check in: every check-in is answered
/// 200 or 503 with Retry-After (those that needed the database while it was down), metadata
/// is served throughout, /readyz says not ready while the database is down, and the server
/// reconnects by itself.
#[test]
fn postgres_restarted_under_load_answers_503_and_recovers() {
    let test = "postgres_restarted_under_load_answers_503_and_recovers";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let Some(pg) = Postgres::start(test, dir) else {
        return;
    };
    story_repo(dir);
    let server = Server::start_with(dir, &["--state-url", &pg.url]);
    publish(dir, &server);

    let stop = AtomicBool::new(false);
    let answers: Mutex<Vec<(&str, Answer)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for worker in 0..4 {
            let (stop, answers, server) = (&stop, &answers, &server);
            s.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    // each device is offered 1.2.0: its answer waits for the offer's commit
                    let a = check_in(server, &format!("cam-{worker}-{n}"), "1.0.0", 2);
                    let m = get(&format!("{}/tuf/metadata/timestamp.json", server.url));
                    let mut answers = answers.lock().unwrap();
                    answers.push(("check-in", a));
                    answers.push(("metadata", m));
                }
            });
        }
        // the workers stop however this ends (a failed assertion included)
        let _stop = StopOnDrop(&stop);
        std::thread::sleep(Duration::from_millis(500));
        pg.pg_ctl("stop");
        eventually("/readyz says not ready while PostgreSQL is down", || {
            let ready = get(&format!("{}/readyz", server.url));
            ready.status == 503 && ready.json()["state_store"] == false
        });
        let during = Instant::now();
        while !answers
            .lock()
            .unwrap()
            .iter()
            .any(|(kind, a)| *kind == "check-in" && a.status != 200)
        {
            assert!(
                during.elapsed() < Duration::from_secs(20),
                "no check-in was refused while PostgreSQL was down"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        metadata_is_served(&server);
        pg.pg_ctl("start");
        eventually("check-ins succeed again", || {
            check_in(&server, "cam-after", "1.0.0", 2).status == 200
        });
    });
    let answers = answers.into_inner().unwrap();
    for (kind, a) in &answers {
        match *kind {
            "metadata" => assert_eq!(a.status, 200, "metadata during the restart: {a:?}"),
            _ => assert!(
                a.status == 200 || a.is_storage_unavailable(),
                "a check-in during the restart: {a:?}"
            ),
        }
    }
    let image = add_release(dir, "1.3.0", "4", 4);
    recovered(dir, &server, "1.3.0", &image);
}

// --- the S3 service failing ------------------------------------------------------------------

/// The server on S3 through a fault-injecting proxy; `fault` switched on after the first
/// publish: images and uploads are answered 503 (within the S3 timeout and its retries),
/// check-ins and metadata go on, /readyz says not ready; switched off, all recovers.
fn s3_fault(test: &str, fault: Mode) {
    let Some((endpoint, bucket)) = s3_bucket(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let proxy = FaultProxy::start(&endpoint);
    let server = Server::start_with(
        dir,
        &[
            "--blobs",
            &format!("s3://{bucket}/firmware"),
            "--s3-endpoint",
            &proxy.url,
            "--s3-path-style",
            "--s3-timeout-seconds",
            "1",
        ],
    );
    publish(dir, &server);
    let image = add_release(dir, "1.3.0", "4", 4);

    proxy.set(fault);
    let started = Instant::now();
    image_is_served(&server).assert_storage_unavailable("an image from the failing bucket");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the 503 took {:?}",
        started.elapsed()
    );
    put_blob(dir, &server, &image).assert_storage_unavailable("an upload");
    assert!(!publish_once(dir, &server).status.success());
    metadata_is_served(&server);
    let answer = check_in(&server, "cam-1", "1.0.0", 2);
    assert_eq!(answer.status, 200, "check-ins need no blob: {answer:?}");
    assert_eq!(answer.json()["decision"], "update");
    let ready = get(&format!("{}/readyz", server.url));
    assert_eq!(
        (ready.status, &ready.json()["blob_store"]),
        (503, &Value::from(false)),
        "{ready:?}"
    );
    // nothing half-uploaded stays in the spool
    let spool: Vec<_> = std::fs::read_dir(dir.join("srv/spool")).unwrap().collect();
    assert!(spool.is_empty(), "{spool:?}");

    proxy.set(Mode::Pass);
    eventually("/readyz says ready again", || {
        get(&format!("{}/readyz", server.url)).status == 200
    });
    let again = image_is_served(&server);
    assert_eq!(again.status, 200, "{again:?}");
    recovered(dir, &server, "1.3.0", &image);
}

#[test]
fn s3_answering_5xx_gives_503_and_recovers() {
    s3_fault("s3_answering_5xx_gives_503_and_recovers", Mode::Fail);
}

#[test]
fn s3_not_answering_gives_503_in_time_and_recovers() {
    s3_fault(
        "s3_not_answering_gives_503_in_time_and_recovers",
        Mode::Hang,
    );
}
