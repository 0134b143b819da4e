//! `airlock publish --out`: a static repository any web server can serve, read by python-tuf
//! over plain HTTP; `airlock verify` on a static directory, a server URL and the signer's repo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::process::{Command, Stdio};

#[test]
fn static_export_verify_and_python_tuf_over_plain_http() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let out: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--out",
            "www/tuf",
            "--online-key-file",
            "srv/online.key",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(out["timestamp_version"], 1);
    let sha = sha256_hex(&firmware(1, 300_000));
    assert!(dir
        .join(format!("www/tuf/targets/acme-cam/{sha}.fw-1.2.0.bin"))
        .is_file());
    assert!(dir
        .join(format!("www/tuf/targets/{sha}.acme-cam/fw-1.2.0.bin"))
        .is_file());
    assert!(dir.join("www/tuf/metadata/timestamp.json").is_file());
    assert!(!dir.join("www/tuf/keys").exists());

    let v: Value =
        serde_json::from_str(&ok(dir, "airlock", &["verify", "www/tuf", "--json"])).unwrap();
    assert_eq!(v["problems"], serde_json::json!([]));
    assert_eq!(v["targets_checked"], 3, "1.2.0 and both support records");
    let v: Value =
        serde_json::from_str(&ok(dir, "airlock", &["verify", "repo", "--json"])).unwrap();
    assert_eq!(v["problems"], serde_json::json!([]));

    // a second export keeps the old versions and moves timestamp on
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(8, 999)).unwrap();
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
    let out: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--out",
            "www/tuf",
            "--online-key-file",
            "srv/online.key",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(out["timestamp_version"], 2);
    assert!(dir.join("www/tuf/metadata/1.snapshot.json").is_file());

    // a product removed since the last export (acme-old never had a release and its support
    // ended) stays listed in the new snapshot at its last version: TUF clients refuse a
    // snapshot that drops a role the previous one listed
    ok(dir, "airlock", &["product", "remove", "repo", "acme-old"]);
    let out: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--out",
            "www/tuf",
            "--online-key-file",
            "srv/online.key",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(out["timestamp_version"], 3);
    let snapshot: Value = serde_json::from_slice(
        &std::fs::read(dir.join("www/tuf/metadata/3.snapshot.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(snapshot["signed"]["meta"]["acme-old.json"]["version"], 1);
    let targets: Value = serde_json::from_slice(
        &std::fs::read(dir.join("www/tuf/metadata/timestamp.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(targets["signed"]["meta"]["snapshot.json"]["version"], 3);

    // plain HTTP (python's http.server) serving the directory; python-tuf reads it
    match python_with_tuf() {
        Some(py) => {
            let port = airlock_e2e::free_port();
            let mut http = Command::new(&py)
                .args([
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    &port.to_string(),
                ])
                .current_dir(dir.join("www"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let url = format!("http://127.0.0.1:{port}");
            let mut up = false;
            for _ in 0..50 {
                if reqwest::blocking::get(format!("{url}/tuf/metadata/timestamp.json"))
                    .is_ok_and(|r| r.status() == 200)
                {
                    up = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            assert!(up, "python http.server did not start");
            let script = workspace_root().join("tests/interop/ngclient_fetch.py");
            let res = Command::new(&py)
                .arg(script)
                .args([
                    &url,
                    "repo/metadata/1.root.json",
                    "acme-cam/fw-1.3.0.bin",
                    "ng",
                ])
                .current_dir(dir)
                .output()
                .unwrap();
            let _ = http.kill();
            let _ = http.wait();
            assert!(
                res.status.success(),
                "{}",
                String::from_utf8_lossy(&res.stderr)
            );
            let got: Value = serde_json::from_slice(&res.stdout).unwrap();
            assert_eq!(got["sha256"], sha256_hex(&firmware(8, 999)).as_str());
            assert_eq!(got["timestamp_version"], 3);
        }
        None => skip(
            "python-tuf reading a static export",
            "no Python with python-tuf",
        ),
    }

    // a served repository, by URL
    let server = Server::start(dir);
    publish(dir, &server);
    let v: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "verify",
            &server.url,
            "--trusted-root",
            "repo/metadata/1.root.json",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(v["problems"], serde_json::json!([]), "{v}");

    // problems are found and named: an image changed under one of its two names only (the
    // spelling python-tuf reads; the other is the one tough reads)
    let spec_name = dir.join(format!("www/tuf/targets/acme-cam/{sha}.fw-1.2.0.bin"));
    let mut bytes = std::fs::read(&spec_name).unwrap();
    bytes[1] ^= 1;
    std::fs::remove_file(&spec_name).unwrap();
    std::fs::write(&spec_name, bytes).unwrap();
    let out = run(dir, "airlock", &["verify", "www/tuf"]);
    // exit 3: verification failed (docs/cli.md)
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "acme-cam/{sha}.fw-1.2.0.bin has 300000 bytes with sha256"
        )),
        "{text}"
    );
    let fw = dir.join(format!("www/tuf/targets/{sha}.acme-cam/fw-1.2.0.bin"));
    let mut bytes = std::fs::read(&fw).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&fw, bytes).unwrap();
    let out = run(dir, "airlock", &["verify", "www/tuf"]);
    // exit 3: verification failed (docs/cli.md)
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("acme-cam/fw-1.2.0.bin") && text.contains("FAILED"),
        "{text}"
    );
    let repo_fw = dir.join("repo/targets/acme-cam/fw-1.3.0.bin");
    std::fs::write(&repo_fw, b"changed").unwrap();
    let out = run(dir, "airlock", &["verify", "repo"]);
    // exit 3: verification failed (docs/cli.md)
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("fw-1.3.0.bin: the file has 7 bytes"));
    let e = fails(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--out",
            "www2",
            "--online-key-file",
            "srv/online.key",
        ],
    );
    assert!(
        e.contains("does not match its signed length and sha256"),
        "{e}"
    );
    let e = fails(dir, "airlock", &["publish", "repo", "--out", "www2"]);
    assert!(
        e.contains("online-key-file") || e.contains("online_key_file"),
        "{e}"
    );
}
