//! deploy/: the files are checked with the tools made for them. The systemd unit passes
//! `systemd-analyze verify` and rates "OK" or better in `systemd-analyze security
//! --offline=true`; its example environment file names only variables airlock-server reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::{bin, ok, skip, workspace_root};
use std::process::Command;

fn unit_text() -> String {
    std::fs::read_to_string(workspace_root().join("deploy/systemd/airlock-server.service"))
        .expect("deploy/systemd/airlock-server.service")
}

/// The unit as installed, its binary path pointing at the binary built here (verify checks
/// that every command exists).
fn installed_unit(dir: &std::path::Path) -> std::path::PathBuf {
    let text = unit_text().replace(
        "/usr/local/bin/airlock-server",
        &bin("airlock-server").display().to_string(),
    );
    let path = dir.join("airlock-server.service");
    std::fs::write(&path, text).unwrap();
    path
}

fn systemd_analyze() -> bool {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(
            "deploy: systemd unit checks",
            "systemd-analyze is missing (Debian package systemd)",
        );
    }
    found
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    if !systemd_analyze() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = installed_unit(dir.path());
    // --man=no: the Documentation= man page exists once `airlock-server man` installed it.
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.ends_with(".service:"))
        .expect("the unit's name");
    let (score, level) = (words[at + 1], words[at + 2]);
    let score: f64 = score.parse().unwrap();
    assert!(
        matches!(level, "SAFE" | "OK") && score <= 2.0,
        "exposure {score} {level}: harden the unit\n{text}"
    );
}

#[test]
fn the_environment_file_names_only_variables_the_server_reads() {
    let env = std::fs::read_to_string(workspace_root().join("deploy/systemd/airlock-server.env"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let help = ok(dir.path(), "airlock-server", &["serve", "--help"]);
    let mut names: Vec<&str> = env
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| k.starts_with("AIRLOCK_") || k.starts_with("AWS_"))
        .collect();
    // and the ones the unit sets
    let unit = unit_text();
    names.extend(
        unit.lines()
            .filter_map(|l| l.strip_prefix("Environment="))
            .filter_map(|l| l.split_once('=').map(|(k, _)| k)),
    );
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        assert!(
            help.contains(&format!("env: {name}")) || help.contains(&format!("env: {name}=")),
            "{name} is not a variable of airlock-server serve"
        );
    }
}
