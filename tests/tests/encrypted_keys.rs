//! Passphrase-protected key files with the real binary: a repository whose keys are all
//! encrypted PKCS#8 is made, extended and verified with the passphrase given in the ways a
//! release team would (environment, file, named variable); a wrong or missing passphrase
//! fails with the key file named and leaves the repository as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

const PASSPHRASE: &str = "correct horse battery staple";

/// Runs `airlock` with exactly the passphrase settings given (none inherited), stdin not a
/// terminal (so it never prompts).
fn airlock(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(bin("airlock"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("AIRLOCK_JSON")
        .env_remove("AIRLOCK_KEY_PASSPHRASE")
        .env_remove("AIRLOCK_KEY_PASSPHRASE_FILE")
        .env_remove("AIRLOCK_ENCRYPT_KEYS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running airlock")
}

fn ok_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = airlock(dir, env, args);
    assert!(
        out.status.success(),
        "airlock {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Fails with exit code 1; returns stderr.
fn fails_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = airlock(dir, env, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "airlock {args:?} should fail with 1:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// Every file under `dir` with its bytes (to show a failed command changed nothing).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn assert_encrypted_private(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{} is not encrypted:\n{text}",
        path.display()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
}

#[test]
fn encrypted_keys_from_init_to_a_verified_release_and_wrong_passphrases_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    let env = [("AIRLOCK_KEY_PASSPHRASE", PASSPHRASE)];

    // Key ceremony: every key generated encrypted.
    ok_with(
        dir,
        &env,
        &[
            "init",
            "repo",
            "--online-key",
            "srv/online.pub",
            "--root-keys",
            "2",
            "--root-threshold",
            "2",
            "--encrypt-keys",
        ],
    );
    for key in ["root-1", "root-2", "targets"] {
        assert_encrypted_private(&dir.join(format!("repo/keys/{key}.key")));
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("repo/airlock.json")).unwrap()).unwrap();
    assert_eq!(config["encrypt_keys"], true);

    // A product, the passphrase from a file: its new key is encrypted too (the repository
    // remembers --encrypt-keys).
    std::fs::write(dir.join("passphrase.txt"), format!("{PASSPHRASE}\n")).unwrap();
    ok_with(
        dir,
        &[],
        &[
            "product",
            "add",
            "--passphrase-file",
            "passphrase.txt",
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
    assert_encrypted_private(&dir.join("repo/keys/acme-cam.key"));

    // A release, the passphrase from a variable the team names.
    std::fs::write(dir.join("fw-1.0.0.bin"), firmware(3, 50_000)).unwrap();
    ok_with(
        dir,
        &[("RELEASE_TEAM_PASS", PASSPHRASE)],
        &[
            "release",
            "add",
            "--passphrase-env",
            "RELEASE_TEAM_PASS",
            "repo",
            "acme-cam",
            "fw-1.0.0.bin",
            "--version",
            "1.0.0",
            "--security-version",
            "1",
            "--kind",
            "security",
        ],
    );
    let verified = ok_with(dir, &[], &["verify", "repo"]);
    assert!(verified.contains("OK"), "{verified}");

    // A wrong passphrase: a clear error naming the key file, exit 1, nothing changed.
    std::fs::write(dir.join("fw-1.1.0.bin"), firmware(4, 50_000)).unwrap();
    let before = snapshot(&dir.join("repo"));
    let release = [
        "release",
        "add",
        "repo",
        "acme-cam",
        "fw-1.1.0.bin",
        "--version",
        "1.1.0",
        "--security-version",
        "1",
        "--kind",
        "security",
    ];
    let err = fails_with(
        dir,
        &[("AIRLOCK_KEY_PASSPHRASE", "correct horse battery stapler")],
        &release,
    );
    assert!(
        err.contains("wrong passphrase for repo/keys/acme-cam.key"),
        "{err}"
    );
    assert_eq!(
        snapshot(&dir.join("repo")),
        before,
        "a failed release changed the repo"
    );

    // No passphrase and no terminal to ask on: says how to give one.
    let err = fails_with(dir, &[], &release);
    assert!(
        err.contains("repo/keys/acme-cam.key is encrypted")
            && err.contains("AIRLOCK_KEY_PASSPHRASE"),
        "{err}"
    );
    assert_eq!(snapshot(&dir.join("repo")), before);

    // The root keys too: a root rotation with the wrong passphrase is refused before anything
    // is written.
    let err = fails_with(
        dir,
        &[("AIRLOCK_KEY_PASSPHRASE", "nope")],
        &["root", "rotate", "repo"],
    );
    assert!(
        err.contains("wrong passphrase for repo/keys/root-"),
        "{err}"
    );
    assert_eq!(snapshot(&dir.join("repo")), before);

    // Multi-holder signing with encrypted keys: the new holders' keys are written encrypted,
    // each holder signs with theirs.
    ok_with(
        dir,
        &env,
        &["root", "propose", "repo", "--out", "proposal.json"],
    );
    let new_key = dir.join("proposal.keys/root-v2-1.key");
    assert_encrypted_private(&new_key);
    for key in [
        "repo/keys/root-1.key",
        "repo/keys/root-2.key",
        // the proposal keeps the root's 2-of-2 by default
        "proposal.keys/root-v2-1.key",
        "proposal.keys/root-v2-2.key",
    ] {
        ok_with(dir, &env, &["sign", "proposal.json", "--key", key]);
    }
    ok_with(dir, &[], &["root", "apply", "repo", "proposal.json"]);

    // The release that failed goes through with the right passphrase.
    ok_with(dir, &env, &release);
    let verified = ok_with(dir, &[], &["verify", "repo"]);
    assert!(verified.contains("OK"), "{verified}");

    // A holder can check their key with standard tools (OpenSSL reads PBES2-scrypt PKCS#8).
    if Command::new("openssl").arg("version").output().is_ok() {
        let out = Command::new("openssl")
            .args(["pkey", "-noout", "-in", "repo/keys/targets.key", "-passin"])
            .arg(format!("pass:{PASSPHRASE}"))
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl cannot read an encrypted key: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
