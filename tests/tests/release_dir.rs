//! `airlock release add --from-dir`: every file of a directory released in one signing step,
//! versions from the file names; a file that is gone when it is read is named and nothing is
//! added.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;

#[test]
fn a_directory_of_images_is_released_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
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
        ],
    );
    std::fs::create_dir(dir.join("build")).unwrap();
    for i in 0..40u8 {
        std::fs::write(
            dir.join(format!("build/acme-cam-1.{i}.0.bin")),
            firmware(i, 1000 + i as usize),
        )
        .unwrap();
    }
    // a file whose target is gone by the time it is read (here: a dangling link)
    std::os::unix::fs::symlink(
        dir.join("build/gone.bin"),
        dir.join("build/acme-cam-2.0.0.bin"),
    )
    .unwrap();
    let before = std::fs::read(dir.join("repo/metadata/acme-cam.json")).unwrap();
    let args = [
        "release",
        "add",
        "repo",
        "acme-cam",
        "--from-dir",
        "build",
        "--security-version",
        "1",
        "--kind",
        "feature",
        "--json",
    ];
    let e = fails(dir, "airlock", &args);
    assert!(
        e.contains("acme-cam-2.0.0.bin vanished") && e.contains("nothing was added"),
        "{e}"
    );
    assert_eq!(
        std::fs::read(dir.join("repo/metadata/acme-cam.json")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_dir(dir.join("repo/targets/acme-cam"))
            .unwrap()
            .count(),
        1,
        "only support.json: no image, no temporary file"
    );

    std::fs::remove_file(dir.join("build/acme-cam-2.0.0.bin")).unwrap();
    let r: Value = serde_json::from_str(&ok(dir, "airlock", &args)).unwrap();
    assert_eq!(r["releases"].as_array().unwrap().len(), 40);
    assert_eq!(r["role_version"], 2);
    let status: Value =
        serde_json::from_str(&ok(dir, "airlock", &["status", "repo", "--json"])).unwrap();
    let releases = status["products"][0]["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 40);
    assert_eq!(releases[39]["version"], "1.39.0");
    ok(dir, "airlock", &["verify", "repo"]);
    ok(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--out",
            "static",
            "--online-key-file",
            "srv/online.key",
        ],
    );
    ok(dir, "airlock", &["verify", "static"]);
}
