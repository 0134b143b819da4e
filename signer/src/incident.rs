//! `airlock incident`: the CRA Art. 14 reporting clock for a product. An incident is opened
//! when the manufacturer becomes aware of an actively exploited vulnerability or a severe
//! incident; its deadlines ([`airlock_core::incident::deadlines`]) run from that moment, and
//! the final report of an exploited vulnerability from the first signed release whose
//! advisories name the CVE (the corrective measure). Incidents are kept, unsigned, in
//! `REPO/incidents/PRODUCT/CVE.json`; drafts of the early warning and the notification carry
//! the fields Art. 14(2) and 14(4) ask for, filled from the signed repository where it knows
//! them and marked for the manufacturer where it does not.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::PathBuf;

pub use airlock_core::incident::{check_cve, deadlines, Deadline, Incident, Stage, Trigger};
use airlock_core::release::Release;

use crate::durable;
use crate::repo::Repo;
use crate::status;

/// Where an incident is kept.
pub fn path(repo: &Repo, product: &str, cve: &str) -> PathBuf {
    repo.dir
        .join("incidents")
        .join(product)
        .join(format!("{cve}.json"))
}

/// The releases of `product` as signed in the repository (also checks the product exists).
fn releases(repo: &Repo, product: &str) -> Result<Vec<Release>> {
    let s = status::status(repo)?;
    Ok(s.product(product)?.releases.clone())
}

/// When the first signed release naming `cve` in its advisories was released.
pub fn fix_released(releases: &[Release], cve: &str) -> Option<(jiff::Timestamp, String)> {
    releases
        .iter()
        .filter(|r| {
            r.info
                .advisories
                .iter()
                .any(|a| a.id.eq_ignore_ascii_case(cve))
        })
        .min_by_key(|r| r.info.released)
        .map(|r| (r.info.released, r.info.version.to_string()))
}

/// An incident with its deadlines as of a moment.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentStatus {
    #[serde(flatten)]
    pub incident: Incident,
    /// The release that fixes it, if one names the CVE.
    pub fixed_in: Option<String>,
    pub deadlines: Vec<Deadline>,
}

fn status_of(incident: Incident, releases: &[Release]) -> IncidentStatus {
    let fix = fix_released(releases, &incident.cve);
    IncidentStatus {
        deadlines: deadlines(&incident, fix.as_ref().map(|(t, _)| *t)),
        fixed_in: fix.map(|(_, v)| v),
        incident,
    }
}

/// `airlock incident open`: records the incident; refuses one already open for the CVE.
pub fn open(
    repo: &Repo,
    product: &str,
    cve: &str,
    aware_at: jiff::Timestamp,
    trigger: Trigger,
    now: jiff::Timestamp,
) -> Result<IncidentStatus> {
    check_cve(cve).map_err(airlock_cli::Failure::usage)?;
    let releases = releases(repo, product)?;
    if aware_at > now {
        return Err(airlock_cli::Failure::usage(format!(
            "--aware-at {aware_at} is later than now ({now}): give when you became aware of it"
        ))
        .into());
    }
    let path = path(repo, product, cve);
    if path.exists() {
        return Err(airlock_cli::Failure::refused(format!(
            "an incident for {cve} is already open for {product} ({}); see `airlock incident status`",
            path.display()
        ))
        .into());
    }
    let incident = Incident {
        product: product.to_string(),
        cve: cve.to_string(),
        aware_at: airlock_core::whole_seconds(aware_at),
        trigger,
        opened_at: airlock_core::whole_seconds(now),
        submitted: Default::default(),
    };
    write(repo, &incident)?;
    Ok(status_of(incident, &releases))
}

fn write(repo: &Repo, incident: &Incident) -> Result<()> {
    let path = path(repo, &incident.product, &incident.cve);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut bytes = serde_json::to_vec_pretty(incident)?;
    bytes.push(b'\n');
    durable::write_atomic(&path, &bytes)
}

fn load(repo: &Repo, product: &str, cve: &str) -> Result<Incident> {
    check_cve(cve).map_err(airlock_cli::Failure::usage)?;
    let path = path(repo, product, cve);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(airlock_cli::Failure::not_found(format!(
                "no incident for {cve} is open for {product}: open it with `airlock incident open {product} --cve {cve} --aware-at TIME`"
            ))
            .into())
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))
}

/// `airlock incident submitted`: records that a stage was sent at `at`.
pub fn submitted(
    repo: &Repo,
    product: &str,
    cve: &str,
    stage: Stage,
    at: jiff::Timestamp,
) -> Result<IncidentStatus> {
    let releases = releases(repo, product)?;
    let mut incident = load(repo, product, cve)?;
    if incident.trigger == Trigger::Neither {
        bail!("{cve} is tracked without an Art. 14 trigger: nothing is to be sent");
    }
    if at < incident.aware_at {
        return Err(airlock_cli::Failure::usage(format!(
            "--at {at} is before the incident's --aware-at {}",
            incident.aware_at
        ))
        .into());
    }
    incident
        .submitted
        .insert(stage, airlock_core::whole_seconds(at));
    write(repo, &incident)?;
    Ok(status_of(incident, &releases))
}

/// Every incident of the repository (of `product` only, if given), oldest awareness first.
pub fn list(repo: &Repo, product: Option<&str>) -> Result<Vec<IncidentStatus>> {
    let s = status::status(repo)?;
    let products: Vec<&status::ProductStatus> = match product {
        Some(p) => vec![s.product(p)?],
        None => s.products.iter().collect(),
    };
    let mut out = Vec::new();
    for p in products {
        let dir = repo.dir.join("incidents").join(&p.product);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries {
            let path = entry
                .with_context(|| format!("reading {}", dir.display()))?
                .path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let incident: Incident = serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", path.display()))?;
            out.push(status_of(incident, &p.releases));
        }
    }
    out.sort_by(|a, b| {
        (a.incident.aware_at, &a.incident.cve).cmp(&(b.incident.aware_at, &b.incident.cve))
    });
    Ok(out)
}

/// A draft of one notification: its title and (field, value) pairs.
#[derive(Debug, Clone, Serialize)]
pub struct Draft {
    pub product: String,
    pub cve: String,
    pub stage: Stage,
    pub provision: String,
    pub due: Option<jiff::Timestamp>,
    pub fields: Vec<(String, String)>,
}

/// What the manufacturer must fill in: said in the draft, never invented.
pub const TO_COMPLETE: &str = "[to be completed by the manufacturer]";

/// `airlock incident draft`: the early warning or the notification, with the fields Art. 14
/// asks for.
pub fn draft(repo: &Repo, product: &str, cve: &str, stage: Stage) -> Result<Draft> {
    let s = status::status(repo)?;
    let p = s.product(product)?;
    let incident = load(repo, product, cve)?;
    let current = status_of(incident.clone(), &p.releases);
    let due = current
        .deadlines
        .iter()
        .find(|d| d.stage == stage)
        .and_then(|d| d.due);
    let fixing = p
        .releases
        .iter()
        .filter(|r| {
            r.info
                .advisories
                .iter()
                .any(|a| a.id.eq_ignore_ascii_case(cve))
        })
        .min_by_key(|r| r.info.released);
    let advisory = fixing.and_then(|r| {
        r.info
            .advisories
            .iter()
            .find(|a| a.id.eq_ignore_ascii_case(cve))
    });
    let exploited = match incident.trigger {
        Trigger::ActivelyExploited => true,
        Trigger::SevereIncident => false,
        Trigger::Neither => bail!(
            "{cve} was opened without --actively-exploited or --severe-incident: Art. 14 asks for no notification"
        ),
    };
    let provision = match (exploited, stage) {
        (true, Stage::EarlyWarning) => "CRA Art. 14(2)(a): early warning of an actively exploited vulnerability",
        (true, Stage::Notification) => "CRA Art. 14(2)(b): vulnerability notification",
        (false, Stage::EarlyWarning) => "CRA Art. 14(4)(a): early warning of a severe incident",
        (false, Stage::Notification) => "CRA Art. 14(4)(b): incident notification",
        (_, Stage::FinalReport) => bail!(
            "airlock drafts the early warning and the notification; the final report (Art. 14(2)(c), 14(4)(c)) is the manufacturer's"
        ),
    };
    let versions: Vec<String> = p
        .releases
        .iter()
        .map(|r| {
            format!(
                "{} (security version {})",
                r.info.version, r.info.security_version
            )
        })
        .collect();
    let mut fields: Vec<(String, String)> = vec![
        ("To".into(), "the CSIRT designated as coordinator and ENISA, through the single reporting platform (Art. 14(1), (3); Art. 16)".into()),
        ("Manufacturer".into(), TO_COMPLETE.into()),
        ("Product with digital elements".into(), format!("{product}: security updates until {}", p.support.security_updates_until)),
        ("Vulnerability".into(), cve.to_string()),
        ("Trigger".into(), if exploited { "actively exploited vulnerability".into() } else { "severe incident having an impact on the security of the product".into() }),
        ("Manufacturer became aware".into(), incident.aware_at.to_string()),
        ("Due".into(), due.map(|d| d.to_string()).unwrap_or_else(|| "-".into())),
    ];
    if !exploited {
        fields.push((
            "Suspected to be caused by unlawful or malicious acts (Art. 14(4)(a))".into(),
            TO_COMPLETE.into(),
        ));
    }
    fields.push((
        "Member States where the product has been made available".into(),
        TO_COMPLETE.into(),
    ));
    if stage == Stage::Notification {
        fields.push((
            "General information about the product concerned".into(),
            format!(
                "{product}; signed releases: {}",
                if versions.is_empty() {
                    "none".into()
                } else {
                    versions.join(", ")
                }
            ),
        ));
        fields.push((
            if exploited {
                "General nature of the exploit and of the vulnerability".into()
            } else {
                "General nature of the incident and initial assessment".into()
            },
            match advisory {
                Some(a) => format!(
                    "{} ({}): {}",
                    a.id,
                    format!("{:?}", a.severity).to_lowercase(),
                    a.summary
                ),
                None => TO_COMPLETE.into(),
            },
        ));
        fields.push((
            "Corrective or mitigating measures taken".into(),
            match fixing {
                Some(r) => format!(
                    "release {} (security version {}), signed {}, offered to every device automatically by default",
                    r.info.version, r.info.security_version, r.info.released
                ),
                None => format!("none released yet; {TO_COMPLETE}"),
            },
        ));
        fields.push((
            "Corrective or mitigating measures users can take".into(),
            match fixing {
                Some(r) => format!("install {} {} or later (devices with automatic updates install it without action)", product, r.info.version),
                None => TO_COMPLETE.into(),
            },
        ));
        fields.push((
            "How sensitive the manufacturer deems the information".into(),
            TO_COMPLETE.into(),
        ));
    }
    fields.push((
        "Informing users (Art. 14(8))".into(),
        "the signed advisory of the fixing release (`airlock release add --advisory`), served at /v1/products/{product}/advisories and named in the devices' update answer".replace("{product}", product),
    ));
    Ok(Draft {
        product: product.to_string(),
        cve: cve.to_string(),
        stage,
        provision: provision.to_string(),
        due,
        fields,
    })
}

/// A draft as Markdown.
pub fn render_draft(d: &Draft) -> String {
    let mut out = format!(
        "# DRAFT {}: {} {}\n\n{}.\n\n| field | value |\n|---|---|\n",
        d.stage.as_str(),
        d.product,
        d.cve,
        d.provision
    );
    for (k, v) in &d.fields {
        out += &format!("| {} | {} |\n", k, v.replace('|', "\\|"));
    }
    out
}

/// Incidents and their deadlines as text, relative to `now`.
pub fn render(list: &[IncidentStatus], now: jiff::Timestamp) -> String {
    if list.is_empty() {
        return "no incidents open\n".into();
    }
    let mut out = String::new();
    for s in list {
        let i = &s.incident;
        out += &format!(
            "{} {} ({}), aware since {}{}\n",
            i.product,
            i.cve,
            match i.trigger {
                Trigger::ActivelyExploited => "actively exploited",
                Trigger::SevereIncident => "severe incident",
                Trigger::Neither => "no Art. 14 trigger",
            },
            i.aware_at,
            s.fixed_in
                .as_ref()
                .map(|v| format!(", fixed in {v}"))
                .unwrap_or_default()
        );
        for d in &s.deadlines {
            let when = match (d.submitted, d.due) {
                (Some(sent), _) => format!("sent {sent}"),
                (None, Some(due)) => {
                    let left = due.duration_since(now);
                    if left.is_negative() {
                        format!("OVERDUE since {due}")
                    } else {
                        format!("due {due} (in {}h)", left.as_hours())
                    }
                }
                (None, None) => "not yet running".into(),
            };
            out += &format!("  {:<13} {when}: {}\n", d.stage.as_str(), d.basis);
        }
    }
    out
}
