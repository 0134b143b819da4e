//! Releases the signer and the server refuse: an empty (0-byte) image, and a version older than
//! the product's newest release unless it is added on purpose with --allow-older.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use std::path::Path;

/// The sha256 of no bytes.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn release_args<'a>(file: &'a str, version: &'a str) -> Vec<&'a str> {
    vec![
        "release",
        "add",
        "repo",
        "acme-cam",
        file,
        "--version",
        version,
        "--security-version",
        "3",
        "--kind",
        "security",
    ]
}

/// A 0-byte acme-cam 1.3.0 in the product role, signed by the product key as a hand-made tool
/// (or an older airlock) would have.
fn hand_signed_empty_release(dir: &Path) {
    resign_product_role(&dir.join("repo"), "acme-cam", |signed| {
        let mut entry = signed["targets"]["acme-cam/fw-1.2.0.bin"].clone();
        entry["length"] = serde_json::json!(0);
        entry["hashes"]["sha256"] = serde_json::json!(EMPTY_SHA256);
        entry["custom"]["version"] = serde_json::json!("1.3.0");
        signed["targets"]["acme-cam/empty-1.3.0.bin"] = entry;
    });
    std::fs::write(dir.join("repo/targets/acme-cam/empty-1.3.0.bin"), b"").unwrap();
}

#[test]
fn an_empty_image_is_refused_by_release_add_verify_publish_and_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);

    // release add, one file and a directory
    std::fs::write(dir.join("empty.bin"), b"").unwrap();
    let e = fails(dir, "airlock", &release_args("empty.bin", "1.3.0"));
    assert!(e.contains("empty (0 bytes)"), "{e}");
    std::fs::create_dir(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/acme-cam-1.3.0.bin"), b"").unwrap();
    let mut args = release_args("--from-dir", "out");
    args.retain(|a| *a != "--version");
    let e = fails(dir, "airlock", &args);
    assert!(e.contains("empty (0 bytes)"), "{e}");
    let status = ok(dir, "airlock", &["status", "repo", "--json"]);
    assert!(!status.contains("1.3.0"), "nothing was added: {status}");

    // a role that lists one anyway: verify and publish name it; nothing reaches the server
    hand_signed_empty_release(dir);
    let out = run(dir, "airlock", &["verify", "repo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("acme-cam/empty-1.3.0.bin: the image is empty (0 bytes)"),
        "{text}"
    );
    let server = Server::start(dir);
    let e = fails(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
        ],
    );
    assert!(
        e.contains("empty (0 bytes)") && e.contains("withdraw"),
        "{e}"
    );

    // the server refuses it too, when a client sends it anyway (blob uploaded, then metadata)
    let client = reqwest::blocking::Client::new();
    let auth = format!("Bearer {}", admin_token(dir));
    let repo = dir.join("repo");
    for (file, sha256) in [
        ("targets/acme-cam/empty-1.3.0.bin", EMPTY_SHA256.to_string()),
        (
            "targets/acme-cam/fw-1.2.0.bin",
            sha256_hex(&std::fs::read(repo.join("targets/acme-cam/fw-1.2.0.bin")).unwrap()),
        ),
    ] {
        let resp = client
            .put(format!("{}/v1/admin/blobs/{sha256}", server.url))
            .header("authorization", &auth)
            .body(std::fs::read(repo.join(file)).unwrap())
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{file}: {}", resp.status());
    }
    let read = |f: &str| std::fs::read_to_string(repo.join(f)).unwrap();
    let mut roles = serde_json::Map::new();
    let mut supports = Vec::new();
    for product in ["acme-cam", "acme-old"] {
        roles.insert(
            product.into(),
            read(&format!("metadata/{product}.json")).into(),
        );
        supports.push(std::fs::read(repo.join(format!("targets/{product}/support.json"))).unwrap());
    }
    for bytes in supports {
        client
            .put(format!(
                "{}/v1/admin/blobs/{}",
                server.url,
                sha256_hex(&bytes)
            ))
            .header("authorization", &auth)
            .body(bytes)
            .send()
            .unwrap();
    }
    let resp = client
        .post(format!("{}/v1/admin/publish", server.url))
        .header("authorization", &auth)
        .json(&serde_json::json!({
            "roots": [read("metadata/1.root.json")],
            "targets": read("metadata/targets.json"),
            "roles": roles,
        }))
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "empty_image", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("acme-cam/empty-1.3.0.bin"),
        "{body}"
    );
}

#[test]
fn an_older_release_needs_allow_older_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    std::fs::write(dir.join("fw-1.1.1.bin"), firmware(7, 1000)).unwrap();

    let e = fails(dir, "airlock", &release_args("fw-1.1.1.bin", "1.1.1"));
    assert!(
        e.contains("older than its newest release 1.2.0") && e.contains("--allow-older"),
        "{e}"
    );
    // a directory with an older file: refused alike, naming the file
    std::fs::create_dir(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/acme-cam-1.1.2.bin"), firmware(8, 1000)).unwrap();
    let mut args = release_args("--from-dir", "out");
    args.retain(|a| *a != "--version");
    let e = fails(dir, "airlock", &args);
    assert!(
        e.contains("acme-cam-1.1.2.bin") && e.contains("--allow-older"),
        "{e}"
    );

    // on purpose: accepted, and the output says it is older
    let mut args = release_args("fw-1.1.1.bin", "1.1.1");
    args.push("--allow-older");
    let out = ok(dir, "airlock", &args);
    assert!(
        out.contains("older than the newest release 1.2.0: allowed by --allow-older"),
        "{out}"
    );
    let mut args = release_args("--from-dir", "out");
    args.retain(|a| *a != "--version");
    args.extend(["--allow-older", "--json"]);
    let out: serde_json::Value = serde_json::from_str(&ok(dir, "airlock", &args)).unwrap();
    assert_eq!(out["older_than"], "1.2.0", "{out}");
    // a newer release needs nothing
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(9, 1000)).unwrap();
    let out = ok(dir, "airlock", &release_args("fw-1.3.0.bin", "1.3.0"));
    assert!(!out.contains("older"), "{out}");
}
