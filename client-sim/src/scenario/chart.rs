//! Charts of a scenario run, as SVG: fleet versions over time, rollout waves against installs,
//! and each rollout's failure rate against its pause threshold. Drawn as the compliance
//! report's charts are ([`airlock_report::chart`]: one palette, axis layout and line styles).

use anyhow::Result;
use std::collections::BTreeSet;

use airlock_report::chart::{Axis, Legend, LineChart, LineStyle, Series};

use super::Sample;

const SIZE: (u32, u32) = (900, 420);
/// Width of the y axis' label area, in pixels (the x axis' is 36).
const Y_LABELS: u32 = 56;

fn x_axis(samples: &[Sample]) -> Axis<'static> {
    Axis::new(
        "simulated hours",
        0.0..samples.last().map_or(1.0, |s| s.hours.max(1.0)),
        36,
    )
}

fn chart(title: String, x: Axis<'static>, y: Axis<'static>, legend: Legend) -> LineChart<'static> {
    LineChart {
        size: SIZE,
        caption: Some(title),
        x,
        y,
        legend,
        series: Vec::new(),
    }
}

/// Devices per `product@version` over time.
pub fn versions(samples: &[Sample], title: &str) -> Result<String> {
    let keys: BTreeSet<&String> = samples.iter().flat_map(|s| s.versions.keys()).collect();
    let top = samples
        .iter()
        .flat_map(|s| s.versions.values())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let mut c = chart(
        format!("{title}: fleet versions"),
        x_axis(samples),
        Axis::new("devices", 0.0..(top as f64 * 1.08), Y_LABELS),
        Legend::UpperRight,
    );
    c.series = keys
        .iter()
        .enumerate()
        .map(|(i, key)| Series {
            name: key.to_string(),
            color: i,
            style: LineStyle::Solid,
            points: samples
                .iter()
                .map(|s| (s.hours, s.versions.get(*key).copied().unwrap_or(0) as f64))
                .collect(),
        })
        .collect();
    Ok(c.svg()?)
}

fn rollout_names(samples: &[Sample]) -> BTreeSet<String> {
    samples
        .iter()
        .flat_map(|s| s.rollouts.iter().map(|r| r.rollout.clone()))
        .collect()
}

/// Each rollout's waves (share of the fleet reached, in percent; zero while paused) against
/// the devices that installed it.
pub fn rollouts(samples: &[Sample], title: &str) -> Result<String> {
    let mut c = chart(
        format!("{title}: rollout waves"),
        x_axis(samples),
        Axis::new("percent", 0.0..105.0, Y_LABELS),
        Legend::UpperLeft,
    );
    for (i, name) in rollout_names(samples).iter().enumerate() {
        let released = samples.iter().filter_map(|s| {
            s.rollouts.iter().find(|r| &r.rollout == name).map(|r| {
                let open = matches!(r.state.as_str(), "active" | "complete");
                (s.hours, if open { r.reached_percent } else { 0.0 })
            })
        });
        c.series.push(Series {
            name: format!("{name}: wave reached (%)"),
            color: i,
            style: LineStyle::Solid,
            points: released.collect(),
        });
        // installs as a share of the devices that ran the product at the first sample
        let product = name.split('@').next().unwrap_or("");
        let fleet = samples
            .first()
            .map(|s| {
                s.versions
                    .iter()
                    .filter(|(k, _)| k.split('@').next() == Some(product))
                    .map(|(_, n)| *n)
                    .sum::<usize>()
            })
            .unwrap_or(0)
            .max(1);
        let installed = samples.iter().filter_map(|s| {
            s.rollouts
                .iter()
                .find(|r| &r.rollout == name)
                .map(|r| (s.hours, r.installed as f64 * 100.0 / fleet as f64))
        });
        c.series.push(Series {
            name: format!("{name}: installed (% of fleet)"),
            color: i,
            style: LineStyle::Faint,
            points: installed.collect(),
        });
    }
    Ok(c.svg()?)
}

/// Failed devices as a percentage of those that reported (installed + failed).
fn failure_rate(installed: usize, failed: usize) -> f64 {
    if installed + failed == 0 {
        0.0
    } else {
        failed as f64 * 100.0 / (installed + failed) as f64
    }
}

/// Each rollout's failure rate (failed / (installed + failed) devices) against its pause
/// threshold.
pub fn failures(samples: &[Sample], title: &str) -> Result<String> {
    let top = samples
        .iter()
        .flat_map(|s| s.rollouts.iter())
        .map(|r| failure_rate(r.installed, r.failed).max(r.threshold_percent.unwrap_or(0.0)))
        .fold(5.0_f64, f64::max);
    let x = x_axis(samples);
    let range = x.range.clone();
    let mut c = chart(
        format!("{title}: failure rate vs pause threshold"),
        x,
        Axis::new("percent of reporting devices", 0.0..(top * 1.2), Y_LABELS),
        Legend::UpperRight,
    );
    for (i, name) in rollout_names(samples).iter().enumerate() {
        let rate = samples.iter().filter_map(|s| {
            s.rollouts
                .iter()
                .find(|r| &r.rollout == name)
                .map(|r| (s.hours, failure_rate(r.installed, r.failed)))
        });
        c.series.push(Series {
            name: format!("{name}: failure rate"),
            color: i,
            style: LineStyle::Solid,
            points: rate.collect(),
        });
        let threshold = samples
            .iter()
            .flat_map(|s| s.rollouts.iter())
            .find(|r| &r.rollout == name)
            .and_then(|r| r.threshold_percent);
        if let Some(th) = threshold {
            c.series.push(Series {
                name: format!("{name}: pause threshold {th}%"),
                color: i,
                style: LineStyle::Dashed,
                points: vec![(range.start, th), (range.end, th)],
            });
        }
    }
    Ok(c.svg()?)
}
