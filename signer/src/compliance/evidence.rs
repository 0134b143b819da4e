//! Automated test verdicts for the report (`--evidence DIR`), read from the files of one
//! directory and judged by [`airlock_report::evidence`]: the JSON outputs of `airlock-sim
//! attack --all --json` and logs of the TUF conformance suite.

use anyhow::{bail, Context, Result};
use std::path::Path;

pub use airlock_report::evidence::{conformance_line, ConformanceCounts, Drill, Suite, Verdict};

/// Reads every file of `dir`: `*.json` must be `airlock-sim attack --json` output; other files
/// count when they hold a conformance line, and are named on stderr when they do not.
pub fn read_dir(dir: &Path) -> Result<Vec<Verdict>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the evidence directory {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("reading the evidence directory {}", dir.display()))?
        .into_iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
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
        if path.extension().is_some_and(|e| e == "json") {
            let verdict = airlock_report::evidence::attack_run(file, recorded, &text)
                .with_context(|| {
                    format!(
                        "{}: not the output of `airlock-sim attack --all --json`",
                        path.display()
                    )
                })?;
            verdicts.push(Verdict { sha256, ..verdict });
        } else if let Some(verdict) =
            airlock_report::evidence::conformance_log(file, recorded, &text)
        {
            verdicts.push(Verdict { sha256, ..verdict });
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
        let v = read_dir(dir.path()).unwrap();
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

        std::fs::write(dir.path().join("bad.json"), "{\"x\": 1}").unwrap();
        let e = format!("{:#}", read_dir(dir.path()).unwrap_err());
        assert!(e.contains("bad.json: not the output of"), "{e}");

        let empty = tempfile::tempdir().unwrap();
        let e = read_dir(empty.path()).unwrap_err().to_string();
        assert!(e.contains("holds no test evidence"), "{e}");
        assert!(read_dir(&empty.path().join("missing")).is_err());
    }
}
