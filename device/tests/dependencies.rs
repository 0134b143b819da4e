//! The device library's normal dependency tree holds nothing a device does not need: no
//! server, signer, database, S3, PKCS#11, PDF or chart crate (what `cargo tree -p
//! airlock-device -e normal` shows, read from `cargo metadata`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

const FORBIDDEN: &[&str] = &[
    "airlock-server",
    "airlock-signer",
    "airlock-sim",
    "sqlx",
    "aws-sdk-s3",
    "cryptoki",
    "printpdf",
    "plotters",
    "axum",
];

#[test]
fn normal_dependencies_hold_no_server_signer_database_storage_token_pdf_or_chart_crate() {
    // Only the packages of this platform, as `cargo tree` shows them (and cargo needs nothing
    // it has not downloaded for the build).
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("running rustc -vV");
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host");
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: BTreeMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root = names
        .iter()
        .find(|(_, name)| **name == "airlock-device")
        .map(|(id, _)| *id)
        .unwrap();
    // Follow normal (not dev, not build) edges only.
    let mut seen = BTreeSet::from([root]);
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let pkg = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(pkg) {
                todo.push(pkg);
            }
        }
    }
    let tree: BTreeSet<&str> = seen.iter().map(|id| names[id]).collect();
    assert!(
        tree.contains("tough") && tree.contains("airlock-core"),
        "{tree:?}"
    );
    let found: Vec<&&str> = FORBIDDEN.iter().filter(|f| tree.contains(**f)).collect();
    assert!(found.is_empty(), "airlock-device depends on {found:?}");
}
