//! Names and paths: `airlock_core::names` (product ids, file names, target names) and the
//! server's `/tuf/` path parsing (`routes::tuf::parse_target_path` for both spellings of
//! consistent-snapshot target paths, `is_safe_metadata_name`). What is accepted never holds a
//! `..` component, a backslash, a NUL or a `%`, and a consistent path made from an accepted name
//! parses back to that name and digest.
#![no_main]

use libfuzzer_sys::fuzz_target;

use airlock_core::api::consistent_target_path;
use airlock_core::names;
use airlock_server::routes::tuf::{is_safe_metadata_name, parse_target_path};

fn assert_plain(what: &str, s: &str) {
    assert!(!s.contains(['\\', '\0', '%']), "{what} {s:?}");
    assert!(!s.starts_with('/') && !s.ends_with('/'), "{what} {s:?}");
    assert!(
        s.split('/').all(|c| !c.is_empty() && c != "." && c != ".."),
        "{what} {s:?} has an empty, . or .. component"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let digest = "0123456789abcdef".repeat(4);

    if names::check_product_id(s).is_ok() {
        assert!(
            !s.is_empty() && s.len() <= 63 && !s.contains(['/', '.']),
            "{s:?}"
        );
    }
    if names::check_file_name(s).is_ok() {
        assert!(!s.contains('/'), "{s:?}");
        assert_plain("file name", s);
    }
    if let Ok((product, file)) = names::split_target_name(s) {
        assert_eq!(format!("{product}/{file}"), s);
        assert_plain("target name", s);
        // A name accepted at publish is servable under both consistent spellings.
        let path = consistent_target_path(s, &digest);
        assert_eq!(
            parse_target_path(&path),
            Some((s.to_string(), digest.clone())),
            "{path:?}"
        );
        assert_eq!(
            parse_target_path(&format!("{digest}.{s}")),
            Some((s.to_string(), digest.clone()))
        );
    }
    if let Some((name, sha256)) = parse_target_path(s) {
        assert!(names::split_target_name(&name).is_ok(), "{s:?} -> {name:?}");
        assert!(names::is_sha256_hex(&sha256), "{s:?} -> {sha256:?}");
        assert_plain("target path", s);
        assert_plain("target name", &name);
        assert!(s.contains(&sha256), "{s:?}");
    }
    if is_safe_metadata_name(s) {
        assert!(!s.contains('/') && !s.starts_with('.'), "{s:?}");
        assert_plain("metadata name", s);
    }
});
