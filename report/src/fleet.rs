//! Fleet figures in the report: where they came from (a server's admin API, or not
//! requested), the chart of versions over time, and how durations and shares are written.

use serde::Serialize;

use airlock_core::api::{FleetHistoryPoint, FleetRelease, FleetReport};

use crate::document::Chart;
use crate::report::ReportError;

/// Where the report's fleet figures came from, said in the report itself.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FleetFigures {
    /// No `--server`: the report was made from the signed repository alone.
    NotRequested,
    /// Fetched from this server when the report was made.
    FromServer {
        server: String,
        figures: FleetReport,
    },
}

impl FleetFigures {
    pub fn figures(&self) -> Option<&FleetReport> {
        match self {
            FleetFigures::NotRequested => None,
            FleetFigures::FromServer { figures, .. } => Some(figures),
        }
    }

    /// The server's figures for one release, by version.
    pub fn release(&self, version: &str) -> Option<&FleetRelease> {
        self.figures()?
            .releases
            .iter()
            .find(|r| r.version == version)
    }

    /// Refuses figures the server gave for another product than the report's.
    pub fn check_product(&self, product: &str) -> Result<(), ReportError> {
        match self.figures() {
            Some(f) if f.product != product => Err(ReportError::FiguresOfAnotherProduct {
                answered: f.product.clone(),
                asked: product.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

/// The server's fleet history as a chart: one series per version, newest version first (as
/// the versions table), 0 where a version had no device.
pub fn history_chart(history: &[FleetHistoryPoint]) -> Chart {
    let mut names: Vec<&String> = history
        .iter()
        .flat_map(|p| p.versions.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    names.sort_by(
        |a, b| match (semver::Version::parse(a), semver::Version::parse(b)) {
            (Ok(x), Ok(y)) => y.cmp(&x),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(_), Err(_)) => a.cmp(b),
        },
    );
    Chart {
        title: "Devices by installed version over time".into(),
        unit: "devices".into(),
        instants: history.iter().map(|p| p.at).collect(),
        series: names
            .into_iter()
            .map(|name| {
                let counts = history
                    .iter()
                    .map(|p| p.versions.get(name).copied().unwrap_or(0))
                    .collect();
                (name.clone(), counts)
            })
            .collect(),
    }
}

/// A duration for people: `45 s`, `12 min`, `3 h 20 min`, `4 d 6 h`.
pub fn human_duration(seconds: u64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// `part of whole (p%)`, with one decimal.
pub fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return format!("{part} of {whole}");
    }
    format!(
        "{part} of {whole} ({:.1}%)",
        part as f64 * 100.0 / whole as f64
    )
}

/// The ledger's rollout-outcome cell of one release.
pub fn outcome_text(fleet: &FleetFigures, version: &str) -> String {
    let Some(figures) = fleet.figures() else {
        return "not requested".into();
    };
    let Some(r) = figures.releases.iter().find(|r| r.version == version) else {
        return "not published on the server".into();
    };
    match &r.rollout {
        Some(o) => format!(
            "{}{}: {} installed, {} failed since {}",
            o.state,
            o.reason
                .as_ref()
                .map(|why| format!(" ({why})"))
                .unwrap_or_default(),
            o.installed,
            o.failed,
            o.started_at
        ),
        None => format!(
            "no staged rollout (offered to all): {} installed, {} failed",
            r.devices_installed, r.devices_failed
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(45), "45 s");
        assert_eq!(human_duration(12 * 60 + 5), "12 min");
        assert_eq!(human_duration(3 * 3600), "3 h");
        assert_eq!(human_duration(3 * 3600 + 20 * 60), "3 h 20 min");
        assert_eq!(human_duration(4 * 86_400 + 6 * 3600 + 59), "4 d 6 h");
        assert_eq!(human_duration(2 * 86_400 + 59), "2 d");
    }

    #[test]
    fn shares_have_one_decimal_and_survive_zero() {
        assert_eq!(share(28, 30), "28 of 30 (93.3%)");
        assert_eq!(share(0, 0), "0 of 0");
    }

    #[test]
    fn outcome_says_when_figures_were_not_requested() {
        assert_eq!(
            outcome_text(&FleetFigures::NotRequested, "1.2.0"),
            "not requested"
        );
    }
}
