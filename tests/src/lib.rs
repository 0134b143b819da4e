//! Helpers for end-to-end tests: locate the real binaries, run them, start a server on a free
//! loopback port, and build the repository of the user story.
//!
//! The binaries must be built first (`cargo build --workspace --bins`; `scripts/test` does it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod pki;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Path of a workspace binary next to the test executable's profile directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (cargo build --workspace --bins, as scripts/test does)",
        path.display()
    );
    path
}

/// Runs a binary with arguments in `dir`.
pub fn run(dir: &Path, name: &str, args: &[&str]) -> Output {
    Command::new(bin(name))
        .args(args)
        .current_dir(dir)
        .env_remove("AIRLOCK_JSON")
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"))
}

/// Runs and asserts success; returns stdout.
pub fn ok(dir: &Path, name: &str, args: &[&str]) -> String {
    let out = run(dir, name, args);
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs and asserts failure; returns stderr.
pub fn fails(dir: &Path, name: &str, args: &[&str]) -> String {
    let out = run(dir, name, args);
    assert!(
        !out.status.success(),
        "{name} {args:?} unexpectedly succeeded:\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// A running `airlock-server serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// Starts `airlock-server serve --data srv --listen 127.0.0.1:0 --admin-token-file admin.token`
    /// in `dir`, waiting for its "listening on" line.
    pub fn start(dir: &Path) -> Server {
        Self::start_with(dir, &[])
    }

    /// `extra` may replace the defaults of `--listen`, `--device-rate` and `--device-auth`.
    pub fn start_with(dir: &Path, extra: &[&str]) -> Server {
        Self::spawn(dir, &[], extra, None)
    }

    /// [`Server::start_with`], run through `wrapper` (a command that ends by executing the
    /// arguments it is given, e.g. a script that mounts a file system first): the child is the
    /// server itself once the wrapper has exec'd it.
    pub fn start_wrapped(dir: &Path, wrapper: &[&str], extra: &[&str]) -> Server {
        Self::spawn(dir, wrapper, extra, None)
    }

    /// Like [`Server::start_with`], logging at info level into the file `log` (not a
    /// terminal) for tests that read the log.
    pub fn start_logging(dir: &Path, extra: &[&str], log: &Path) -> Server {
        Self::spawn(dir, &[], extra, Some(log))
    }

    fn spawn(dir: &Path, wrapper: &[&str], extra: &[&str], log: Option<&Path>) -> Server {
        let (level, stderr) = match log {
            Some(path) => (
                "info",
                Stdio::from(std::fs::File::create(path).expect("creating the server's log file")),
            ),
            None => ("warn", Stdio::inherit()),
        };
        let server = bin("airlock-server");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&server);
                c
            }
            None => Command::new(&server),
        };
        let mut child = command
            .args([
                "serve",
                "--data",
                "srv",
                "--admin-token-file",
                "admin.token",
            ])
            .args(if extra.contains(&"--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"][..]
            })
            // every test client is 127.0.0.1: per-client limits are tested on their own
            .args(if extra.contains(&"--device-rate") {
                &[][..]
            } else {
                &["--device-rate", "0", "--admin-rate", "0"][..]
            })
            // devices enrol in their own tests; the rest check in without credentials
            .args(if extra.contains(&"--device-auth") {
                &[][..]
            } else {
                &["--device-auth", "open"][..]
            })
            .args(extra)
            .current_dir(dir)
            .env("AIRLOCK_LOG", level)
            .env_remove("NO_COLOR")
            .env_remove("AIRLOCK_LOG_FORMAT")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting airlock-server");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
            .to_string();
        Server { child, url }
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::get(format!("{}{path}", self.url)).unwrap()
    }

    pub fn post_json(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON answer ({status}): {text}"));
        (status, json)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The admin token the test server wrote (the first line of `dir/admin.token`).
pub fn admin_token(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    text.lines().next().unwrap_or("").trim().to_string()
}

/// The consistent-snapshot URL of a target: `<dir>/<sha256>.<file>`.
pub fn target_url(server: &Server, name: &str, content: &[u8]) -> String {
    let (dir, file) = name.rsplit_once('/').unwrap();
    format!(
        "{}/tuf/targets/{dir}/{}.{file}",
        server.url,
        sha256_hex(content)
    )
}

/// Waits (at most 20 s) until `f` holds.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Deterministic test firmware.
pub fn firmware(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The user story up to a signed repository: server data dir, repo, two products
/// (acme-cam in support with 1.2.0; acme-old past its security window), firmware files.
pub fn story_repo(dir: &Path) {
    let init = ok(dir, "airlock-server", &["init", "--data", "srv", "--json"]);
    let init: serde_json::Value = serde_json::from_str(&init).unwrap();
    assert_eq!(init["online_public_key"]["keytype"], "ed25519");
    ok(
        dir,
        "airlock",
        &["init", "repo", "--online-key", "srv/online.pub"],
    );
    ok(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "acme-cam",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2027-06-30",
            "--security-until",
            "2030-12-31",
            "--min-security-version",
            "2",
            "--notice-url",
            "https://acme.example/cam",
            "--security-contact",
            "mailto:security@acme.example",
            "--disclosure-policy",
            "https://acme.example/disclosure",
        ],
    );
    ok(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "acme-old",
            "--support-start",
            "2018-01-01",
            "--feature-until",
            "2021-12-31",
            "--security-until",
            "2024-12-31",
            "--statement",
            "acme-old is no longer supported.",
            "--successor",
            "acme-cam",
        ],
    );
    std::fs::write(dir.join("fw-1.2.0.bin"), firmware(1, 300_000)).unwrap();
    ok(
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
}

/// `airlock publish` to a server, with the admin token file the server created.
pub fn publish(dir: &Path, server: &Server) -> String {
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
            "--json",
        ],
    )
}

/// Whether interop/service tests must run rather than skip (CI sets this).
pub fn skips_are_failures() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("AIRLOCK_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Reports a skipped test loudly, or fails it when skips are failures.
pub fn skip(test: &str, why: &str) {
    if skips_are_failures() {
        panic!(
            "{test}: cannot run ({why}) and skips are failures here (CI / AIRLOCK_REQUIRE_ALL=1)"
        );
    }
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
    log_skip(test, why);
}

/// Adds a skipped test to the file named by AIRLOCK_SKIP_LOG (scripts/test prints them with
/// its total: cargo test hides a passing test's output).
fn log_skip(test: &str, why: &str) {
    if let Some(log) = std::env::var_os("AIRLOCK_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
        {
            let _ = writeln!(f, "{test}: {why}");
        }
    }
}

/// Reports loudly a test that needs a privilege the machine may withhold (mounting a small file
/// system), never a failure: unlike a component the test scripts install, nothing in CI can
/// provide it where it is refused.
pub fn skip_without_privilege(test: &str, why: &str) {
    eprintln!("\n*** SKIPPED {test}: {why} (needs a privilege this machine refuses) ***\n");
    log_skip(test, why);
}

/// Whether this test process runs as root (uid 0), read from /proc (no libc call).
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A loopback port free at the time of asking, for a process the test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A Python with python-tuf: AIRLOCK_PYTHON, or `.venv/bin/python` (made by scripts/test).
pub fn python_with_tuf() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var("AIRLOCK_PYTHON")
        .ok()
        .map(PathBuf::from)
        .into_iter()
        .chain([workspace_root().join(".venv/bin/python")])
        .collect();
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import tuf.ngclient"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Runs python-tuf's ngclient (tests/interop/ngclient_fetch.py) against `server` from
/// `repo/metadata/1.root.json`, keeping its metadata in `dir/ngclient`.
pub fn ngclient(py: &Path, dir: &Path, server: &Server, target: &str) -> serde_json::Value {
    let script = workspace_root().join("tests/interop/ngclient_fetch.py");
    let out = Command::new(py)
        .arg(script)
        .args([&server.url, "repo/metadata/1.root.json", target, "ngclient"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-tuf failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A fresh, empty PostgreSQL database on the server named by AIRLOCK_TEST_POSTGRES_URL (which
/// scripts/test starts with scripts/postgres), created with `psql`; `None` after a loud skip.
pub fn postgres_database(test: &str) -> Option<String> {
    let Ok(admin) = std::env::var("AIRLOCK_TEST_POSTGRES_URL") else {
        skip(
            test,
            "AIRLOCK_TEST_POSTGRES_URL is not set (scripts/test starts PostgreSQL)",
        );
        return None;
    };
    let name = format!(
        "airlock_e2e_{}",
        &sha256_hex(format!("{test}{:?}", std::time::SystemTime::now()).as_bytes())[..12]
    );
    let out = Command::new("psql")
        .args([
            &admin,
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("running psql");
    assert!(
        out.status.success(),
        "creating {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    Some(url.to_string())
}

/// A fresh bucket on the S3-protocol server named by AIRLOCK_TEST_S3_ENDPOINT (scripts/test
/// starts one with scripts/s3); returns (endpoint, bucket), or `None` after a loud skip.
pub fn s3_bucket(test: &str) -> Option<(String, String)> {
    let Ok(endpoint) = std::env::var("AIRLOCK_TEST_S3_ENDPOINT") else {
        skip(
            test,
            "AIRLOCK_TEST_S3_ENDPOINT is not set (scripts/test starts an S3-protocol server)",
        );
        return None;
    };
    let bucket = format!(
        "airlock-e2e-{}",
        &sha256_hex(format!("{test}{:?}", std::time::SystemTime::now()).as_bytes())[..12]
    );
    // the test server accepts unsigned bucket creation
    let resp = reqwest::blocking::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .unwrap();
    assert!(
        resp.status().is_success(),
        "creating bucket {bucket}: {}",
        resp.status()
    );
    Some((endpoint, bucket))
}

/// Changes a product role of `repo` with `edit` (on its `signed` part), raises its version and
/// signs it again with keys/PRODUCT.key: a role as an older airlock or a hand-made tool could
/// have written it, which the current commands refuse to make (e.g. an empty image).
/// Canonical JSON here is serde_json's compact form with sorted keys (no floats, ASCII strings).
pub fn resign_product_role(repo: &Path, product: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    use ed25519_dalek::Signer;
    let path = repo.join(format!("metadata/{product}.json"));
    let mut role: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut role["signed"]);
    let version = role["signed"]["version"].as_u64().unwrap();
    role["signed"]["version"] = serde_json::json!(version + 1);
    let pem = std::fs::read_to_string(repo.join(format!("keys/{product}.key"))).unwrap();
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim()).unwrap();
    let canonical = serde_json::to_vec(&role["signed"]).unwrap();
    let keyid = role["signatures"][0]["keyid"].clone();
    role["signatures"] = serde_json::json!([{
        "keyid": keyid,
        "sig": hex::encode(key.sign(&canonical).to_bytes()),
    }]);
    std::fs::write(&path, serde_json::to_vec_pretty(&role).unwrap()).unwrap();
}
