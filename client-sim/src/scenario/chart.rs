//! Charts of a scenario run, as SVG: fleet versions over time, rollout waves against installs,
//! and each rollout's failure rate against its pause threshold. Drawn as the compliance
//! report's charts are ([`airlock_report::chart`]: one palette, axis layout and line styles).
//! Every chart marks what happened to the rollouts ([`rollout_events`]: started, each wave,
//! paused and why, resumed, aborted, complete), so one chart tells what happened and why.

use anyhow::Result;
use std::collections::BTreeSet;

use airlock_report::chart::{Axis, Legend, LineChart, LineStyle, Marker, Series};

use super::{RolloutSample, Sample};

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

/// A chart of `samples` with the rollouts' events marked.
fn chart(
    samples: &[Sample],
    title: String,
    x: Axis<'static>,
    y: Axis<'static>,
    legend: Legend,
) -> LineChart<'static> {
    LineChart {
        size: SIZE,
        caption: Some(title),
        x,
        y,
        legend,
        series: Vec::new(),
        markers: rollout_events(samples),
    }
}

/// Why a rollout paused, short enough for a marker: the health rule's figures, or the
/// operator's reason.
fn pause_label(reason: Option<&str>) -> String {
    let Some(reason) = reason else {
        return "paused".into();
    };
    // the server's "health rule <rule> tripped: <figures>, last from device <id>"
    match reason.split_once(" tripped: ") {
        Some((_, figures)) => {
            let figures = figures.split(", last from").next().unwrap_or(figures);
            format!("paused by health rule: {figures}")
        }
        None => format!("paused: {reason}"),
    }
}

/// What changed in a rollout between two samples, as marker labels; `reached` is the wave the
/// rollout had reached when it was last open (a wave that opened during a pause shows when the
/// rollout resumes).
fn changes(before: Option<&RolloutSample>, reached: f64, now: &RolloutSample) -> Vec<String> {
    let wave = |r: &RolloutSample| {
        format!(
            "wave {}%",
            airlock_report::chart::number_label(&r.reached_percent)
        )
    };
    let Some(before) = before else {
        return vec![format!("started, {}", wave(now))];
    };
    let mut labels = Vec::new();
    if now.state != before.state {
        labels.push(match (before.state.as_str(), now.state.as_str()) {
            (_, "paused") => pause_label(now.reason.as_deref()),
            ("paused", "active") => "resumed".into(),
            (_, "aborted") => match &now.reason {
                Some(reason) => format!("aborted: {reason}"),
                None => "aborted".into(),
            },
            (_, other) => other.to_string(),
        });
    }
    if now.state == "active" && now.reached_percent > reached {
        labels.push(wave(now));
    }
    labels
}

/// The rollouts' events at the sample where each was seen: started (with its first wave), each
/// further wave, paused with the reason, resumed, aborted, complete. Labels name the version,
/// or `product@version` when rollouts of several products ran.
pub fn rollout_events(samples: &[Sample]) -> Vec<Marker> {
    let names = rollout_names(samples);
    let products: BTreeSet<&str> = names.iter().filter_map(|n| n.split('@').next()).collect();
    let mut markers = Vec::new();
    for name in &names {
        let short = match name.split_once('@') {
            Some((_, version)) if products.len() == 1 => version,
            _ => name.as_str(),
        };
        let mut before: Option<&RolloutSample> = None;
        let mut reached = 0.0;
        for s in samples {
            let Some(now) = s.rollouts.iter().find(|r| &r.rollout == name) else {
                continue;
            };
            for label in changes(before, reached, now) {
                markers.push(Marker {
                    x: s.hours,
                    label: format!("{short} {label}"),
                });
            }
            if matches!(now.state.as_str(), "active" | "complete") {
                reached = now.reached_percent;
            }
            before = Some(now);
        }
    }
    markers
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
        samples,
        format!("{title}: fleet versions"),
        x_axis(samples),
        Axis::counts("devices", top as u64, Y_LABELS),
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

/// The share of the fleet `rollout`'s waves reached, in percent, at each sample: while it is
/// paused or aborted (nobody new is released to) the level it had reached, not 0 as if it had
/// never started; the markers say why it stands still.
pub fn wave_reached(samples: &[Sample], rollout: &str) -> Vec<(f64, f64)> {
    let mut held = 0.0;
    samples
        .iter()
        .filter_map(|s| {
            s.rollouts.iter().find(|r| r.rollout == rollout).map(|r| {
                if matches!(r.state.as_str(), "active" | "complete") {
                    held = r.reached_percent;
                }
                (s.hours, held)
            })
        })
        .collect()
}

/// Each rollout's waves (share of the fleet reached, in percent; held at the level reached
/// while the rollout is paused or aborted, when nobody new is released to) against the devices
/// that installed it.
pub fn rollouts(samples: &[Sample], title: &str) -> Result<String> {
    let mut c = chart(
        samples,
        format!("{title}: rollout waves"),
        x_axis(samples),
        Axis::new("percent", 0.0..105.0, Y_LABELS),
        Legend::UpperLeft,
    );
    for (i, name) in rollout_names(samples).iter().enumerate() {
        c.series.push(Series {
            name: format!("{name}: wave reached (%)"),
            color: i,
            style: LineStyle::Solid,
            points: wave_reached(samples, name),
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

/// Image and delta bytes fetched so far per device of each group of the fleet mix (KiB per
/// device, cumulative): devices that rebuild deltas against devices that fetch full images
/// (docs/deltas.md). Empty of series when no group fetched anything.
pub fn wire(
    samples: &[Sample],
    groups: &std::collections::BTreeMap<String, super::steps::GroupBytes>,
    title: &str,
) -> Result<String> {
    let per_device = |group: &str, bytes: u64| {
        let devices = groups.get(group).map_or(1, |g| g.devices.max(1));
        bytes as f64 / 1024.0 / devices as f64
    };
    let top = samples
        .iter()
        .flat_map(|s| s.wire_bytes.iter().map(|(g, b)| per_device(g, *b)))
        .fold(1.0_f64, f64::max);
    let mut c = chart(
        samples,
        format!("{title}: bytes on the wire per device"),
        x_axis(samples),
        Axis::new("KiB per device (cumulative)", 0.0..(top * 1.15), Y_LABELS),
        Legend::UpperLeft,
    );
    c.series = groups
        .keys()
        .enumerate()
        .map(|(i, group)| Series {
            name: group.clone(),
            color: i,
            style: if group.contains("image kept") {
                LineStyle::Solid
            } else {
                LineStyle::Dashed
            },
            points: samples
                .iter()
                .map(|s| {
                    let bytes = s.wire_bytes.get(group).copied().unwrap_or(0);
                    (s.hours, per_device(group, bytes))
                })
                .collect(),
        })
        .collect();
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
        samples,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const PAUSE: &str = "health rule failures>=5% after 20 reports tripped: 2 failed of 20 reports (10.0%), last from device dev-000005";

    /// A rollout that starts at 2%, reaches 20%, is paused by its health rule while its waves
    /// would go on to 60%, resumed, then aborted; 600 devices.
    fn samples() -> Vec<Sample> {
        let steps: [(f64, &str, f64, Option<&str>); 7] = [
            (0.0, "", 0.0, None),
            (6.0, "active", 2.0, None),
            (30.0, "active", 20.0, None),
            (40.0, "paused", 20.0, Some(PAUSE)),
            (54.0, "paused", 60.0, Some(PAUSE)),
            (60.0, "active", 60.0, Some("resumed by operator")),
            (70.0, "aborted", 60.0, Some("boot loop")),
        ];
        steps
            .iter()
            .map(|&(hours, state, reached, reason)| Sample {
                hours,
                versions: BTreeMap::from([
                    ("acme-cam@1.2.0".to_string(), 580),
                    ("acme-cam@1.3.0".to_string(), 20),
                ]),
                rollouts: if state.is_empty() {
                    Vec::new()
                } else {
                    vec![RolloutSample {
                        rollout: "acme-cam@1.3.0".into(),
                        state: state.into(),
                        reached_percent: reached,
                        installed: 18,
                        failed: 2,
                        threshold_percent: Some(5.0),
                        reason: reason.map(String::from),
                    }]
                },
                wire_bytes: BTreeMap::new(),
            })
            .collect()
    }

    /// The text nodes of an SVG.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("</text>")
            .filter_map(|part| part.rsplit_once('>').map(|(_, t)| t.trim().to_string()))
            .filter(|t| !t.is_empty())
            .collect()
    }

    #[test]
    fn every_rollout_event_is_marked_with_its_reason() {
        let labels: Vec<(f64, String)> = rollout_events(&samples())
            .into_iter()
            .map(|m| (m.x, m.label))
            .collect();
        assert_eq!(
            labels,
            vec![
                (6.0, "1.3.0 started, wave 2%".to_string()),
                (30.0, "1.3.0 wave 20%".to_string()),
                (
                    40.0,
                    "1.3.0 paused by health rule: 2 failed of 20 reports (10.0%)".to_string()
                ),
                (60.0, "1.3.0 resumed".to_string()),
                (60.0, "1.3.0 wave 60%".to_string()),
                (70.0, "1.3.0 aborted: boot loop".to_string()),
            ]
        );
        // on every chart, as text beside the marker lines
        let samples = samples();
        for svg in [
            versions(&samples, "t").unwrap(),
            rollouts(&samples, "t").unwrap(),
            failures(&samples, "t").unwrap(),
        ] {
            let found = texts(&svg);
            for label in [
                "1.3.0 started, wave 2%",
                "1.3.0 paused by health rule: 2 failed of 20 reports (10.0%)",
                "1.3.0 resumed; 1.3.0 wave 60%",
                "1.3.0 aborted: boot loop",
            ] {
                assert!(found.iter().any(|t| t == label), "{label} not in {found:?}");
            }
        }
    }

    #[test]
    fn a_paused_rollout_keeps_the_wave_it_reached() {
        let line = wave_reached(&samples(), "acme-cam@1.3.0");
        assert_eq!(
            line,
            vec![
                (6.0, 2.0),
                (30.0, 20.0),
                (40.0, 20.0),
                (54.0, 20.0),
                (60.0, 60.0),
                (70.0, 60.0),
            ]
        );
    }

    #[test]
    fn device_counts_are_whole_numbers() {
        let counts = texts(&versions(&samples(), "t").unwrap());
        assert!(counts.iter().any(|t| t == "600"), "{counts:?}");
        let decimal = |t: &String| t.contains('.') && t.parse::<f64>().is_ok();
        assert!(
            !counts.iter().any(decimal),
            "decimals on a count: {counts:?}"
        );
        // hours and percent too: no "20.0"
        let percents = texts(&rollouts(&samples(), "t").unwrap());
        assert!(percents.iter().any(|t| t == "100"), "{percents:?}");
        assert!(!percents.iter().any(decimal), "{percents:?}");
    }
}
