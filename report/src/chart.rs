//! Line charts as SVG (plotters), with one palette, one axis layout and one set of series
//! styles: the compliance report's fleet chart ([`time_series_svg`]) and the simulator's
//! scenario charts are both a [`LineChart`]. The SVG is self-contained markup (no script, no
//! external resource), and plotters escapes its text, so a version string a device reported
//! cannot inject markup into a page that inlines it.

use plotters::prelude::*;
use std::ops::Range;

use crate::document::Chart;

/// Series colours, in order (matplotlib's tab10, first eight); series `i` takes colour
/// `i % 8`.
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

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the chart: {0}")]
pub struct ChartError(String);

fn plot_err<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError(format!("{e:?}"))
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStyle {
    /// The main line of a series: full colour, 2 px.
    Solid,
    /// A companion line in the same colour: lighter, 1 px.
    Faint,
    /// A limit or threshold: dashed, lighter, 1 px.
    Dashed,
}

/// One line: its legend name, its palette slot and its points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// Index into the palette (two series of one subject share it).
    pub color: usize,
    pub style: LineStyle,
    pub points: Vec<(f64, f64)>,
}

/// The text of an axis label at a value.
pub type LabelFormat<'a> = Box<dyn Fn(&f64) -> String + 'a>;

/// An axis: its description, range, and optionally its label count and label text.
pub struct Axis<'a> {
    pub description: String,
    pub range: Range<f64>,
    /// Width (y) or height (x) of the label area, in pixels.
    pub label_area: u32,
    /// How many labels; plotters' choice when `None`.
    pub labels: Option<usize>,
    /// The text of a label; plotters' number format when `None`.
    pub format: Option<LabelFormat<'a>>,
}

impl<'a> Axis<'a> {
    /// An axis with plotters' labels.
    pub fn new(description: impl Into<String>, range: Range<f64>, label_area: u32) -> Self {
        Axis {
            description: description.into(),
            range,
            label_area,
            labels: None,
            format: None,
        }
    }
}

/// Where the legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    UpperLeft,
    UpperRight,
}

/// A line chart: size, optional caption, two axes, a legend and its series.
pub struct LineChart<'a> {
    pub size: (u32, u32),
    pub caption: Option<String>,
    pub x: Axis<'a>,
    pub y: Axis<'a>,
    pub legend: Legend,
    pub series: Vec<Series>,
}

impl LineChart<'_> {
    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> Result<String, ChartError> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            root.fill(&WHITE).map_err(plot_err)?;
            let mut builder = ChartBuilder::on(&root);
            if let Some(caption) = &self.caption {
                builder.caption(caption, ("sans-serif", 18));
            }
            let mut chart = builder
                .margin(12)
                .x_label_area_size(self.x.label_area)
                .y_label_area_size(self.y.label_area)
                .build_cartesian_2d(self.x.range.clone(), self.y.range.clone())
                .map_err(plot_err)?;
            let mut mesh = chart.configure_mesh();
            if let Some(n) = self.x.labels {
                mesh.x_labels(n);
            }
            if let Some(format) = &self.x.format {
                mesh.x_label_formatter(format);
            }
            if let Some(n) = self.y.labels {
                mesh.y_labels(n);
            }
            if let Some(format) = &self.y.format {
                mesh.y_label_formatter(format);
            }
            mesh.x_desc(self.x.description.as_str())
                .y_desc(self.y.description.as_str())
                .draw()
                .map_err(plot_err)?;
            for series in &self.series {
                let style = stroke(series);
                let points = series.points.iter().copied();
                let drawn = match series.style {
                    LineStyle::Dashed => chart
                        .draw_series(DashedLineSeries::new(points, 6, 4, style))
                        .map_err(plot_err)?,
                    LineStyle::Solid | LineStyle::Faint => chart
                        .draw_series(LineSeries::new(points, style))
                        .map_err(plot_err)?,
                };
                drawn
                    .label(series.name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(match self.legend {
                    Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                    Legend::UpperRight => SeriesLabelPosition::UpperRight,
                })
                .draw()
                .map_err(plot_err)?;
            root.present().map_err(plot_err)?;
        }
        Ok(svg)
    }
}

fn stroke(series: &Series) -> ShapeStyle {
    let color = PALETTE[series.color % PALETTE.len()];
    match series.style {
        LineStyle::Solid => color.stroke_width(2),
        LineStyle::Faint => color.mix(0.6).stroke_width(1),
        LineStyle::Dashed => color.mix(0.7).stroke_width(1),
    }
}

/// Counts over time (the report's fleet versions) as a line chart: one line per series, time
/// in UTC on the x axis, a legend of the series names.
pub fn time_series_svg(chart: &Chart) -> Result<String, ChartError> {
    let (Some(first), Some(last)) = (chart.instants.first(), chart.instants.last()) else {
        return Err(ChartError("a chart without instants".into()));
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
    let time_label = move |x: &f64| {
        jiff::Timestamp::from_second(start + *x as i64)
            .map(Chart::label)
            .unwrap_or_default()
    };
    LineChart {
        size: (800, 360),
        caption: None,
        x: Axis {
            labels: Some(5),
            format: Some(Box::new(time_label)),
            ..Axis::new("time (UTC)", 0.0..span, 36)
        },
        y: Axis {
            format: Some(Box::new(|y: &f64| format!("{y:.0}"))),
            ..Axis::new(chart.unit.as_str(), 0.0..(top as f64 * 1.08), 48)
        },
        legend: Legend::UpperLeft,
        series: chart
            .series
            .iter()
            .enumerate()
            .map(|(i, (name, counts))| Series {
                name: name.clone(),
                color: i,
                style: LineStyle::Solid,
                points: chart
                    .instants
                    .iter()
                    .zip(counts)
                    .map(|(at, n)| ((at.as_second() - start) as f64, *n as f64))
                    .collect(),
            })
            .collect(),
    }
    .svg()
}
