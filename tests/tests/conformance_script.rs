//! `scripts/conformance` keeps the suite's venv and its results inside the clone, in a
//! gitignored directory (issue 14), not in /tmp. Run with a stand-in for the shared runner that
//! records what it was given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn ignored_by_git(clone: &Path, path: &Path) -> bool {
    Command::new("git")
        .args(["check-ignore", "-q"])
        .arg(path)
        .current_dir(clone)
        .status()
        .unwrap()
        .success()
}

#[test]
fn the_conformance_venv_and_results_stay_in_the_clone() {
    let tmp = tempfile::tempdir().unwrap();
    let record = tmp.path().join("record");
    let runner = tmp.path().join("runner");
    std::fs::write(
        &runner,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$TUFCONF_VENV\" \"$@\" > {}\n\
             echo 'conformance: 1 passed, 0 failed, 0 xfailed, 0 skipped'\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let clone = workspace_root();
    let out = Command::new(clone.join("scripts/conformance"))
        .env("AIRLOCK_CONFORMANCE_RUNNER", &runner)
        .env_remove("TUFCONF_VENV")
        // the test runs under cargo already: no nested build
        .env("CARGO", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = recorded.lines().collect();
    // TUFCONF_VENV, the entrypoint, OUTDIR
    assert_eq!(lines.len(), 3, "{recorded}");
    let venv = Path::new(lines[0]);
    let outdir = Path::new(lines[2]);
    assert!(
        lines[1].ends_with("scripts/tuf-conformance-client"),
        "{recorded}"
    );
    for path in [venv, outdir] {
        assert!(
            path.starts_with(&clone) && !path.starts_with("/tmp"),
            "{} is not inside the clone {}",
            path.display(),
            clone.display()
        );
        assert!(
            ignored_by_git(&clone, path),
            "{} is not gitignored",
            path.display()
        );
    }
    assert_eq!(venv, clone.join(".conformance/venv"));
    assert_eq!(outdir, clone.join(".conformance/out"));

    // extra pytest arguments keep the default results directory
    let out = Command::new(clone.join("scripts/conformance"))
        .args(["--", "-k", "delegation"])
        .env("AIRLOCK_CONFORMANCE_RUNNER", &runner)
        .env("CARGO", "true")
        .output()
        .unwrap();
    assert!(out.status.success());
    let recorded = std::fs::read_to_string(&record).unwrap();
    let args: Vec<&str> = recorded.lines().skip(2).collect();
    assert_eq!(
        args,
        [
            clone.join(".conformance/out").to_str().unwrap(),
            "--",
            "-k",
            "delegation"
        ]
    );
}
