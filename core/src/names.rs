//! Names that end up in URLs, file names and TUF delegations.
//!
//! These rules are deliberately narrow: a product id is a DNS-label-like token and a firmware
//! target is exactly `<product>/<file>`. Nothing with `..`, a leading `/`, a backslash, a NUL,
//! percent signs or any other character that a path or URL could reinterpret gets through, so
//! the server can never be led outside its storage by a name (path traversal), and python-tuf's
//! one-component `*` matching in `<product>/*` delegations always applies.

use thiserror::Error;

/// The file name of every product's signed support record, `<product>/support.json`.
pub const SUPPORT_FILE: &str = "support.json";

/// Role names that a product may not take: they are the TUF top-level roles.
const RESERVED_ROLES: &[&str] = &["root", "targets", "snapshot", "timestamp"];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error("product id {0:?} is invalid: use 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit")]
    BadProductId(String),
    #[error("product id {0:?} is reserved (it is a TUF top-level role name)")]
    ReservedProductId(String),
    #[error("target name {0:?} is invalid: it must be <product>/<file> where <file> uses A-Z, a-z, 0-9, '.', '_', '-' (at most 200 characters, not starting with '.')")]
    BadTargetName(String),
    #[error("file name {0:?} is invalid: use A-Z, a-z, 0-9, '.', '_', '-' (at most 200 characters, not starting with '.')")]
    BadFileName(String),
}

/// Checks a product id (also the name of the product's delegated TUF role).
pub fn check_product_id(id: &str) -> Result<(), NameError> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if !ok {
        return Err(NameError::BadProductId(id.to_string()));
    }
    if RESERVED_ROLES.contains(&id) {
        return Err(NameError::ReservedProductId(id.to_string()));
    }
    Ok(())
}

/// Checks the file part of a target name.
pub fn check_file_name(file: &str) -> Result<(), NameError> {
    let ok = !file.is_empty()
        && file.len() <= 200
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(NameError::BadFileName(file.to_string()))
    }
}

/// Splits a target name `<product>/<file>` into its parts, checking both.
pub fn split_target_name(name: &str) -> Result<(&str, &str), NameError> {
    let bad = || NameError::BadTargetName(name.to_string());
    let (product, file) = name.split_once('/').ok_or_else(bad)?;
    check_product_id(product).map_err(|_| bad())?;
    check_file_name(file).map_err(|_| bad())?;
    Ok((product, file))
}

/// The target name of a product's support record.
pub fn support_target_name(product: &str) -> String {
    format!("{product}/{SUPPORT_FILE}")
}

/// The delegation path pattern of a product role.
pub fn product_path_pattern(product: &str) -> String {
    format!("{product}/*")
}

/// Whether a 64-character lowercase hex string (a sha256 digest as we name blobs).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn product_ids() {
        assert!(check_product_id("acme-cam").is_ok());
        assert!(check_product_id("cam2").is_ok());
        for bad in [
            "", "-x", "Acme", "a/b", "a.b", "..", "a b", "root", "targets", "a\0b",
        ] {
            assert!(check_product_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_product_id(&"a".repeat(64)).is_err());
    }

    #[test]
    fn target_names_reject_traversal() {
        assert_eq!(
            split_target_name("acme-cam/fw-1.2.0.bin"),
            Ok(("acme-cam", "fw-1.2.0.bin"))
        );
        for bad in [
            "acme-cam/../x",
            "acme-cam/..",
            "../acme-cam/x",
            "/acme-cam/x",
            "acme-cam/a/b",
            "acme-cam/%2e%2e",
            "acme-cam/a\0b",
            "acme-cam/.hidden",
            "acme-cam\\x",
            "acme-cam/",
            "acme-cam",
        ] {
            assert!(split_target_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sha256_hex() {
        assert!(is_sha256_hex(&"a".repeat(64)));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&"a".repeat(63)));
        assert!(!is_sha256_hex(&format!("{}/", "a".repeat(63))));
    }

    proptest! {
        /// Whatever string is given, an accepted target name never contains a path
        /// component that a filesystem or URL would reinterpret.
        #[test]
        fn accepted_names_are_path_safe(name in "\\PC{0,40}") {
            if let Ok((product, file)) = split_target_name(&name) {
                prop_assert!(!file.starts_with('.'), "a '.' or '..' component");
                prop_assert!(!name.starts_with('/'));
                prop_assert!(!file.contains('/'));
                prop_assert!(!product.contains('/'));
                prop_assert!(!name.contains('%') && !name.contains('\\') && !name.contains('\0'));
            }
        }
    }
}
