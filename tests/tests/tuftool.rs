//! Interoperability: a repository made by tuftool (awslabs/tough) is accepted by `airlock
//! verify`, as a directory and over file://; a tampered target in it is reported. Needs a
//! `tuftool` binary (AIRLOCK_TUFTOOL, PATH, or .tools/bin/tuftool installed by scripts/test);
//! skips loudly without one (a failure under CI / AIRLOCK_REQUIRE_ALL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tuftool() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AIRLOCK_TUFTOOL") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("tuftool"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| Some(workspace_root().join(".tools/bin/tuftool")).filter(|p| p.is_file()))
}

fn tuf(tool: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running tuftool");
    assert!(
        out.status.success(),
        "tuftool {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_repository_made_by_tuftool_is_accepted_by_airlock_verify() {
    let Some(tool) = tuftool() else {
        skip(
            "a_repository_made_by_tuftool_is_accepted_by_airlock_verify",
            "no tuftool (set AIRLOCK_TUFTOOL, or let scripts/test install it into .tools/)",
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // tuftool takes Ed25519 private keys as PKCS#8 DER.
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let seed: [u8; 32] = hex::decode(sha256_hex(b"tuftool interop root key"))
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    std::fs::write(dir.join("key.der"), key.to_pkcs8_der().unwrap().as_bytes()).unwrap();
    // whole seconds (PEERS.md: sub-second expiry trips python-tuf; keep the habit)
    let expires = "2099-01-01T00:00:00Z";
    tuf(&tool, dir, &["root", "init", "root.json"]);
    tuf(&tool, dir, &["root", "expire", "root.json", expires]);
    for role in ["root", "snapshot", "targets", "timestamp"] {
        tuf(
            &tool,
            dir,
            &["root", "set-threshold", "root.json", role, "1"],
        );
    }
    tuf(
        &tool,
        dir,
        &[
            "root",
            "add-key",
            "root.json",
            "-k",
            "key.der",
            "-r",
            "root",
            "-r",
            "snapshot",
            "-r",
            "targets",
            "-r",
            "timestamp",
        ],
    );
    tuf(&tool, dir, &["root", "sign", "root.json", "-k", "key.der"]);
    std::fs::create_dir(dir.join("in")).unwrap();
    for i in 0..5u8 {
        std::fs::write(
            dir.join(format!("in/firmware-{i}.bin")),
            firmware(i, 2000 + i as usize),
        )
        .unwrap();
    }
    tuf(
        &tool,
        dir,
        &[
            "create",
            "-t",
            "in",
            "-o",
            "repo",
            "-k",
            "key.der",
            "-r",
            "root.json",
            "--targets-expires",
            expires,
            "--targets-version",
            "1",
            "--snapshot-expires",
            expires,
            "--snapshot-version",
            "1",
            "--timestamp-expires",
            expires,
            "--timestamp-version",
            "1",
        ],
    );

    // As a directory (trusted root: repo/metadata/1.root.json) and over file:// with the root
    // given.
    let text = ok(dir, "airlock", &["verify", "repo"]);
    assert!(
        text.contains("5 target(s) checked") && text.contains("OK"),
        "{text}"
    );
    let url = url::Url::from_directory_path(dir.join("repo")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "verify",
            url.as_str(),
            "--trusted-root",
            "root.json",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(report["targets_checked"], 5, "{report}");
    assert_eq!(report["root_version"], 1);
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");

    // A target changed after signing: reported by name, non-zero exit.
    let victim = std::fs::read_dir(dir.join("repo/targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("firmware-3.bin"))
        .expect("firmware-3.bin in the tuftool repository");
    let real = std::fs::canonicalize(&victim).unwrap();
    std::fs::remove_file(&victim).unwrap();
    let mut bytes = std::fs::read(&real).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&victim, bytes).unwrap();
    let out = run(dir, "airlock", &["verify", "repo"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("problem: firmware-3.bin"), "{text}");
}
