//! `airlock incident open|status|submitted|draft`: the CRA Art. 14 reporting clock. `status
//! --check` exits 2 when a notification is due within 12 hours (or overdue), for cron; this
//! command's 2 is that result, not a usage error (docs/cli.md).

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

use airlock_signer::incident::{self, Stage, Trigger};

use super::{ExitWith, Globals};

/// The repository and the clock, shared by every incident command.
#[derive(clap::Args)]
pub struct Common {
    /// The repository directory (incidents are kept in REPO/incidents/PRODUCT/CVE.json).
    #[arg(long, env = "AIRLOCK_REPO", default_value = ".")]
    repo: PathBuf,
    /// The current time (RFC 3339), for drills and tests on a simulated clock; default: the
    /// system clock.
    #[arg(long, value_name = "TIME", env = "AIRLOCK_NOW")]
    now: Option<jiff::Timestamp>,
}

impl Common {
    fn now(&self) -> jiff::Timestamp {
        self.now.unwrap_or_else(jiff::Timestamp::now)
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the clocks of an incident: early warning within 24 h and notification within
    /// 72 h of --aware-at; the final report 14 days after a release naming the CVE in its
    /// advisories (actively exploited) or one month after the notification (severe incident).
    Open {
        /// The product id.
        product: String,
        /// The CVE id of the vulnerability (CVE-YYYY-NNNN).
        #[arg(long, env = "AIRLOCK_INCIDENT_CVE")]
        cve: String,
        /// When you became aware of it (RFC 3339, e.g. 2026-09-20T08:00:00Z).
        #[arg(long, value_name = "TIME", env = "AIRLOCK_INCIDENT_AWARE_AT")]
        aware_at: jiff::Timestamp,
        /// An actively exploited vulnerability (CRA Art. 14(1)-(2)).
        #[arg(
            long,
            env = "AIRLOCK_INCIDENT_ACTIVELY_EXPLOITED",
            conflicts_with = "severe_incident"
        )]
        actively_exploited: bool,
        /// A severe incident having an impact on the security of the product (Art. 14(3)-(4)).
        #[arg(long, env = "AIRLOCK_INCIDENT_SEVERE")]
        severe_incident: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Open incidents and their deadlines. With --check, exit 2 when one is due within 12
    /// hours or overdue (and not recorded as sent).
    Status {
        /// Only this product's incidents.
        product: Option<String>,
        /// Exit 2 when a deadline is due within 12 hours or overdue (for cron).
        #[arg(long, env = "AIRLOCK_INCIDENT_CHECK")]
        check: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Record that a stage was sent, so its deadline no longer counts as due.
    Submitted {
        /// The product id.
        product: String,
        /// The CVE id.
        #[arg(long, env = "AIRLOCK_INCIDENT_CVE")]
        cve: String,
        /// early-warning, notification or final-report.
        #[arg(long, env = "AIRLOCK_INCIDENT_STAGE")]
        stage: Stage,
        /// When it was sent (RFC 3339; default: now).
        #[arg(long, value_name = "TIME", env = "AIRLOCK_INCIDENT_SUBMITTED_AT")]
        at: Option<jiff::Timestamp>,
        #[command(flatten)]
        common: Common,
    },
    /// A draft of the early warning or the notification with the fields Art. 14(2) or 14(4)
    /// asks for: filled from the signed repository where it knows them, marked for you where
    /// it does not (Markdown; --json for JSON).
    Draft {
        /// The product id.
        product: String,
        /// The CVE id.
        #[arg(long, env = "AIRLOCK_INCIDENT_CVE")]
        cve: String,
        /// early-warning or notification.
        #[arg(long, env = "AIRLOCK_INCIDENT_STAGE")]
        stage: Stage,
        #[command(flatten)]
        common: Common,
    },
}

/// Twelve hours: `status --check` warns this long before a deadline.
const CHECK_WITHIN_HOURS: i64 = 12;

pub fn run(command: Command, globals: &Globals) -> Result<()> {
    match command {
        Command::Open {
            product,
            cve,
            aware_at,
            actively_exploited,
            severe_incident,
            common,
        } => {
            let repo = globals.open(&common.repo)?;
            let trigger = match (actively_exploited, severe_incident) {
                (true, _) => Trigger::ActivelyExploited,
                (false, true) => Trigger::SevereIncident,
                (false, false) => Trigger::Neither,
            };
            let now = common.now();
            let s = incident::open(&repo, &product, &cve, aware_at, trigger, now)?;
            globals.print(&s, || {
                let mut text = incident::render(std::slice::from_ref(&s), now);
                if trigger == Trigger::Neither {
                    text += "neither --actively-exploited nor --severe-incident: tracked, with no Art. 14 deadline\n";
                }
                text
            })
        }
        Command::Status {
            product,
            check,
            common,
        } => {
            let repo = globals.open(&common.repo)?;
            let now = common.now();
            let list = incident::list(&repo, product.as_deref())?;
            let within = jiff::SignedDuration::from_hours(CHECK_WITHIN_HOURS);
            let due: Vec<String> = list
                .iter()
                .flat_map(|s| {
                    s.deadlines
                        .iter()
                        .filter(|d| d.due_within(now, within))
                        .map(move |d| {
                            format!(
                                "{} {} {}",
                                s.incident.product,
                                s.incident.cve,
                                d.stage.as_str()
                            )
                        })
                })
                .collect();
            globals.print(
                &serde_json::json!({"now": now, "incidents": list, "due_within_12h": due}),
                || incident::render(&list, now),
            )?;
            if check && !due.is_empty() {
                eprintln!(
                    "due within {CHECK_WITHIN_HOURS} hours or overdue: {}",
                    due.join("; ")
                );
                return Err(ExitWith(2).into());
            }
            Ok(())
        }
        Command::Submitted {
            product,
            cve,
            stage,
            at,
            common,
        } => {
            let repo = globals.open(&common.repo)?;
            let now = common.now();
            let s = incident::submitted(&repo, &product, &cve, stage, at.unwrap_or(now))?;
            globals.print(&s, || incident::render(std::slice::from_ref(&s), now))
        }
        Command::Draft {
            product,
            cve,
            stage,
            common,
        } => {
            let repo = globals.open(&common.repo)?;
            let d = incident::draft(&repo, &product, &cve, stage)?;
            globals.print(&d, || incident::render_draft(&d))
        }
    }
}
