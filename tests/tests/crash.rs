//! Crash safety: `kill -9` of the server at moments during a large publish leaves the previous
//! repository served intact, and a device (a TUF client) verifies whatever is served after the
//! restart: never a mix of two publishes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::process::{Command, Stdio};

fn device(dir: &std::path::Path, server: &Server, state: &str) -> Value {
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
            state,
            "--id",
            state,
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
        "device failed after restart: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn kill_9_during_publish_leaves_a_consistent_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let mut server = Server::start(dir);
    publish(dir, &server);
    // a large image for the next publish
    std::fs::write(dir.join("big.bin"), firmware(7, 48 << 20)).unwrap();
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "big.bin",
            "--version",
            "2.0.0",
            "--security-version",
            "3",
            "--kind",
            "security",
        ],
    );

    let mut outcomes = Vec::new();
    for (i, delay_ms) in [5u64, 40, 120, 250, 600].into_iter().enumerate() {
        let publisher = Command::new(bin("airlock"))
            .args([
                "publish",
                "repo",
                "--server",
                &server.url,
                "--admin-token-file",
                "admin.token",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // SIGKILL: no chance to clean up
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let mut publisher = publisher;
        let _ = publisher.wait();
        server = Server::start(dir);
        let run = device(dir, &server, &format!("dev{i}"));
        let to = run["to"].as_str().unwrap_or("").to_string();
        assert_eq!(run["outcome"], "installed", "{run}");
        assert!(to == "1.2.0" || to == "2.0.0", "{run}");
        outcomes.push(to);
        let tmp_files = std::fs::read_dir(dir.join("srv/blobs/tmp"))
            .unwrap()
            .count();
        assert_eq!(tmp_files, 0, "partial uploads are cleaned at start");
    }
    // and a publish after all that completes normally
    publish(dir, &server);
    let run = device(dir, &server, "after");
    assert_eq!(run["to"], "2.0.0");
    eprintln!("outcomes after kill -9 at 5/40/120/250/600 ms: {outcomes:?}");
}

#[test]
fn sigterm_finishes_in_flight_downloads() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let fw = firmware(3, 32 << 20);
    std::fs::write(dir.join("big.bin"), &fw).unwrap();
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "big.bin",
            "--version",
            "2.0.0",
            "--security-version",
            "3",
            "--kind",
            "security",
        ],
    );
    let mut server = Server::start(dir);
    publish(dir, &server);
    let url = format!(
        "{}/tuf/targets/acme-cam/{}.big.bin",
        server.url,
        sha256_hex(&fw)
    );
    let mut resp = reqwest::blocking::get(&url).unwrap();
    let mut first = vec![0u8; 1 << 20];
    resp.read_exact(&mut first).unwrap();
    // SIGTERM while the download is in flight
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut rest = Vec::new();
    resp.read_to_end(&mut rest).unwrap();
    first.extend_from_slice(&rest);
    assert_eq!(first.len(), fw.len(), "the download completed");
    assert_eq!(sha256_hex(&first), sha256_hex(&fw));
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "clean exit after draining: {exit}");
}
