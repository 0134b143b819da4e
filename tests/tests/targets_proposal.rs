//! Multi-holder targets signing: a repository whose targets keys (2 of 3) are held by three
//! people outside the repository still adds products and rotates product keys: the change is
//! staged, proposed, signed by each holder with `airlock sign`, and applied once the targets
//! threshold of the current root is met. Below the threshold, a stale proposal, or a signature
//! by a key that is not a targets key: refused, repository unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

fn product_add(dir: &Path, product: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "product",
        "add",
        "repo",
        product,
        "--support-start",
        "2025-01-01",
        "--feature-until",
        "2027-06-30",
        "--security-until",
        "2030-12-31",
    ];
    args.extend_from_slice(extra);
    run(dir, "airlock", &args)
}

fn release(dir: &Path, product: &str, file: &str, version: &str) -> String {
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            product,
            file,
            "--version",
            version,
            "--security-version",
            "1",
            "--kind",
            "security",
        ],
    )
}

/// Snapshot of metadata/ (names and bytes), to show a refused command changed nothing.
fn metadata(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("repo/metadata"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn targets_changes_signed_by_holders_outside_the_repo() {
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
            "--targets-keys",
            "3",
            "--targets-threshold",
            "2",
        ],
    );
    // Each targets key goes to its holder; none stays in the repository.
    for (i, holder) in ["alice", "bob", "carol"].iter().enumerate() {
        std::fs::create_dir(dir.join(holder)).unwrap();
        std::fs::rename(
            dir.join(format!("repo/keys/targets.{}.key", i + 1)),
            dir.join(format!("{holder}/targets.key")),
        )
        .unwrap();
    }

    // Without --stage: a clear refusal, nothing written.
    let before = metadata(dir);
    let out = product_add(dir, "acme-cam", &[]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("targets needs 2 signature(s) but only 0") && e.contains("--stage"),
        "{e}"
    );
    assert_eq!(metadata(dir), before);
    assert!(!dir.join("repo/keys/acme-cam.key").exists());
    assert!(!dir.join("repo/staged").exists());

    // Staged: the product's role waits in staged/, metadata/ is as signed.
    let out = product_add(dir, "acme-cam", &["--stage", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["targets"]["targets"], "staged");
    assert_eq!(r["targets"]["version"], 2);
    assert_eq!(r["targets"]["needed"], 2);
    assert_eq!(metadata(dir), before);
    assert!(dir.join("repo/staged/acme-cam.json").is_file());
    // a second product joins the same staged change
    let out = product_add(dir, "acme-lock", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value =
        serde_json::from_str(&ok(dir, "airlock", &["status", "repo", "--json"])).unwrap();
    assert_eq!(status["staged"]["targets_version"], 2);
    assert_eq!(status["staged"]["changes"].as_array().unwrap().len(), 2);
    // no release into a product whose delegation is not signed yet
    std::fs::write(dir.join("fw-1.0.0.bin"), firmware(1, 4096)).unwrap();
    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
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
    assert!(e.contains("staged targets change"), "{e}");

    let p: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "targets",
            "propose",
            "repo",
            "--out",
            "targets-proposal.json",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(p["targets_version"], 2);
    assert_eq!(p["threshold"], 2);
    assert_eq!(p["signed_by"].as_array().unwrap().len(), 0);
    let changes = p["changes"].to_string();
    assert!(
        changes.contains("add product acme-cam") && changes.contains("add product acme-lock"),
        "{changes}"
    );

    // Alice signs; one signature is below the threshold.
    let s: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "sign",
            "targets-proposal.json",
            "--key",
            "alice/targets.key",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(s["role"], "targets");
    assert_eq!(s["signatures"], 1);
    let e = fails(
        dir,
        "airlock",
        &[
            "sign",
            "targets-proposal.json",
            "--key",
            "alice/targets.key",
        ],
    );
    assert!(e.contains("already signed"), "{e}");
    // a root key is not a targets key: its signature does not count
    ok(
        dir,
        "airlock",
        &[
            "sign",
            "targets-proposal.json",
            "--key",
            "repo/keys/root-1.key",
        ],
    );
    let e = fails(
        dir,
        "airlock",
        &["targets", "apply", "repo", "targets-proposal.json"],
    );
    assert!(
        e.contains("targets v2 has 1 valid signature(s)")
            && e.contains("2 needed")
            && e.contains("1 other signature(s) ignored"),
        "{e}"
    );
    assert_eq!(metadata(dir), before, "refused apply changes nothing");
    assert!(dir.join("repo/staged/targets.json").is_file());

    // Bob signs: applied.
    ok(
        dir,
        "airlock",
        &["sign", "targets-proposal.json", "--key", "bob/targets.key"],
    );
    let a: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "targets",
            "apply",
            "repo",
            "targets-proposal.json",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(a["targets_version"], 2);
    assert_eq!(a["valid_signatures"], 2);
    assert_eq!(a["roles"], serde_json::json!(["acme-cam", "acme-lock"]));
    assert!(!dir.join("repo/staged").exists());
    ok(dir, "airlock", &["verify", "repo"]);

    // Releases into the new products need only the product keys, which are in the repository.
    release(dir, "acme-cam", "fw-1.0.0.bin", "1.0.0");
    ok(dir, "airlock", &["verify", "repo"]);
    let server = Server::start(dir);
    let published: Value = serde_json::from_str(&publish(dir, &server)).unwrap();
    assert_eq!(published["targets_version"], 2);
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

    // A product key is compromised: rotate it through the holders.
    let old_key_id: Value =
        serde_json::from_str(&ok(dir, "airlock", &["status", "repo", "--json"])).unwrap();
    assert_eq!(old_key_id["roles"][1]["version"], 2);
    let e = fails(
        dir,
        "airlock",
        &["product", "rotate-key", "repo", "acme-cam"],
    );
    assert!(e.contains("--stage"), "{e}");
    let r: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "product",
            "rotate-key",
            "repo",
            "acme-cam",
            "--stage",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(r["targets"]["targets"], "staged");
    ok(
        dir,
        "airlock",
        &["targets", "propose", "repo", "--out", "rotate.json"],
    );
    ok(
        dir,
        "airlock",
        &["sign", "rotate.json", "--key", "carol/targets.key"],
    );
    // a stale proposal: the staged change moved on after it was proposed
    std::fs::copy(dir.join("rotate.json"), dir.join("stale.json")).unwrap();
    ok(
        dir,
        "airlock",
        &["sign", "stale.json", "--key", "alice/targets.key"],
    );
    let out = product_add(dir, "acme-bell", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = fails(dir, "airlock", &["targets", "apply", "repo", "stale.json"]);
    assert!(e.contains("not the staged targets change"), "{e}");
    ok(
        dir,
        "airlock",
        &["targets", "propose", "repo", "--out", "rotate2.json"],
    );
    for holder in ["carol", "alice"] {
        ok(
            dir,
            "airlock",
            &[
                "sign",
                "rotate2.json",
                "--key",
                &format!("{holder}/targets.key"),
            ],
        );
    }
    ok(
        dir,
        "airlock",
        &["targets", "apply", "repo", "rotate2.json"],
    );
    ok(dir, "airlock", &["verify", "repo"]);
    std::fs::write(dir.join("fw-1.1.0.bin"), firmware(2, 4096)).unwrap();
    release(dir, "acme-cam", "fw-1.1.0.bin", "1.1.0");
    let published: Value = serde_json::from_str(&publish(dir, &server)).unwrap();
    assert_eq!(published["targets_version"], 3);
    // a device on the first root installs the release signed by the rotated key
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
    let device = String::from_utf8_lossy(&out.stdout);
    assert!(device.contains("1.1.0"), "{device}");
}

#[test]
fn targets_can_be_re_signed_for_expiry_with_holder_keys() {
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
            "--targets-keys",
            "2",
            "--targets-threshold",
            "2",
        ],
    );
    // one holder keeps their key in the repository; propose signs with it
    std::fs::rename(
        dir.join("repo/keys/targets.2.key"),
        dir.join("targets-2.key"),
    )
    .unwrap();
    let p: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &["targets", "propose", "repo", "--json"],
    ))
    .unwrap();
    let proposal = p["proposal"].as_str().unwrap().to_string();
    assert_eq!(proposal, "targets-v2.proposal.json");
    assert_eq!(p["signed_by"].as_array().unwrap().len(), 1);
    assert!(p["changes"][0].as_str().unwrap().contains("new expiry"));
    ok(
        dir,
        "airlock",
        &["sign", &proposal, "--key", "targets-2.key"],
    );
    ok(dir, "airlock", &["targets", "apply", "repo", &proposal]);
    let status: Value =
        serde_json::from_str(&ok(dir, "airlock", &["status", "repo", "--json"])).unwrap();
    assert_eq!(status["roles"][1]["version"], 2);
    ok(dir, "airlock", &["verify", "repo"]);
}

/// `airlock targets discard`: a staged change (a product added, a product key rotated) is
/// dropped; the repository is back at its signed targets.json, the product's delegated key is
/// back in keys/, and it signs releases again.
#[test]
fn a_staged_targets_change_can_be_discarded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    ok(
        dir,
        "airlock",
        &["init", "repo", "--online-key", "srv/online.pub"],
    );
    let out = product_add(dir, "acme-cam", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = fails(dir, "airlock", &["targets", "discard", "repo"]);
    assert!(e.contains("no targets change is staged"), "{e}");

    let before = metadata(dir);
    let key_before = std::fs::read(dir.join("repo/keys/acme-cam.key")).unwrap();
    ok(
        dir,
        "airlock",
        &["product", "rotate-key", "repo", "acme-cam", "--stage"],
    );
    assert_ne!(
        std::fs::read(dir.join("repo/keys/acme-cam.key")).unwrap(),
        key_before,
        "the staged rotation put the new key in place"
    );
    let out = product_add(dir, "acme-lock", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &["targets", "discard", "repo", "--json"],
    ))
    .unwrap();
    assert_eq!(r["discarded_version"], 3);
    assert_eq!(r["dropped_products"], serde_json::json!(["acme-lock"]));
    assert_eq!(r["restored_keys"], serde_json::json!(["acme-cam"]));
    assert_eq!(r["changes"].as_array().unwrap().len(), 2, "{r}");
    assert!(!dir.join("repo/staged").exists());
    assert_eq!(metadata(dir), before, "metadata/ is as signed");
    assert_eq!(
        std::fs::read(dir.join("repo/keys/acme-cam.key")).unwrap(),
        key_before,
        "the delegated key is back"
    );
    assert!(!dir.join("repo/keys/acme-lock.key").exists());
    let status: Value =
        serde_json::from_str(&ok(dir, "airlock", &["status", "repo", "--json"])).unwrap();
    assert!(status.get("staged").is_none(), "{status}");
    assert_eq!(status["products"].as_array().unwrap().len(), 1);
    assert_eq!(status["products"][0]["held"][0]["listed"], true);
    // the product signs releases again, and the repository verifies
    std::fs::write(dir.join("fw-1.0.0.bin"), firmware(1, 4096)).unwrap();
    release(dir, "acme-cam", "fw-1.0.0.bin", "1.0.0");
    ok(dir, "airlock", &["verify", "repo"]);
    // acme-lock can be added again (its first attempt is kept under removed/)
    let out = product_add(dir, "acme-lock", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_dir(dir.join("repo/removed"))
        .unwrap()
        .any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("acme-lock.")));

    // a staged removal: the product takes no change meanwhile; discarding it keeps the product
    let r: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "product",
            "remove",
            "repo",
            "acme-lock",
            "--stage",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(r["targets"]["targets"], "staged");
    assert!(r["archived"].is_null(), "{r}");
    std::fs::write(dir.join("lock-1.0.0.bin"), firmware(3, 4096)).unwrap();
    let e = fails(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-lock",
            "lock-1.0.0.bin",
            "--version",
            "1.0.0",
            "--security-version",
            "1",
            "--kind",
            "security",
        ],
    );
    assert!(e.contains("the removal of acme-lock is staged"), "{e}");
    let r: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &["targets", "discard", "repo", "--json"],
    ))
    .unwrap();
    assert_eq!(r["dropped_products"], serde_json::json!([]));
    assert!(dir.join("repo/metadata/acme-lock.json").is_file());
    assert!(dir.join("repo/keys/acme-lock.key").is_file());
    release(dir, "acme-lock", "lock-1.0.0.bin", "1.0.0");
    ok(dir, "airlock", &["verify", "repo"]);
}
