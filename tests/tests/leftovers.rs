//! Copies an interrupted `release add` leaves in targets/ (`.<file>.airlock-tmp`): `verify`
//! warns about them with the fix, `verify --clean` and the next `release add` remove the stale
//! ones, and a fresh one (a `release add` may be running) is left alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A leftover copy in the product's directory, last modified `age` ago.
fn leftover(dir: &Path, file: &str, age: std::time::Duration) -> PathBuf {
    let path = dir.join(format!("repo/targets/acme-cam/.{file}.airlock-tmp"));
    std::fs::write(&path, firmware(3, 500)).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(std::time::SystemTime::now() - age).unwrap();
    path
}

const TWO_HOURS: std::time::Duration = std::time::Duration::from_secs(2 * 3600);
const NOW: std::time::Duration = std::time::Duration::from_secs(0);

#[test]
fn leftovers_of_an_interrupted_release_add_are_reported_and_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let stale = leftover(dir, "fw-1.3.0.bin", TWO_HOURS);
    let fresh = leftover(dir, "fw-1.4.0.bin", NOW);

    // verify: still OK, with a warning and the fix for each
    let out = ok(dir, "airlock", &["verify", "repo"]);
    assert!(out.contains("OK"), "{out}");
    assert!(
        out.contains(".fw-1.3.0.bin.airlock-tmp was left by an interrupted `release add`")
            && out.contains("airlock verify repo --clean"),
        "{out}"
    );
    assert!(out.contains("it may be running now"), "{out}");
    let report: Value =
        serde_json::from_str(&ok(dir, "airlock", &["verify", "repo", "--json"])).unwrap();
    assert_eq!(report["warnings"].as_array().unwrap().len(), 2, "{report}");
    assert!(report["problems"].as_array().unwrap().is_empty());

    // verify --clean removes the stale copy only
    let out = ok(dir, "airlock", &["verify", "repo", "--clean"]);
    assert!(
        out.contains("removed") && out.contains(".fw-1.3.0.bin.airlock-tmp"),
        "{out}"
    );
    assert!(!stale.exists());
    assert!(
        fresh.exists(),
        "a copy a running release add may own is kept"
    );

    // the next release add of the product removes a stale copy too
    let stale = leftover(dir, "fw-1.3.0.bin", TWO_HOURS);
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(9, 1000)).unwrap();
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
    assert!(!stale.exists());
    assert!(fresh.exists());
    assert!(dir.join("repo/targets/acme-cam/fw-1.3.0.bin").is_file());
    let e = fails(dir, "airlock", &["verify", "repo/metadata", "--clean"]);
    assert!(e.contains("--clean"), "{e}");
}
