//! The lower-memory delta method (docs/deltas.md): bsdiff 4.x (`BSDIFF40`), the format of
//! Colin Percival's bsdiff and of Debian's `bsdiff`. [`create`] is the signer's side, through
//! qbsdiff's suffix-array search; [`apply`] is the device's and takes untrusted bytes, so it is
//! our own patcher over the three bzip2 streams, with every bound checked before it is used:
//!
//! - the header's target size must be at most `limit` (the full target's signed length), and
//!   the output is cut as soon as one more byte would pass it;
//! - every read of the installed image stays inside it (no seek before its start or past its
//!   end), every read of the diff and extra streams must be satisfied in full;
//! - controls that write nothing (qbsdiff emits one per 256 KiB search chunk) are limited to
//!   [`idle_controls_allowed`]`(limit)`, so the work is linear in the signed length whatever a
//!   small, highly compressible control stream asks for.
//!
//! Memory while applying: the installed image (the patcher reads it at random offsets), the
//! delta, bzip2's three decoders (about 3 × 64 KiB with its small-memory mode off; bzip2 blocks
//! are at most 900 KB) and one 64 KiB copy buffer. The rebuilt image is streamed to `out`:
//! unlike zstd patch-from, it is never held in memory.

use sha2::Digest;
use std::io::{Read, Write};

use crate::delta::{DeltaError, Rebuilt};
pub use airlock_core::delta::BSDIFF;

const MAGIC: &[u8; 8] = b"BSDIFF40";
const HEADER: usize = 32;
const COPY_BUFFER: usize = 64 << 10;

/// bzip2 level of the patch streams: qbsdiff's default (6); higher levels made its patches no
/// smaller in its authors' tests, and decoding memory does not depend on it.
pub const LEVEL: u32 = 6;

/// How many controls that write nothing a delta rebuilding `limit` bytes may hold: qbsdiff ends
/// each 256 KiB search chunk with one, so one per 64 KiB of output plus a margin is generous.
pub fn idle_controls_allowed(limit: u64) -> u64 {
    16 + limit / (64 << 10)
}

/// Makes a bsdiff delta that rebuilds `target` from `source`. Memory at the signer: the two
/// images plus qbsdiff's suffix array of the source (4 or 8 bytes per source byte).
pub fn create(source: &[u8], target: &[u8]) -> Result<Vec<u8>, DeltaError> {
    if source.len() >= qbsdiff::bsdiff::MAX_LENGTH || target.len() >= qbsdiff::bsdiff::MAX_LENGTH {
        return Err(DeltaError::TooLarge {
            source_length: source.len() as u64,
            target_length: target.len() as u64,
        });
    }
    let mut out = Vec::new();
    qbsdiff::Bsdiff::new(source, target)
        .compression_level(LEVEL)
        .compare(std::io::Cursor::new(&mut out))
        .map_err(|e| DeltaError::Corrupt(format!("making the bsdiff delta: {e}")))?;
    Ok(out)
}

/// bsdiff's sign-and-magnitude integer (not two's complement).
fn offtin(b: &[u8]) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[..8]);
    let x = u64::from_le_bytes(raw);
    let magnitude = (x & (u64::MAX >> 1)) as i64;
    if x >> 63 == 1 {
        -magnitude
    } else {
        magnitude
    }
}

fn corrupt(reason: impl Into<String>) -> DeltaError {
    DeltaError::Corrupt(format!("bsdiff: {}", reason.into()))
}

/// Reads exactly `buf.len()` bytes, or reports how many arrived before the end (0 at a clean
/// end of the stream).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, DeltaError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(corrupt(e.to_string())),
        }
    }
    Ok(n)
}

/// Rebuilds an image from `source` and the (untrusted) bsdiff `delta`, writing it to `out`: at
/// most `limit` bytes (the full target's signed length). Returns what it wrote; the caller
/// compares it with the signed length and hash.
pub fn apply(
    source: &[u8],
    delta: &[u8],
    limit: u64,
    mut out: impl Write,
) -> Result<Rebuilt, DeltaError> {
    if delta.len() < HEADER || &delta[..8] != MAGIC {
        return Err(corrupt("not a BSDIFF40 delta"));
    }
    let ctrl_len = offtin(&delta[8..16]);
    let diff_len = offtin(&delta[16..24]);
    let new_size = offtin(&delta[24..32]);
    let body = (delta.len() - HEADER) as u64;
    let (Ok(ctrl_len), Ok(diff_len), Ok(new_size)) = (
        u64::try_from(ctrl_len),
        u64::try_from(diff_len),
        u64::try_from(new_size),
    ) else {
        return Err(corrupt("a negative length in the header"));
    };
    if ctrl_len.checked_add(diff_len).is_none_or(|n| n > body) {
        return Err(corrupt("the header's stream lengths exceed the delta"));
    }
    if new_size > limit {
        return Err(DeltaError::TooLong { limit });
    }
    let rest = &delta[HEADER..];
    let (ctrl, rest) = rest.split_at(ctrl_len as usize);
    let (diff, extra) = rest.split_at(diff_len as usize);
    let mut ctrl = bzip2::read::BzDecoder::new(ctrl);
    let mut diff = bzip2::read::BzDecoder::new(diff);
    let mut extra = bzip2::read::BzDecoder::new(extra);

    let mut hasher = sha2::Sha256::new();
    let mut written: u64 = 0;
    let mut old_pos: u64 = 0;
    let mut idle: u64 = 0;
    let idle_allowed = idle_controls_allowed(limit);
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut emit = |bytes: &[u8], written: &mut u64| -> Result<(), DeltaError> {
        hasher.update(bytes);
        out.write_all(bytes).map_err(DeltaError::Write)?;
        *written += bytes.len() as u64;
        Ok(())
    };
    let mut control = [0u8; 24];
    loop {
        match read_full(&mut ctrl, &mut control)? {
            0 => break,
            24 => {}
            _ => return Err(corrupt("the control stream ends inside a control")),
        }
        let (add, copy, seek) = (
            offtin(&control[0..8]),
            offtin(&control[8..16]),
            offtin(&control[16..24]),
        );
        let (Ok(add), Ok(copy)) = (u64::try_from(add), u64::try_from(copy)) else {
            return Err(corrupt("a negative length in a control"));
        };
        if add == 0 && copy == 0 {
            idle += 1;
            if idle > idle_allowed {
                return Err(corrupt(format!(
                    "more than {idle_allowed} controls that write nothing"
                )));
            }
        }
        if add.checked_add(copy).is_none_or(|n| n > new_size - written) {
            return Err(corrupt(format!(
                "a control writes past the header's target size ({new_size} bytes)"
            )));
        }
        // add: the source's bytes plus the diff stream's, byte by byte
        let end = old_pos
            .checked_add(add)
            .filter(|&e| e <= source.len() as u64)
            .ok_or_else(|| corrupt("a control reads past the end of the source image"))?;
        let mut at = old_pos as usize;
        let mut left = add;
        while left > 0 {
            let k = left.min(COPY_BUFFER as u64) as usize;
            if read_full(&mut diff, &mut buf[..k])? != k {
                return Err(corrupt("the diff stream ends early"));
            }
            for (b, s) in buf[..k].iter_mut().zip(&source[at..at + k]) {
                *b = b.wrapping_add(*s);
            }
            emit(&buf[..k], &mut written)?;
            at += k;
            left -= k as u64;
        }
        // copy: new bytes from the extra stream
        let mut left = copy;
        while left > 0 {
            let k = left.min(COPY_BUFFER as u64) as usize;
            if read_full(&mut extra, &mut buf[..k])? != k {
                return Err(corrupt("the extra stream ends early"));
            }
            emit(&buf[..k], &mut written)?;
            left -= k as u64;
        }
        // seek: may go back; never before the start nor past the end of the source
        old_pos = i128::from(end)
            .checked_add(i128::from(seek))
            .filter(|&p| (0..=source.len() as i128).contains(&p))
            .map(|p| p as u64)
            .ok_or_else(|| corrupt("a control seeks outside the source image"))?;
    }
    if written != new_size {
        return Err(corrupt(format!(
            "it rebuilt {written} bytes, its header says {new_size}"
        )));
    }
    out.flush().map_err(DeltaError::Write)?;
    Ok(Rebuilt {
        length: written,
        sha256: hex::encode(hasher.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::delta::tests::{image, sha};

    fn bz(bytes: &[u8]) -> Vec<u8> {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(6));
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn int(x: i64) -> [u8; 8] {
        let v = if x < 0 {
            x.unsigned_abs() | 1 << 63
        } else {
            x as u64
        };
        v.to_le_bytes()
    }

    /// A BSDIFF40 file from raw controls and streams (what a misused key could sign).
    fn patch(controls: &[(i64, i64, i64)], diff: &[u8], extra: &[u8], new_size: i64) -> Vec<u8> {
        let mut c = Vec::new();
        for (a, b, s) in controls {
            c.extend_from_slice(&int(*a));
            c.extend_from_slice(&int(*b));
            c.extend_from_slice(&int(*s));
        }
        let (c, d, e) = (bz(&c), bz(diff), bz(extra));
        let mut p = MAGIC.to_vec();
        p.extend_from_slice(&int(c.len() as i64));
        p.extend_from_slice(&int(d.len() as i64));
        p.extend_from_slice(&int(new_size));
        p.extend_from_slice(&c);
        p.extend_from_slice(&d);
        p.extend_from_slice(&e);
        p
    }

    #[test]
    fn small_change_gives_a_small_delta_that_round_trips() {
        let old = image(1 << 20, 1);
        let mut new = old.clone();
        new[5000..5100].copy_from_slice(&image(100, 2));
        new.extend_from_slice(&image(3000, 3));
        let d = create(&old, &new).unwrap();
        assert!(d.len() < new.len() / 50, "delta {} bytes", d.len());
        let mut out = Vec::new();
        let r = apply(&old, &d, new.len() as u64, &mut out).unwrap();
        assert_eq!(out, new);
        assert_eq!(r.length, new.len() as u64);
        assert_eq!(r.sha256, sha(&new));
    }

    #[test]
    fn a_target_larger_than_the_signed_length_is_refused_before_any_output() {
        let old = image(10_000, 1);
        let new = image(20_000, 2);
        let d = create(&old, &new).unwrap();
        let mut out = Vec::new();
        let e = apply(&old, &d, 19_999, &mut out).unwrap_err();
        assert!(matches!(e, DeltaError::TooLong { limit: 19_999 }), "{e}");
        assert!(out.is_empty());
    }

    #[test]
    fn hand_made_patch_applies() {
        let old = b"hello world".to_vec();
        // add 5 bytes of "hello" (+0), copy "!!", seek +1 past the space, add "world" (+0)
        let p = patch(&[(5, 2, 1), (5, 0, 0)], &[0; 10], b"!!", 12);
        let mut out = Vec::new();
        apply(&old, &p, 12, &mut out).unwrap();
        assert_eq!(out, b"hello!!world");
    }

    #[test]
    fn debian_bsdiff_output_applies() {
        // the fuzz seed: Debian's `bsdiff` of "hello world" to "hello!!world" (bsdiff 4.3),
        // after 1 method byte, 2 bytes of limit and 2 of source length
        let seed = include_bytes!("../../fuzz/corpus/delta_apply/bsdiff-hello");
        let (source, delta) = seed[5..].split_at(11);
        assert_eq!(source, b"hello world");
        let mut out = Vec::new();
        let r = apply(source, delta, 12, &mut out).unwrap();
        assert_eq!(out, b"hello!!world");
        assert_eq!(r.sha256, sha(b"hello!!world"));
    }

    #[test]
    fn out_of_bounds_controls_are_refused() {
        let old = vec![1u8; 100];
        let cases = [
            // reads past the end of the source
            patch(&[(101, 0, 0)], &[0; 101], b"", 101),
            // seeks before the start
            patch(&[(10, 0, -11), (1, 0, 0)], &[0; 11], b"", 11),
            // writes past the header's size
            patch(&[(10, 5, 0)], &[0; 10], &[0; 5], 12),
            // a negative length
            patch(&[(-1, 0, 0)], b"", b"", 0),
            // the diff stream ends early
            patch(&[(50, 0, 0)], &[0; 10], b"", 50),
            // the header promises more than the controls write
            patch(&[(10, 0, 0)], &[0; 10], b"", 20),
        ];
        for (i, p) in cases.iter().enumerate() {
            let mut out = Vec::new();
            assert!(apply(&old, p, 1000, &mut out).is_err(), "case {i}");
            assert!(out.len() <= 20, "case {i}");
        }
        // a header whose stream lengths overflow
        let mut p = patch(&[(1, 0, 0)], &[0], b"", 1);
        p[8..16].copy_from_slice(&int(i64::MAX));
        assert!(apply(&old, &p, 1000, std::io::sink()).is_err());
    }

    #[test]
    fn endless_idle_controls_are_cut() {
        // a million controls that write nothing compress to a few hundred bytes of bzip2
        let controls = vec![(0, 0, 0); 1_000_000];
        let p = patch(&controls, b"", b"", 0);
        assert!(p.len() < 10_000, "{}", p.len());
        let e = apply(&[], &p, 1000, std::io::sink()).unwrap_err();
        assert!(e.to_string().contains("write nothing"), "{e}");
    }

    #[test]
    fn another_source_does_not_rebuild_the_image() {
        let old = image(50_000, 1);
        let other = image(50_000, 9);
        let mut new = old.clone();
        new[100] ^= 1;
        let d = create(&old, &new).unwrap();
        if let Ok(r) = apply(&other, &d, new.len() as u64, std::io::sink()) {
            assert_ne!(r.sha256, sha(&new));
        }
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
            let d = create(&old, &new).unwrap();
            let mut out = Vec::new();
            let r = apply(&old, &d, new.len() as u64, &mut out).unwrap();
            prop_assert_eq!(&out, &new);
            prop_assert_eq!(r.sha256, sha(&new));
        }

        #[test]
        fn any_bytes_stay_within_the_limit(
            source in proptest::collection::vec(any::<u8>(), 0..2000),
            mut delta in proptest::collection::vec(any::<u8>(), 0..2000),
            limit in 0u64..5000,
        ) {
            if delta.len() >= 8 && limit % 2 == 0 {
                delta[..8].copy_from_slice(MAGIC); // get past the magic half the time
            }
            let mut out = Vec::new();
            if let Ok(r) = apply(&source, &delta, limit, &mut out) {
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
            let mut d = create(&old, &new).unwrap();
            for (at, b) in flips {
                let i = at % d.len();
                d[i] ^= b | 1;
            }
            let mut out = Vec::new();
            if let Ok(r) = apply(&old, &d, new.len() as u64, &mut out) {
                prop_assert!(r.length <= new.len() as u64);
            }
            prop_assert!(out.len() <= new.len());
        }
    }
}
