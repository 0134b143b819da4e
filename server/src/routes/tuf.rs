//! `/tuf/metadata/{file}` and `/tuf/targets/{path}`: the repository for any TUF client.
//! HEAD is answered by the same handlers (axum strips the body).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use airlock_core::names;

use crate::app::AppState;
use crate::error::ApiError;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "no-cache";

fn is_safe_metadata_name(name: &str) -> bool {
    name.len() <= 128
        && name.ends_with(".json")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

fn json_response(bytes: Bytes, cache: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        bytes,
    )
        .into_response()
}

pub async fn metadata(
    State(app): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    if !is_safe_metadata_name(&file) {
        return Err(ApiError::not_found("not_found", "no such metadata file"));
    }
    let versioned = file
        .split('.')
        .next()
        .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    let cache = if versioned { IMMUTABLE } else { SHORT };
    let view = app.view();
    if let Some(bytes) = view.current_file(&file) {
        return Ok(json_response(bytes, cache));
    }
    if versioned {
        // Older versions stay readable: a device that fetched the previous timestamp a moment
        // before a publish still finds the snapshot and roles it names.
        if let Some(bytes) = app.state.metadata(&file).await? {
            return Ok(json_response(Bytes::from(bytes), cache));
        }
    }
    Err(ApiError::not_found(
        "not_found",
        format!("no metadata file {file}"),
    ))
}

/// Splits a consistent-snapshot target path into (target name, sha256). Two spellings exist:
/// `<product>/<sha256>.<file>` (TUF 5.7.3 as python-tuf and tuf-js read it: the digest
/// prefixes the file name) and `<sha256>.<product>/<file>` (tough prefixes the whole target
/// name). Both name the same content-addressed blob.
pub fn parse_target_path(path: &str) -> Option<(String, String)> {
    if let Some((sha256, name)) = path.split_once('.') {
        if names::is_sha256_hex(sha256) {
            names::split_target_name(name).ok()?;
            return Some((name.to_string(), sha256.to_string()));
        }
    }
    let (product, rest) = path.split_once('/')?;
    let (sha256, file) = rest.split_once('.')?;
    if !names::is_sha256_hex(sha256) {
        return None;
    }
    let name = format!("{product}/{file}");
    names::split_target_name(&name).ok()?;
    Some((name, sha256.to_string()))
}

pub async fn target(
    State(app): State<AppState>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("not_found", "no such target");
    let (name, sha256) = parse_target_path(&path).ok_or_else(not_found)?;
    let view = app.view();
    match view.targets.get(&name) {
        Some((sha, _)) if *sha == sha256 => {}
        _ => return Err(not_found()),
    }
    let (length, reader) = app.blobs.open(&sha256).await?.ok_or_else(not_found)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        reader,
        256 * 1024,
    ));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
            (header::CONTENT_LENGTH, HeaderValue::from(length)),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_paths_are_parsed_strictly() {
        let sha = "a".repeat(64);
        assert_eq!(
            parse_target_path(&format!("acme-cam/{sha}.fw.bin")),
            Some(("acme-cam/fw.bin".to_string(), sha.clone()))
        );
        assert_eq!(
            parse_target_path(&format!("{sha}.acme-cam/fw.bin")),
            Some(("acme-cam/fw.bin".to_string(), sha.clone()))
        );
        for bad in [
            format!("../{sha}.fw.bin"),
            format!("acme-cam/{sha}.../x"),
            format!("acme-cam/{sha}.%2e%2e"),
            format!("acme-cam/../{sha}.fw.bin"),
            format!("/acme-cam/{sha}.fw.bin"),
            format!("acme-cam/{sha}.fw\0.bin"),
            "acme-cam/fw.bin".to_string(),
            format!("{sha}.../acme-cam/fw.bin"),
            format!("{sha}.acme-cam/../fw.bin"),
            format!("{sha}./etc/passwd"),
        ] {
            assert_eq!(parse_target_path(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn metadata_names_are_plain() {
        assert!(is_safe_metadata_name("3.acme-cam.json"));
        for bad in ["../x.json", ".json", "a/b.json", "x.txt", "%2e%2e.json"] {
            assert!(!is_safe_metadata_name(bad), "{bad}");
        }
    }
}
