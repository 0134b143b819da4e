//! Keys on a PKCS#11 token with the real binary and SoftHSM2: a fresh token in a temp dir,
//! Ed25519 keys generated on it with pkcs11-tool, the root role and a product role held there
//! (`--root-key` / `--key pkcs11:...`), a release signed by the token, a root rotation from one
//! token key to another, and `airlock verify` accepting the result. A wrong PIN fails cleanly.
//! Skips loudly (fails under CI / AIRLOCK_REQUIRE_ALL=1) when SoftHSM2 or OpenSC is missing;
//! scripts/test installs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOKEN: &str = "airlock-test";
const PIN: &str = "123456";

fn module() -> PathBuf {
    std::env::var_os("AIRLOCK_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
}

fn on_path(tool: &str) -> bool {
    Command::new(tool).arg("--help").output().is_ok()
}

/// A SoftHSM2 configuration whose tokens live in `dir/tokens`.
fn softhsm_conf(dir: &Path) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    conf
}

fn tool(conf: &Path, name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Generates an Ed25519 key pair on the token; returns the TUF key id of its public key.
fn keypair_on_token(conf: &Path, label: &str, id: &str) -> String {
    let module = module();
    let module = module.to_str().unwrap();
    tool(
        conf,
        "pkcs11-tool",
        &[
            "--module",
            module,
            "--token-label",
            TOKEN,
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            "EC:edwards25519",
            "--label",
            label,
            "--id",
            id,
        ],
    );
    // The listing shows each public key object's CKA_EC_POINT in hex (a DER OCTET STRING,
    // 04 20, around the key) and its label.
    let listing = tool(
        conf,
        "pkcs11-tool",
        &[
            "--module",
            module,
            "--token-label",
            TOKEN,
            "--list-objects",
            "--type",
            "pubkey",
        ],
    );
    let mut point = None;
    let mut found = None;
    for line in listing.lines().map(str::trim) {
        if line.starts_with("Public Key Object") {
            point = None;
        } else if let Some(p) = line.strip_prefix("EC_POINT:") {
            point = Some(p.trim().to_string());
        } else if line.strip_prefix("label:").map(str::trim) == Some(label) {
            found = point.clone();
        }
    }
    let point = found.unwrap_or_else(|| panic!("no public key {label} in:\n{listing}"));
    let public = point
        .strip_prefix("0420")
        .unwrap_or_else(|| panic!("unexpected EC_POINT {point}"));
    assert_eq!(public.len(), 64, "{point}");
    // TUF key id: sha256 of the key's canonical JSON.
    sha256_hex(
        format!(r#"{{"keytype":"ed25519","keyval":{{"public":"{public}"}},"scheme":"ed25519"}}"#)
            .as_bytes(),
    )
}

fn airlock(dir: &Path, conf: &Path, pin: &str, args: &[&str]) -> Output {
    Command::new(bin("airlock"))
        .args(args)
        .current_dir(dir)
        .env_remove("AIRLOCK_JSON")
        .env("SOFTHSM2_CONF", conf)
        .env("AIRLOCK_PKCS11_MODULE", module())
        .env("AIRLOCK_PKCS11_PIN", pin)
        .output()
        .expect("running airlock")
}

fn ok_token(dir: &Path, conf: &Path, args: &[&str]) -> String {
    let out = airlock(dir, conf, PIN, args);
    assert!(
        out.status.success(),
        "airlock {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn root_key_ids(dir: &Path) -> Vec<String> {
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("repo/metadata/root.json")).unwrap())
            .unwrap();
    root["signed"]["roles"]["root"]["keyids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn root_and_product_keys_on_a_softhsm_token_sign_a_verified_repository() {
    const TEST: &str = "root_and_product_keys_on_a_softhsm_token_sign_a_verified_repository";
    if !on_path("softhsm2-util") || !on_path("pkcs11-tool") {
        skip(
            TEST,
            "softhsm2-util or pkcs11-tool not found (apt-get install softhsm2 opensc)",
        );
        return;
    }
    if !module().is_file() {
        skip(
            TEST,
            &format!("no PKCS#11 module at {}", module().display()),
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let conf = softhsm_conf(&dir.join("hsm"));
    tool(
        &conf,
        "softhsm2-util",
        &[
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--pin",
            PIN,
            "--so-pin",
            "99999999",
        ],
    );
    let root_1 = keypair_on_token(&conf, "root-1", "01");
    let root_2 = keypair_on_token(&conf, "root-2", "02");
    let cam = keypair_on_token(&conf, "acme-cam", "03");

    ok(dir, "airlock-server", &["init", "--data", "srv"]);

    // The root key on the token; targets generated as usual.
    let uri = |object: &str| format!("pkcs11:token={TOKEN};object={object}");
    let init = ok_token(
        dir,
        &conf,
        &[
            "init",
            "repo",
            "--online-key",
            "srv/online.pub",
            "--root-key",
            &uri("root-1"),
            "--json",
        ],
    );
    let init: serde_json::Value = serde_json::from_str(&init).unwrap();
    assert_eq!(init["keys"][0]["role"], "root");
    assert_eq!(init["keys"][0]["key_id"], root_1.as_str());
    assert_eq!(init["keys"][0]["held_in"], uri("root-1").as_str());
    assert_eq!(root_key_ids(dir), vec![root_1.clone()]);
    // keys/root-1.key names the token key; no private key material is on disk for it.
    let stored = std::fs::read_to_string(dir.join("repo/keys/root-1.key")).unwrap();
    assert_eq!(stored.trim(), uri("root-1"));

    // A product whose role key is on the token.
    ok_token(
        dir,
        &conf,
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
            "--key",
            &uri("acme-cam"),
        ],
    );
    let targets: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("repo/metadata/targets.json")).unwrap())
            .unwrap();
    assert_eq!(
        targets["signed"]["delegations"]["roles"][0]["keyids"][0],
        cam.as_str()
    );

    // A release signed on the token.
    std::fs::write(dir.join("fw-1.0.0.bin"), firmware(5, 40_000)).unwrap();
    let release = |version: &str, file: &str| {
        vec![
            "release".to_string(),
            "add".into(),
            "repo".into(),
            "acme-cam".into(),
            file.into(),
            "--version".into(),
            version.into(),
            "--security-version".into(),
            "1".into(),
            "--kind".into(),
            "security".into(),
        ]
    };
    let args = release("1.0.0", "fw-1.0.0.bin");
    ok_token(
        dir,
        &conf,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let role: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("repo/metadata/acme-cam.json")).unwrap())
            .unwrap();
    assert_eq!(role["signatures"][0]["keyid"], cam.as_str());
    let verified = ok_token(dir, &conf, &["verify", "repo"]);
    assert!(verified.contains("OK"), "{verified}");

    // A wrong PIN: a clear error, exit 1, nothing written.
    std::fs::write(dir.join("fw-1.1.0.bin"), firmware(6, 40_000)).unwrap();
    let args = release("1.1.0", "fw-1.1.0.bin");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let role_before = std::fs::read(dir.join("repo/metadata/acme-cam.json")).unwrap();
    let out = airlock(dir, &conf, "000000", &args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("repo/keys/acme-cam.key") && err.contains("wrong PIN"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.join("repo/metadata/acme-cam.json")).unwrap(),
        role_before
    );
    assert!(!dir.join("repo/targets/acme-cam/fw-1.1.0.bin").exists());

    // Root rotation from one token key to another: signed by both on the token (TUF 5.3.4).
    ok_token(
        dir,
        &conf,
        &["root", "rotate", "repo", "--root-key", &uri("root-2")],
    );
    assert_eq!(root_key_ids(dir), vec![root_2]);
    ok_token(dir, &conf, &args);
    let verified = ok_token(dir, &conf, &["verify", "repo"]);
    assert!(verified.contains("OK"), "{verified}");
    let status = ok_token(dir, &conf, &["status", "repo", "--json"]);
    assert!(status.contains("1.1.0"), "{status}");

    // A key file's module-path is loaded only from the allow-list (AIRLOCK_PKCS11_MODULES,
    // by default the system's module directories): the same SoftHSM2 module copied elsewhere
    // is refused until its directory is allowed; the system one is allowed by default.
    let key_file = dir.join("repo/keys/acme-cam.key");
    let mods = dir.join("mods");
    std::fs::create_dir_all(&mods).unwrap();
    let copy = mods.join("libsofthsm2.so");
    std::fs::copy(module().canonicalize().unwrap(), &copy).unwrap();
    std::fs::write(
        &key_file,
        format!("{}?module-path={}\n", uri("acme-cam"), copy.display()),
    )
    .unwrap();
    std::fs::write(dir.join("fw-1.2.0.bin"), firmware(7, 40_000)).unwrap();
    let args = release("1.2.0", "fw-1.2.0.bin");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = airlock(dir, &conf, PIN, &args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("allow-list") && err.contains("AIRLOCK_PKCS11_MODULES"),
        "{err}"
    );
    assert!(!dir.join("repo/targets/acme-cam/fw-1.2.0.bin").exists());
    let allowed = Command::new(bin("airlock"))
        .args(&args)
        .current_dir(dir)
        .env_remove("AIRLOCK_JSON")
        .env("SOFTHSM2_CONF", &conf)
        .env("AIRLOCK_PKCS11_PIN", PIN)
        .env("AIRLOCK_PKCS11_MODULES", &mods)
        .output()
        .unwrap();
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    std::fs::write(
        &key_file,
        format!("{}?module-path={}\n", uri("acme-cam"), module().display()),
    )
    .unwrap();
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(8, 40_000)).unwrap();
    let args = release("1.3.0", "fw-1.3.0.bin");
    ok_token(
        dir,
        &conf,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}
