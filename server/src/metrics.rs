//! Prometheus metrics (`GET /metrics`, OpenMetrics text via prometheus-client): requests by
//! route and status, check-ins by decision, device reports, publish durations, metadata expiry
//! times and rollout progress.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

/// How a delta update went: `applied` or `fell_back` (docs/deltas.md).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeltaLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    pub role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutLabels {
    pub product: String,
    pub version: String,
    pub state: String,
}

/// The `method` label: a standard method's name, any other method `other`. Clients choose the
/// method, and each label value is a series kept for ever.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

type FloatGauge = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub check_ins: Family<DecisionLabels, Counter>,
    pub reports: Family<StatusLabels, Counter>,
    /// Reports of a release the server never offered that device (recorded, not counted).
    pub reports_unoffered: Counter,
    /// Counted installed / failed reports that say how a delta went.
    pub delta_reports: Family<DeltaLabels, Counter>,
    pub publishes: Family<ResultLabels, Counter>,
    pub publish_seconds: Histogram,
    pub metadata_expiry: Family<RoleLabels, FloatGauge>,
    pub rollout_reached: Family<RolloutLabels, FloatGauge>,
    pub rollout_failure_rate: Family<RolloutLabels, FloatGauge>,
    pub rollout_offered: Family<RolloutLabels, Gauge>,
    pub rollout_delta_fallback: Family<RolloutLabels, FloatGauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("airlock");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let check_ins = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "check_ins",
            "Device check-ins by decision",
            check_ins.clone(),
        );
        let reports = Family::<StatusLabels, Counter>::default();
        registry.register(
            "device_reports",
            "Device reports by status",
            reports.clone(),
        );
        let reports_unoffered = Counter::default();
        registry.register(
            "device_reports_unoffered",
            "Device reports of a release the server never offered that device (not counted)",
            reports_unoffered.clone(),
        );
        let delta_reports = Family::<DeltaLabels, Counter>::default();
        registry.register(
            "device_delta_reports",
            "Counted installed or failed device reports by how the offered delta went: applied, or fell_back to the full image",
            delta_reports.clone(),
        );
        let publishes = Family::<ResultLabels, Counter>::default();
        registry.register("publishes", "Publishes by result", publishes.clone());
        let publish_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "publish_duration_seconds",
            "Time to verify, sign and commit a publish",
            publish_seconds.clone(),
        );
        let metadata_expiry = Family::<RoleLabels, FloatGauge>::default();
        registry.register(
            "metadata_expires_timestamp_seconds",
            "Expiry time of each published metadata role (Unix seconds)",
            metadata_expiry.clone(),
        );
        let rollout_reached = Family::<RolloutLabels, FloatGauge>::default();
        registry.register(
            "rollout_reached_ratio",
            "Share of the fleet (device buckets) a rollout's current wave opens it to (0-1); not the devices reached",
            rollout_reached.clone(),
        );
        let rollout_failure_rate = Family::<RolloutLabels, FloatGauge>::default();
        registry.register(
            "rollout_failure_ratio",
            "Failed / (installed + failed) reports of a rollout's release (0-1)",
            rollout_failure_rate.clone(),
        );
        let rollout_offered = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_devices_offered",
            "Devices a rollout's release has been offered to (the devices reached)",
            rollout_offered.clone(),
        );
        let rollout_delta_fallback = Family::<RolloutLabels, FloatGauge>::default();
        registry.register(
            "rollout_delta_fallback_ratio",
            "Devices that refused a rollout's delta and fell back to the full image / devices that reported how a delta went (0-1); 0 until one did",
            rollout_delta_fallback.clone(),
        );
        Metrics {
            registry,
            requests,
            check_ins,
            reports,
            reports_unoffered,
            delta_reports,
            publishes,
            publish_seconds,
            metadata_expiry,
            rollout_reached,
            rollout_failure_rate,
            rollout_offered,
            rollout_delta_fallback,
        }
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
