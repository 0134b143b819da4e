//! The line chart of a [`Chart`] as SVG (plotters, as the simulator's charts), inlined in the
//! HTML report: self-contained markup, no script and no external resource.

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use super::document::Chart;

const SIZE: (u32, u32) = (800, 360);
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

/// The chart as an `<svg>` element: one line per series over time, with a legend of the
/// series names (plotters escapes them, so a version string a device reported cannot inject
/// markup).
pub fn svg(chart: &Chart) -> Result<String> {
    let (Some(first), Some(last)) = (chart.instants.first(), chart.instants.last()) else {
        return Err(anyhow!("a chart without instants"));
    };
    let start = first.as_second();
    let span = (last.as_second() - start).max(1) as f64;
    let top = chart
        .series
        .iter()
        .flat_map(|(_, counts)| counts.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut plot = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..span, 0.0..(top as f64 * 1.08))
            .map_err(plot_err)?;
        let label = |x: &f64| {
            jiff::Timestamp::from_second(start + *x as i64)
                .map(Chart::label)
                .unwrap_or_default()
        };
        plot.configure_mesh()
            .x_labels(5)
            .x_label_formatter(&label)
            .y_label_formatter(&|y: &f64| format!("{y:.0}"))
            .x_desc("time (UTC)")
            .y_desc(chart.unit.as_str())
            .draw()
            .map_err(plot_err)?;
        for (i, (name, counts)) in chart.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let points = chart
                .instants
                .iter()
                .zip(counts)
                .map(|(at, n)| ((at.as_second() - start) as f64, *n as f64));
            plot.draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        plot.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}
