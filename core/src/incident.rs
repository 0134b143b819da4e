//! The CRA Art. 14 reporting clock (Regulation (EU) 2024/2847): what a manufacturer must send
//! to the CSIRT designated as coordinator and ENISA, through the single reporting platform,
//! and by when, once it becomes aware of an actively exploited vulnerability (Art. 14(1)-(2))
//! or a severe incident (Art. 14(3)-(4)). Pure: the time is passed in, so the clock can be
//! simulated; the signer stores incidents and renders the drafts.

use serde::{Deserialize, Serialize};

/// Why Art. 14 applies to an incident, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Art. 14(1)-(2): an actively exploited vulnerability in the product.
    ActivelyExploited,
    /// Art. 14(3)-(4): a severe incident having an impact on the security of the product.
    SevereIncident,
    /// Tracked, but neither: Art. 14 sets no deadline (a vulnerability not known to be
    /// exploited is handled under Annex I Part II).
    Neither,
}

/// A notification Art. 14 asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    EarlyWarning,
    Notification,
    FinalReport,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::EarlyWarning, Stage::Notification, Stage::FinalReport];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::EarlyWarning => "early-warning",
            Stage::Notification => "notification",
            Stage::FinalReport => "final-report",
        }
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| {
                format!("unknown stage {s:?}: early-warning, notification or final-report")
            })
    }
}

/// An incident as recorded when the manufacturer became aware of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub product: String,
    /// The CVE id of the vulnerability (`CVE-2026-12345`).
    pub cve: String,
    /// When the manufacturer became aware of it: the clocks start here.
    pub aware_at: jiff::Timestamp,
    pub trigger: Trigger,
    /// When it was recorded.
    pub opened_at: jiff::Timestamp,
    /// The stages sent, and when.
    #[serde(default)]
    pub submitted: std::collections::BTreeMap<Stage, jiff::Timestamp>,
}

/// One deadline of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadline {
    pub stage: Stage,
    /// `None` while the event it runs from has not happened (no fix released yet).
    pub due: Option<jiff::Timestamp>,
    /// The provision and what the deadline runs from.
    pub basis: String,
    pub submitted: Option<jiff::Timestamp>,
}

impl Deadline {
    /// Not sent, and due within `within` of `now` (or overdue).
    pub fn due_within(&self, now: jiff::Timestamp, within: jiff::SignedDuration) -> bool {
        self.submitted.is_none()
            && self
                .due
                .is_some_and(|due| due.duration_since(now) <= within)
    }
}

/// A CVE id: `CVE-`, a four-digit year, `-`, four or more digits.
pub fn check_cve(id: &str) -> Result<(), String> {
    let mut parts = id.splitn(3, '-');
    let ok = parts.next() == Some("CVE")
        && parts
            .next()
            .is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|n| (4..=19).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a CVE id: expected CVE-YYYY-NNNN (four or more digits), e.g. CVE-2026-12345"
        ))
    }
}

fn hours(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_hours(n)
}

fn after(t: jiff::Timestamp, d: jiff::SignedDuration) -> Option<jiff::Timestamp> {
    t.checked_add(d).ok()
}

/// One calendar month after `t` (UTC), for Art. 14(4)(c).
fn month_after(t: jiff::Timestamp) -> Option<jiff::Timestamp> {
    t.to_zoned(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::Span::new().months(1))
        .ok()
        .map(|z| z.timestamp())
}

/// The deadlines of `incident`. `fix_released` is when a corrective measure became available
/// (the first signed release naming the CVE in its advisories), if one has.
pub fn deadlines(incident: &Incident, fix_released: Option<jiff::Timestamp>) -> Vec<Deadline> {
    let sent = |stage| incident.submitted.get(&stage).copied();
    let aware = incident.aware_at;
    let deadline = |stage, due, basis: &str| Deadline {
        stage,
        due,
        basis: basis.to_string(),
        submitted: sent(stage),
    };
    match incident.trigger {
        Trigger::Neither => Vec::new(),
        Trigger::ActivelyExploited => vec![
            deadline(
                Stage::EarlyWarning,
                after(aware, hours(24)),
                "Art. 14(2)(a): within 24 hours of becoming aware",
            ),
            deadline(
                Stage::Notification,
                after(aware, hours(72)),
                "Art. 14(2)(b): within 72 hours of becoming aware",
            ),
            deadline(
                Stage::FinalReport,
                fix_released.and_then(|t| after(t, hours(14 * 24))),
                if fix_released.is_some() {
                    "Art. 14(2)(c): within 14 days after the corrective measure (the release naming the CVE) became available"
                } else {
                    "Art. 14(2)(c): within 14 days after a corrective measure is available; no release names the CVE yet"
                },
            ),
        ],
        Trigger::SevereIncident => {
            let notified = sent(Stage::Notification).or_else(|| after(aware, hours(72)));
            vec![
                deadline(
                    Stage::EarlyWarning,
                    after(aware, hours(24)),
                    "Art. 14(4)(a): within 24 hours of becoming aware",
                ),
                deadline(
                    Stage::Notification,
                    after(aware, hours(72)),
                    "Art. 14(4)(b): within 72 hours of becoming aware",
                ),
                deadline(
                    Stage::FinalReport,
                    notified.and_then(month_after),
                    if sent(Stage::Notification).is_some() {
                        "Art. 14(4)(c): within one month after the incident notification was sent"
                    } else {
                        "Art. 14(4)(c): within one month after the incident notification (counted from its deadline until it is sent)"
                    },
                ),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(trigger: Trigger) -> Incident {
        Incident {
            product: "acme-cam".into(),
            cve: "CVE-2026-1111".into(),
            aware_at: "2026-09-20T08:00:00Z".parse().unwrap(),
            trigger,
            opened_at: "2026-09-20T09:00:00Z".parse().unwrap(),
            submitted: Default::default(),
        }
    }

    fn due(d: &[Deadline], stage: Stage) -> Option<String> {
        d.iter()
            .find(|d| d.stage == stage)
            .and_then(|d| d.due)
            .map(|t| t.to_string())
    }

    #[test]
    fn an_exploited_vulnerability_runs_24h_72h_and_14_days_after_the_fix() {
        let i = incident(Trigger::ActivelyExploited);
        let d = deadlines(&i, None);
        assert_eq!(
            due(&d, Stage::EarlyWarning).unwrap(),
            "2026-09-21T08:00:00Z"
        );
        assert_eq!(
            due(&d, Stage::Notification).unwrap(),
            "2026-09-23T08:00:00Z"
        );
        assert_eq!(due(&d, Stage::FinalReport), None);
        let fixed = "2026-09-25T12:00:00Z".parse().unwrap();
        let d = deadlines(&i, Some(fixed));
        assert_eq!(due(&d, Stage::FinalReport).unwrap(), "2026-10-09T12:00:00Z");
    }

    #[test]
    fn a_severe_incident_ends_a_month_after_its_notification() {
        let mut i = incident(Trigger::SevereIncident);
        let d = deadlines(&i, None);
        assert_eq!(due(&d, Stage::FinalReport).unwrap(), "2026-10-23T08:00:00Z");
        i.submitted
            .insert(Stage::Notification, "2026-09-22T10:00:00Z".parse().unwrap());
        let d = deadlines(&i, None);
        assert_eq!(due(&d, Stage::FinalReport).unwrap(), "2026-10-22T10:00:00Z");
        assert!(deadlines(&incident(Trigger::Neither), None).is_empty());
    }

    #[test]
    fn due_within_counts_overdue_and_ignores_what_was_sent() {
        let mut i = incident(Trigger::ActivelyExploited);
        let twelve = jiff::SignedDuration::from_hours(12);
        let early = |i: &Incident, now: &str| {
            deadlines(i, None)[0].due_within(now.parse().unwrap(), twelve)
        };
        assert!(!early(&i, "2026-09-20T19:59:59Z"));
        assert!(early(&i, "2026-09-20T20:00:00Z"));
        assert!(early(&i, "2026-09-22T00:00:00Z"), "overdue counts");
        i.submitted
            .insert(Stage::EarlyWarning, "2026-09-20T21:00:00Z".parse().unwrap());
        assert!(!early(&i, "2026-09-22T00:00:00Z"));
    }

    #[test]
    fn cve_ids_are_checked() {
        assert!(check_cve("CVE-2026-1111").is_ok());
        assert!(check_cve("CVE-2026-1234567").is_ok());
        for bad in [
            "cve-2026-1111",
            "CVE-26-1111",
            "CVE-2026-11",
            "CVE-2026-11a1",
            "GHSA-x",
        ] {
            assert!(check_cve(bad).is_err(), "{bad}");
        }
    }
}
