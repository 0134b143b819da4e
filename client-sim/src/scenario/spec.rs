//! The scenario file (`airlock-sim run scenario.toml`): the fleet, products, releases and
//! rollouts, faults and events, with times relative to the start of the simulated run.

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// A duration such as `90s`, `30m`, `12h`, `3d`, `2w`, optionally negative (`-30d`: before the
/// run starts). Parsed into milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Offset(pub i64);

impl Offset {
    pub fn parse(text: &str) -> Result<Offset> {
        let t = text.trim();
        let (negative, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let split = t
            .find(|c: char| !c.is_ascii_digit())
            .with_context(|| format!("{text:?}: a duration needs a unit (ms, s, m, h, d, w)"))?;
        let (digits, unit) = t.split_at(split);
        let n: i64 = digits
            .parse()
            .with_context(|| format!("{text:?}: expected a number before the unit"))?;
        let unit_ms: i64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            other => bail!("{text:?}: unknown unit {other:?} (ms, s, m, h, d, w)"),
        };
        let ms = n
            .checked_mul(unit_ms)
            .with_context(|| format!("{text:?} is too long"))?;
        Ok(Offset(if negative { -ms } else { ms }))
    }

    pub fn hours(self) -> f64 {
        self.0 as f64 / 3_600_000.0
    }
}

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Offset::parse(&s).map_err(|e| serde::de::Error::custom(format!("{e:#}")))
    }
}

/// A date: `YYYY-MM-DD`, or relative to the run's start (`+7d`, `-2w`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateSpec {
    Fixed(jiff::civil::Date),
    Relative(Offset),
}

impl DateSpec {
    pub fn resolve(&self, start: jiff::Timestamp) -> Result<jiff::civil::Date> {
        match self {
            DateSpec::Fixed(d) => Ok(*d),
            DateSpec::Relative(o) => Ok(start
                .checked_add(jiff::SignedDuration::from_millis(o.0))
                .context("date out of range")?
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date()),
        }
    }
}

impl<'de> Deserialize<'de> for DateSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.starts_with('+') || s.starts_with('-') {
            return Offset::parse(&s)
                .map(DateSpec::Relative)
                .map_err(|e| serde::de::Error::custom(format!("{e:#}")));
        }
        s.parse::<jiff::civil::Date>()
            .map(DateSpec::Fixed)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "{s:?}: expected YYYY-MM-DD or a relative date like +7d ({e})"
                ))
            })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Everything random (fleet mix, jitter, faults, boot failures) derives from it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time the run covers.
    pub duration: Offset,
    /// Simulated time per step (devices due within a step check in during it).
    #[serde(default = "default_step")]
    pub step: Offset,
    /// Devices updating at the same time (real concurrency).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    pub fleet: Fleet,
    pub products: Vec<ProductSpec>,
    pub releases: Vec<ReleaseSpec>,
    #[serde(default)]
    pub faults: Faults,
    #[serde(default)]
    pub events: Vec<EventSpec>,
    /// What the run must show, checked at the end (the command exits 3 otherwise).
    #[serde(default)]
    pub expect: Expect,
}

fn default_seed() -> u64 {
    1
}
fn default_step() -> Offset {
    Offset(3_600_000)
}
fn default_concurrency() -> usize {
    32
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    pub devices: usize,
    pub check_in_every: Offset,
    /// Each check-in happens up to this much earlier or later than the interval says.
    #[serde(default = "zero")]
    pub jitter: Offset,
    pub mix: Vec<MixEntry>,
}

fn zero() -> Offset {
    Offset(0)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    pub product: String,
    pub version: semver::Version,
    pub security_version: u64,
    /// Share of the fleet (the shares are normalised).
    pub share: f64,
    /// The devices keep the signed image of their version, as if flashed with it, so they send
    /// its hash at check-in and can rebuild a delta from it (docs/deltas.md). The version must
    /// be a release the run starts with. Without it a device has no readable image and gets
    /// full images only.
    #[serde(default)]
    pub image: bool,
    /// A name for these devices in the summary's bytes on the wire (default
    /// `product@version`, with `, image kept` when `image`).
    #[serde(default)]
    pub label: Option<String>,
}

impl MixEntry {
    /// The group the summary counts these devices' bytes on the wire under.
    pub fn group(&self) -> String {
        match &self.label {
            Some(l) => l.clone(),
            None if self.image => format!("{}@{}, image kept", self.product, self.version),
            None => format!("{}@{}", self.product, self.version),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    pub id: String,
    pub support_start: DateSpec,
    pub feature_until: DateSpec,
    pub security_until: DateSpec,
    #[serde(default)]
    pub min_security_version: u64,
    /// Required when the support period is shorter than 5 years.
    #[serde(default)]
    pub rationale: Option<String>,
    #[serde(default)]
    pub statement: Option<String>,
    #[serde(default)]
    pub successor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    pub product: String,
    pub version: semver::Version,
    pub security_version: u64,
    /// security, feature or sunset.
    pub kind: String,
    /// When it is published (`0h` or negative: in the repository the run starts with).
    #[serde(default = "zero")]
    pub at: Offset,
    /// Share of devices on which this image fails to boot (reported `failed`).
    #[serde(default)]
    pub failure_rate: f64,
    /// Image size in bytes.
    #[serde(default = "default_size")]
    pub size: usize,
    /// Roll it out in waves (published held, then `rollout start`); none = the whole fleet at once.
    #[serde(default)]
    pub rollout: Option<RolloutSpec>,
    /// The image is the product's previous release's (the one before it in this file) with
    /// this share of its bytes rewritten in place (a small change); none = an image of its own.
    #[serde(default)]
    pub change: Option<f64>,
    /// `release add --deltas-from N`: signed deltas from the N newest earlier releases.
    #[serde(default)]
    pub deltas_from: Option<u32>,
}

fn default_size() -> usize {
    64 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSpec {
    /// e.g. `1%@0h,10%@24h,50%@48h,100%@72h`.
    pub waves: String,
    /// e.g. `failures>=5% after 20 reports`.
    #[serde(default)]
    pub pause_if: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Share of check-in cycles that fail on the network (the device tries again next time).
    #[serde(default)]
    pub drop_rate: f64,
    /// Share of image downloads cut off at a random point (the device resumes the partial
    /// image with a Range request next time).
    #[serde(default)]
    pub interrupt_rate: f64,
    /// Network latency added to every request of every device (real time, e.g. `80ms`).
    #[serde(default = "zero")]
    pub latency: Offset,
    /// Share of devices on a slow link, and its speed in bytes per second (real time).
    #[serde(default)]
    pub slow_link_share: f64,
    #[serde(default)]
    pub slow_link_bytes_per_second: u64,
    /// Share of devices that go offline at `offline_from` for `offline_for`.
    #[serde(default)]
    pub offline_share: f64,
    #[serde(default = "zero")]
    pub offline_from: Offset,
    #[serde(default = "zero")]
    pub offline_for: Offset,
    /// Each device's clock is off by up to this much (either way).
    #[serde(default = "zero")]
    pub clock_skew: Offset,
    /// The server is stopped and started again (from its data directory) at these times; the
    /// downloads in flight in that step are cut off and resumed from the restarted server.
    #[serde(default)]
    pub server_restarts: Vec<Offset>,
    /// Share of devices whose trusted metadata is deleted at `corrupt_at` (they must recover
    /// from the pinned root).
    #[serde(default)]
    pub corrupt_share: f64,
    #[serde(default = "zero")]
    pub corrupt_at: Offset,
    /// Share of devices that lie: after every check-in that offered them nothing, they report
    /// each release under an active rollout of their product `failed` (a report the server
    /// must not count: it never offered them that release).
    #[serde(default)]
    pub false_report_share: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    pub at: Offset,
    /// `extend-support`, `set-floor`, `rotate-product-key`, `pause-rollout`, `resume-rollout`.
    pub action: String,
    pub product: String,
    #[serde(default)]
    pub security_until: Option<DateSpec>,
    #[serde(default)]
    pub feature_until: Option<DateSpec>,
    #[serde(default)]
    pub floor: Option<u64>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Checks on the outcome.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `product@version` rollouts that must end paused by the health rule.
    #[serde(default)]
    pub paused: Vec<String>,
    /// `product@version` rollouts that must end active (nothing paused them).
    #[serde(default)]
    pub active: Vec<String>,
    /// `product@version` that at least this share of the product's online fleet must run.
    #[serde(default)]
    pub converged: Vec<Convergence>,
    /// Share of the fleet that must have shown the end-of-support notice (at least).
    #[serde(default)]
    pub end_of_support_share: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Convergence {
    pub product: String,
    pub version: String,
    pub share: f64,
}

impl Scenario {
    pub fn parse(text: &str) -> Result<Scenario> {
        let s: Scenario = toml::from_str(text).context("reading the scenario")?;
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<()> {
        if self.duration.0 <= 0 || self.step.0 <= 0 {
            bail!("duration and step must be positive");
        }
        if self.duration.0 / self.step.0 > 100_000 {
            bail!("more than 100,000 steps: use a longer step");
        }
        if self.fleet.devices == 0 || self.fleet.devices > 1_000_000 {
            bail!("fleet.devices must be 1..=1000000");
        }
        if self.fleet.check_in_every.0 <= 0 {
            bail!("fleet.check_in_every must be positive");
        }
        if self.fleet.mix.is_empty()
            || self
                .fleet
                .mix
                .iter()
                .any(|m| m.share.is_nan() || m.share <= 0.0)
        {
            bail!("fleet.mix needs at least one entry, each with a positive share");
        }
        let products: Vec<&str> = self.products.iter().map(|p| p.id.as_str()).collect();
        for m in &self.fleet.mix {
            if !products.contains(&m.product.as_str()) {
                bail!(
                    "fleet.mix names product {:?}, which [[products]] does not define",
                    m.product
                );
            }
        }
        for m in self.fleet.mix.iter().filter(|m| m.image) {
            let initial = self
                .releases
                .iter()
                .any(|r| r.product == m.product && r.version == m.version && r.at.0 <= 0);
            if !initial {
                bail!(
                    "fleet.mix {}@{} keeps its image (image = true), but no release of that version is in the repository the run starts with (at <= 0)",
                    m.product,
                    m.version
                );
            }
        }
        for r in &self.releases {
            if !products.contains(&r.product.as_str()) {
                bail!(
                    "release {} names product {:?}, which [[products]] does not define",
                    r.version,
                    r.product
                );
            }
            if !(0.0..=1.0).contains(&r.failure_rate) {
                bail!("release {}: failure_rate must be within 0..=1", r.version);
            }
            if r.change.is_some_and(|c| !(c > 0.0 && c <= 1.0)) {
                bail!(
                    "release {}: change must be within 0..=1 (above 0)",
                    r.version
                );
            }
            if r.rollout.is_some() && r.at.0 <= 0 {
                bail!(
                    "release {}: a rollout needs a publish time after the start (at > 0)",
                    r.version
                );
            }
        }
        for rate in [
            self.faults.drop_rate,
            self.faults.interrupt_rate,
            self.faults.slow_link_share,
            self.faults.offline_share,
            self.faults.corrupt_share,
            self.faults.false_report_share,
        ] {
            if !(0.0..=1.0).contains(&rate) {
                bail!("fault rates and shares must be within 0..=1");
            }
        }
        if self.faults.latency.0 < 0 || self.faults.latency.0 > 10_000 {
            bail!("faults.latency must be within 0ms..10s");
        }
        if self.faults.slow_link_share > 0.0 && self.faults.slow_link_bytes_per_second < 1024 {
            bail!("faults.slow_link_bytes_per_second must be at least 1024 when slow_link_share is set");
        }
        for e in &self.events {
            if !products.contains(&e.product.as_str()) {
                bail!(
                    "event {:?} names product {:?}, which [[products]] does not define",
                    e.action,
                    e.product
                );
            }
            match e.action.as_str() {
                "extend-support" if e.security_until.is_none() => {
                    bail!("extend-support needs security_until")
                }
                "set-floor" if e.floor.is_none() => bail!("set-floor needs floor"),
                "pause-rollout" | "resume-rollout" if e.version.is_none() => {
                    bail!("{} needs version", e.action)
                }
                "extend-support" | "set-floor" | "rotate-product-key" | "pause-rollout"
                | "resume-rollout" => {}
                other => bail!("unknown event action {other:?}"),
            }
        }
        Ok(())
    }
}

/// Deterministic randomness: a value in [0, 1) from the seed and a label (splitmix64 over a
/// sha256 of both), so that every draw is reproducible and independent of run order.
pub fn draw(seed: u64, label: &str) -> f64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{seed}/{label}").as_bytes());
    let mut x = u64::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ]);
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_with_units_and_signs() {
        assert_eq!(Offset::parse("90s").unwrap(), Offset(90_000));
        assert_eq!(Offset::parse("80ms").unwrap(), Offset(80));
        assert_eq!(Offset::parse("12h").unwrap(), Offset(12 * 3_600_000));
        assert_eq!(Offset::parse("-30d").unwrap(), Offset(-30 * 86_400_000));
        assert_eq!(Offset::parse("+2w").unwrap(), Offset(14 * 86_400_000));
        for bad in ["", "12", "h", "3y", "1.5h", "99999999999999999w"] {
            assert!(Offset::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn draws_are_reproducible_and_spread() {
        assert_eq!(draw(7, "a"), draw(7, "a"));
        assert_ne!(draw(7, "a"), draw(8, "a"));
        let n = 10_000;
        let below = (0..n).filter(|i| draw(1, &i.to_string()) < 0.08).count();
        assert!((600..1000).contains(&below), "{below} of {n} below 0.08");
    }

    #[test]
    fn scenario_files_are_checked() {
        let ok = r#"
            name = "t"
            duration = "2d"
            [fleet]
            devices = 10
            check_in_every = "12h"
            [[fleet.mix]]
            product = "cam"
            version = "1.0.0"
            security_version = 1
            share = 1.0
            [[products]]
            id = "cam"
            support_start = "-1w"
            feature_until = "+1000d"
            security_until = "+2000d"
            [[releases]]
            product = "cam"
            version = "1.0.0"
            security_version = 1
            kind = "security"
            at = "-1d"
        "#;
        let s = Scenario::parse(ok).unwrap();
        assert_eq!(s.step, Offset(3_600_000));
        let start: jiff::Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
        assert_eq!(
            s.products[0]
                .support_start
                .resolve(start)
                .unwrap()
                .to_string(),
            "2026-01-03"
        );
        assert!(Scenario::parse(&ok.replace("product = \"cam\"\n            version = \"1.0.0\"\n            security_version = 1\n            share", "product = \"dog\"\n            version = \"1.0.0\"\n            security_version = 1\n            share")).is_err());
        assert!(Scenario::parse(&ok.replace("devices = 10", "devices = 0")).is_err());
        assert!(Scenario::parse(&ok.replace(
            "duration = \"2d\"",
            "duration = \"2d\"\n            colour = 1"
        ))
        .is_err());
    }
}

#[cfg(test)]
mod examples {
    use super::*;

    #[test]
    fn every_example_scenario_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                Scenario::parse(&text).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 4, "expected the four example scenarios, found {n}");
    }
}
