//! What the three binaries share on the command line (docs/cli.md): errors as JSON with
//! `--json`, one exit code per error class, boolean variables, closed pipes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::*;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `name args` in `dir` with the variables `env`.
fn run_env(dir: &Path, name: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(bin(name))
        .args(args)
        .current_dir(dir)
        .env_remove("AIRLOCK_JSON")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Asserts `out` failed with `code` and printed one JSON error of `class` on stderr (and
/// nothing on stdout); returns its message.
fn json_error(out: &Output, code: i32, class: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let body: serde_json::Value = serde_json::from_str(stderr.trim())
        .unwrap_or_else(|_| panic!("not a JSON error: {stderr}"));
    assert_eq!(body["error"], class, "{body}");
    body["message"].as_str().unwrap().to_string()
}

/// A loopback URL where nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn usage_errors_are_json_and_exit_2_in_every_binary() {
    let tmp = tempfile::tempdir().unwrap();
    for binary in ["airlock", "airlock-server", "airlock-sim"] {
        let out = run(tmp.path(), binary, &["--json", "no-such-command"]);
        let message = json_error(&out, 2, "usage");
        assert!(message.contains("no-such-command"), "{binary}: {message}");
        // and the text form keeps clap's exit code
        assert_eq!(
            run(tmp.path(), binary, &["no-such-command"]).status.code(),
            Some(2)
        );
    }
}

#[test]
fn each_error_class_has_its_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);

    // not found: a repository, a server data directory
    let message = json_error(
        &run(dir, "airlock", &["status", "no-repo", "--json"]),
        5,
        "not_found",
    );
    assert!(message.contains("no-repo"), "{message}");
    let out = run(
        dir,
        "airlock-server",
        &[
            "serve",
            "--data",
            "no-data",
            "--admin-token-file",
            "t.token",
            "--json",
        ],
    );
    json_error(&out, 5, "not_found");

    // network: one line naming the cause, not the HTTP client's chain
    std::fs::write(dir.join("t.token"), "0123456789abcdef0123\n").unwrap();
    let url = closed_port_url();
    let args = [
        "rollout",
        "status",
        "acme-cam",
        "1.2.0",
        "--server",
        &url,
        "--admin-token-file",
        "t.token",
    ];
    let out = run(dir, "airlock", &args);
    assert_eq!(out.status.code(), Some(6));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.starts_with("error: ")
            && text.contains("connection refused")
            && !text.contains("tcp connect error")
            && text.trim().lines().count() == 1,
        "{text}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    json_error(&run(dir, "airlock", &json_args), 6, "network");

    // refused: a token the server does not know
    let server = Server::start(dir);
    let out = run(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "t.token",
            "--json",
        ],
    );
    json_error(&out, 4, "refused");
    // not found on the server: a rollout that does not exist
    let out = run(
        dir,
        "airlock",
        &[
            "rollout",
            "status",
            "acme-cam",
            "9.9.9",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "--json",
        ],
    );
    json_error(&out, 5, "not_found");

    // verification: an image changed after signing (verify prints its report on stdout)
    let image = std::fs::read_dir(dir.join("repo/targets/acme-cam"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap();
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&image, bytes).unwrap();
    let out = run(dir, "airlock", &["verify", "repo"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn boolean_variables_read_1_and_0() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    for on in ["1", "true", "yes", "On"] {
        let out = run_env(dir, "airlock", &[("AIRLOCK_JSON", on)], &["status", "repo"]);
        assert!(out.status.success(), "{on}: {out:?}");
        let _: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("AIRLOCK_JSON={on} gave no JSON"));
    }
    for off in ["0", "false", "no"] {
        let out = run_env(
            dir,
            "airlock",
            &[("AIRLOCK_JSON", off)],
            &["status", "repo"],
        );
        assert!(out.status.success(), "{off}: {out:?}");
        assert!(
            serde_json::from_slice::<serde_json::Value>(&out.stdout).is_err(),
            "AIRLOCK_JSON={off} gave JSON"
        );
    }
    // the errors follow the variable too
    let out = run_env(
        dir,
        "airlock",
        &[("AIRLOCK_JSON", "1")],
        &["status", "none"],
    );
    json_error(&out, 5, "not_found");
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    // `true` exits before airlock writes: every write meets a closed pipe (EPIPE)
    let script = format!(
        "(sleep 0.3; exec '{}' status repo --json) | true; echo \"exit=${{PIPESTATUS[0]}}\"",
        bin("airlock").display()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(dir)
        .env_remove("AIRLOCK_JSON")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.trim(), "exit=0", "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn serve_with_a_missing_data_directory_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // an existing directory that was never initialised: refused, and no token file either
    std::fs::create_dir(dir.join("empty")).unwrap();
    for data in ["missing", "empty"] {
        let e = fails(
            dir,
            "airlock-server",
            &["serve", "--data", data, "--admin-token-file", "admin.token"],
        );
        assert!(e.contains("airlock-server init --data"), "{e}");
        assert!(
            !dir.join("admin.token").exists(),
            "serve --data {data} left an admin token file"
        );
    }
    assert!(!dir.join("missing").exists());
    // a port already taken: nothing written either
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    ok(dir, "airlock-server", &["init", "--data", "srv"]);
    let e = fails(
        dir,
        "airlock-server",
        &[
            "serve",
            "--data",
            "srv",
            "--admin-token-file",
            "admin.token",
            "--listen",
            &listen,
        ],
    );
    assert!(e.contains(&listen), "{e}");
    assert!(!dir.join("admin.token").exists());
}

/// Runs `airlock args` in `dir`, asserts it failed with `code`, and returns stderr.
fn airlock_fails(dir: &Path, code: i32, args: &[&str]) -> String {
    let out = run(dir, "airlock", args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    stderr
}

#[test]
fn malformed_input_errors_name_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let release = "release add repo acme-cam fw-1.2.0.bin --security-version 3 --kind security";
    let cases = [
        (
            "support extend repo acme-cam --security-until 31/12/2031 --reason x".to_string(),
            vec!["use YYYY-MM-DD", "2031-12-31"],
        ),
        (
            format!("{release} --version 1.2"),
            vec!["MAJOR.MINOR.PATCH", "1.2.0"],
        ),
        (
            format!("{release} --version v1.3.0"),
            vec!["drop the leading 'v': 1.3.0"],
        ),
        (
            format!("{release} --version 1.3.0 --released 2026-01-01"),
            vec!["2026-01-01T00:00:00Z"],
        ),
        (
            "publish repo --server 127.0.0.1:8080 --admin-token-file admin.token".to_string(),
            vec!["http://127.0.0.1:8080"],
        ),
        (
            "status repo --check --within 30".to_string(),
            vec!["d (days), h (hours) or m (minutes)", "30d"],
        ),
        ("status repo --check --within 1y".to_string(), vec!["365d"]),
        (
            "status repo --check --within 30days".to_string(),
            vec!["d (days), h (hours) or m (minutes)"],
        ),
    ];
    for (command, wanted) in cases {
        let args: Vec<&str> = command.split_whitespace().collect();
        let e = airlock_fails(dir, 2, &args);
        for w in wanted {
            assert!(e.contains(w), "{command}: {e}");
        }
    }
    // a product name typo, wherever a product is named
    for command in [
        "support extend repo acme-cma --security-until 2031-12-31 --reason x",
        "support show repo acme-cma",
        "release add repo acme-cma fw-1.2.0.bin --version 1.3.0 --security-version 3 --kind security",
    ] {
        let args: Vec<&str> = command.split_whitespace().collect();
        let e = airlock_fails(dir, 5, &args);
        assert!(
            e.contains("unknown product 'acme-cma', did you mean 'acme-cam'?"),
            "{command}: {e}"
        );
    }
}

#[test]
fn every_binary_installs_its_completions_and_man_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for binary in ["airlock", "airlock-server", "airlock-sim"] {
        for shell in ["bash", "zsh", "fish"] {
            let script = ok(dir, binary, &["completions", shell]);
            assert!(
                script.contains(binary) && script.contains("config"),
                "{binary} {shell}: {script}"
            );
        }
        ok(dir, binary, &["man", "man1"]);
        let page = std::fs::read_to_string(dir.join(format!("man1/{binary}.1"))).unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
    }
    let bash = ok(dir, "airlock", &["completions", "bash"]);
    assert!(bash.contains("release") && bash.contains("--security-version"));
    let add = std::fs::read_to_string(dir.join("man1/airlock-release-add.1")).unwrap();
    assert!(add.contains("security\\-version"), "{add}");
    assert!(dir.join("man1/airlock-server-serve.1").is_file());
    assert!(!dir.join("man1/airlock-help.1").exists());
    let e = fails(dir, "airlock", &["completions", "tcsh"]);
    assert!(e.contains("bash"), "{e}");
}
