//! Replicas, proven (issue 15): two airlock-server replicas over one PostgreSQL database and
//! one S3 bucket, behind a real load balancer (haproxy from Debian, on loopback).
//!
//! - `fleet_through_a_load_balancer_survives_a_killed_replica_and_a_database_restart`: 1,000
//!   simulated devices (`airlock-sim soak`, real device agents that verify everything) update
//!   through the balancer while a release is published through replica A, a rollout is started
//!   and paused through replica B, A is killed with SIGKILL and restarted, and PostgreSQL is
//!   restarted. Nothing unverified is installed, no report is lost, both replicas agree on the
//!   rollout, every device ends on the version its wave allows, and the devices' errors were
//!   retried away (device/src/retry.rs bounds the retries).
//! - `change_notices_reach_the_other_replica_at_once`: how long a publish, a rollout change
//!   and a revocation take to reach the other replica, by change notice and by the periodic
//!   sync alone (the figures of docs/operations.md, "Replicas").
//!
//! Each skips loudly without haproxy, PostgreSQL or the S3 server (scripts/test installs and
//! starts them); under CI a skip is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "faults/postgres.rs"]
mod postgres;

use airlock_e2e::*;
use postgres::Postgres;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PRODUCT: &str = "acme-cam";
const DEVICES: usize = 1000;
/// Seconds between a device's cycles, and the fleet's whole run.
const INTERVAL: u64 = 20;
const SOAK_SECONDS: u64 = 60;
const ROLLOUT_ID: &str = "replicas-e2e";
/// The first wave: 30% of the fleet now, the rest in 1000 h (never, within the test).
const WAVES: &str = "30%@0h,100%@1000h";
const FIRST_WAVE_BASIS_POINTS: u32 = 3000;

/// The bucket of a device within a rollout, as core/src/rollout.rs `bucket` computes it
/// (sha256 of rollout id, a zero byte, device id; the first four bytes big-endian, mod 10000).
fn bucket(rollout_id: &str, device_id: &str) -> u32 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(rollout_id.as_bytes());
    h.update([0u8]);
    h.update(device_id.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 10_000
}

fn in_first_wave(device_id: &str) -> bool {
    bucket(ROLLOUT_ID, device_id) < FIRST_WAVE_BASIS_POINTS
}

/// haproxy on a loopback port, balancing round robin over the replicas, with health checks on
/// `/healthz` so a killed replica is taken out within a second; killed on drop.
struct Haproxy {
    child: Child,
    url: String,
}

impl Haproxy {
    fn start(dir: &Path, backends: &[u16]) -> Haproxy {
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!("  server replica{i} 127.0.0.1:{p} check inter 300ms fall 2 rise 2\n")
            })
            .collect();
        // `retries` + `redispatch`: a request whose connection to a dead replica is refused goes
        // to the other one; a request a replica was killed in the middle of is the device's to
        // retry (haproxy answers it 502)
        let config = format!(
            "global\n  maxconn 4096\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  timeout server 60s\n  \
             retries 2\n  option redispatch\n\
             frontend devices\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
             backend replicas\n  balance roundrobin\n  option httpchk\n  \
             http-check send meth GET uri /healthz\n{servers}"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting haproxy");
        let url = format!("http://127.0.0.1:{port}");
        let lb = Haproxy { child, url };
        eventually("haproxy answers through both replicas", || {
            (0..4).all(|_| {
                reqwest::blocking::get(format!("{}/healthz", lb.url))
                    .is_ok_and(|r| r.status() == 200)
            })
        });
        lb
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn haproxy_installed() -> bool {
    Command::new("haproxy")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Replica B's directory: the same online key (a shared secret in production) and admin token.
fn replica_dir(dir: &Path, name: &str) -> PathBuf {
    let other = dir.join(name);
    std::fs::create_dir_all(other.join("srv")).unwrap();
    for f in ["online.key", "online.pub"] {
        std::fs::copy(dir.join("srv").join(f), other.join("srv").join(f)).unwrap();
    }
    std::fs::copy(dir.join("admin.token"), other.join("admin.token")).unwrap();
    other
}

/// A replica on a fixed port (so a restarted one is found where it was), logging to `log`.
fn start_replica(dir: &Path, port: u16, shared: &[String], log: &Path) -> Server {
    let listen = format!("127.0.0.1:{port}");
    let mut args: Vec<&str> = shared.iter().map(String::as_str).collect();
    args.extend(["--listen", &listen]);
    Server::start_logging(dir, &args, log)
}

fn admin(dir: &Path) -> impl Fn(reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let token = admin_token(dir);
    move |req: reqwest::blocking::RequestBuilder| {
        let resp = req.bearer_auth(&token).send().unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Enrols `device` with `token` at `server`; its credential.
fn enrol(server: &str, device: &str, token: &str) -> String {
    let resp: Value = client()
        .post(format!("{server}/v1/devices/{device}/enrol"))
        .json(&serde_json::json!({"token": token, "product": PRODUCT}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    resp["credential"]
        .as_str()
        .unwrap_or_else(|| panic!("enrolling {device}: {resp}"))
        .to_string()
}

/// A check-in of `device` (running 1.2.0) at `server`: (status, offered version).
fn check_in(server: &str, device: &str, credential: &str) -> (u16, Option<String>) {
    let resp = client()
        .post(format!("{server}/v1/devices/{device}/check-in"))
        .bearer_auth(credential)
        .json(&serde_json::json!({"product": PRODUCT, "version": "1.2.0", "security_version": 3}))
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let answer: Value = resp.json().unwrap_or(Value::Null);
    let offered = (answer["decision"] == "update").then(|| {
        answer["target"]["version"]
            .as_str()
            .unwrap_or("")
            .to_string()
    });
    (status, offered)
}

/// Runs SQL on the database at `url` with psql; its rows, `|`-separated.
fn psql(url: &str, sql: &str) -> Vec<String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
        .expect("running psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until `f` holds, at most `limit`.
fn within(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// A replica that cannot judge a device's credential from memory (the device enrolled at the
// other replica a moment ago) asks the state store: on 2026-12-02 one check-in of 1,000 was
// answered 401 while the fleet enrolled, because the decision read the credential map twice and
// a change notice landed in between (fixed in server/src/auth.rs, test in server/tests/auth.rs).
#[test]
fn fleet_through_a_load_balancer_survives_a_killed_replica_and_a_database_restart() {
    let test = "fleet_through_a_load_balancer_survives_a_killed_replica_and_a_database_restart";
    if !haproxy_installed() {
        skip(
            test,
            "haproxy is not installed (apt-get install -y haproxy; scripts/test does it as root)",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let Some((endpoint, bucket_name)) = s3_bucket(test) else {
        return;
    };
    let Some(pg) = Postgres::start(test, dir) else {
        return;
    };
    story_repo(dir);
    let shared: Vec<String> = [
        "--state-url",
        &pg.url,
        "--blobs",
        &format!("s3://{bucket_name}/firmware"),
        "--s3-endpoint",
        &endpoint,
        "--s3-path-style",
        "--device-auth",
        "required",
        // the fallback sync far apart: what the replicas learn during the test, they learn by
        // change notice (or by the full sync after the notice connection was lost)
        "--sync-seconds",
        "60",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = start_replica(dir, port_a, &shared, &dir.join("a.log"));
    let dir_b = replica_dir(dir, "replica-b");
    let b = start_replica(&dir_b, port_b, &shared, &dir.join("b.log"));
    let lb = Haproxy::start(dir, &[port_a, port_b]);
    let call = admin(dir);
    let http = client();

    // 1.2.0 is what the fleet runs; the token enrols every device once
    publish(dir, &a);
    let (status, token) = call(
        http.post(format!("{}/v1/admin/enrolment-tokens", lb.url))
            .json(&serde_json::json!({"product": PRODUCT, "uses": "unlimited"})),
    );
    assert_eq!(status, 201, "{token}");
    let token = token["token"].as_str().unwrap().to_string();

    let soak_log = dir.join("soak.log");
    let fleet_start = Instant::now();
    let soak = Command::new(bin("airlock-sim"))
        .args(["--json", "soak", "--server", &lb.url])
        .args(["--trusted-root", "repo/metadata/1.root.json"])
        .args(["--product", PRODUCT, "--enrol-token", &token])
        .args(["--state", "devices", "--devices", &DEVICES.to_string()])
        .args(["--seconds", &SOAK_SECONDS.to_string()])
        .args(["--interval", &INTERVAL.to_string(), "--concurrency", "64"])
        .args([
            "--warm-up",
            "0",
            "--sample-every",
            "5",
            "--max-growth",
            "1000",
        ])
        .args(["--version", "1.2.0", "--security-version", "3"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&soak_log).unwrap())
        .spawn()
        .expect("starting airlock-sim soak");

    // a probe device of the first wave, enrolled through A, checking in at each replica directly
    let probe = (0..)
        .map(|i| format!("probe-{i}"))
        .find(|d| in_first_wave(d))
        .unwrap();
    let probe_credential = enrol(&a.url, &probe, &token);

    // the release comes while the fleet enrols and takes its first look
    std::thread::sleep(Duration::from_secs(3));
    let at = |what: &str| eprintln!("{:>5.1} s {what}", fleet_start.elapsed().as_secs_f64());
    at("publishing 1.3.0 through A");

    // the release, published held through A
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(13, 16_384)).unwrap();
    let image_sha256 = sha256_hex(&firmware(13, 16_384));
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            PRODUCT,
            "fw-1.3.0.bin",
            "--version",
            "1.3.0",
            "--security-version",
            "3",
            "--kind",
            "feature",
        ],
    );
    ok(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &a.url,
            "--admin-token-file",
            "admin.token",
            "--hold",
            "--json",
        ],
    );
    // the rollout, started through B: B knows the release A just published by its notice (the
    // fallback sync is a minute away)
    let started = Instant::now();
    let mut start_status = (0, Value::Null);
    within(
        Duration::from_secs(3),
        "B knows the release published through A",
        || {
            start_status = call(http.post(format!("{}/v1/admin/rollouts", b.url)).json(
            &serde_json::json!({"product": PRODUCT, "version": "1.3.0", "waves": WAVES, "id": ROLLOUT_ID}),
        ));
            start_status.0 == 201 || start_status.0 == 200
        },
    );
    eprintln!(
        "rollout started through B {} ms after the publish through A returned",
        started.elapsed().as_millis()
    );
    assert_eq!(start_status.1["state"], "active", "{}", start_status.1);
    within(
        Duration::from_secs(3),
        "A and B offer the probe 1.3.0",
        || {
            [&a.url, &b.url]
                .iter()
                .all(|s| check_in(s, &probe, &probe_credential).1.as_deref() == Some("1.3.0"))
        },
    );

    // while the first wave downloads and reports: A is killed and restarted, then PostgreSQL
    at("rollout started through B");
    // A is killed while the fleet may still be enrolling: a device whose enrolment answer the
    // killed replica never sent sends it again, proposing the same credential of its own, and
    // is answered as the first time (docs/operations.md, "Replicas").
    std::thread::sleep(Duration::from_secs(2));
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    at("A killed");
    std::thread::sleep(Duration::from_secs(2));
    a = start_replica(dir, port_a, &shared, &dir.join("a-restarted.log"));
    at("A restarted");
    std::thread::sleep(Duration::from_secs(1));
    pg.pg_ctl("stop");
    at("PostgreSQL stopped");
    std::thread::sleep(Duration::from_secs(2));
    pg.pg_ctl("start");
    at("PostgreSQL started");

    // the whole first wave installs (the reports are in the database), then B pauses the rollout
    let wave: Vec<String> = (0..DEVICES)
        .map(|i| format!("soak-{i:05}"))
        .filter(|d| in_first_wave(d))
        .collect();
    let installed = || {
        psql(
            &pg.url,
            "SELECT count(DISTINCT device_id) FROM reports
             WHERE status = 'installed' AND version = '1.3.0' AND device_id LIKE 'soak-%'",
        )[0]
        .parse::<usize>()
        .unwrap()
    };
    let mut last = 0;
    within(
        Duration::from_secs(60),
        "the first wave installed 1.3.0",
        || {
            last = installed();
            last == wave.len()
        },
    );
    let (status, paused) =
        call(http.post(format!("{}/v1/admin/rollouts/{PRODUCT}/1.3.0/pause", b.url)));
    assert_eq!(status, 200, "{paused}");
    at("the first wave installed; rollout paused through B");
    // both replicas hold the rollout back from the probe at once
    within(Duration::from_secs(3), "A and B know of the pause", || {
        [&a.url, &b.url]
            .iter()
            .all(|s| check_in(s, &probe, &probe_credential) == (200, None))
    });
    assert!(
        fleet_start.elapsed() < Duration::from_secs(SOAK_SECONDS - 5),
        "the pause came after the fleet's run (a very slow machine?)"
    );

    // the fleet runs to its end
    let out = soak.wait_with_output().unwrap();
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "airlock-sim soak printed no summary ({}):\n{}",
            out.status,
            tail(&soak_log, 30)
        )
    });
    let counts = &summary["counts"];
    eprintln!("fleet: {counts}");
    let context = || {
        format!(
            "{summary:#}\n--- soak\n{}\n--- A\n{}\n--- A restarted\n{}\n--- B\n{}",
            tail(&soak_log, 15),
            tail(&dir.join("a.log"), 15),
            tail(&dir.join("a-restarted.log"), 15),
            tail(&dir.join("b.log"), 15)
        )
    };
    // every error was retried away (errors: cycles that failed after all their retries)
    for field in ["errors", "refused", "failed", "reports_undelivered"] {
        assert_eq!(counts[field], 0, "{field}\n{}", context());
    }
    assert!(
        counts["cycles"].as_u64().unwrap() >= (DEVICES as u64) * (SOAK_SECONDS / INTERVAL - 1),
        "the fleet cycled on schedule\n{}",
        context()
    );

    // every device ends on the version its wave allows, and what it installed is the signed image
    let mut on_new = 0;
    for i in 0..DEVICES {
        let id = format!("soak-{i:05}");
        let state: Value = serde_json::from_slice(
            &std::fs::read(dir.join("devices").join(&id).join("device.json")).unwrap(),
        )
        .unwrap();
        if in_first_wave(&id) {
            assert_eq!(
                state["version"], "1.3.0",
                "{id} is in the first wave: {state}"
            );
            assert_eq!(
                state["sha256"],
                image_sha256.as_str(),
                "{id} installed an unverified image: {state}"
            );
            on_new += 1;
        } else {
            assert_eq!(
                state["version"], "1.2.0",
                "{id} is outside the first wave: {state}"
            );
            assert!(
                state["target"].is_null(),
                "{id} installed something: {state}"
            );
        }
    }
    assert_eq!(on_new, wave.len());

    // no report lost: each report a device sent is stored (a report sent again because its
    // first answer was lost is stored twice; it counts once as the device's latest vote)
    let stored = psql(
        &pg.url,
        "SELECT device_id || ' ' || status || ' ' || version, count(*) FROM reports
         WHERE device_id LIKE 'soak-%' GROUP BY 1 ORDER BY 1",
    );
    let distinct: Vec<&str> = stored
        .iter()
        .map(|row| row.split('|').next().unwrap())
        .collect();
    let expected: Vec<String> = {
        let mut v: Vec<String> = wave
            .iter()
            .flat_map(|d| {
                [
                    format!("{d} downloading 1.3.0"),
                    format!("{d} installed 1.3.0"),
                ]
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        distinct.len(),
        expected.len(),
        "stored reports (device status version) vs sent"
    );
    assert!(distinct.iter().zip(&expected).all(|(s, e)| s == e));
    let stored_rows: u64 = stored
        .iter()
        .map(|row| row.rsplit('|').next().unwrap().parse::<u64>().unwrap())
        .sum();
    // (a device whose download was cut off by the killed replica reports `downloading` again
    // when it resumes: more reports than kinds)
    let sent = counts["reports"].as_u64().unwrap();
    assert!(sent >= expected.len() as u64, "{sent} reports sent");
    assert!(
        stored_rows >= sent,
        "{sent} reports sent, {stored_rows} stored: some were lost"
    );
    let repeated: usize = ["a.log", "a-restarted.log", "b.log"]
        .iter()
        .map(|log| {
            std::fs::read_to_string(dir.join(log))
                .unwrap_or_default()
                .matches("enrolment repeated")
                .count()
        })
        .sum();
    eprintln!(
        "reports: {sent} sent, {stored_rows} stored; requests retried: {}; downloads \
         interrupted and resumed: {}; enrolments sent again after a lost answer: {repeated}",
        counts["retried"], counts["interrupted"]
    );

    // the rollout state is the same on both replicas (and what B set)
    let rollouts = |server: &Server| -> Value {
        let (status, list) = call(http.get(format!("{}/v1/admin/rollouts", server.url)));
        assert_eq!(status, 200, "{list}");
        let list: Vec<Value> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                serde_json::json!({"id": r["id"], "state": r["state"], "reason": r["reason"],
                    "version": r["version"], "waves": r["waves"], "started_at": r["started_at"]})
            })
            .collect();
        Value::Array(list)
    };
    let (on_a, on_b) = (rollouts(&a), rollouts(&b));
    assert_eq!(on_a, on_b, "the replicas disagree on the rollouts");
    let ours = on_a
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == ROLLOUT_ID)
        .unwrap()
        .clone();
    assert_eq!(ours["state"], "paused", "{on_a}");
    // and the same published head
    assert_eq!(
        a.get("/tuf/metadata/timestamp.json").bytes().unwrap(),
        b.get("/tuf/metadata/timestamp.json").bytes().unwrap()
    );
    // the restarted replica and B listened again after PostgreSQL came back
    for log in ["a-restarted.log", "b.log"] {
        let text = std::fs::read_to_string(dir.join(log)).unwrap();
        assert!(
            text.contains("listening for change notices again"),
            "{log} shows no reconnection of the change-notice listener:\n{}",
            tail(&dir.join(log), 20)
        );
    }
    drop(lb);
}

/// Milliseconds from `changed` (the change acknowledged by the replica that made it) until
/// `seen` holds at the other replica, polled every 2 ms.
fn propagation_ms(mut seen: impl FnMut() -> bool, changed: Instant, limit: Duration) -> f64 {
    while !seen() {
        assert!(
            changed.elapsed() < limit,
            "the change did not arrive within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    changed.elapsed().as_secs_f64() * 1000.0
}

fn describe(ms: &mut [f64]) -> String {
    ms.sort_by(f64::total_cmp);
    format!(
        "median {:.0} ms, max {:.0} ms ({} changes)",
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms.len()
    )
}

/// Publishes (re-signs), rollout changes and revocations made through A, and how long each
/// takes to show at B. `trials` of each kind, numbered from `first` (the rollout of 1.2.0 is
/// paused by even numbers, resumed by odd ones); returns the figures by kind.
fn measure(
    dir: &Path,
    (a, b): (&Server, &Server),
    trials: std::ops::Range<usize>,
    limit: Duration,
) -> [Vec<f64>; 3] {
    let call = admin(dir);
    let http = client();
    let mut figures: [Vec<f64>; 3] = Default::default();
    let (_, token) = call(
        http.post(format!("{}/v1/admin/enrolment-tokens", a.url))
            .json(&serde_json::json!({"product": PRODUCT, "uses": "unlimited"})),
    );
    let token = token["token"].as_str().unwrap().to_string();
    for trial in trials {
        // a publish: the head re-signed through A (a new timestamp), until B serves it
        let (status, _) = call(http.post(format!("{}/v1/admin/resign", a.url)));
        assert_eq!(status, 200);
        let changed = Instant::now();
        let timestamp = a.get("/tuf/metadata/timestamp.json").bytes().unwrap();
        figures[0].push(propagation_ms(
            || b.get("/tuf/metadata/timestamp.json").bytes().unwrap() == timestamp,
            changed,
            limit,
        ));

        // a rollout change through A, until B reports it
        let action = if trial % 2 == 0 { "pause" } else { "resume" };
        let want = if trial % 2 == 0 { "paused" } else { "active" };
        let (status, body) = call(http.post(format!(
            "{}/v1/admin/rollouts/{PRODUCT}/1.2.0/{action}",
            a.url
        )));
        assert_eq!(status, 200, "{body}");
        let changed = Instant::now();
        figures[1].push(propagation_ms(
            || {
                call(http.get(format!("{}/v1/admin/rollouts/{PRODUCT}/1.2.0", b.url))).1["state"]
                    == want
            },
            changed,
            limit,
        ));

        // a revocation through A, until B refuses the device
        let device = format!("measured-{trial}-{}", std::process::id());
        let credential = enrol(&a.url, &device, &token);
        within(
            Duration::from_secs(20),
            "B knows the enrolled device",
            || check_in(&b.url, &device, &credential).0 == 200,
        );
        let (status, body) = call(http.post(format!("{}/v1/admin/devices/{device}/revoke", a.url)));
        assert!(status < 300, "{status} {body}");
        let changed = Instant::now();
        figures[2].push(propagation_ms(
            || check_in(&b.url, &device, &credential).0 == 403,
            changed,
            limit,
        ));
    }
    figures
}

#[test]
fn change_notices_reach_the_other_replica_at_once() {
    let test = "change_notices_reach_the_other_replica_at_once";
    let Some(pg) = postgres_database(test) else {
        return;
    };
    let trials: usize = std::env::var("AIRLOCK_PROPAGATION_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let fallback_sync: u64 = std::env::var("AIRLOCK_PROPAGATION_SYNC_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let state = ["--state-url", pg.as_str(), "--device-auth", "required"];
    // by notice: the periodic sync an hour apart
    let notices = [&state[..], &["--sync-seconds", "3600"]].concat();
    let a = Server::start_with(dir, &notices);
    // (after A made the admin token, which B shares)
    let dir_b = replica_dir(dir, "replica-b");
    let b = Server::start_with(&dir_b, &notices);
    publish(dir, &a);
    let call = admin(dir);
    let (status, body) =
        call(client().post(format!("{}/v1/admin/rollouts", a.url)).json(
            &serde_json::json!({"product": PRODUCT, "version": "1.2.0", "waves": "100%@0h"}),
        ));
    assert!(status < 300, "{body}");
    let limit = Duration::from_secs(5);
    let [mut publish_ms, mut rollout_ms, mut revoke_ms] = measure(dir, (&a, &b), 0..trials, limit);
    let by_notice = format!(
        "by notice: publish {}; rollout change {}; revocation {}",
        describe(&mut publish_ms),
        describe(&mut rollout_ms),
        describe(&mut revoke_ms)
    );
    drop(b);

    // by the periodic sync alone
    let sync = fallback_sync.to_string();
    let fallback = [
        &state[..],
        &["--no-change-notices", "--sync-seconds", sync.as_str()],
    ]
    .concat();
    let b = Server::start_with(&dir_b, &fallback);
    let limit = Duration::from_secs(fallback_sync + 5);
    let [mut publish_sync, mut rollout_sync, mut revoke_sync] =
        measure(dir, (&a, &b), trials..trials + trials.min(3), limit);
    eprintln!(
        "\nchange propagation between two replicas ({trials} changes of each kind):\n  {by_notice}\n  \
         by the sync every {fallback_sync} s alone: publish {}; rollout change {}; revocation {}\n",
        describe(&mut publish_sync),
        describe(&mut rollout_sync),
        describe(&mut revoke_sync)
    );
    // a notice is delivered at commit: far below any sync interval, even on a busy machine
    for (kind, figures) in [
        ("publish", &publish_ms),
        ("rollout change", &rollout_ms),
        ("revocation", &revoke_ms),
    ] {
        let max = figures.iter().copied().fold(0.0, f64::max);
        assert!(
            max < 1000.0,
            "{kind} took {max:.0} ms by notice: {by_notice}"
        );
    }
}
