//! Key rotation: a device that trusts root v1 updates after roots v2..v5 with rotated keys and
//! thresholds, a new targets key and a new product key; python-tuf walks the same chain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

fn device(dir: &Path, server: &Server, state: &str, version: &str, sv: &str) -> Value {
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
            version,
            "--security-version",
            sv,
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rotate(dir: &Path, args: &[&str]) -> Value {
    let mut full = vec!["root", "rotate", "repo", "--json"];
    full.extend_from_slice(args);
    serde_json::from_str(&ok(dir, "airlock", &full)).unwrap()
}

#[test]
fn device_on_root_v1_walks_rotated_roots_v2_to_v5() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    let run1 = device(dir, &server, "dev1", "1.0.0", "2");
    assert_eq!(run1["outcome"], "installed");

    let r = rotate(dir, &["--root-keys", "2", "--root-threshold", "2"]);
    assert_eq!(r["root_version"], 2);
    let r = rotate(
        dir,
        &[
            "--root-keys",
            "3",
            "--root-threshold",
            "2",
            "--rotate-targets",
        ],
    );
    assert_eq!(r["root_version"], 3);
    assert!(r["targets_key_id"].is_string());
    let r = rotate(dir, &[]);
    assert_eq!(r["root_version"], 4);
    assert_eq!(r["retired_key_ids"].as_array().unwrap().len(), 3);
    let r = rotate(dir, &["--root-keys", "2", "--root-threshold", "1"]);
    assert_eq!(r["root_version"], 5);
    let keys: Vec<String> = std::fs::read_dir(dir.join("repo/keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("root-"))
        .collect();
    assert_eq!(
        keys.len(),
        2,
        "only the current root keys stay in keys/: {keys:?}"
    );
    assert!(dir.join("repo/keys/retired").read_dir().unwrap().count() >= 8);

    let k: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &["product", "rotate-key", "repo", "acme-cam", "--json"],
    ))
    .unwrap();
    assert_eq!(k["revoked_key_ids"].as_array().unwrap().len(), 1);
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(4, 2048)).unwrap();
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
    let p: Value = serde_json::from_str(&publish(dir, &server)).unwrap();
    assert_eq!(p["root_version"], 5);

    // the device still trusts root v1 (its stored root); it walks v2..v5 and installs 1.3.0
    let run2 = device(dir, &server, "dev1", "1.0.0", "2");
    assert_eq!(run2["outcome"], "installed", "{run2}");
    assert_eq!(run2["from"], "1.2.0");
    assert_eq!(run2["to"], "1.3.0");
    let stored: Value =
        serde_json::from_slice(&std::fs::read(dir.join("dev1/tuf/root.json")).unwrap()).unwrap();
    assert_eq!(stored["signed"]["version"], 5);
    // a device that never ran before, pinned to v1, too
    let fresh = device(dir, &server, "dev2", "1.0.0", "2");
    assert_eq!(fresh["to"], "1.3.0");
    assert_eq!(server.get("/tuf/metadata/5.root.json").status(), 200);
    assert_eq!(server.get("/tuf/metadata/6.root.json").status(), 404);

    // python-tuf, bootstrapped from root v1, walks the same chain
    match python_with_tuf() {
        Some(py) => {
            let got = ngclient(&py, dir, &server, "acme-cam/fw-1.3.0.bin");
            assert_eq!(got["root_version"], 5);
            assert_eq!(got["sha256"], sha256_hex(&firmware(4, 2048)).as_str());
        }
        None => skip(
            "python-tuf after root rotation",
            "no Python with python-tuf",
        ),
    }

    // bad input
    let e = fails(
        dir,
        "airlock",
        &[
            "root",
            "rotate",
            "repo",
            "--root-keys",
            "2",
            "--root-threshold",
            "3",
        ],
    );
    assert!(e.contains("between 1 and"), "{e}");
}
