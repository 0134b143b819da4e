//! Geometry of the dashboard's inline SVG charts: the support-window timeline and the fleet's
//! versions over time. Only numbers are computed here; the templates draw them (and escape
//! every label).

use airlock_core::api::FleetHistoryPoint;
use airlock_core::support::SupportRecord;
use jiff::civil::Date;

/// Width of a chart's drawing area in SVG user units (it scales to the page).
pub const WIDTH: f64 = 600.0;

/// One product's bar on the timeline.
pub struct TimelineRow {
    pub product: String,
    pub y: f64,
    /// Support start, end of feature updates, end of security updates (x positions).
    pub start: f64,
    pub feature_end: f64,
    pub end: f64,
    pub start_date: Date,
    pub feature_until: Date,
    pub security_until: Date,
    /// Security support has ended.
    pub ended: bool,
    /// A window (feature or security) ends within [`SOON_DAYS`].
    pub ends_soon: bool,
}

/// A window end this close is highlighted.
pub const SOON_DAYS: i32 = 90;
const ROW: f64 = 28.0;

pub struct Timeline {
    pub rows: Vec<TimelineRow>,
    pub today: f64,
    pub today_label: Date,
    pub height: f64,
    /// Year boundaries: (x, year).
    pub years: Vec<(f64, i16)>,
}

fn days(from: Date, to: Date) -> f64 {
    // a date difference is in days (its largest unit by default)
    to.since(from)
        .map_or(0.0, |span| f64::from(span.get_days()))
}

fn fmt(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn timeline<'a>(products: impl Iterator<Item = &'a SupportRecord>, today: Date) -> Timeline {
    let records: Vec<&SupportRecord> = products.collect();
    let first = records
        .iter()
        .map(|r| r.support_start)
        .chain([today])
        .min()
        .unwrap_or(today);
    let last = records
        .iter()
        .map(|r| r.security_updates_until)
        .chain([today.saturating_add(jiff::Span::new().days(180))])
        .max()
        .unwrap_or(today);
    let span = days(first, last).max(1.0);
    let x = |d: Date| fmt(days(first, d) / span * WIDTH);
    let soon = |d: Date| {
        let left = days(today, d);
        (0.0..=f64::from(SOON_DAYS)).contains(&left)
    };
    let rows = records
        .iter()
        .enumerate()
        .map(|(i, r)| TimelineRow {
            product: r.product.clone(),
            y: fmt(20.0 + i as f64 * ROW),
            start: x(r.support_start),
            feature_end: x(r.feature_updates_until.min(r.security_updates_until)),
            end: x(r.security_updates_until),
            start_date: r.support_start,
            feature_until: r.feature_updates_until,
            security_until: r.security_updates_until,
            ended: r.security_updates_until < today,
            ends_soon: soon(r.feature_updates_until) || soon(r.security_updates_until),
        })
        .collect::<Vec<_>>();
    let years = (first.year() + 1..=last.year())
        .filter_map(|y| Date::new(y, 1, 1).ok().map(|d| (x(d), y)))
        .collect();
    Timeline {
        height: fmt(20.0 + rows.len() as f64 * ROW + 4.0),
        rows,
        today: x(today),
        today_label: today,
        years,
    }
}

/// One bar segment of the fleet chart: devices on one version at one instant.
pub struct Segment {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// Colour class `v0`..`v7` (the legend's).
    pub class: String,
    pub title: String,
}

pub struct FleetChart {
    pub segments: Vec<Segment>,
    /// (colour class, version), newest version first.
    pub legend: Vec<(String, String)>,
    pub max_devices: u64,
    pub first: String,
    pub last: String,
}

pub const CHART_HEIGHT: f64 = 160.0;

/// Stacked bars of devices by version at each instant of the fleet history.
pub fn fleet_chart(history: &[FleetHistoryPoint]) -> Option<FleetChart> {
    let (first, last) = (history.first()?, history.last()?);
    let mut versions: Vec<&String> = history.iter().flat_map(|p| p.versions.keys()).collect();
    versions.sort_by(
        |a, b| match (semver::Version::parse(a), semver::Version::parse(b)) {
            (Ok(x), Ok(y)) => y.cmp(&x),
            _ => b.cmp(a),
        },
    );
    versions.dedup();
    let class = |v: &str| {
        let i = versions.iter().position(|x| x.as_str() == v).unwrap_or(0);
        format!("v{}", i % 8)
    };
    let max = history
        .iter()
        .map(|p| p.versions.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / history.len() as f64;
    let mut segments = Vec::new();
    for (i, point) in history.iter().enumerate() {
        let mut base = CHART_HEIGHT;
        // oldest version at the bottom
        for version in versions.iter().rev() {
            let Some(&n) = point.versions.get(*version) else {
                continue;
            };
            let h = n as f64 / max as f64 * CHART_HEIGHT;
            base -= h;
            segments.push(Segment {
                x: fmt(i as f64 * slot + 1.0),
                y: fmt(base),
                width: fmt((slot - 2.0).max(1.0)),
                height: fmt(h),
                class: class(version),
                title: format!("{}: {n} devices on {version}", point.at),
            });
        }
    }
    Some(FleetChart {
        legend: versions.iter().map(|v| (class(v), (*v).clone())).collect(),
        segments,
        max_devices: max,
        first: first.at.to_string(),
        last: last.at.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_marks_today_and_windows_that_end_soon() {
        let record = |product: &str, start: &str, feature: &str, end: &str| -> SupportRecord {
            serde_json::from_value(serde_json::json!({
                "product": product, "support_start": start, "feature_updates_until": feature,
                "security_updates_until": end, "statement": "s"
            }))
            .unwrap()
        };
        let today: Date = "2026-12-02".parse().unwrap();
        let records = [
            record("old-cam", "2020-01-01", "2022-01-01", "2025-12-31"),
            record("acme-cam", "2024-01-01", "2027-01-15", "2030-12-31"),
        ];
        let t = timeline(records.iter(), today);
        assert_eq!(t.rows[0].start, 0.0);
        assert_eq!(t.rows[1].end, WIDTH);
        assert!(t.rows[0].ended && !t.rows[0].ends_soon);
        assert!(
            !t.rows[1].ended && t.rows[1].ends_soon,
            "feature window ends in 44 days"
        );
        assert!(t.today > t.rows[0].end && t.today < t.rows[1].feature_end);
        assert_eq!(t.years.first().map(|y| y.1), Some(2021));
    }

    #[test]
    fn the_fleet_chart_stacks_versions_to_the_largest_fleet() {
        let point = |at: i64, versions: &[(&str, u64)]| FleetHistoryPoint {
            at: jiff::Timestamp::from_second(at).unwrap(),
            versions: versions.iter().map(|(v, n)| (v.to_string(), *n)).collect(),
        };
        let chart = fleet_chart(&[
            point(0, &[("1.0.0", 4)]),
            point(10, &[("1.0.0", 2), ("1.10.0", 2)]),
        ])
        .unwrap();
        assert_eq!(chart.max_devices, 4);
        let legend: Vec<&str> = chart.legend.iter().map(|l| l.1.as_str()).collect();
        assert_eq!(legend, ["1.10.0", "1.0.0"]);
        assert_eq!(chart.segments.len(), 3);
        assert_eq!(chart.segments[0].height, CHART_HEIGHT);
        assert_eq!(chart.segments[2].y, 0.0, "the second bar reaches the top");
        assert!(fleet_chart(&[]).is_none());
    }
}
