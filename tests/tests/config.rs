//! Config files: every flag that has an AIRLOCK_* variable can come from `--config FILE`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn flags_come_from_config_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    std::fs::write(
        dir.join("server.toml"),
        "data = \"srv\"\nlisten = \"127.0.0.1:0\"\nadmin-token-file = \"admin.token\"\ntimestamp-hours = 12\n",
    )
    .unwrap();
    let mut child = Command::new(bin("airlock-server"))
        .args(["serve", "--config", "server.toml"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();

    std::fs::write(
        dir.join("airlock.toml"),
        format!("server = \"{url}\"\nadmin-token-file = \"admin.token\"\n"),
    )
    .unwrap();
    let out = ok(
        dir,
        "airlock",
        &["publish", "repo", "--config", "airlock.toml", "--json"],
    );
    let published: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(published["timestamp_version"], 1);
    // the timestamp lifetime came from the file: 12 h
    let ts: serde_json::Value =
        reqwest::blocking::get(format!("{url}/tuf/metadata/timestamp.json"))
            .unwrap()
            .json()
            .unwrap();
    let expires: String = ts["signed"]["expires"].as_str().unwrap().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let exp = parse_rfc3339_seconds(&expires);
    assert!((exp - now - 12 * 3600).abs() < 120, "expires {expires}");

    std::fs::write(dir.join("bad.toml"), "sever = \"http://x\"\n").unwrap();
    let e = fails(dir, "airlock", &["status", "repo", "--config", "bad.toml"]);
    assert!(
        e.contains("unknown setting \"sever\"") && e.contains("server"),
        "{e}"
    );
    let e = fails(
        dir,
        "airlock",
        &["status", "repo", "--config", "missing.toml"],
    );
    assert!(e.contains("missing.toml"), "{e}");
    let _ = child.kill();
    let _ = child.wait();
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ`.
fn parse_rfc3339_seconds(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, m, d, hh, mm, ss) = (n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19));
    // days from civil (Howard Hinnant)
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

#[test]
fn json_logs_carry_the_request_id() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let mut child = Command::new(bin("airlock-server"))
        .args([
            "serve",
            "--data",
            "srv",
            "--listen",
            "127.0.0.1:0",
            "--admin-token-file",
            "admin.token",
            "--device-auth",
            "open",
        ])
        .env("AIRLOCK_LOG_FORMAT", "json")
        .env("AIRLOCK_LOG", "info,airlock_server=debug")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let client = reqwest::blocking::Client::new();
    let resp = client
        .get(format!("{url}/healthz"))
        .header("x-request-id", "req-abc123")
        .send()
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "req-abc123");
    let generated = client.get(format!("{url}/healthz")).send().unwrap();
    assert_eq!(generated.headers()["x-request-id"].len(), 16);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    let mut lines = 0;
    let mut tagged = false;
    for l in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
        lines += 1;
        if v["span"]["request_id"] == "req-abc123" {
            tagged = true;
        }
    }
    assert!(lines >= 2 && tagged, "{logs}");
}

/// The subcommands listed in a `--help` page (clap's "Commands:" section).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The `--long` options of a `--help` page that show no `[env: ...]` (AIRLOCK_*, or the
/// standard AWS_REGION for --s3-region). An option's
/// entry starts with `-x, --long` or `--long` and runs until the next entry.
fn options_without_env(help: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let mut current: Option<(String, bool)> = None;
    for line in help.lines() {
        let trimmed = line.trim_start();
        let starts_entry = line.starts_with("  ")
            && (trimmed.starts_with("--")
                || (trimmed.starts_with('-') && trimmed.contains(", --")));
        if starts_entry {
            if let Some((name, false)) = current.take() {
                missing.push(name);
            }
            let name = trimmed
                .split(|c: char| c.is_whitespace() || c == '=')
                .find(|w| w.starts_with("--"))
                .unwrap_or_default()
                .to_string();
            current = Some((name, false));
        }
        if line.contains("[env: AIRLOCK_") || line.contains("[env: AWS_REGION") {
            if let Some((_, seen)) = current.as_mut() {
                *seen = true;
            }
        }
    }
    if let Some((name, false)) = current {
        missing.push(name);
    }
    missing.retain(|name| name != "--help" && name != "--version");
    missing
}

/// The `--help` page of every command of the three binaries: (binary, subcommand path, page).
fn help_pages(dir: &std::path::Path) -> Vec<(&'static str, String, String)> {
    let pages = help_pages_of(dir, &["airlock", "airlock-server", "airlock-sim"]);
    assert!(pages.len() > 40, "only {} help pages found", pages.len());
    pages
}

/// The `--help` page of every command of `binaries`: (binary, subcommand path, page).
fn help_pages_of(
    dir: &std::path::Path,
    binaries: &[&'static str],
) -> Vec<(&'static str, String, String)> {
    let mut pages = Vec::new();
    for &binary in binaries {
        let mut queue = vec![Vec::<String>::new()];
        while let Some(path) = queue.pop() {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.push("--help");
            let help = ok(dir, binary, &args);
            for sub in subcommands(&help) {
                let mut next = path.clone();
                next.push(sub);
                queue.push(next);
            }
            pages.push((binary, path.join(" "), help));
        }
    }
    pages
}

/// README: every `--long` flag of the three binaries has an environment variable (and so a
/// config-file key). Walks every subcommand's `--help`.
#[test]
fn every_long_flag_has_an_environment_variable() {
    let tmp = tempfile::tempdir().unwrap();
    let mut missing = Vec::new();
    for (binary, path, help) in help_pages(tmp.path()) {
        for option in options_without_env(&help) {
            missing.push(format!("{binary} {path} {option}"));
        }
    }
    assert!(
        missing.is_empty(),
        "flags without an AIRLOCK_* variable: {missing:#?}"
    );
}

/// The positional arguments (`<REPO>`, `[DIR]`) of a `--help` page's "Arguments:" section that
/// have no description, on their line or the lines below it.
fn undescribed_arguments(help: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let mut current: Option<(String, bool)> = None;
    let section = help
        .lines()
        .skip_while(|l| l.trim() != "Arguments:")
        .skip(1)
        .take_while(|l| l.starts_with(' ') || l.trim().is_empty());
    for line in section {
        let trimmed = line.trim();
        let starts_entry = line.starts_with("  ")
            && !line.starts_with("   ")
            && (trimmed.starts_with('<') || trimmed.starts_with('['));
        if starts_entry {
            if let Some((name, false)) = current.take() {
                missing.push(name);
            }
            let (name, rest) = trimmed
                .split_once(char::is_whitespace)
                .unwrap_or((trimmed, ""));
            current = Some((name.to_string(), !rest.trim().is_empty()));
        } else if !trimmed.is_empty() {
            if let Some((_, described)) = current.as_mut() {
                *described = true;
            }
        }
    }
    if let Some((name, false)) = current {
        missing.push(name);
    }
    missing
}

#[test]
fn every_positional_argument_is_described() {
    let tmp = tempfile::tempdir().unwrap();
    let mut missing = Vec::new();
    for (binary, path, help) in help_pages(tmp.path()) {
        for argument in undescribed_arguments(&help) {
            missing.push(format!("{binary} {path} {argument}"));
        }
    }
    assert!(
        missing.is_empty(),
        "arguments without a description: {missing:#?}"
    );
}

/// Global options (`--config`, `--json`, ...) are listed apart from a command's own.
#[test]
fn global_options_have_their_own_heading() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["airlock", "release", "add", "--help"][..],
        &["airlock-server", "serve", "--help"],
        &["airlock-sim", "device", "--help"],
    ] {
        let help = ok(tmp.path(), args[0], &args[1..]);
        let (own, global) = help
            .split_once("Global options:")
            .unwrap_or_else(|| panic!("{args:?}: no global heading:\n{help}"));
        assert!(
            global.contains("--config") && !own.contains("--config"),
            "{help}"
        );
    }
}

/// The `airlock` commands that sign, and so take the key passphrase options; `targets discard`
/// signs nothing but reads the retired keys of a staged key rotation to bring them back.
const SIGNING_COMMANDS: [&str; 20] = [
    "advisory not-affected",
    "compliance report",
    "compliance sign-evidence",
    "compliance statement",
    "init",
    "product add",
    "product remove",
    "product rotate-key",
    "product set",
    "publish",
    "release add",
    "release withdraw",
    "renew",
    "root propose",
    "root rotate",
    "sign",
    "support extend",
    "support set-floor",
    "targets discard",
    "targets propose",
];

/// Whether a `--help` page lists the option `flag` (its entry, not a mention in prose).
fn lists_option(help: &str, flag: &str) -> bool {
    help.lines()
        .any(|l| l.trim_start().starts_with(&format!("{flag} <")))
}

/// The key passphrase options are on the commands that sign and on no other (`airlock status
/// --help` does not offer them), with their names and variables as before.
#[test]
fn passphrase_options_only_on_commands_that_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    let mut signing = Vec::new();
    for (_, path, help) in help_pages_of(tmp.path(), &["airlock"]) {
        let signs = SIGNING_COMMANDS.contains(&path.as_str());
        for (flag, variable) in [
            ("--passphrase-env", "AIRLOCK_PASSPHRASE_ENV"),
            ("--passphrase-file", "AIRLOCK_KEY_PASSPHRASE_FILE"),
        ] {
            match (signs, lists_option(&help, flag)) {
                (true, false) => wrong.push(format!("airlock {path}: no {flag}")),
                (false, true) => wrong.push(format!(
                    "airlock {path}: {flag} on a command that does not sign"
                )),
                (true, true) if !help.contains(&format!("[env: {variable}=")) => {
                    wrong.push(format!("airlock {path}: {flag} without {variable}"))
                }
                _ => {}
            }
        }
        if signs {
            signing.push(path);
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    signing.sort();
    assert_eq!(signing, SIGNING_COMMANDS, "a signing command is missing");
}

#[test]
fn help_parsing_finds_flags_without_variables() {
    let help = "Usage: x\n\nCommands:\n  add   Adds\n  help  Print help\n\nOptions:\n      --json\n          Print JSON\n          \n          [env: AIRLOCK_JSON=]\n  -o, --out <DIR>\n          Where\n      --bare <N>  no variable\n  -h, --help\n          Print help\n";
    assert_eq!(subcommands(help), vec!["add".to_string()]);
    assert_eq!(options_without_env(help), vec!["--out", "--bare"]);
    let help = "Arguments:\n  <REPO>  \n  <VERSION>  The version\n  [DIR]\n          Where it goes\n  <LAST>\n\nOptions:\n";
    assert_eq!(undescribed_arguments(help), vec!["<REPO>", "<LAST>"]);
}
