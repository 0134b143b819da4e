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
    // v4 kept v3's 2-of-3; a lower threshold needs --allow-lower-threshold
    assert_eq!(r["root_threshold"], 2);
    assert_eq!(r["root_key_ids"].as_array().unwrap().len(), 3);
    let r = rotate(
        dir,
        &[
            "--root-keys",
            "2",
            "--root-threshold",
            "1",
            "--allow-lower-threshold",
        ],
    );
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

#[test]
fn multi_holder_root_signing_needs_old_and_new_thresholds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    ok(
        dir,
        "airlock",
        &[
            "init",
            "repo",
            "--online-key",
            "srv/online.pub",
            "--root-keys",
            "3",
            "--root-threshold",
            "2",
        ],
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
        ],
    );
    let r: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "root",
            "propose",
            "repo",
            "--root-keys",
            "2",
            "--root-threshold",
            "2",
            "--out",
            "proposal.json",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(r["root_version"], 2);
    let new_keys: Vec<String> = r["new_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k[1].as_str().unwrap().to_string())
        .collect();
    assert_eq!(new_keys.len(), 2);
    // each holder signs on their own machine (here: in turn)
    ok(
        dir,
        "airlock",
        &["sign", "proposal.json", "--key", "repo/keys/root-1.key"],
    );
    let e = fails(
        dir,
        "airlock",
        &["sign", "proposal.json", "--key", "repo/keys/root-1.key"],
    );
    assert!(e.contains("already signed"), "{e}");
    ok(
        dir,
        "airlock",
        &["sign", "proposal.json", "--key", &new_keys[0]],
    );
    ok(
        dir,
        "airlock",
        &["sign", "proposal.json", "--key", &new_keys[1]],
    );
    // one old signature is below the old threshold (2 of 3)
    let e = fails(dir, "airlock", &["root", "apply", "repo", "proposal.json"]);
    assert!(
        e.contains("cannot be applied yet") && e.contains("trusted root"),
        "{e}"
    );
    ok(
        dir,
        "airlock",
        &["sign", "proposal.json", "--key", "repo/keys/root-3.key"],
    );
    let a: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &["root", "apply", "repo", "proposal.json", "--json"],
    ))
    .unwrap();
    assert_eq!(a["root_version"], 2);
    // the server and a device accept the chain
    let server = Server::start(dir);
    publish(dir, &server);
    assert_eq!(server.get("/tuf/metadata/2.root.json").status(), 200);
    std::fs::write(dir.join("fw.bin"), firmware(2, 50)).unwrap();
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw.bin",
            "--version",
            "1.0.0",
            "--security-version",
            "1",
            "--kind",
            "security",
        ],
    );
    publish(dir, &server);
    let run = device(dir, &server, "d", "0.9.0", "1");
    assert_eq!(run["outcome"], "installed");
}

#[test]
fn online_key_rotation_follows_a_new_root_without_downtime() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    let run1 = device(dir, &server, "dev", "1.0.0", "2");
    assert_eq!(run1["outcome"], "installed");

    let next: Value = serde_json::from_str(&ok(
        dir,
        "airlock-server",
        &["rotate-online-key", "--data", "srv", "--json"],
    ))
    .unwrap();
    let next_id = next["online_key_id"].as_str().unwrap().to_string();
    let e = fails(
        dir,
        "airlock-server",
        &["rotate-online-key", "--data", "srv"],
    );
    assert!(e.contains("already exists"), "{e}");
    // the server keeps signing with the current key until a root names the next one
    let ts: Value = server.get("/tuf/metadata/timestamp.json").json().unwrap();
    assert_ne!(ts["signatures"][0]["keyid"], next_id.as_str());

    ok(
        dir,
        "airlock",
        &[
            "root",
            "rotate",
            "repo",
            "--online-key",
            "srv/online-next.pub",
        ],
    );
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(11, 321)).unwrap();
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
    let ts: Value = server.get("/tuf/metadata/timestamp.json").json().unwrap();
    assert_eq!(
        ts["signatures"][0]["keyid"],
        next_id.as_str(),
        "signed with the new online key"
    );
    let ready: Value = server.get("/readyz").json().unwrap();
    assert_eq!(ready["online_key"], next_id.as_str());
    assert!(!dir.join("srv/online-next.key").exists());

    // devices that trusted the old key follow the new root
    let run2 = device(dir, &server, "dev", "1.0.0", "2");
    assert_eq!(run2["to"], "1.3.0", "{run2}");
    if let Some(py) = python_with_tuf() {
        let got = ngclient(&py, dir, &server, "acme-cam/fw-1.3.0.bin");
        assert_eq!(got["root_version"], 2);
    } else {
        skip(
            "python-tuf after online key rotation",
            "no Python with python-tuf",
        );
    }
    // after a restart the new key is the online key, and re-signing works
    drop(server);
    let server = Server::start(dir);
    let admin = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/admin/resign", server.url))
        .bearer_auth(admin.trim())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let ts: Value = server.get("/tuf/metadata/timestamp.json").json().unwrap();
    assert_eq!(ts["signatures"][0]["keyid"], next_id.as_str());
    let run3 = device(dir, &server, "dev", "1.0.0", "2");
    assert_eq!(run3["outcome"], "up_to_date");
}

#[test]
fn a_rotation_keeps_the_root_threshold_and_status_finds_the_new_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    ok(
        dir,
        "airlock",
        &[
            "init",
            "repo",
            "--online-key",
            "srv/online.pub",
            "--root-keys",
            "3",
            "--root-threshold",
            "2",
        ],
    );

    // by default the new root is 2-of-3 again, and the output says what it is
    let out = ok(dir, "airlock", &["root", "rotate", "repo"]);
    assert!(
        out.contains("root v2: 2 of 3 new root key(s) must sign (was 2 of 3)"),
        "{out}"
    );
    assert!(out.contains("root-v2-3.key"), "{out}");
    let root: Value =
        serde_json::from_slice(&std::fs::read(dir.join("repo/metadata/root.json")).unwrap())
            .unwrap();
    assert_eq!(root["signed"]["roles"]["root"]["threshold"], 2);
    assert_eq!(
        root["signed"]["roles"]["root"]["keyids"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // status finds the rotated keys in keys/ (root-v2-N.key), each listed by the root
    let status: Value =
        serde_json::from_str(&ok(dir, "airlock", &["status", "repo", "--json"])).unwrap();
    let held = status["roles"][0]["held"].as_array().unwrap();
    assert_eq!(status["roles"][0]["role"], "root");
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(held.iter().all(|k| k["listed"] == true), "{held:?}");
    let text = ok(dir, "airlock", &["status", "repo"]);
    assert!(text.contains("root-v2-1.key: file"), "{text}");

    // a lower threshold is refused unless meant; fewer keys than the threshold too
    let e = fails(
        dir,
        "airlock",
        &["root", "rotate", "repo", "--root-threshold", "1"],
    );
    assert!(
        e.contains("lower than the current root's 2") && e.contains("--allow-lower-threshold"),
        "{e}"
    );
    let e = fails(
        dir,
        "airlock",
        &["root", "rotate", "repo", "--root-keys", "1"],
    );
    assert!(e.contains("--allow-lower-threshold"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "root",
            "propose",
            "repo",
            "--root-threshold",
            "1",
            "--out",
            "p.json",
        ],
    );
    assert!(e.contains("--allow-lower-threshold"), "{e}");
    // more keys keep the threshold
    let r: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &["root", "rotate", "repo", "--root-keys", "4", "--json"],
    ))
    .unwrap();
    assert_eq!(r["root_threshold"], 2);
    assert_eq!(r["previous_keys"], 3);
    assert_eq!(r["root_key_files"].as_array().unwrap().len(), 4);
}
