//! Thresholds for every role: root 2-of-3, targets 2-of-3, a product 2-of-2. Signing with too
//! few keys is refused with a clear message and leaves the repository unchanged; devices and
//! python-tuf verify the thresholds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;

#[test]
fn thresholds_for_every_role() {
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
            "--targets-keys",
            "3",
            "--targets-threshold",
            "2",
        ],
    );
    for f in [
        "root-1.key",
        "root-2.key",
        "root-3.key",
        "targets.1.key",
        "targets.2.key",
        "targets.3.key",
    ] {
        assert!(dir.join("repo/keys").join(f).is_file(), "{f}");
    }
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
            "--keys",
            "2",
            "--threshold",
            "2",
        ],
    );
    std::fs::write(dir.join("fw.bin"), firmware(3, 5000)).unwrap();
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
    let status: Value =
        serde_json::from_str(&ok(dir, "airlock", &["status", "repo", "--json"])).unwrap();
    assert_eq!(status["roles"][0]["threshold"], 2);
    assert_eq!(status["roles"][1]["threshold"], 2);
    assert_eq!(status["roles"][1]["key_ids"].as_array().unwrap().len(), 3);

    let server = Server::start(dir);
    publish(dir, &server);
    let role: Value =
        serde_json::from_str(&server.get("/tuf/metadata/2.acme-cam.json").text().unwrap()).unwrap();
    assert_eq!(role["signatures"].as_array().unwrap().len(), 2);
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
            "d",
            "--id",
            "d",
            "--product",
            "acme-cam",
            "--version",
            "0.9.0",
            "--security-version",
            "1",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(py) = python_with_tuf() {
        let got = ngclient(&py, dir, &server, "acme-cam/fw.bin");
        assert_eq!(got["length"], 5000);
    } else {
        skip("python-tuf with thresholds", "no Python with python-tuf");
    }

    // a holder is missing: too few keys for the threshold
    let away = dir.join("away");
    std::fs::create_dir(&away).unwrap();
    std::fs::rename(
        dir.join("repo/keys/acme-cam.2.key"),
        away.join("acme-cam.2.key"),
    )
    .unwrap();
    let before = std::fs::read(dir.join("repo/metadata/acme-cam.json")).unwrap();
    std::fs::write(dir.join("fw2.bin"), firmware(4, 10)).unwrap();
    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw2.bin",
            "--version",
            "1.1.0",
            "--security-version",
            "1",
            "--kind",
            "security",
        ],
    );
    assert!(
        e.contains("acme-cam needs 2 signature(s) but only 1 of its keys"),
        "{e}"
    );
    assert_eq!(
        std::fs::read(dir.join("repo/metadata/acme-cam.json")).unwrap(),
        before,
        "role unchanged"
    );
    let left: Vec<_> = std::fs::read_dir(dir.join("repo/targets/acme-cam"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "no stray image: {left:?}");
    for k in ["targets.2.key", "targets.3.key"] {
        std::fs::rename(dir.join("repo/keys").join(k), away.join(k)).unwrap();
    }
    let e = fails(
        dir,
        "airlock",
        &[
            "product",
            "add",
            "repo",
            "acme-lock",
            "--support-start",
            "2025-01-01",
            "--feature-until",
            "2027-06-30",
            "--security-until",
            "2030-12-31",
        ],
    );
    assert!(e.contains("targets needs 2 signature(s) but only 1"), "{e}");
    assert!(
        !dir.join("repo/keys/acme-lock.key").exists(),
        "no key left behind"
    );
    assert!(!dir.join("repo/metadata/acme-lock.json").exists());
    assert!(!dir.join("repo/targets/acme-lock").exists());
    let e = fails(
        dir,
        "airlock",
        &[
            "init",
            "repo2",
            "--online-key",
            "srv/online.pub",
            "--targets-keys",
            "1",
            "--targets-threshold",
            "2",
        ],
    );
    assert!(e.contains("--targets-threshold"), "{e}");
}
