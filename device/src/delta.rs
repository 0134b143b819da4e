//! Delta images (docs/deltas.md). Two algorithms: zstd with the installed image as reference
//! prefix, the method of `zstd --patch-from` (this module), and bsdiff, the lower-memory one
//! ([`crate::bsdiff`]); [`apply_signed`] picks by the delta's signed algorithm.
//!
//! zstd patch-from: [`create`] is the signer's side; [`apply`] is the device's, and takes
//! untrusted bytes: it never writes more than the full target's signed length (it stops as soon
//! as one more byte would arrive), and the decoder refuses a frame that asks for a window larger
//! than [`window_log`] allows for the signed lengths, so its memory is bounded by them.
//!
//! Memory on the device while applying: the source image (read whole, it is the reference
//! prefix), plus the decoder's window buffer, at most the rebuilt image's length (zstd sizes it
//! from the frame's content size) and never over `2^window_log` bytes, plus ~256 KiB of
//! buffers. With [`MAX_WINDOW_LOG`] = 30, no delta is ever made for images whose two lengths
//! together exceed 1 GiB: the signer skips it and devices get the full image.

use sha2::Digest;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use airlock_core::api::OfferedDelta;
use airlock_core::delta::Delta;
pub use airlock_core::delta::ZSTD_PATCH_FROM;
use airlock_core::names;
use airlock_core::release::Release;

use crate::config::Config;
use crate::download::{download_target, Download};
use crate::link::Link;
use crate::state::firmware_dir;

/// The largest window (log2 bytes) a delta may ask for: 1 GiB, zstd's limit for long-distance
/// matching on 32-bit targets is 30 too.
pub const MAX_WINDOW_LOG: u32 = 30;

/// zstd's smallest window log.
const MIN_WINDOW_LOG: u32 = 10;

/// The window (log2 bytes) of a delta from a `source_length` image to a `target_length` one:
/// enough for every match in the source to be reached from the end of the target (the prefix
/// and the output share one window). `None` if it would exceed [`MAX_WINDOW_LOG`].
pub fn window_log(source_length: u64, target_length: u64) -> Option<u32> {
    let total = source_length.checked_add(target_length)?.max(1);
    let log = 64 - (total - 1).leading_zeros();
    let log = log.max(MIN_WINDOW_LOG);
    (log <= MAX_WINDOW_LOG).then_some(log)
}

/// Why a delta could not be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("the images are too large for a delta ({source_length} + {target_length} bytes; the window is capped at 2^{MAX_WINDOW_LOG} bytes)")]
    TooLarge {
        source_length: u64,
        target_length: u64,
    },
    #[error("the delta would rebuild more than the {limit} bytes the full target signs: stopped")]
    TooLong { limit: u64 },
    #[error("the delta is not a valid {ZSTD_PATCH_FROM} delta for this source: {0}")]
    Corrupt(String),
    #[error("writing the rebuilt image: {0}")]
    Write(std::io::Error),
}

/// zstd's compression level for deltas: 19 finds long matches well; deltas are built once, at
/// `release add`, and applied by many devices, whose decoding speed does not depend on it.
pub const LEVEL: i32 = 19;

/// The largest job asked of libzstd's multithreading: its `ZSTDMT_JOBSIZE_MAX` on 64-bit
/// targets, which holds any target a delta is made for ([`MAX_WINDOW_LOG`]); libzstd lowers it
/// to its 32-bit maximum (512 MiB) there.
const MAX_JOB_SIZE: usize = 1 << 30;

/// Makes a delta that rebuilds `target` from `source`, in one call over the whole target
/// (`ZSTD_compress2`), handed to one worker thread as one job (the zstd CLI's default is one
/// worker too).
///
/// Why the worker: on the calling thread, libzstd (1.5.7, the bundled one) finds long-distance
/// matches one 128 KiB block at a time, and its optimal parser (level 16 and up) never offers
/// a block's last such match as a candidate. On random-looking data a block has one, covering
/// it whole, and the regular match finder indexes only the prefix's last 2^25 bytes at level
/// 19: a 64 MiB random pair with 3 x 4 KiB changed gave a 32 MiB delta (50 %), the 256 MiB
/// one 182 MB (68 %). With a worker, the long-distance matches are found over the whole job
/// before it is parsed, so they span blocks and only a job's last one is lost: 18 KB and
/// 35 KB. One job for the whole target (not libzstd's default of 64 MiB at level 19) keeps
/// the source in the regular match finder for all of it, as on the calling thread: with
/// 64 MiB jobs the 256 MiB pair gave 433 KB (the CLI's figure). Figures: docs/benchmarks.md.
/// Targets up to 512 KiB are compressed on the calling thread (libzstd starts no job for
/// them). The output is an ordinary frame: devices apply it as before.
pub fn create(source: &[u8], target: &[u8], level: i32) -> Result<Vec<u8>, DeltaError> {
    use zstd::zstd_safe::{CCtx, CParameter};
    let too_large = || DeltaError::TooLarge {
        source_length: source.len() as u64,
        target_length: target.len() as u64,
    };
    let log = window_log(source.len() as u64, target.len() as u64).ok_or_else(too_large)?;
    let zstd_err = |code: usize| {
        DeltaError::Corrupt(format!("zstd: {}", zstd::zstd_safe::get_error_name(code)))
    };
    let job_size = target.len().min(MAX_JOB_SIZE) as u32;
    let mut cctx = CCtx::create();
    for parameter in [
        CParameter::CompressionLevel(level),
        CParameter::WindowLog(log),
        CParameter::EnableLongDistanceMatching(true),
        CParameter::ChecksumFlag(false),
        CParameter::ContentSizeFlag(true),
        CParameter::NbWorkers(1),
        CParameter::JobSize(job_size),
    ] {
        cctx.set_parameter(parameter).map_err(zstd_err)?;
    }
    cctx.ref_prefix(source).map_err(zstd_err)?;
    let mut out = vec![0u8; zstd::zstd_safe::compress_bound(target.len())];
    let written = cctx.compress2(&mut out[..], target).map_err(zstd_err)?;
    out.truncate(written);
    Ok(out)
}

/// What [`apply`] rebuilt: its length and sha256 (lowercase hex), for the check against the full
/// target's signed length and hash that the caller must make before installing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    pub length: u64,
    pub sha256: String,
}

/// Rebuilds an image from `source` and the (untrusted) `delta`, writing it to `out`: at most
/// `limit` bytes (the full target's signed length), with a decoder window no larger than
/// [`window_log`]`(source.len(), limit)`. Returns what it wrote; the caller compares it with
/// the signed length and hash.
pub fn apply(
    source: &[u8],
    delta: impl Read,
    limit: u64,
    mut out: impl Write,
) -> Result<Rebuilt, DeltaError> {
    let log = window_log(source.len() as u64, limit).ok_or(DeltaError::TooLarge {
        source_length: source.len() as u64,
        target_length: limit,
    })?;
    let corrupt = |e: std::io::Error| DeltaError::Corrupt(e.to_string());
    let mut decoder =
        zstd::stream::read::Decoder::with_ref_prefix(std::io::BufReader::new(delta), source)
            .map_err(corrupt)?
            .single_frame();
    decoder
        .set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(log))
        .map_err(corrupt)?;
    let mut hasher = sha2::Sha256::new();
    let mut written: u64 = 0;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        // never ask for more than one byte past the limit: the next read proves an overrun
        let room = limit.saturating_sub(written).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = decoder.read(&mut buf[..want]).map_err(corrupt)?;
        if n == 0 {
            break;
        }
        if written + n as u64 > limit {
            return Err(DeltaError::TooLong { limit });
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(DeltaError::Write)?;
        written += n as u64;
    }
    out.flush().map_err(DeltaError::Write)?;
    Ok(Rebuilt {
        length: written,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// The offered delta, if the device's verified metadata signs it exactly as offered and it
/// rebuilds `release` from the installed image (`installed_sha256`, as the device last verified
/// it). `Ok(None)`: no delta offered. `Err`: a delta was offered that the device refuses (the
/// reason goes in its report); the full image is the fallback.
pub fn signed_delta<'a>(
    deltas: &'a [Delta],
    release: &Release,
    offered: Option<&OfferedDelta>,
    installed_sha256: Option<&str>,
    accepted: &[String],
) -> Result<Option<&'a Delta>, String> {
    let Some(offered) = offered else {
        return Ok(None);
    };
    let Some(d) = deltas.iter().find(|d| d.name == offered.name) else {
        return Err(format!(
            "offered delta {} which the product's signed metadata does not list",
            offered.name
        ));
    };
    if d.length != offered.length || offered.hashes.get("sha256") != Some(&d.sha256) {
        return Err(format!(
            "the offer for delta {} does not match its signed metadata",
            d.name
        ));
    }
    if d.info.target != release.name
        || d.info.target_sha256 != release.sha256
        || d.info.target_length != release.length
    {
        return Err(format!(
            "delta {} rebuilds {}, not the offered {}",
            d.name, d.info.target, release.name
        ));
    }
    if installed_sha256 != Some(d.info.source_sha256.as_str()) {
        return Err(format!(
            "delta {} applies to image sha256 {}, not to the installed one",
            d.name, d.info.source_sha256
        ));
    }
    if !airlock_core::delta::ALGORITHMS.contains(&d.info.algorithm.as_str()) {
        return Err(format!(
            "delta {}: unknown algorithm {}",
            d.name, d.info.algorithm
        ));
    }
    if !accepted.contains(&d.info.algorithm) {
        return Err(format!(
            "delta {}: algorithm {} is not one this device applies ({})",
            d.name,
            d.info.algorithm,
            accepted.join(", ")
        ));
    }
    Ok(Some(d))
}

/// Rebuilds an image from `source` and the delta file at `delta_path` with the delta's signed
/// `algorithm`, writing at most `limit` bytes to `out` (see [`apply`] and
/// [`crate::bsdiff::apply`] for each method's bounds). bsdiff reads the delta whole (its three
/// streams are read side by side); its length was checked against the signed one before.
pub fn apply_signed(
    algorithm: &str,
    source: &[u8],
    delta_path: &Path,
    limit: u64,
    out: impl Write,
) -> Result<Rebuilt, String> {
    let read_err = |e: std::io::Error| format!("reading {}: {e}", delta_path.display());
    match algorithm {
        ZSTD_PATCH_FROM => {
            let input = std::fs::File::open(delta_path).map_err(read_err)?;
            apply(source, input, limit, out).map_err(|e| e.to_string())
        }
        crate::bsdiff::BSDIFF => {
            let delta = std::fs::read(delta_path).map_err(read_err)?;
            crate::bsdiff::apply(source, &delta, limit, out).map_err(|e| e.to_string())
        }
        other => Err(format!("unknown delta algorithm {other}")),
    }
}

/// Why a delta update did not give a verified image.
#[derive(Debug)]
pub enum Failure {
    /// The delta's download was cut off; its part is kept for a Range resume next cycle.
    Interrupted { received: u64 },
    /// The delta was refused at one of the checks: fall back to the full image.
    Refused(String),
}

/// Reads the first `length` bytes of the installed image at `path` (a file, or a slot longer
/// than the image) and checks their sha256 against `sha256`.
fn read_source(path: &Path, length: u64, sha256: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("reading the installed image {}: {e}", path.display()))?;
    let mut source = Vec::new();
    file.take(length)
        .read_to_end(&mut source)
        .map_err(|e| format!("reading the installed image {}: {e}", path.display()))?;
    if source.len() as u64 != length {
        return Err(format!(
            "the installed image {} holds {} bytes, the delta's source {length}",
            path.display(),
            source.len()
        ));
    }
    let actual = hex::encode(sha2::Sha256::digest(&source));
    if actual != sha256 {
        return Err(format!(
            "the installed image is not the delta's source (sha256 {actual}, the delta applies to {sha256})"
        ));
    }
    Ok(source)
}

/// Rebuilds `release` from `delta` and the installed image at `source_path`, every check in
/// order: the installed image must be the delta's named source (read and hashed, not taken from
/// the device's records; checked first, so a device whose image changed spends no bytes on the
/// delta), the delta is downloaded against its signed length and hash (bounded by the signed
/// length: an endless delta is cut), the rebuild stops as soon as it would exceed the full
/// target's signed length, and the result must match the full target's signed length and
/// sha256. Returns the path of the verified image (`<file>.part`, as a full download leaves
/// it).
pub async fn rebuild(
    cfg: &Config,
    client: &reqwest::Client,
    link: &dyn Link,
    delta: &Delta,
    release: &Release,
    source_path: &Path,
    wire_bytes: &mut u64,
) -> Result<PathBuf, Failure> {
    let stopped = |e: tokio::task::JoinError| Failure::Refused(format!("the rebuild stopped: {e}"));
    let source = {
        let (path, length, sha256) = (
            source_path.to_path_buf(),
            delta.info.source_length,
            delta.info.source_sha256.clone(),
        );
        tokio::task::spawn_blocking(move || read_source(&path, length, &sha256))
            .await
            .map_err(stopped)?
            .map_err(Failure::Refused)?
    };
    let delta_path = match download_target(cfg, client, link, delta.into(), wire_bytes).await {
        Ok(p) => p,
        Err(Download::Interrupted { received }) => return Err(Failure::Interrupted { received }),
        Err(Download::Refused(r)) => return Err(Failure::Refused(r.reason)),
    };
    let (_, file) =
        names::split_target_name(&release.name).map_err(|e| Failure::Refused(e.to_string()))?;
    let out_path = firmware_dir(&cfg.state_dir).join(format!("{file}.part"));
    let job = {
        let (delta_path, out_path) = (delta_path.clone(), out_path.clone());
        let (length, sha256, name) = (release.length, release.sha256.clone(), release.name.clone());
        let algorithm = delta.info.algorithm.clone();
        move || -> Result<(), String> {
            let out = std::fs::File::create(&out_path)
                .map_err(|e| format!("writing {}: {e}", out_path.display()))?;
            let mut out = std::io::BufWriter::new(out);
            let rebuilt = apply_signed(&algorithm, &source, &delta_path, length, &mut out)?;
            let out = out
                .into_inner()
                .map_err(|e| format!("writing {}: {e}", out_path.display()))?;
            out.sync_all()
                .map_err(|e| format!("writing {}: {e}", out_path.display()))?;
            if rebuilt.length != length || rebuilt.sha256 != sha256 {
                return Err(format!(
                    "the rebuilt image does not match {name} as signed ({} bytes, sha256 {}; signed {length} bytes, sha256 {sha256})",
                    rebuilt.length, rebuilt.sha256
                ));
            }
            Ok(())
        }
    };
    let result = tokio::task::spawn_blocking(job)
        .await
        .unwrap_or_else(|e| Err(format!("the rebuild stopped: {e}")));
    let _ = tokio::fs::remove_file(&delta_path).await;
    match result {
        Ok(()) => Ok(out_path),
        Err(reason) => {
            let _ = tokio::fs::remove_file(&out_path).await;
            Err(Failure::Refused(reason))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sha(b: &[u8]) -> String {
        hex::encode(sha2::Sha256::digest(b))
    }

    /// A deterministic pseudo-random image (also the bsdiff tests').
    pub(crate) fn image(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 33) as u8
            })
            .collect()
    }

    #[test]
    fn small_change_gives_a_small_delta_that_round_trips() {
        let old = image(1 << 20, 1);
        let mut new = old.clone();
        new[5000..5100].copy_from_slice(&image(100, 2));
        new.extend_from_slice(&image(3000, 3));
        let d = create(&old, &new, LEVEL).unwrap();
        assert!(d.len() < new.len() / 50, "delta {} bytes", d.len());
        let mut out = Vec::new();
        let r = apply(&old, &d[..], new.len() as u64, &mut out).unwrap();
        assert_eq!(out, new);
        assert_eq!(r.length, new.len() as u64);
        assert_eq!(r.sha256, sha(&new));
    }

    /// A random source over the 2^25 bytes level 19's regular match finder indexes, with a few
    /// 4 KiB pieces changed: the long-distance matcher must find the rest. Made on the calling
    /// thread (before `create` used a worker), this pair gave a 16 MiB delta (33 %): the
    /// optimal parser never offered a block's last long-distance match. About 15 s and 400 MB
    /// in a debug build.
    #[test]
    fn large_random_pair_gives_a_small_delta() {
        let old = image(48 << 20, 1);
        let mut new = old.clone();
        for (i, at) in [1000usize, 5000, 11000].into_iter().enumerate() {
            new[at * 4096..(at + 1) * 4096].copy_from_slice(&image(4096, 10 + i as u64));
        }
        let d = create(&old, &new, LEVEL).unwrap();
        assert!(d.len() < 100_000, "delta {} bytes", d.len());
        let mut out = Vec::new();
        let r = apply(&old, &d[..], new.len() as u64, &mut out).unwrap();
        assert_eq!(r.sha256, sha(&new));
        assert!(out == new);
    }

    #[test]
    fn output_is_cut_at_the_limit() {
        // the frame's window (2^17 for 110,000 bytes) fits the limit's, its output does not
        let old = image(10_000, 1);
        let new = vec![7u8; 100_000];
        let d = create(&old, &new, 3).unwrap();
        let mut out = Vec::new();
        let e = apply(&old, &d[..], 70_000, &mut out).unwrap_err();
        assert!(matches!(e, DeltaError::TooLong { limit: 70_000 }), "{e}");
        assert!(out.len() <= 70_000);
    }

    #[test]
    fn another_source_does_not_rebuild_the_image() {
        let old = image(50_000, 1);
        let other = image(50_000, 9);
        let mut new = old.clone();
        new[100] ^= 1;
        let d = create(&old, &new, 3).unwrap();
        let mut out = Vec::new();
        if let Ok(r) = apply(&other, &d[..], new.len() as u64, &mut out) {
            assert_ne!(r.sha256, sha(&new));
        }
    }

    #[test]
    fn a_window_over_the_signed_lengths_is_refused() {
        // made for a large target, applied with a small signed length: the frame's window is
        // over what the signed lengths allow
        let old = image(1000, 1);
        let new = image(1 << 21, 2);
        let d = create(&old, &new, 1).unwrap();
        let e = apply(&old, &d[..], 4096, std::io::sink()).unwrap_err();
        assert!(
            matches!(e, DeltaError::Corrupt(_) | DeltaError::TooLong { .. }),
            "{e}"
        );
    }

    #[test]
    fn window_log_follows_the_lengths() {
        assert_eq!(window_log(0, 0), Some(MIN_WINDOW_LOG));
        assert_eq!(window_log(1 << 20, 1 << 20), Some(21));
        assert_eq!(window_log((1 << 20) + 1, 1 << 20), Some(22));
        assert_eq!(window_log(1 << 29, 1 << 29), Some(30));
        assert_eq!(window_log(1 << 30, 1), None);
    }

    fn release(name: &str, sha: char) -> Release {
        Release {
            name: name.into(),
            length: 1000,
            sha256: sha.to_string().repeat(64),
            info: airlock_core::release::ReleaseInfo {
                product: "acme-cam".into(),
                version: "1.1.0".parse().unwrap(),
                security_version: 1,
                kind: airlock_core::release::ReleaseKind::Security,
                requires: None,
                released: "2026-01-01T00:00:00Z".parse().unwrap(),
                advisories: Vec::new(),
            },
        }
    }

    fn signed(target: &Release, source: char) -> Delta {
        Delta {
            name: format!("{}.from-x.zst", target.name),
            length: 50,
            sha256: "d".repeat(64),
            info: airlock_core::delta::DeltaInfo {
                algorithm: ZSTD_PATCH_FROM.into(),
                source_sha256: source.to_string().repeat(64),
                source_length: 900,
                target: target.name.clone(),
                target_sha256: target.sha256.clone(),
                target_length: target.length,
            },
        }
    }

    #[test]
    fn only_the_signed_delta_for_the_installed_image_is_taken() {
        let new = release("acme-cam/fw-1.1.0.bin", 'b');
        let d = signed(&new, 'a');
        let deltas = vec![d.clone()];
        let offer = OfferedDelta::from_delta(&d);
        let installed = "a".repeat(64);
        let all: Vec<String> = airlock_core::delta::ALGORITHMS
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            signed_delta(&deltas, &new, Some(&offer), Some(&installed), &all),
            Ok(Some(&d))
        );
        assert_eq!(
            signed_delta(&deltas, &new, None, Some(&installed), &all),
            Ok(None)
        );
        // not signed
        let mut other = offer.clone();
        other.name = "acme-cam/evil.zst".into();
        assert!(signed_delta(&deltas, &new, Some(&other), Some(&installed), &all).is_err());
        // offered with other bytes than signed
        let mut other = offer.clone();
        other.hashes.insert("sha256".into(), "e".repeat(64));
        assert!(signed_delta(&deltas, &new, Some(&other), Some(&installed), &all).is_err());
        other = offer.clone();
        other.length = 10_000_000;
        assert!(signed_delta(&deltas, &new, Some(&other), Some(&installed), &all).is_err());
        // a delta for another source image
        assert!(signed_delta(&deltas, &new, Some(&offer), Some(&"c".repeat(64)), &all).is_err());
        assert!(signed_delta(&deltas, &new, Some(&offer), None, &all).is_err());
        // a delta that rebuilds a different image than the offered release
        let different = release("acme-cam/fw-1.1.0-b.bin", 'f');
        assert!(signed_delta(&deltas, &different, Some(&offer), Some(&installed), &all).is_err());
        // an algorithm this device does not know
        let mut unknown = d.clone();
        unknown.info.algorithm = "xdelta3".into();
        let unknown_list = vec![unknown];
        assert!(signed_delta(&unknown_list, &new, Some(&offer), Some(&installed), &all).is_err());
        // an algorithm this device knows but did not ask for (short of memory for zstd)
        let bsdiff_only = vec![crate::bsdiff::BSDIFF.to_string()];
        assert!(
            signed_delta(&deltas, &new, Some(&offer), Some(&installed), &bsdiff_only)
                .unwrap_err()
                .contains("not one this device applies")
        );
    }

    #[test]
    fn the_installed_image_must_be_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slot");
        let mut bytes = image(5000, 7);
        std::fs::write(&path, &bytes).unwrap();
        let sha = sha(&bytes[..4000]);
        // a slot longer than the image: only the first source_length bytes count
        assert_eq!(
            read_source(&path, 4000, &sha).unwrap(),
            bytes[..4000].to_vec()
        );
        assert!(read_source(&path, 6000, &sha).is_err());
        bytes[3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_source(&path, 4000, &sha)
            .unwrap_err()
            .contains("not the delta's source"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn round_trip_over_random_images(
            old in proptest::collection::vec(any::<u8>(), 0..4000),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..20),
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut new = old.clone();
            for (at, b) in edits {
                if !new.is_empty() {
                    let i = at % new.len();
                    new[i] = b;
                }
            }
            new.extend_from_slice(&tail);
            let d = create(&old, &new, 3).unwrap();
            let mut out = Vec::new();
            let r = apply(&old, &d[..], new.len() as u64, &mut out).unwrap();
            prop_assert_eq!(&out, &new);
            prop_assert_eq!(r.sha256, sha(&new));
        }

        #[test]
        fn any_bytes_stay_within_the_limit(
            source in proptest::collection::vec(any::<u8>(), 0..2000),
            delta in proptest::collection::vec(any::<u8>(), 0..2000),
            limit in 0u64..5000,
        ) {
            let mut out = Vec::new();
            if let Ok(r) = apply(&source, &delta[..], limit, &mut out) {
                prop_assert!(r.length <= limit);
            }
            prop_assert!(out.len() as u64 <= limit);
        }

        #[test]
        fn altered_deltas_never_exceed_the_limit(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let old = image(20_000, 4);
            let mut new = old.clone();
            new[1000..1200].copy_from_slice(&image(200, 5));
            let mut d = create(&old, &new, 3).unwrap();
            for (at, b) in flips {
                let i = at % d.len();
                d[i] ^= b | 1;
            }
            let mut out = Vec::new();
            if let Ok(r) = apply(&old, &d[..], new.len() as u64, &mut out) {
                prop_assert!(r.length <= new.len() as u64);
            }
            prop_assert!(out.len() <= new.len());
        }
    }
}
