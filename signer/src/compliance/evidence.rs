//! Automated test verdicts for the report (`--evidence DIR`): the JSON outputs of
//! `airlock-sim attack --all --json` and the count line of the TUF conformance suite
//! (`conformance: P passed, F failed, X xfailed, S skipped`, printed last by
//! `scripts/conformance`), read from the files of one directory.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One drill of an attack run, as `airlock-sim attack --json` writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drill {
    pub attack: String,
    pub expected: String,
    pub observed: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub ran: bool,
    #[serde(default)]
    pub passed: bool,
    #[serde(default)]
    pub simulates: String,
}

/// The fields of `airlock-sim attack --json` output the report uses.
#[derive(Debug, Clone, Deserialize)]
struct AttackRun {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    server: String,
    drills: Vec<Drill>,
    passed: u64,
    failed: u64,
    #[serde(default)]
    not_run: u64,
}

/// Counts of the TUF conformance suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConformanceCounts {
    pub passed: u64,
    pub failed: u64,
    pub xfailed: u64,
    pub skipped: u64,
}

/// What one evidence file showed.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "suite", rename_all = "snake_case")]
pub enum Suite {
    AttackDrills {
        /// `lab` or `server`.
        mode: String,
        server: String,
        passed: u64,
        failed: u64,
        not_run: u64,
        drills: Vec<Drill>,
    },
    TufConformance(ConformanceCounts),
}

/// One evidence file and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The file's name within the evidence directory.
    pub file: String,
    /// When the file was last written (the test run), if the filesystem says.
    pub recorded: Option<jiff::Timestamp>,
    /// `pass`, `fail`, or `incomplete` (drills that could not run).
    pub verdict: String,
    #[serde(flatten)]
    pub suite: Suite,
}

/// Parses `conformance: P passed, F failed, X xfailed, S skipped` (the last such line).
pub fn conformance_line(text: &str) -> Option<ConformanceCounts> {
    text.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("conformance:")?;
        let mut counts = ConformanceCounts {
            passed: 0,
            failed: 0,
            xfailed: 0,
            skipped: 0,
        };
        let mut seen = 0;
        for part in rest.split(',') {
            let mut words = part.split_whitespace();
            let n: u64 = words.next()?.parse().ok()?;
            match words.next()? {
                "passed" => counts.passed = n,
                "failed" => counts.failed = n,
                "xfailed" => counts.xfailed = n,
                "skipped" => counts.skipped = n,
                _ => return None,
            }
            seen += 1;
        }
        (seen == 4).then_some(counts)
    })
}

fn attack_verdict(run: &AttackRun) -> &'static str {
    if run.failed > 0 {
        "fail"
    } else if run.not_run > 0 || run.drills.is_empty() {
        "incomplete"
    } else {
        "pass"
    }
}

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
        if path.extension().is_some_and(|e| e == "json") {
            let run: AttackRun = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not the output of `airlock-sim attack --all --json`",
                    path.display()
                )
            })?;
            verdicts.push(Verdict {
                file,
                recorded,
                verdict: attack_verdict(&run).into(),
                suite: Suite::AttackDrills {
                    mode: run.mode,
                    server: run.server,
                    passed: run.passed,
                    failed: run.failed,
                    not_run: run.not_run,
                    drills: run.drills,
                },
            });
        } else if let Some(counts) = conformance_line(&text) {
            verdicts.push(Verdict {
                file,
                recorded,
                verdict: if counts.failed > 0 { "fail" } else { "pass" }.into(),
                suite: Suite::TufConformance(counts),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn conformance_line_is_read_from_the_end_of_a_log() {
        let log = "running 113 tests\nconformance: 1 passed, 0 failed, 0 xfailed, 0 skipped\n...\nconformance: 113 passed, 0 failed, 2 xfailed, 1 skipped\n";
        assert_eq!(
            conformance_line(log),
            Some(ConformanceCounts {
                passed: 113,
                failed: 0,
                xfailed: 2,
                skipped: 1
            })
        );
        assert_eq!(conformance_line("conformance: 3 passed"), None);
        assert_eq!(conformance_line("nothing here"), None);
    }

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
