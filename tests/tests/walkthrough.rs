//! The README's walk-through, run as written: every ```sh block of the "Five-minute
//! walk-through" section (up to the next `## ` heading), in order, in one bash with
//! `set -euo pipefail`, in an empty directory, with the debug binaries first on PATH.
//! The one change made to the text: the server's port 8080 becomes a free port, so the test
//! runs beside others.
#![allow(clippy::expect_used, clippy::panic)]

use airlock_e2e::{bin, free_port};
use std::process::Command;

/// The ```sh blocks between the heading `section` and the next `## ` heading.
fn sh_blocks(readme: &str, section: &str) -> Vec<String> {
    let start = readme
        .find(section)
        .unwrap_or_else(|| panic!("README has no {section:?} heading"));
    let body = &readme[start + section.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let mut blocks = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find("```sh\n") {
        let after = &rest[open + "```sh\n".len()..];
        let close = after
            .find("```")
            .expect("an unclosed ```sh block in the README");
        blocks.push(after[..close].to_string());
        rest = &after[close + 3..];
    }
    blocks
}

#[test]
fn the_readme_walk_through_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let blocks = sh_blocks(&readme, "## Five-minute walk-through");
    assert!(
        blocks.len() >= 2,
        "the walk-through lost its command blocks"
    );
    let port = free_port().to_string();
    let script = format!(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{}",
        blocks.join("\n").replace("8080", &port)
    );
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = bin("airlock").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("AIRLOCK_JSON")
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README walk-through failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // What the walk-through promises, checked on what it left behind.
    let device = std::fs::read_to_string(dir.path().join("dev1/device.json"))
        .expect("the walk-through's device left no device.json");
    assert!(
        device.contains("\"version\": \"1.4.0\""),
        "cam-1 did not end on the security release 1.4.0: {device}"
    );
    for made in [
        "report.md",
        "report.pdf",
        "soc.md",
        "read.token",
        "evidence/attacks.json",
    ] {
        assert!(
            dir.path().join(made).is_file(),
            "the walk-through made no {made}"
        );
    }
}

#[test]
fn blocks_are_taken_from_the_section_only() {
    let text = "# x\n```sh\nbefore\n```\n## Five-minute walk-through\n```sh\na\n```\ntext\n\
                ### sub\n```sh\nb\n```\n## Next\n```sh\nafter\n```\n";
    assert_eq!(
        sh_blocks(text, "## Five-minute walk-through"),
        vec!["a\n".to_string(), "b\n".to_string()]
    );
}
