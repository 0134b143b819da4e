//! The HTTP API's JSON bodies, shared by the server and its clients (signer, simulator).
//! Field names here are a contract (issue #3); add fields, never rename them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::decision::{Decision, EndOfSupport};
use crate::release::ReleaseKind;

/// Every error answer: `{"error": code, "message": text}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// `POST /v1/admin/publish`: the metadata files exactly as signed (their text).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishRequest {
    /// Root files, oldest first; any suffix of the chain that reaches the newest root.
    pub roots: Vec<String>,
    pub targets: String,
    /// Product roles by name.
    pub roles: BTreeMap<String, String>,
    /// Hold releases that are new in this publish: offered to no device until a rollout of
    /// them is started (so a staged rollout never races the publish).
    #[serde(default)]
    pub hold: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishResponse {
    pub root_version: u64,
    pub targets_version: u64,
    pub snapshot_version: u64,
    pub timestamp_version: u64,
    pub products: Vec<String>,
    /// Number of targets the repository lists after the publish.
    pub targets: usize,
    /// Metadata files that changed (role names).
    pub changed: Vec<String>,
    /// Releases held back by `hold` (target names).
    #[serde(default)]
    pub held: Vec<String>,
}

/// `POST /v1/devices/{id}/check-in`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    pub product: String,
    /// Installed version (semver).
    pub version: String,
    pub security_version: u64,
    /// The device's update choices; absent means automatic for everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::decision::DevicePolicy>,
    /// Lowercase hex sha256 of the image the device runs, when it can read it: the server then
    /// offers a delta that rebuilds the new release from exactly this image, if the product
    /// role signs one (docs/deltas.md). Absent (older agents): full images only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_sha256: Option<String>,
    /// The delta algorithms the device applies, in its order of preference (docs/deltas.md):
    /// a device short of memory lists `bsdiff4` only. Absent (agents made before the list):
    /// `zstd-patch-from` only. Names the server does not know are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_algorithms: Option<Vec<String>>,
}

impl CheckInRequest {
    /// At most this many names of `delta_algorithms` are looked at.
    pub const MAX_DELTA_ALGORITHMS: usize = 8;

    /// The delta algorithms to offer from, in the device's order of preference.
    pub fn accepted_delta_algorithms(&self) -> Vec<&str> {
        match &self.delta_algorithms {
            None => crate::delta::ALGORITHMS_BEFORE_THE_LIST.to_vec(),
            Some(list) => list
                .iter()
                .take(Self::MAX_DELTA_ALGORITHMS)
                .map(String::as_str)
                .filter(|a| crate::delta::ALGORITHMS.contains(a))
                .collect(),
        }
    }
}

/// The target offered in an `update` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferedTarget {
    pub name: String,
    pub version: String,
    pub security_version: u64,
    pub kind: ReleaseKind,
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
    /// Path on the server (consistent-snapshot target URL).
    pub url: String,
    /// Vulnerabilities fixed between the installed version and this one (signed advisories).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<crate::release::Advisory>,
    /// A signed delta that rebuilds this target from the device's installed image (the check-in's
    /// `installed_sha256`), if the product role lists one; the full target stays the fallback.
    /// (Boxed: the answer stays small when no delta is offered.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Box<OfferedDelta>>,
}

/// The delta offered with an `update` answer: a target of the same product role, whose signed
/// `custom.delta` the device checks itself (docs/deltas.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferedDelta {
    pub name: String,
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
    /// Path on the server (consistent-snapshot target URL).
    pub url: String,
    pub algorithm: String,
    /// sha256 of the image the delta applies to.
    pub source_sha256: String,
}

impl OfferedDelta {
    pub fn from_delta(d: &crate::delta::Delta) -> Self {
        OfferedDelta {
            url: format!(
                "/tuf/targets/{}",
                consistent_target_path(&d.name, &d.sha256)
            ),
            name: d.name.clone(),
            length: d.length,
            hashes: BTreeMap::from([("sha256".to_string(), d.sha256.clone())]),
            algorithm: d.info.algorithm.clone(),
            source_sha256: d.info.source_sha256.clone(),
        }
    }
}

/// The check-in answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum CheckInResponse {
    Update {
        urgent: bool,
        target: OfferedTarget,
    },
    UpToDate {
        /// An update the device's policy holds back (postponed or declined), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deferred: Option<crate::decision::Deferred>,
    },
    EndOfSupport {
        statement: String,
        successor: Option<String>,
        notice_url: Option<String>,
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
        security_updates_until: jiff::civil::Date,
    },
}

/// The consistent-snapshot path of a target below `/tuf/targets/`: `<dir>/<sha256>.<file>`.
pub fn consistent_target_path(name: &str, sha256: &str) -> String {
    match name.rsplit_once('/') {
        Some((dir, file)) => format!("{dir}/{sha256}.{file}"),
        None => format!("{sha256}.{name}"),
    }
}

impl CheckInResponse {
    pub fn from_decision(decision: Decision) -> Self {
        match decision {
            Decision::Update { release, urgent } => CheckInResponse::Update {
                urgent,
                target: OfferedTarget {
                    url: format!(
                        "/tuf/targets/{}",
                        consistent_target_path(&release.name, &release.sha256)
                    ),
                    name: release.name,
                    version: release.info.version.to_string(),
                    security_version: release.info.security_version,
                    kind: release.info.kind,
                    length: release.length,
                    hashes: BTreeMap::from([("sha256".to_string(), release.sha256)]),
                    advisories: Vec::new(),
                    delta: None,
                },
            },
            Decision::UpToDate => CheckInResponse::UpToDate { deferred: None },
            Decision::EndOfSupport(EndOfSupport {
                statement,
                successor,
                notice_url,
                security_updates_until,
            }) => CheckInResponse::EndOfSupport {
                statement,
                successor,
                notice_url,
                security_updates_until,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    Downloading,
    Installed,
    Failed,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Downloading => "downloading",
            ReportStatus::Installed => "installed",
            ReportStatus::Failed => "failed",
        }
    }
}

/// `POST /v1/devices/{id}/reports`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceReport {
    pub status: ReportStatus,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// How a delta update went, when the device was offered one (docs/deltas.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<DeltaUse>,
}

/// Whether a device rebuilt its image from a delta or fell back to the full image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeltaUse {
    /// The delta target's name.
    pub name: String,
    /// `true`: the image installed was rebuilt from the delta and matched the full target;
    /// `false`: the delta was refused and the full image was downloaded instead.
    pub applied: bool,
    /// Why the delta was refused (with `applied: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_algorithms_of_a_check_in() {
        let parse = |body: &str| serde_json::from_str::<CheckInRequest>(body).unwrap();
        let base = r#""product":"acme-cam","version":"1.0.0","security_version":1"#;
        // older agents: zstd patch-from only
        let old = parse(&format!("{{{base}}}"));
        assert_eq!(old.accepted_delta_algorithms(), vec!["zstd-patch-from"]);
        let short = parse(&format!(
            r#"{{{base},"delta_algorithms":["xdelta3","bsdiff4","zstd-patch-from"]}}"#
        ));
        assert_eq!(
            short.accepted_delta_algorithms(),
            vec!["bsdiff4", "zstd-patch-from"]
        );
        // only the first MAX_DELTA_ALGORITHMS names are read
        let long = parse(&format!(
            r#"{{{base},"delta_algorithms":["a","b","c","d","e","f","g","h","bsdiff4"]}}"#
        ));
        assert!(long.accepted_delta_algorithms().is_empty());
    }

    #[test]
    fn wire_format_of_answers() {
        let up = serde_json::to_value(CheckInResponse::UpToDate { deferred: None }).unwrap();
        assert_eq!(up, serde_json::json!({"decision": "up_to_date"}));
        let eol = serde_json::to_value(CheckInResponse::EndOfSupport {
            statement: "s".into(),
            successor: None,
            notice_url: Some("https://x.example/".into()),
            security_updates_until: jiff::civil::date(2030, 12, 31),
        })
        .unwrap();
        assert_eq!(eol["decision"], "end_of_support");
        assert_eq!(eol["security_updates_until"], "2030-12-31");
        assert!(eol.get("successor").is_some());
    }

    #[test]
    fn consistent_paths() {
        assert_eq!(consistent_target_path("p/f.bin", "ab"), "p/ab.f.bin");
    }
}

/// `POST /v1/admin/rollouts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    pub product: String,
    /// Release version to roll out (must be published).
    pub version: String,
    /// e.g. `1%@0h,10%@24h,50%@48h,100%@72h`.
    pub waves: String,
    /// e.g. `failures>=5% after 20 reports`; none = never pause by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_if: Option<String>,
    /// The rollout id, which seeds every device's bucket (1-64 of `a-z 0-9 -`, unused so
    /// far); none = random. Given for reproducible rehearsals (`airlock-sim run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `POST /v1/admin/rollouts/{product}/{version}/{pause|resume|abort}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RolloutAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A rollout as the admin API reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutStatus {
    pub id: String,
    pub product: String,
    pub version: String,
    pub target: String,
    /// held, active, paused, aborted, complete, withdrawn or superseded; in the list also
    /// replaced (a held rollout once a rollout of its release was started).
    pub state: String,
    pub reason: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: jiff::Timestamp,
    /// The waves as given, e.g. `["1%@0h", "10%@24h"]`.
    pub waves: Vec<String>,
    /// The current wave's share of the fleet (percent of device buckets the waves have
    /// opened now): the devices that may be offered the release, not the devices reached.
    pub reached_percent: f64,
    pub pause_if: Option<String>,
    /// Devices that reported this version installed / failed since the rollout started.
    pub installed: u64,
    pub failed: u64,
    pub failure_rate_percent: f64,
    /// Devices the server has offered this release to (the devices reached).
    #[serde(default)]
    pub devices_offered: u64,
    /// Devices of the product the server knows (by their last check-in).
    #[serde(default)]
    pub fleet_devices: u64,
    /// Of the devices that reported since the start, those whose image was rebuilt from a
    /// signed delta, and those that refused the offered delta and fell back to the full image
    /// (docs/deltas.md); devices offered no delta count in neither.
    #[serde(default)]
    pub installed_by_delta: u64,
    #[serde(default)]
    pub delta_fallbacks: u64,
    /// `delta_fallbacks` in percent of the devices that tried a delta; absent when none did. A
    /// rising rate is an alarm: spoiled deltas on the wire, images that drifted, a bad delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_fallback_percent: Option<f64>,
}

/// One entry of the audit log (`GET /v1/admin/audit`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Increasing with every entry: the order they were written in.
    pub id: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: jiff::Timestamp,
    /// Who acted: the admin token's name (`admin-token-file` for the token of
    /// `--admin-token-file`), `server` (the server by itself), `cli` (`airlock-server` commands).
    pub actor: String,
    /// What was done, e.g. `publish`, `rollout.start`, `rollout.auto_pause`.
    pub action: String,
    /// The action's details (for a refused publish: `ok`, `error`, `message`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// `GET /v1/admin/audit`: one page of entries, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; none when this is the last.
    pub next_before: Option<u64>,
}

/// `POST /v1/admin/enrolment-tokens`: a token devices enrol with (per product, or for one
/// device).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrolmentTokenRequest {
    pub product: String,
    /// For one device: the token enrols that id only, once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Lifetime from now, e.g. `"7d"`, `"12h"`, `"30m"` (default 7 days); or give `expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// When the token expires (RFC 3339); or give `expires_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<jiff::Timestamp>,
    /// How many devices may enrol with it: a count or `"unlimited"`. A per-device token is
    /// always one use; a product token without `uses` is unlimited until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<TokenUses>,
    /// A token for attack drills (`airlock-sim attack --server`): the devices it enrols are
    /// answered as any other, but none of their check-ins or reports is recorded, so they
    /// never count in fleet figures, compliance reports or a rollout's health.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drill: bool,
}

/// How many enrolments a token allows: a count, or `"unlimited"` (until it expires).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum TokenUses {
    Count(u32),
    Unlimited(Unlimited),
}

/// The word `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Unlimited {
    Unlimited,
}

impl TokenUses {
    pub const UNLIMITED: TokenUses = TokenUses::Unlimited(Unlimited::Unlimited);
}

impl std::fmt::Display for TokenUses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenUses::Count(n) => write!(f, "{n}"),
            TokenUses::Unlimited(_) => f.write_str("unlimited"),
        }
    }
}

impl std::str::FromStr for TokenUses {
    type Err = String;
    /// `N` (at least 1) or `unlimited`, as `--uses` takes it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "unlimited" => Ok(TokenUses::UNLIMITED),
            n => match n.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(TokenUses::Count(n)),
                _ => Err(format!(
                    "{s:?}: expected a count of at least 1 or \"unlimited\""
                )),
            },
        }
    }
}

/// `POST /v1/admin/enrolment-tokens` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolmentTokenResponse {
    /// Shown once; the server keeps only its digest.
    pub token: String,
    /// The token's id to list and revoke it by (the start of its digest, not of the token).
    pub id: String,
    pub product: String,
    pub device_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: jiff::Timestamp,
    pub uses: TokenUses,
    /// A drill token (see [`EnrolmentTokenRequest::drill`]).
    #[serde(default)]
    pub drill: bool,
}

/// One enrolment token in `GET /v1/admin/enrolment-tokens` (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolmentTokenInfo {
    pub id: String,
    pub product: String,
    pub device_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: jiff::Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: jiff::Timestamp,
    /// Enrolments left: a count or `"unlimited"`.
    pub uses_left: TokenUses,
    pub revoked: bool,
    /// `active`, `expired`, `used_up` or `revoked`.
    pub state: String,
    /// A drill token (see [`EnrolmentTokenRequest::drill`]).
    #[serde(default)]
    pub drill: bool,
}

/// `POST /v1/admin/devices/{device_id}/revoke` and `.../reinstate` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceRevocation {
    pub device_id: String,
    /// `true` after revoke; `false` after reinstate (the id may enrol again with a new token).
    pub revoked: bool,
}

/// `GET /v1/admin/devices/{device_id}`: what the server knows of one device, as the
/// dashboard's device page shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceHistory {
    pub device_id: String,
    /// Its enrolment; absent when it never enrolled (or devices are not enrolled here).
    pub enrolment: Option<DeviceEnrolment>,
    /// Its check-ins as runs of the same answer, newest (the current one) first: the current
    /// run and the last 100 that ended. Empty when it never checked in.
    pub check_ins: Vec<CheckInRunInfo>,
    /// Releases offered to it, oldest first.
    pub offers: Vec<OfferInfo>,
    /// Its newest reports (at most 100), newest first.
    pub reports: Vec<ReportInfo>,
}

/// A device's enrolment, in [`DeviceHistory`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceEnrolment {
    pub product: String,
    pub revoked: bool,
}

/// Check-ins of one device that got the same answer, in [`DeviceHistory`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckInRunInfo {
    /// Its first check-in.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub since: jiff::Timestamp,
    /// Its last check-in.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub until: jiff::Timestamp,
    pub check_ins: u64,
    pub product: String,
    pub version: String,
    pub security_version: u64,
    /// `update`, `up_to_date` or `end_of_support`.
    pub decision: String,
    /// The version offered with `update`, when known.
    pub offered: Option<String>,
    /// The device's current run: its last check-in is this run's.
    pub current: bool,
}

/// A release offered to a device, in [`DeviceHistory`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferInfo {
    pub version: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub first_offered_at: jiff::Timestamp,
}

/// A device's report, in [`DeviceHistory`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportInfo {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: jiff::Timestamp,
    pub status: String,
    pub version: String,
    pub code: Option<String>,
    /// Whether the release was offered to the device: a report of one that was not counts
    /// nowhere.
    pub counted: bool,
}

/// `POST /v1/devices/{id}/enrol`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub token: String,
    pub product: String,
    /// The device's own credential, chosen by the device (32 random bytes as 64 hex digits is
    /// what the device library sends; 32 to 128 characters of `A-Z a-z 0-9 - _ .` are taken).
    /// It makes the enrolment safe to send again: a repeat whose answer was lost (a replica
    /// killed after its commit, a cut connection) is answered as the first time, without
    /// another use of the token, because only the device knows this credential. Without it the
    /// server chooses one, and a lost answer leaves the device needing a new token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolResponse {
    pub device_id: String,
    pub product: String,
    /// The device's own credential for check-ins and reports (`Authorization: Bearer ...`);
    /// shown once, the server keeps only its digest.
    pub credential: String,
    /// Enrolled with a drill token: the server records none of this device's check-ins or
    /// reports (see [`EnrolmentTokenRequest::drill`]).
    #[serde(default)]
    pub drill: bool,
}

/// `GET /v1/admin/products/{product}/fleet`: what the server knows of one product's fleet, from
/// each device's last check-in and the devices' install reports. Evidence for
/// `airlock compliance report --server` (issue 7: share of devices on a supported security
/// version, median time from release to install, rollout outcomes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetReport {
    pub product: String,
    /// When the server computed the figures (its clock).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub generated_at: jiff::Timestamp,
    /// Devices that have checked in for this product (each counted once, by its last check-in).
    pub devices: u64,
    /// The signed security floor: `min_security_version` of the product's support record.
    pub min_security_version: u64,
    /// Devices whose last check-in reported a security version at or above the floor.
    pub devices_supported: u64,
    /// `devices_supported` as a percentage of `devices`; absent when no device checked in.
    pub supported_percent: Option<f64>,
    /// Devices by the version of their last check-in, newest version first.
    pub versions: Vec<FleetVersion>,
    /// Every published release of the product, oldest first.
    pub releases: Vec<FleetRelease>,
    /// Devices by version over time, oldest first: evenly spaced instants from the product's
    /// first `installed` report to `generated_at`. At each instant a device counts once, on the
    /// version of its latest `installed` report at or before it; devices that never reported an
    /// install (only checked in) are not counted, so these totals can be below `devices`.
    /// Empty when no device reported an install; absent from servers older than this field.
    #[serde(default)]
    pub history: Vec<FleetHistoryPoint>,
}

/// The installed versions of a fleet at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetHistoryPoint {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: jiff::Timestamp,
    /// Devices by version (as the devices reported it); versions with no device are left out.
    pub versions: BTreeMap<String, u64>,
}

/// Devices on one version (by their last check-in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetVersion {
    pub version: String,
    pub security_version: u64,
    pub devices: u64,
    /// Whether `security_version` is at or above the signed floor.
    pub supported: bool,
}

/// One published release: how devices took it up.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetRelease {
    pub version: String,
    pub kind: ReleaseKind,
    pub security_version: u64,
    /// The signed release time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub released: jiff::Timestamp,
    /// Devices that ever reported this version installed / failed.
    pub devices_installed: u64,
    pub devices_failed: u64,
    /// Of those, the devices whose image was rebuilt from a signed delta, and those that
    /// refused the offered delta and fell back to the full image (docs/deltas.md).
    #[serde(default)]
    pub devices_by_delta: u64,
    #[serde(default)]
    pub delta_fallbacks: u64,
    /// Median, over the devices that installed it, of the time from the signed release time to
    /// the device's first `installed` report, in seconds; absent when no device installed it.
    pub median_seconds_to_install: Option<u64>,
    /// The release's newest rollout; absent when it never had one (offered to every device).
    pub rollout: Option<RolloutOutcome>,
}

/// Where a release's rollout stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutOutcome {
    pub id: String,
    /// held, active, paused, aborted, complete, withdrawn or superseded.
    pub state: String,
    /// Why the state last changed (e.g. the health rule that tripped).
    pub reason: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: jiff::Timestamp,
    /// Devices that reported the version installed / failed since the rollout started.
    pub installed: u64,
    pub failed: u64,
    /// Of those, rebuilt from a delta / fell back to the full image (docs/deltas.md).
    #[serde(default)]
    pub installed_by_delta: u64,
    #[serde(default)]
    pub delta_fallbacks: u64,
}
