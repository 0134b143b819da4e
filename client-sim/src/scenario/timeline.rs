//! The timeline of a run: every change, in simulated time.

use serde::Serialize;
use std::collections::BTreeMap;

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    pub hours: f64,
    pub at: jiff::Timestamp,
    /// A device id, or `server` / `release-team` for what happens around the fleet.
    pub device: String,
    pub event: String,
    /// The version the device runs after the event (or the release concerned).
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

pub struct Timeline {
    start: jiff::Timestamp,
    pub events: Vec<TimelineEvent>,
}

impl Timeline {
    pub fn new(start: jiff::Timestamp) -> Self {
        Timeline {
            start,
            events: Vec::new(),
        }
    }

    pub fn log(
        &mut self,
        t: jiff::Timestamp,
        device: &str,
        event: &str,
        version: &str,
        detail: Option<String>,
    ) {
        self.events.push(TimelineEvent {
            hours: (t.as_millisecond() - self.start.as_millisecond()) as f64 / 3_600_000.0,
            at: t,
            device: device.to_string(),
            event: event.to_string(),
            version: version.to_string(),
            detail,
        });
    }

    /// Devices within a step run concurrently: the timeline ordered so that it reads the same
    /// from run to run.
    pub fn sort(&mut self) {
        self.events.sort_by(|a, b| {
            a.hours
                .total_cmp(&b.hours)
                .then_with(|| a.device.cmp(&b.device))
                .then_with(|| a.event.cmp(&b.event))
        });
    }

    /// Event name -> count.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut events: BTreeMap<String, usize> = BTreeMap::new();
        for e in &self.events {
            *events.entry(e.event.clone()).or_default() += 1;
        }
        events
    }
}
