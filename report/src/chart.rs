//! Line charts as SVG (plotters), with one palette, one axis layout and one set of series
//! styles: the compliance report's fleet chart ([`time_series_svg`]) and the simulator's
//! scenario charts are both a [`LineChart`]. A chart may mark events on its x axis
//! ([`Marker`]: a vertical line with a short label, e.g. a rollout paused and why), and counts
//! get whole-number labels ([`Axis::counts`]). The SVG is self-contained markup (no script, no
//! external resource), and plotters escapes its text, so a version string a device reported
//! cannot inject markup into a page that inlines it.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
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
    /// An axis with plotters' label positions, numbers without a trailing `.0`.
    pub fn new(description: impl Into<String>, range: Range<f64>, label_area: u32) -> Self {
        Axis {
            description: description.into(),
            range,
            label_area,
            labels: None,
            format: Some(Box::new(number_label)),
        }
    }

    /// An axis of counts (devices) up to `top`: labels only at whole numbers, no decimals.
    pub fn counts(description: impl Into<String>, top: u64, label_area: u32) -> Self {
        Axis {
            format: Some(Box::new(whole_number_label)),
            ..Axis::new(description, 0.0..(top.max(1) as f64 * 1.08), label_area)
        }
    }
}

/// A number as a label: `20`, `2.5` (no trailing `.0`).
pub fn number_label(value: &f64) -> String {
    let text = format!("{value:.1}");
    match text.strip_suffix(".0") {
        Some("-0") => "0".to_string(),
        Some(whole) => whole.to_string(),
        None => text,
    }
}

/// A label for a count: the number at a whole value, nothing between (no "0.5 devices").
pub fn whole_number_label(value: &f64) -> String {
    if (value - value.round()).abs() < 1e-6 {
        format!("{:.0}", value.round().abs())
    } else {
        String::new()
    }
}

/// An event on the x axis: a vertical line with a short label beside it (read bottom to top).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub x: f64,
    pub label: String,
}

/// Marker labels longer than this are cut (they run up the plot's height).
const MARKER_LABEL_CHARS: usize = 60;
const MARKER_COLOR: RGBColor = RGBColor(90, 90, 90);
/// Labels of markers closer than this (pixels) are placed apart ([`label_places`]).
const MARKER_LABEL_GAP: i32 = 14;

/// Where the legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    UpperLeft,
    UpperRight,
}

/// A line chart: size, optional caption, two axes, a legend, its series and event markers.
pub struct LineChart<'a> {
    pub size: (u32, u32),
    pub caption: Option<String>,
    pub x: Axis<'a>,
    pub y: Axis<'a>,
    pub legend: Legend,
    pub series: Vec<Series>,
    /// Drawn under the series; markers at the same x share one line and one label.
    pub markers: Vec<Marker>,
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
            let bottom = self.y.range.start;
            let top = self.y.range.end;
            let markers = merged(&self.markers);
            let labels: Vec<String> = markers
                .iter()
                .map(|m| m.label.chars().take(MARKER_LABEL_CHARS).collect())
                .collect();
            let pixels: Vec<i32> = markers
                .iter()
                .map(|m| chart.backend_coord(&(m.x, bottom)).0)
                .collect();
            let lengths: Vec<i32> = labels
                .iter()
                .map(|l| i32::try_from(l.chars().count()).unwrap_or(i32::MAX / 8) * 6 + 10)
                .collect();
            for ((marker, label), (side, lift)) in markers
                .iter()
                .zip(labels)
                .zip(label_places(&pixels, &lengths))
            {
                let line = MARKER_COLOR.mix(0.8).stroke_width(1);
                chart
                    .draw_series(DashedLineSeries::new(
                        [(marker.x, bottom), (marker.x, top)],
                        4,
                        3,
                        line,
                    ))
                    .map_err(plot_err)?;
                // turned to read bottom to top: the text's top faces right
                let (dx, vertical) = match side {
                    Side::Right => (3, VPos::Top),
                    Side::Left => (-3, VPos::Bottom),
                };
                let text = ("sans-serif", 11)
                    .into_font()
                    .transform(FontTransform::Rotate270)
                    .color(&MARKER_COLOR)
                    .pos(Pos::new(HPos::Left, vertical));
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((marker.x, bottom))
                            + Text::new(label, (dx, -4 - lift), text),
                    ))
                    .map_err(plot_err)?;
            }
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

/// Which side of its line a marker's label goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// Where each marker's label goes (markers in x order, at these pixels, labels this long):
/// right of its line; the first of two close lines (less than [`MARKER_LABEL_GAP`] apart)
/// left of its own, so the two read side by side; a third close one right, above the second.
/// The lift is how far up (pixels) the label starts.
fn label_places(pixels: &[i32], lengths: &[i32]) -> Vec<(Side, i32)> {
    let close = |a: usize, b: usize| pixels[b] - pixels[a] < MARKER_LABEL_GAP;
    let mut places: Vec<(Side, i32)> = Vec::with_capacity(pixels.len());
    for i in 0..pixels.len() {
        let after_close = i > 0 && close(i - 1, i);
        let place = match places.last() {
            Some(&(Side::Right, lift)) if after_close => (Side::Right, lift + lengths[i - 1]),
            Some(_) if after_close => (Side::Right, 0),
            _ if i + 1 < pixels.len() && close(i, i + 1) => (Side::Left, 0),
            _ => (Side::Right, 0),
        };
        places.push(place);
    }
    places
}

/// The markers in x order, those at the same x as one (labels joined with "; ").
fn merged(markers: &[Marker]) -> Vec<Marker> {
    let mut sorted = markers.to_vec();
    sorted.sort_by(|a, b| a.x.total_cmp(&b.x));
    let mut out: Vec<Marker> = Vec::new();
    for m in sorted {
        match out.last_mut() {
            Some(last) if last.x == m.x => {
                last.label.push_str("; ");
                last.label.push_str(&m.label);
            }
            _ => out.push(m),
        }
    }
    out
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
        y: Axis::counts(chart.unit.as_str(), top, 48),
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
        markers: Vec::new(),
    }
    .svg()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text nodes of an SVG.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("</text>")
            .filter_map(|part| part.rsplit_once('>').map(|(_, t)| t.trim().to_string()))
            .filter(|t| !t.is_empty())
            .collect()
    }

    #[test]
    fn numbers_drop_a_trailing_zero_and_counts_are_whole() {
        assert_eq!(number_label(&600.0), "600");
        assert_eq!(number_label(&2.5), "2.5");
        assert_eq!(number_label(&-0.0), "0");
        assert_eq!(whole_number_label(&3.0), "3");
        assert_eq!(whole_number_label(&0.5), "");
    }

    #[test]
    fn close_markers_get_labels_on_either_side_or_stacked() {
        assert_eq!(
            label_places(&[100, 300], &[50, 50]),
            vec![(Side::Right, 0), (Side::Right, 0)]
        );
        assert_eq!(
            label_places(&[100, 106, 110, 400], &[50, 60, 70, 80]),
            vec![
                (Side::Left, 0),
                (Side::Right, 0),
                (Side::Right, 60),
                (Side::Right, 0)
            ]
        );
        let m = |x: f64, label: &str| Marker {
            x,
            label: label.into(),
        };
        assert_eq!(
            merged(&[m(2.0, "b"), m(1.0, "a"), m(2.0, "c")]),
            vec![m(1.0, "a"), m(2.0, "b; c")]
        );
    }

    /// The compliance report's fleet chart (shared code): a small fleet's axis shows whole
    /// devices only.
    #[test]
    fn the_fleet_chart_counts_whole_devices() {
        let start = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let chart = Chart {
            title: "fleet".into(),
            unit: "devices".into(),
            instants: vec![start, start + jiff::SignedDuration::from_hours(24)],
            series: vec![("1.2.0".into(), vec![1, 3])],
        };
        let found = texts(&time_series_svg(&chart).unwrap());
        for n in ["0", "1", "2", "3"] {
            assert!(found.iter().any(|t| t == n), "{n} not in {found:?}");
        }
        assert!(
            !found
                .iter()
                .any(|t| t.contains('.') && t.parse::<f64>().is_ok()),
            "{found:?}"
        );
    }

    #[test]
    fn markers_are_drawn_with_their_labels() {
        let svg = LineChart {
            size: (600, 300),
            caption: None,
            x: Axis::new("hours", 0.0..100.0, 30),
            y: Axis::counts("devices", 10, 40),
            legend: Legend::UpperLeft,
            series: vec![Series {
                name: "a".into(),
                color: 0,
                style: LineStyle::Solid,
                points: vec![(0.0, 0.0), (100.0, 10.0)],
            }],
            markers: vec![Marker {
                x: 40.0,
                label: "1.3.0 paused: <boot loop>".into(),
            }],
        }
        .svg()
        .unwrap();
        assert!(svg.contains("rotate(270"), "{svg}");
        // the marker line, dashed in its own grey
        assert!(svg.matches("stroke=\"#5A5A5A\"").count() > 5, "{svg}");
        // escaped, as every text plotters writes
        assert!(svg.contains("1.3.0 paused: &lt;boot loop&gt;"), "{svg}");
    }
}
