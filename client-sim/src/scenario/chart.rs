//! Charts of a scenario run, as SVG (plotters): fleet versions over time, rollout waves against
//! installs, and each rollout's failure rate against its pause threshold.

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::collections::BTreeSet;

use super::Sample;

const SIZE: (u32, u32) = (900, 420);
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing the chart: {e:?}")
}

fn x_range(samples: &[Sample]) -> std::ops::Range<f64> {
    0.0..samples.last().map_or(1.0, |s| s.hours.max(1.0))
}

/// Devices per `product@version` over time.
pub fn versions(samples: &[Sample], title: &str) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let keys: BTreeSet<&String> = samples.iter().flat_map(|s| s.versions.keys()).collect();
        let top = samples
            .iter()
            .flat_map(|s| s.versions.values())
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{title}: fleet versions"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x_range(samples), 0.0..(top as f64 * 1.08))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("simulated hours")
            .y_desc("devices")
            .draw()
            .map_err(plot_err)?;
        for (i, key) in keys.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    samples
                        .iter()
                        .map(|s| (s.hours, s.versions.get(*key).copied().unwrap_or(0) as f64)),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(key.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
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
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{title}: rollout waves"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x_range(samples), 0.0..105.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("simulated hours")
            .y_desc("percent")
            .draw()
            .map_err(plot_err)?;
        for (i, name) in rollout_names(samples).iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let released = samples.iter().filter_map(|s| {
                s.rollouts.iter().find(|r| &r.rollout == name).map(|r| {
                    let open = matches!(r.state.as_str(), "active" | "complete");
                    (s.hours, if open { r.reached_percent } else { 0.0 })
                })
            });
            chart
                .draw_series(LineSeries::new(released, color.stroke_width(2)))
                .map_err(plot_err)?
                .label(format!("{name}: wave reached (%)"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
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
            chart
                .draw_series(LineSeries::new(installed, color.mix(0.6).stroke_width(1)))
                .map_err(plot_err)?
                .label(format!("{name}: installed (% of fleet)"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.mix(0.6).stroke_width(1))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Each rollout's failure rate (failed / (installed + failed) devices) against its pause
/// threshold.
pub fn failures(samples: &[Sample], title: &str) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let top = samples
            .iter()
            .flat_map(|s| s.rollouts.iter())
            .map(|r| {
                let rate = if r.installed + r.failed == 0 {
                    0.0
                } else {
                    r.failed as f64 * 100.0 / (r.installed + r.failed) as f64
                };
                rate.max(r.threshold_percent.unwrap_or(0.0))
            })
            .fold(5.0_f64, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{title}: failure rate vs pause threshold"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x_range(samples), 0.0..(top * 1.2))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("simulated hours")
            .y_desc("percent of reporting devices")
            .draw()
            .map_err(plot_err)?;
        for (i, name) in rollout_names(samples).iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let rate = samples.iter().filter_map(|s| {
                s.rollouts.iter().find(|r| &r.rollout == name).map(|r| {
                    let n = r.installed + r.failed;
                    (
                        s.hours,
                        if n == 0 {
                            0.0
                        } else {
                            r.failed as f64 * 100.0 / n as f64
                        },
                    )
                })
            });
            chart
                .draw_series(LineSeries::new(rate, color.stroke_width(2)))
                .map_err(plot_err)?
                .label(format!("{name}: failure rate"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            let threshold = samples
                .iter()
                .flat_map(|s| s.rollouts.iter())
                .find(|r| &r.rollout == name)
                .and_then(|r| r.threshold_percent);
            if let Some(th) = threshold {
                let range = x_range(samples);
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(range.start, th), (range.end, th)],
                        6,
                        4,
                        color.mix(0.7).stroke_width(1),
                    ))
                    .map_err(plot_err)?
                    .label(format!("{name}: pause threshold {th}%"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.mix(0.7).stroke_width(1))
                    });
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}
