//! Delta images (docs/deltas.md): `airlock_device::delta::apply` on untrusted bytes, as the
//! device runs it after the delta's signed hash matched (a signing key misused, or a zstd bug,
//! is what is left). Input: 2 bytes of limit, 2 bytes of source length, the source, the delta.
//! Whatever the bytes, the output never exceeds the limit (the full target's signed length),
//! what `apply` reports is what it wrote, and it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::Digest;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let limit = u64::from(u16::from_le_bytes([data[0], data[1]]));
    let source_len = usize::from(u16::from_le_bytes([data[2], data[3]]));
    let rest = &data[4..];
    let (source, delta) = rest.split_at(source_len.min(rest.len()));
    let mut out = Vec::new();
    let result = airlock_device::delta::apply(source, delta, limit, &mut out);
    assert!(out.len() as u64 <= limit, "{} bytes over a limit of {limit}", out.len());
    if let Ok(rebuilt) = result {
        assert_eq!(rebuilt.length, out.len() as u64);
        assert_eq!(rebuilt.sha256, hex::encode(sha2::Sha256::digest(&out)));
    }
});
