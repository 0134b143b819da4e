//! Delta images (docs/deltas.md): both delta methods' `apply` on untrusted bytes, as the device
//! runs them after the delta's signed hash matched (a signing key misused, or a zstd, bzip2 or
//! patcher bug, is what is left). Input: 1 byte choosing the method (even: zstd patch-from,
//! odd: bsdiff), 2 bytes of limit, 2 bytes of source length, the source, the delta. Whatever
//! the bytes, the output never exceeds the limit (the full target's signed length), what
//! `apply` reports is what it wrote, and it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::Digest;

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let bsdiff = data[0] & 1 == 1;
    let limit = u64::from(u16::from_le_bytes([data[1], data[2]]));
    let source_len = usize::from(u16::from_le_bytes([data[3], data[4]]));
    let rest = &data[5..];
    let (source, delta) = rest.split_at(source_len.min(rest.len()));
    let mut out = Vec::new();
    let result = if bsdiff {
        airlock_device::bsdiff::apply(source, delta, limit, &mut out)
    } else {
        airlock_device::delta::apply(source, delta, limit, &mut out)
    };
    assert!(out.len() as u64 <= limit, "{} bytes over a limit of {limit}", out.len());
    if let Ok(rebuilt) = result {
        assert_eq!(rebuilt.length, out.len() as u64);
        assert_eq!(rebuilt.sha256, hex::encode(sha2::Sha256::digest(&out)));
    }
});
