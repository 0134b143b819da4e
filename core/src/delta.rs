//! Delta targets (docs/deltas.md): a file that rebuilds one signed release from one earlier
//! signed release, listed in the product role like any target and signed by the product key.
//!
//! A delta's `custom` field holds one object, `delta`, naming the algorithm, the source image it
//! applies to (sha256 and length of an earlier release of the same role) and the full target it
//! rebuilds (name, sha256 and length, exactly as the same role lists that release). A delta is
//! never trusted by itself: the device checks the delta against its own signed length and hash,
//! its installed image against the named source, and the rebuilt image against the full target's
//! signed length and hash before it installs anything. Pure: no I/O.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use thiserror::Error;

use crate::names;
use crate::release::Release;

/// zstd with the source image as reference prefix (the method of `zstd --patch-from`).
pub const ZSTD_PATCH_FROM: &str = "zstd-patch-from";

/// bsdiff 4.x (`BSDIFF40`: bzip2-compressed control, diff and extra streams), the lower-memory
/// method: the device holds the installed image and the delta, and streams the rebuilt image.
pub const BSDIFF: &str = "bsdiff4";

/// The algorithms a device of this version can apply.
pub const ALGORITHMS: &[&str] = &[ZSTD_PATCH_FROM, BSDIFF];

/// What a check-in that does not list `delta_algorithms` can apply: agents made before the
/// field existed apply zstd patch-from only.
pub const ALGORITHMS_BEFORE_THE_LIST: &[&str] = &[ZSTD_PATCH_FROM];

/// The file extension of a delta made with `algorithm` (`None`: not an algorithm we know).
pub fn extension(algorithm: &str) -> Option<&'static str> {
    match algorithm {
        ZSTD_PATCH_FROM => Some("zst"),
        BSDIFF => Some("bsdiff"),
        _ => None,
    }
}

/// The `custom.delta` object of a delta target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeltaInfo {
    /// How the delta is applied ([`ZSTD_PATCH_FROM`] or [`BSDIFF`]).
    pub algorithm: String,
    /// Lowercase hex sha256 of the image the delta applies to (an earlier release).
    pub source_sha256: String,
    /// Length of that image.
    pub source_length: u64,
    /// The full target the delta rebuilds, `<product>/<file>`.
    pub target: String,
    /// That target's signed sha256 and length: the rebuilt image must match both.
    pub target_sha256: String,
    pub target_length: u64,
}

impl DeltaInfo {
    /// The `custom` map of a delta target.
    pub fn to_custom(&self) -> HashMap<String, serde_json::Value> {
        let mut map = HashMap::new();
        if let Ok(v) = serde_json::to_value(self) {
            map.insert("delta".to_string(), v);
        }
        map
    }
}

/// A delta target as verified metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// TUF target name, `<product>/<file>`.
    pub name: String,
    /// Signed length and sha256 of the delta file itself.
    pub length: u64,
    pub sha256: String,
    pub info: DeltaInfo,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeltaError {
    #[error("delta {name}: its custom.delta field is invalid: {reason}")]
    BadCustom { name: String, reason: String },
    #[error("delta {name}: {reason}")]
    Inconsistent { name: String, reason: String },
}

/// Whether a target entry is a delta (its `custom` holds a `delta` object) rather than a
/// release.
pub fn is_delta(target: &tough::schema::Target) -> bool {
    target.custom.contains_key("delta")
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Delta {
    /// Reads a delta from a target entry (the fields' own form; [`check_deltas`] checks them
    /// against the role's releases).
    pub fn from_target(name: &str, target: &tough::schema::Target) -> Result<Self, DeltaError> {
        let bad = |reason: String| DeltaError::BadCustom {
            name: name.to_string(),
            reason,
        };
        if target.custom.len() != 1 {
            return Err(bad(
                "a delta's custom field holds the delta object only".into()
            ));
        }
        let value = target
            .custom
            .get("delta")
            .cloned()
            .ok_or_else(|| bad("no delta object".into()))?;
        let info: DeltaInfo = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if !is_sha256(&info.source_sha256) || !is_sha256(&info.target_sha256) {
            return Err(bad(
                "source_sha256 and target_sha256 must be 64 lowercase hex digits".into(),
            ));
        }
        names::split_target_name(&info.target).map_err(|e| bad(e.to_string()))?;
        let sha256 = hex::encode(&*target.hashes.sha256);
        if sha256.len() != 64 {
            return Err(bad("the delta has no sha256 hash".into()));
        }
        Ok(Delta {
            name: name.to_string(),
            length: target.length,
            sha256,
            info,
        })
    }
}

/// Checks each delta against the releases of the same signed role: a known algorithm; the
/// full target it names is a release of this role with exactly the signed sha256 and length;
/// its source is an earlier release of this role (sha256 and length); the delta is not empty
/// and saves bytes (it is shorter than the full image it rebuilds).
pub fn check_deltas(deltas: &[Delta], releases: &[Release]) -> Result<(), DeltaError> {
    for d in deltas {
        let bad = |reason: String| DeltaError::Inconsistent {
            name: d.name.clone(),
            reason,
        };
        if !ALGORITHMS.contains(&d.info.algorithm.as_str()) {
            return Err(bad(format!(
                "unknown algorithm {:?} (known: {})",
                d.info.algorithm,
                ALGORITHMS.join(", ")
            )));
        }
        let Some(target) = releases.iter().find(|r| r.name == d.info.target) else {
            return Err(bad(format!(
                "it rebuilds {} which this role does not list as a release",
                d.info.target
            )));
        };
        if target.sha256 != d.info.target_sha256 || target.length != d.info.target_length {
            return Err(bad(format!(
                "it names {} with sha256 {} and length {}, but the role signs sha256 {} and length {}",
                d.info.target, d.info.target_sha256, d.info.target_length, target.sha256, target.length
            )));
        }
        let Some(source) = releases
            .iter()
            .find(|r| r.sha256 == d.info.source_sha256 && r.length == d.info.source_length)
        else {
            return Err(bad(format!(
                "its source image (sha256 {}, {} bytes) is no release of this role",
                d.info.source_sha256, d.info.source_length
            )));
        };
        if source.info.version >= target.info.version {
            return Err(bad(format!(
                "its source {} ({}) is not earlier than the release it rebuilds ({})",
                source.name, source.info.version, target.info.version
            )));
        }
        if d.length == 0 || d.length >= target.length {
            return Err(bad(format!(
                "it is {} bytes, no smaller than the full image ({} bytes)",
                d.length, target.length
            )));
        }
    }
    Ok(())
}

/// The delta of `deltas` that rebuilds `release` from the image whose sha256 is
/// `installed_sha256` with one of the `accepted` algorithms, the first of them that has one
/// (the device lists them in its order of preference), if any.
pub fn delta_for<'a, S: AsRef<str>>(
    deltas: &'a [Delta],
    release: &Release,
    installed_sha256: &str,
    accepted: &[S],
) -> Option<&'a Delta> {
    accepted.iter().find_map(|algorithm| {
        deltas.iter().find(|d| {
            d.info.algorithm == algorithm.as_ref()
                && d.info.target == release.name
                && d.info.target_sha256 == release.sha256
                && d.info.source_sha256 == installed_sha256
        })
    })
}

/// The target name of the delta that rebuilds `target` (`<product>/<file>`) from the image with
/// sha256 `source_sha256` with `algorithm`: `<product>/<file>.from-<first 16 hex
/// digits>.<extension>` (`.zst`, `.bsdiff`). `None` when the algorithm is unknown or the name
/// would be longer than a target file name may be.
pub fn delta_name(target: &str, source_sha256: &str, algorithm: &str) -> Option<String> {
    let (product, file) = names::split_target_name(target).ok()?;
    let short = source_sha256.get(..16)?;
    let ext = extension(algorithm)?;
    let name = format!("{product}/{file}.from-{short}.{ext}");
    names::split_target_name(&name).ok()?;
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{ReleaseInfo, ReleaseKind};

    fn release(version: &str, byte: char, length: u64) -> Release {
        Release {
            name: format!("acme-cam/fw-{version}.bin"),
            length,
            sha256: byte.to_string().repeat(64),
            info: ReleaseInfo {
                product: "acme-cam".into(),
                version: version.parse().unwrap(),
                security_version: 1,
                kind: ReleaseKind::Security,
                requires: None,
                released: "2026-01-01T00:00:00Z".parse().unwrap(),
                advisories: Vec::new(),
            },
        }
    }

    fn delta(source: &Release, target: &Release, length: u64) -> Delta {
        Delta {
            name: delta_name(&target.name, &source.sha256, ZSTD_PATCH_FROM).unwrap(),
            length,
            sha256: "c".repeat(64),
            info: DeltaInfo {
                algorithm: ZSTD_PATCH_FROM.into(),
                source_sha256: source.sha256.clone(),
                source_length: source.length,
                target: target.name.clone(),
                target_sha256: target.sha256.clone(),
                target_length: target.length,
            },
        }
    }

    #[test]
    fn consistent_delta_passes_and_is_found() {
        let (a, b) = (release("1.0.0", 'a', 1000), release("1.1.0", 'b', 1000));
        let d = delta(&a, &b, 50);
        let releases = vec![a.clone(), b.clone()];
        check_deltas(std::slice::from_ref(&d), &releases).unwrap();
        let zstd = [ZSTD_PATCH_FROM];
        assert_eq!(
            delta_for(std::slice::from_ref(&d), &b, &a.sha256, &zstd),
            Some(&d)
        );
        assert_eq!(
            delta_for(std::slice::from_ref(&d), &b, &b.sha256, &zstd),
            None
        );
        // a device that applies bsdiff only gets no zstd delta
        assert_eq!(
            delta_for(std::slice::from_ref(&d), &b, &a.sha256, &[BSDIFF]),
            None
        );
    }

    #[test]
    fn the_device_s_first_accepted_algorithm_wins() {
        let (a, b) = (release("1.0.0", 'a', 1000), release("1.1.0", 'b', 1000));
        let zstd = delta(&a, &b, 50);
        let mut bsdiff = delta(&a, &b, 60);
        bsdiff.info.algorithm = BSDIFF.into();
        bsdiff.name = delta_name(&b.name, &a.sha256, BSDIFF).unwrap();
        assert!(bsdiff.name.ends_with(".bsdiff") && zstd.name.ends_with(".zst"));
        let deltas = vec![zstd.clone(), bsdiff.clone()];
        check_deltas(&deltas, &[a.clone(), b.clone()]).unwrap();
        assert_eq!(
            delta_for(&deltas, &b, &a.sha256, &[BSDIFF, ZSTD_PATCH_FROM]),
            Some(&bsdiff)
        );
        assert_eq!(
            delta_for(&deltas, &b, &a.sha256, &[ZSTD_PATCH_FROM, BSDIFF]),
            Some(&zstd)
        );
        assert_eq!(
            delta_for(&deltas, &b, &a.sha256, &["xdelta3", BSDIFF]),
            Some(&bsdiff)
        );
        assert_eq!(delta_for::<&str>(&deltas, &b, &a.sha256, &[]), None);
    }

    #[test]
    fn inconsistent_deltas_are_refused() {
        let (a, b) = (release("1.0.0", 'a', 1000), release("1.1.0", 'b', 1000));
        let releases = vec![a.clone(), b.clone()];
        let mut cases = Vec::new();
        let mut d = delta(&a, &b, 50);
        d.info.target_sha256 = "d".repeat(64);
        cases.push(d);
        let mut d = delta(&a, &b, 50);
        d.info.target = "acme-cam/other.bin".into();
        cases.push(d);
        let mut d = delta(&a, &b, 50);
        d.info.source_sha256 = "e".repeat(64);
        cases.push(d);
        cases.push(delta(&b, &a, 50)); // source newer than target
        cases.push(delta(&a, &b, 1000)); // saves nothing
        let mut d = delta(&a, &b, 50);
        d.info.algorithm = "xdelta3".into();
        cases.push(d);
        for d in cases {
            assert!(
                check_deltas(std::slice::from_ref(&d), &releases).is_err(),
                "{d:?}"
            );
        }
    }

    #[test]
    fn custom_round_trips_and_rejects_extra_fields() {
        let (a, b) = (release("1.0.0", 'a', 1000), release("1.1.0", 'b', 1000));
        let d = delta(&a, &b, 50);
        let mut t = tough::schema::Target {
            length: 50,
            hashes: tough::schema::Hashes {
                sha256: hex::decode("c".repeat(64)).unwrap().into(),
                _extra: HashMap::new(),
            },
            custom: d.info.to_custom(),
            _extra: HashMap::new(),
        };
        assert!(is_delta(&t));
        assert_eq!(Delta::from_target(&d.name, &t).unwrap(), d);
        t.custom
            .insert("version".into(), serde_json::json!("9.9.9"));
        assert!(Delta::from_target(&d.name, &t).is_err());
    }

    proptest::proptest! {
        /// Whatever the device lists and the role signs, the delta offered uses an algorithm
        /// the device listed, fits its installed image and the release, and is the one of its
        /// earliest listed algorithm that the role signs.
        #[test]
        fn the_offer_follows_the_device_s_list(
            signed in proptest::collection::vec((0usize..3, proptest::bool::ANY), 0..6),
            listed in proptest::collection::vec(0usize..3, 0..4),
        ) {
            let names = [ZSTD_PATCH_FROM, BSDIFF, "xdelta3"];
            let (a, b) = (release("1.0.0", 'a', 1000), release("1.1.0", 'b', 1000));
            let other = release("0.9.0", 'e', 1000);
            let deltas: Vec<Delta> = signed
                .iter()
                .map(|&(alg, from_a)| {
                    let source = if from_a { &a } else { &other };
                    let mut d = delta(source, &b, 50);
                    d.info.algorithm = names[alg].into();
                    d
                })
                .collect();
            let accepted: Vec<&str> = listed.iter().map(|&i| names[i]).collect();
            let got = delta_for(&deltas, &b, &a.sha256, &accepted);
            let first = accepted.iter().find(|alg| {
                deltas.iter().any(|d| d.info.algorithm == **alg && d.info.source_sha256 == a.sha256)
            });
            match (got, first) {
                (Some(d), Some(alg)) => {
                    proptest::prop_assert_eq!(d.info.algorithm.as_str(), *alg);
                    proptest::prop_assert_eq!(&d.info.source_sha256, &a.sha256);
                    proptest::prop_assert_eq!(&d.info.target, &b.name);
                }
                (None, None) => {}
                (got, first) => proptest::prop_assert!(false, "{got:?} vs {first:?}"),
            }
        }
    }

    #[test]
    fn long_names_get_no_delta_name() {
        let long = format!("acme-cam/{}", "f".repeat(190));
        assert_eq!(delta_name(&long, &"a".repeat(64), ZSTD_PATCH_FROM), None);
        assert_eq!(
            delta_name("acme-cam/fw.bin", &"a".repeat(64), "xdelta3"),
            None
        );
    }
}
