//! Judging a drill: what the device run showed, compared with what the drill expects (a
//! refusal of one of the drill's kinds, or the signed notice), and the table of results.

use airlock_device::Refusal;

use super::drills::{DrillSpec, Expected};
use super::{AttackSummary, DrillReport};
use crate::device::{DeviceRun, Outcome};

/// What a device run showed, before it is compared with the expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub observed: &'static str,
    /// The kind of refusal, when the device refused.
    pub refusal: Option<Refusal>,
    pub reason: String,
}

/// What the run shows: installed (whatever the outcome says, if the device's state changed),
/// refused, up to date, or the notice.
pub fn observe(run: &DeviceRun, installed: bool) -> Observation {
    match &run.outcome {
        Outcome::Installed {
            to,
            target,
            withheld: true,
            ..
        } => Observation {
            observed: "installed withheld",
            refusal: None,
            reason: format!(
                "installed {to} ({target}) from its verified metadata although the server answered up to date"
            ),
        },
        Outcome::Installed { to, target, .. } => Observation {
            observed: "installed",
            refusal: None,
            reason: format!("installed {to} ({target})"),
        },
        _ if installed => Observation {
            observed: "installed",
            refusal: None,
            reason: format!("the device now runs {}", run.version),
        },
        Outcome::Refused { kind, reason } => Observation {
            observed: "refused",
            refusal: Some(*kind),
            reason: reason.clone(),
        },
        Outcome::Interrupted {
            version,
            received,
            length,
        } => Observation {
            observed: "interrupted",
            refusal: None,
            reason: format!("download of {version} cut off at {received} of {length} bytes"),
        },
        Outcome::Failed { version, code } => Observation {
            observed: "failed",
            refusal: None,
            reason: format!("{version} did not boot ({code})"),
        },
        Outcome::UpToDate { version } => Observation {
            observed: "up to date",
            refusal: None,
            reason: format!("accepted the metadata; stays at {version}"),
        },
        Outcome::EndOfSupport {
            statement,
            security_updates_until,
            ..
        } => Observation {
            observed: "notice shown",
            refusal: None,
            reason: format!(
                "signed notice: security updates ended {security_updates_until}: {statement}"
            ),
        },
    }
}

/// Compares an observation with the drill's expectation; a refusal for another reason than
/// the drill's check is not a pass (it would hide a check that did not fire).
pub fn judge(spec: &DrillSpec, obs: Observation, note: Option<String>) -> DrillReport {
    let mut observed = obs.observed.to_string();
    if observed == "refused"
        && spec.expected == Expected::Refused
        && !obs.refusal.is_some_and(|kind| spec.accepts(kind))
    {
        observed = "refused by another check".into();
    }
    let passed = observed == spec.expected.as_str();
    let reason = match note {
        Some(n) => format!("{} [{n}]", obs.reason),
        None => obs.reason,
    };
    DrillReport::ran(spec, observed, reason, passed)
}

/// A reason shortened for the table (the JSON keeps it whole): no repeated transport
/// wrapper, no scheme and host in URLs, sha256 digests cut to 8 hex digits.
pub fn tidy_reason(reason: &str) -> String {
    let mut s = reason.to_string();
    const WRAP: &str = "Transport 'other' error fetching '";
    while let Some(i) = s.find(WRAP) {
        match s[i + WRAP.len()..].find("': ") {
            Some(j) => s.replace_range(i..i + WRAP.len() + j + 3, ""),
            None => break,
        }
    }
    for scheme in ["http://", "https://"] {
        while let Some(i) = s.find(scheme) {
            let rest = &s[i + scheme.len()..];
            let end = rest.find('/').unwrap_or(rest.len());
            s.replace_range(i..i + scheme.len() + end, "");
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 64 {
            out.push_str(&run[..8]);
            out.push('…');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The table: attack, expected, observed, reason.
pub fn render(s: &AttackSummary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "attack drills against {}:", s.server);
    let _ = writeln!(
        out,
        "  {:<26} {:<19} {:<19} reason",
        "attack", "expected", "observed"
    );
    for d in &s.drills {
        let mark = match (d.ran, d.passed) {
            (false, _) => " ",
            (true, true) => " ",
            (true, false) => "!",
        };
        let _ = writeln!(
            out,
            "{mark} {:<26} {:<19} {:<19} {}",
            d.attack,
            d.expected,
            d.observed,
            tidy_reason(&d.reason)
        );
    }
    let _ = writeln!(
        out,
        "\n{} drills: {} as expected, {} failed (attack succeeded or check did not fire), {} not run: {}",
        s.drills.len(),
        s.passed,
        s.failed,
        s.not_run,
        if s.ok() { "OK" } else { "FAILED" }
    );
    out
}
