//! Range and If-None-Match as the server's `/tuf/` handlers read them
//! (`routes::tuf::parse_range`, `routes::tuf::not_modified`). Input: 8 bytes of file length
//! (little endian), then the Range value, a newline, the If-None-Match value.
#![no_main]

use libfuzzer_sys::fuzz_target;

use airlock_server::routes::tuf::{not_modified, parse_range};
use http::{header, HeaderMap, HeaderValue};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (len_bytes, rest) = data.split_at(8);
    let mut len_array = [0u8; 8];
    len_array.copy_from_slice(len_bytes);
    // Half of the inputs use a small length, so that ranges inside the file are found.
    let raw = u64::from_le_bytes(len_array);
    let len = if raw & 1 == 0 {
        raw >> 1
    } else {
        (raw >> 1) % 4096
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (range, if_none_match) = text.split_once('\n').unwrap_or((text, ""));

    match parse_range(Some(range), len) {
        Ok(Some((start, end))) => {
            // A range served is inside the file; its byte count (end - start + 1) cannot overflow.
            assert!(
                start <= end && end < len,
                "{range:?} len {len} -> {start}-{end}"
            );
        }
        Ok(None) | Err(()) => {}
    }

    let etag = format!("\"{}\"", "ab".repeat(32));
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(if_none_match) {
        headers.insert(header::IF_NONE_MATCH, v);
        let hit = not_modified(&headers, &etag);
        // HTTP's optional whitespace is SP and HTAB only (RFC 9110 5.6.3): "*\u{a0}" is not "*".
        let value = if_none_match.trim_matches([' ', '\t']);
        if value == etag || value == "*" {
            assert!(hit, "{if_none_match:?} must match");
        }
        if !if_none_match.contains(['"', '*']) {
            assert!(!hit, "{if_none_match:?} has no entity tag");
        }
    }
});
