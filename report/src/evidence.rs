//! Automated test verdicts in the report: the JSON outputs of `airlock-sim attack --all
//! --json` and the count line of the TUF conformance suite (`conformance: P passed, F failed,
//! X xfailed, S skipped`, printed last by `scripts/conformance`), judged from a file's text.
//! The signer reads the files (`--evidence DIR`) or runs the drills itself (`--run-drills`).
//!
//! Evidence is bound (issue 16, "Honest verdicts"): a verdict counts only when the report's
//! maker ran the test at report time and captured its output, or when the result file carries
//! a detached signature by a targets key of the repository ([`Provenance`]). A file anyone
//! could have typed is shown as UNVERIFIED and evidences nothing.

use serde::{Deserialize, Serialize};

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

/// How a result came to the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Provenance {
    /// Run by `airlock compliance report` itself; its output captured, never written by hand.
    RunAtReportTime {
        /// The command line that ran.
        command: String,
        /// The tool's `--version` line.
        tool_version: String,
    },
    /// A result file with a valid detached signature (FILE.sig) by this targets key of the
    /// repository's root.
    Signed { keyid: String },
    /// A result file with no valid signature: anyone could have typed it.
    Unverified { reason: String },
}

impl Provenance {
    /// Whether the result is bound (run at report time or signed).
    pub fn is_bound(&self) -> bool {
        !matches!(self, Provenance::Unverified { .. })
    }

    /// In words, for the report's table.
    pub fn words(&self) -> String {
        match self {
            Provenance::RunAtReportTime { tool_version, .. } => {
                format!("run at report time ({tool_version})")
            }
            Provenance::Signed { keyid } => {
                // the key id is whatever the root.json names (read as plain JSON): cut by
                // characters, as a byte index may fall inside one
                let short: String = keyid.chars().take(16).collect();
                format!("signed by targets key {short}")
            }
            Provenance::Unverified { reason } => format!("UNVERIFIED: {reason}"),
        }
    }
}

/// One evidence file and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The file's name within the evidence directory.
    pub file: String,
    /// When the file was last written (the test run), if the filesystem says.
    pub recorded: Option<jiff::Timestamp>,
    /// The sha256 of the file's bytes, binding the report to the exact output it judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `pass`, `fail`, or `incomplete` (drills that could not run).
    pub verdict: String,
    /// Run at report time, signed, or unverified (counts for nothing).
    pub provenance: Provenance,
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

fn unverified() -> Provenance {
    Provenance::Unverified {
        reason: "not signed".into(),
    }
}

/// The verdict of one attack-run file (`airlock-sim attack --all --json` output).
pub fn attack_run(
    file: String,
    recorded: Option<jiff::Timestamp>,
    text: &str,
) -> Result<Verdict, serde_json::Error> {
    let run: AttackRun = serde_json::from_str(text)?;
    Ok(Verdict {
        file,
        recorded,
        sha256: None,
        verdict: attack_verdict(&run).into(),
        provenance: unverified(),
        suite: Suite::AttackDrills {
            mode: run.mode,
            server: run.server,
            passed: run.passed,
            failed: run.failed,
            not_run: run.not_run,
            drills: run.drills,
        },
    })
}

/// The verdict of a conformance log, or `None` when it holds no conformance line.
pub fn conformance_log(
    file: String,
    recorded: Option<jiff::Timestamp>,
    text: &str,
) -> Option<Verdict> {
    let counts = conformance_line(text)?;
    Some(Verdict {
        file,
        recorded,
        sha256: None,
        verdict: if counts.failed > 0 { "fail" } else { "pass" }.into(),
        provenance: unverified(),
        suite: Suite::TufConformance(counts),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_signed_result_names_any_key_id_without_cutting_a_character() {
        // 15 ASCII bytes then a two-byte character: byte 16 falls inside it
        let keyid = format!("{}é{}", "a".repeat(15), "b".repeat(40));
        let words = Provenance::Signed { keyid }.words();
        assert_eq!(words, format!("signed by targets key {}é", "a".repeat(15)));
        let hex = "0123456789abcdef0123".to_string();
        assert_eq!(
            Provenance::Signed { keyid: hex }.words(),
            "signed by targets key 0123456789abcdef"
        );
        for keyid in ["", "é", "€€€€€€€€€€€€€€€€€€€€"] {
            let words = Provenance::Signed {
                keyid: keyid.into(),
            }
            .words();
            assert!(words.starts_with("signed by targets key"), "{words}");
        }
    }

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
    fn attack_runs_with_drills_not_run_are_incomplete() {
        let drill = |ran: bool| {
            serde_json::json!({"attack": "rollback", "expected": "refused", "observed": "refused",
                "ran": ran, "passed": ran})
        };
        let run = |not_run: u64, failed: u64| {
            serde_json::json!({"mode": "lab", "drills": [drill(true), drill(not_run == 0)],
                "passed": 1, "failed": failed, "not_run": not_run})
            .to_string()
        };
        let verdict = |text: &str| attack_run("a.json".into(), None, text).unwrap().verdict;
        assert_eq!(verdict(&run(0, 0)), "pass");
        assert_eq!(verdict(&run(1, 0)), "incomplete");
        assert_eq!(verdict(&run(1, 1)), "fail");
        assert!(attack_run("b.json".into(), None, "[]").is_err());
        let log = conformance_log(
            "c.txt".into(),
            None,
            "conformance: 1 passed, 1 failed, 0 xfailed, 0 skipped",
        );
        assert_eq!(log.map(|v| v.verdict), Some("fail".to_string()));
    }
}
