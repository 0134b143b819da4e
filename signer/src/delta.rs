//! Deltas at `release add` (docs/deltas.md): for the product's N newest earlier releases whose
//! images the repository holds, a delta to the new image with each chosen method (zstd
//! patch-from by default, bsdiff for devices short of memory), listed as a target of
//! the product role (signed with the release, by the product key) with a `custom.delta` object
//! naming its source, the full target it rebuilds and the algorithm.
//!
//! A delta is only kept when it was applied back by the device's own code and rebuilt exactly
//! the new image, and when it saves at least [`MIN_SAVING_PERCENT`] of the full image. An old
//! image missing from the repository (or not matching its signed hash) is skipped with a note.

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

use airlock_core::delta::{delta_name, DeltaInfo, BSDIFF, ZSTD_PATCH_FROM};
use airlock_core::release::Release;

use crate::repo::Repo;

/// Deltas from this many previous releases when neither `--deltas-from` nor the repository's
/// `deltas_from` setting says otherwise: none. Deltas are opt-in, because rebuilding one needs
/// the old and the new image in the device's memory at once (docs/deltas.md), which a vendor
/// must know its devices have before their check-ins start offering deltas.
pub const DEFAULT_DELTAS_FROM: u32 = 0;

/// A delta is published only if it saves at least this share of the full image (a delta of
/// 90 % or more of the full image costs the device a rebuild for almost no bytes saved).
pub const MIN_SAVING_PERCENT: u64 = 10;

/// A delta method, as `--delta-method` and the repository's `delta_method` setting name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeltaMethod {
    /// zstd with the old image as reference prefix (`zstd-patch-from`): the smallest deltas and
    /// the fastest rebuild; the device holds the old and the new image at once.
    Zstd,
    /// bsdiff 4.x (`bsdiff4`): for devices short of memory; the device holds the old image and
    /// the delta, and streams the new image.
    Bsdiff,
}

impl DeltaMethod {
    /// The algorithm name signed in `custom.delta.algorithm`.
    pub fn algorithm(self) -> &'static str {
        match self {
            DeltaMethod::Zstd => ZSTD_PATCH_FROM,
            DeltaMethod::Bsdiff => BSDIFF,
        }
    }

    fn create(self, old: &[u8], new: &[u8]) -> Result<Vec<u8>, airlock_device::delta::DeltaError> {
        match self {
            DeltaMethod::Zstd => {
                airlock_device::delta::create(old, new, airlock_device::delta::LEVEL)
            }
            DeltaMethod::Bsdiff => airlock_device::bsdiff::create(old, new),
        }
    }
}

/// The methods used when neither `--delta-method` nor the repository's `delta_method` setting
/// says otherwise.
pub const DEFAULT_DELTA_METHODS: &[DeltaMethod] = &[DeltaMethod::Zstd];

/// How many earlier releases to make deltas from, and with which methods.
#[derive(Debug, Clone, Default)]
pub struct DeltaOptions {
    /// `--deltas-from N`; `None`: the repository's `deltas_from` setting, else
    /// [`DEFAULT_DELTAS_FROM`].
    pub from: Option<u32>,
    /// `--delta-method`; empty: the repository's `delta_method` setting, else
    /// [`DEFAULT_DELTA_METHODS`]. One delta per source and method.
    pub methods: Vec<DeltaMethod>,
}

impl DeltaOptions {
    pub fn count(&self, repo: &Repo) -> Result<u32> {
        Ok(match self.from {
            Some(n) => n,
            None => repo.config()?.deltas_from.unwrap_or(DEFAULT_DELTAS_FROM),
        })
    }

    /// The methods to make deltas with, each once, in the order given.
    pub fn methods(&self, repo: &Repo) -> Result<Vec<DeltaMethod>> {
        let chosen = if !self.methods.is_empty() {
            self.methods.clone()
        } else {
            match repo.config()?.delta_method {
                Some(m) if !m.is_empty() => m,
                _ => DEFAULT_DELTA_METHODS.to_vec(),
            }
        };
        let mut methods = Vec::new();
        for m in chosen {
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        Ok(methods)
    }
}

/// A delta made and checked, waiting in a temporary file for its role to be signed.
#[derive(Debug)]
pub struct Made {
    pub name: String,
    pub tmp: PathBuf,
    pub dest: PathBuf,
    pub sha256: String,
    pub length: u64,
    pub info: DeltaInfo,
    pub from_version: semver::Version,
}

impl Made {
    pub fn target(&self) -> Result<tough::schema::Target> {
        Ok(tough::schema::Target {
            length: self.length,
            hashes: tough::schema::Hashes {
                sha256: hex::decode(&self.sha256)?.into(),
                _extra: std::collections::HashMap::new(),
            },
            custom: self.info.to_custom(),
            _extra: std::collections::HashMap::new(),
        })
    }
}

/// What the output of `release add` says about one delta.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaReport {
    pub target: String,
    pub from_version: semver::Version,
    pub algorithm: String,
    pub length: u64,
    pub sha256: String,
    /// The delta's size in percent of the full image.
    pub percent_of_full: f64,
}

/// An earlier release no delta was made from (with one method), and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub from_version: semver::Version,
    /// The algorithm the delta would have used.
    pub algorithm: String,
    pub reason: String,
}

/// The `count` newest releases of `role` older than `version` (the delta sources).
pub fn sources(
    role: &tough::schema::Targets,
    version: &semver::Version,
    count: u32,
) -> Vec<Release> {
    let mut older: Vec<Release> = role
        .targets
        .iter()
        .filter(|(_, t)| !airlock_core::delta::is_delta(t))
        .filter_map(|(name, t)| Release::from_target(name.raw(), t).ok())
        .filter(|r| r.info.version < *version)
        .collect();
    older.sort_by(|a, b| b.info.version.cmp(&a.info.version));
    older.truncate(count as usize);
    older
}

/// The new image, as `release add` signs it.
pub struct NewImage<'a> {
    pub target: &'a str,
    pub path: &'a Path,
    pub sha256: &'a str,
    pub length: u64,
}

/// Makes a delta from each source to `new`, in temporary files beside their final names.
/// Deltas that cannot be made (missing old image, too large, saving too little) are skipped
/// with their reason; the caller signs the made ones with the release and moves them in place.
pub fn make(
    repo: &Repo,
    sources: &[Release],
    methods: &[DeltaMethod],
    new: &NewImage<'_>,
) -> Result<(Vec<Made>, Vec<Skipped>)> {
    let mut made = Vec::new();
    let mut skipped = Vec::new();
    if sources.is_empty() {
        return Ok((made, skipped));
    }
    let image = std::fs::read(new.path)
        .with_context(|| format!("reading {} to make deltas", new.path.display()))?;
    for source in sources {
        for &method in methods {
            match make_one(repo, source, method, new, &image) {
                Ok(Ok(m)) => made.push(m),
                Ok(Err(reason)) => {
                    tracing::info!(from = %source.info.version, algorithm = method.algorithm(),
                        %reason, "no delta");
                    skipped.push(Skipped {
                        from_version: source.info.version.clone(),
                        algorithm: method.algorithm().to_string(),
                        reason,
                    })
                }
                Err(e) => {
                    remove(&made);
                    return Err(e);
                }
            }
        }
    }
    Ok((made, skipped))
}

/// Removes the temporary files of deltas that will not be signed.
pub fn remove(made: &[Made]) {
    for m in made {
        let _ = std::fs::remove_file(&m.tmp);
    }
}

fn make_one(
    repo: &Repo,
    source: &Release,
    method: DeltaMethod,
    new: &NewImage<'_>,
    image: &[u8],
) -> Result<std::result::Result<Made, String>> {
    let algorithm = method.algorithm();
    let Some(name) = delta_name(new.target, &source.sha256, algorithm) else {
        return Ok(Err(format!(
            "the delta's name would be too long for {}",
            new.target
        )));
    };
    let old_path = repo.target_path(&source.name)?;
    let old = match std::fs::read(&old_path) {
        Ok(b) => b,
        Err(e) => {
            return Ok(Err(format!(
                "its image {} cannot be read ({e}); the repository must hold the old images to make deltas",
                old_path.display()
            )))
        }
    };
    let old_sha = sha256_hex(&old);
    if old.len() as u64 != source.length || old_sha != source.sha256 {
        return Ok(Err(format!(
            "its image {} does not match its signed length and sha256",
            old_path.display()
        )));
    }
    let delta = match method.create(&old, image) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let length = delta.len() as u64;
    if length.saturating_mul(100) > new.length.saturating_mul(100 - MIN_SAVING_PERCENT) {
        return Ok(Err(format!(
            "the delta ({length} bytes) would save under {MIN_SAVING_PERCENT}% of the full image ({} bytes)",
            new.length
        )));
    }
    // The device's own code rebuilds the image from it, exactly, before it is signed.
    let rebuilt = match method {
        DeltaMethod::Zstd => {
            airlock_device::delta::apply(&old, &delta[..], new.length, std::io::sink())
        }
        DeltaMethod::Bsdiff => {
            airlock_device::bsdiff::apply(&old, &delta, new.length, std::io::sink())
        }
    }
    .map_err(|e| {
        anyhow::anyhow!(
            "the {algorithm} delta from {} does not apply: {e}",
            source.name
        )
    })?;
    if rebuilt.length != new.length || rebuilt.sha256 != new.sha256 {
        anyhow::bail!(
            "the {algorithm} delta from {} does not rebuild {} exactly (a fault in its library?)",
            source.name,
            new.target
        );
    }
    let dest = repo.target_path(&name)?;
    let file = dest
        .file_name()
        .context("the delta path has no file name")?
        .to_string_lossy()
        .to_string();
    let tmp = dest.with_file_name(format!(".{file}{}", crate::leftovers::SUFFIX));
    std::fs::write(&tmp, &delta).with_context(|| format!("writing {}", tmp.display()))?;
    crate::durable::sync_path(&tmp)?;
    Ok(Ok(Made {
        info: DeltaInfo {
            algorithm: algorithm.to_string(),
            source_sha256: source.sha256.clone(),
            source_length: source.length,
            target: new.target.to_string(),
            target_sha256: new.sha256.to_string(),
            target_length: new.length,
        },
        name,
        tmp,
        dest,
        sha256: sha256_hex(&delta),
        length,
        from_version: source.info.version.clone(),
    }))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The report line of a made delta.
pub fn report(m: &Made, full_length: u64) -> DeltaReport {
    DeltaReport {
        target: m.name.clone(),
        from_version: m.from_version.clone(),
        algorithm: m.info.algorithm.clone(),
        length: m.length,
        sha256: m.sha256.clone(),
        percent_of_full: (m.length as f64 * 10000.0 / full_length.max(1) as f64).round() / 100.0,
    }
}
