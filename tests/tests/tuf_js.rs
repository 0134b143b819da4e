//! Interop: tuf-js (npm), a third independent TUF client, reads what airlock publishes,
//! including after a root rotation. Needs Node.js and `tests/interop/node_modules` (made by
//! scripts/test); skips loudly without them, and under CI the skip is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::process::Command;

fn tufjs(dir: &std::path::Path, server: &Server, target: &str) -> Value {
    let script = workspace_root().join("tests/interop/tufjs_fetch.js");
    let out = Command::new("node")
        .arg(script)
        .args([&server.url, "repo/metadata/1.root.json", target, "tufjs"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tuf-js failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn tuf_js_refreshes_and_downloads_including_after_root_rotation() {
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok
        || !workspace_root()
            .join("tests/interop/node_modules/tuf-js")
            .is_dir()
    {
        skip(
            "tuf_js_refreshes_and_downloads",
            "no Node.js or tuf-js (run scripts/test)",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    let got = tufjs(dir, &server, "acme-cam/fw-1.2.0.bin");
    assert_eq!(got["sha256"], sha256_hex(&firmware(1, 300_000)).as_str());
    assert_eq!(got["custom"]["version"], "1.2.0");

    // rotate the root twice (new keys, new threshold), publish a new release: the same client
    // state walks the chain
    ok(
        dir,
        "airlock",
        &[
            "root",
            "rotate",
            "repo",
            "--root-keys",
            "2",
            "--root-threshold",
            "2",
        ],
    );
    ok(
        dir,
        "airlock",
        &["root", "rotate", "repo", "--rotate-targets"],
    );
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(9, 777)).unwrap();
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
            "3",
            "--kind",
            "security",
        ],
    );
    publish(dir, &server);
    let got = tufjs(dir, &server, "acme-cam/fw-1.3.0.bin");
    assert_eq!(got["sha256"], sha256_hex(&firmware(9, 777)).as_str());
    let stored: Value =
        serde_json::from_slice(&std::fs::read(dir.join("tufjs/metadata/root.json")).unwrap())
            .unwrap();
    assert_eq!(stored["signed"]["version"], 3);
}
