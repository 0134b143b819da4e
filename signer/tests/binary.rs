//! The `airlock` binary as built: it starts, names its version and its commands. (Also makes
//! `cargo test` build the binary the end-to-end tests in tests/ run, with the tests' features,
//! so scripts/test compiles the workspace once.)
#![allow(clippy::expect_used)]

use std::process::Command;

fn airlock(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env_remove("AIRLOCK_JSON")
        .env_remove("AIRLOCK_CONFIG")
        .output()
        .expect("the airlock binary runs")
}

#[test]
fn the_binary_reports_its_version_and_lists_its_commands() {
    let out = airlock(&["--version"]);
    assert!(out.status.success());
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains(env!("CARGO_PKG_VERSION")),
        "--version printed {version:?}"
    );
    let out = airlock(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["init", "product", "release", "publish", "status", "verify"] {
        assert!(help.contains(command), "--help lacks {command}:\n{help}");
    }
}
