//! Automated test verdicts for the report, judged by [`airlock_report::evidence`]: the attack
//! drills run at report time (`--run-drills`: this process starts `airlock-sim attack --all
//! --json` and reads its output), and result files of one directory (`--evidence DIR`: the JSON
//! outputs of `airlock-sim attack --all --json` and logs of the TUF conformance suite). A file
//! counts only with a detached signature (`FILE.sig`, made by `airlock compliance
//! sign-evidence`) by a targets key of the repository's root; without one it is listed as
//! unverified and evidences nothing.

use anyhow::{bail, Context, Result};
use std::path::Path;

pub use airlock_report::evidence::{
    conformance_line, ConformanceCounts, Drill, Provenance, Suite, Verdict,
};

/// How a result file came: [`Provenance::Signed`] when `FILE.sig` beside it is a valid
/// signature by a targets key of `root_json` (the repository's root.json), else unverified
/// with the reason.
pub fn provenance(path: &Path, bytes: &[u8], root_json: &[u8]) -> Provenance {
    let mut sig = path.as_os_str().to_owned();
    sig.push(".sig");
    match std::fs::read(&sig) {
        Err(_) => Provenance::Unverified {
            reason: "no signature (FILE.sig) by a targets key".into(),
        },
        Ok(sig) => match crate::compliance::verify(root_json, bytes, &sig) {
            Ok(keyid) => Provenance::Signed { keyid },
            Err(e) => Provenance::Unverified {
                reason: format!("bad signature: {e:#}"),
            },
        },
    }
}

/// Reads every file of `dir` (but `*.sig`, the signatures): `*.json` must be `airlock-sim
/// attack --json` output; other files count when they hold a conformance line, and are named
/// on stderr when they do not. Each verdict's provenance comes from its signature checked
/// against `root_json`.
pub fn read_dir(dir: &Path, root_json: &[u8]) -> Result<Vec<Verdict>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the evidence directory {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("reading the evidence directory {}", dir.display()))?
        .into_iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_none_or(|e| e != "sig"))
        .collect();
    names.sort();
    let mut verdicts = Vec::new();
    for path in names {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let recorded = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| jiff::Timestamp::try_from(t).ok())
            .map(airlock_core::whole_seconds);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading evidence file {}", path.display()))?;
        let sha256 = Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            text.as_bytes(),
        )));
        let provenance = provenance(&path, text.as_bytes(), root_json);
        if path.extension().is_some_and(|e| e == "json") {
            let verdict = airlock_report::evidence::attack_run(file, recorded, &text)
                .with_context(|| {
                    format!(
                        "{}: not the output of `airlock-sim attack --all --json`",
                        path.display()
                    )
                })?;
            verdicts.push(Verdict {
                sha256,
                provenance,
                ..verdict
            });
        } else if let Some(verdict) =
            airlock_report::evidence::conformance_log(file, recorded, &text)
        {
            verdicts.push(Verdict {
                sha256,
                provenance,
                ..verdict
            });
        } else {
            eprintln!(
                "note: {} is neither attack-drill JSON nor a conformance log; not used",
                path.display()
            );
        }
    }
    if verdicts.is_empty() {
        bail!(
            "{} holds no test evidence: put the output of `airlock-sim attack --all --json` in a \
             .json file and the output of scripts/conformance (its last line: `conformance: P \
             passed, F failed, X xfailed, S skipped`) in another file",
            dir.display()
        );
    }
    Ok(verdicts)
}

/// The `airlock-sim` to run: `sim` when given, else the one beside this program, else the one
/// on PATH.
pub fn sim_program(sim: Option<&Path>) -> std::path::PathBuf {
    if let Some(s) = sim {
        return s.to_path_buf();
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("airlock-sim")))
        .filter(|p| p.is_file());
    beside.unwrap_or_else(|| "airlock-sim".into())
}

/// Runs the attack drills now (`SIM attack --all --json`: every drill against a lab repository
/// and server the simulator builds, the same drills CI runs) and judges the output it printed:
/// the verdict is bound because this process captured it, with the sha256 of those bytes, the
/// command and the simulator's version. A drill run that fails still gives a verdict (`fail`);
/// a simulator that cannot be started or prints no result is an error.
pub fn run_drills(sim: &Path, now: jiff::Timestamp) -> Result<Verdict> {
    let version = std::process::Command::new(sim)
        .arg("--version")
        .output()
        .with_context(|| {
            format!(
                "starting {} (the attack drills run with airlock-sim: install it beside airlock or give --sim-bin)",
                sim.display()
            )
        })?;
    let tool_version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let args = ["attack", "--all", "--json"];
    let out = std::process::Command::new(sim)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", sim.display(), args.join(" ")))?;
    let command = format!("airlock-sim {}", args.join(" "));
    let text = String::from_utf8(out.stdout).context("the drill output is not UTF-8")?;
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
    let verdict = airlock_report::evidence::attack_run(command.clone(), Some(now), &text)
        .with_context(|| {
            format!(
                "{command} printed no drill results (exit {}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    Ok(Verdict {
        sha256: Some(sha256),
        recorded: Some(airlock_core::whole_seconds(now)),
        provenance: Provenance::RunAtReportTime {
            command,
            tool_version,
        },
        ..verdict
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn evidence_files_become_verdicts() {
        let dir = tempfile::tempdir().unwrap();
        let drill = |name: &str, passed: bool, ran: bool| {
            serde_json::json!({"attack": name, "expected": "refused", "observed": if ran {"refused"} else {"not run"},
                "reason": "", "ran": ran, "passed": passed, "simulates": "x", "check": "y"})
        };
        std::fs::write(
            dir.path().join("attacks.json"),
            serde_json::json!({"mode": "lab", "server": "in-process", "drills": [drill("rollback", true, true), drill("freeze", true, true)],
                "passed": 2, "failed": 0, "not_run": 0})
            .to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("server-attacks.json"),
            serde_json::json!({"mode": "server", "server": "http://127.0.0.1:1", "drills": [drill("rollback", true, true), drill("mix", false, false)],
                "passed": 1, "failed": 0, "not_run": 1})
            .to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("conformance.txt"),
            "conformance: 110 passed, 3 failed, 0 xfailed, 0 skipped\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("README"), "notes").unwrap();
        // a signature that is not one: the file stays unverified (and .sig files are not evidence)
        std::fs::write(dir.path().join("conformance.txt.sig"), "{}").unwrap();
        let v = read_dir(dir.path(), b"{}").unwrap();
        let verdicts: Vec<(&str, &str)> = v
            .iter()
            .map(|v| (v.file.as_str(), v.verdict.as_str()))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("attacks.json", "pass"),
                ("conformance.txt", "fail"),
                ("server-attacks.json", "incomplete")
            ]
        );
        assert!(v[0].recorded.is_some());
        assert!(
            matches!(&v[0].provenance, Provenance::Unverified { reason } if reason.starts_with("no signature"))
        );
        assert!(
            matches!(&v[1].provenance, Provenance::Unverified { reason } if reason.starts_with("bad signature"))
        );

        std::fs::write(dir.path().join("bad.json"), "{\"x\": 1}").unwrap();
        let e = format!("{:#}", read_dir(dir.path(), b"{}").unwrap_err());
        assert!(e.contains("bad.json: not the output of"), "{e}");

        let empty = tempfile::tempdir().unwrap();
        let e = read_dir(empty.path(), b"{}").unwrap_err().to_string();
        assert!(e.contains("holds no test evidence"), "{e}");
        assert!(read_dir(&empty.path().join("missing"), b"{}").is_err());
    }
}
