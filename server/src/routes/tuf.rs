//! `/tuf/metadata/{file}` and `/tuf/targets/{path}`: the repository for any TUF client.
//! HEAD is answered by the same handlers (axum strips the body).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use airlock_core::api::ErrorBody;
use airlock_core::names;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::openapi::Binary;
use crate::routes::responses::{ServerFault, Timeout};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "no-cache";

/// Whether a `/tuf/metadata/{file}` name is one plain file name (no separator, no `..`).
pub fn is_safe_metadata_name(name: &str) -> bool {
    name.len() <= 128
        && name.ends_with(".json")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// RFC 9110 13.1.2: whether If-None-Match matches `etag` (then 304).
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// Sets header `name` to `value`; a value that is not a valid header value is left out.
fn with_header(mut resp: Response, name: header::HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
    resp
}

fn not_modified_response(etag: &str, cache: &'static str) -> Response {
    let mut resp = with_header(StatusCode::NOT_MODIFIED.into_response(), header::ETAG, etag);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

fn json_response(headers: &HeaderMap, bytes: Bytes, etag: &str, cache: &'static str) -> Response {
    if not_modified(headers, etag) {
        return not_modified_response(etag, cache);
    }
    let resp = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        bytes,
    )
        .into_response();
    with_header(resp, header::ETAG, etag)
}

/// A single byte range `bytes=a-b`, `bytes=a-` or `bytes=-n` against `len`:
/// `Ok(None)` = serve it all (no or unsupported Range), `Err(())` = unsatisfiable (416).
#[allow(clippy::result_unit_err)]
pub fn parse_range(value: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // several ranges: answer with the whole content (RFC 9110 14.2)
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || len == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end: u64 = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))
        };
        (start, end)
    };
    if start >= len || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// A TUF metadata file, for any TUF client (no login).
///
/// `timestamp.json` (and `N.root.json`) by plain name; snapshot, targets and product roles by
/// version (`N.snapshot.json`, `N.targets.json`, `N.<product>.json`, consistent snapshots).
/// Versioned files are immutable and cached for a year; `timestamp.json` must be revalidated
/// (`no-cache`). Gzip when the client accepts it.
#[utoipa::path(
    get,
    path = "/tuf/metadata/{file}",
    tag = "tuf",
    params(
        ("file" = String, Path, description = "e.g. `timestamp.json`, `1.root.json`, `7.snapshot.json`, `3.acme-cam.json`", example = "timestamp.json"),
        ("If-None-Match" = Option<String>, Header, description = "ETag of a copy the client has: 304 when it is current"),
    ),
    responses(
        (status = 200, description = "The signed metadata, byte for byte", body = Object, content_type = "application/json",
            headers(
                ("ETag" = String, description = "Validator for If-None-Match"),
                ("Cache-Control" = String, description = "`no-cache` for unversioned files, `public, max-age=31536000, immutable` for versioned ones"),
            )),
        (status = 304, description = "The client's copy (If-None-Match) is current",
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 401, description = "`--tuf-access enrolled` and no live device credential (or admin token) sent", body = ErrorBody),
        (status = 404, description = "No such metadata file", body = ErrorBody),
        Timeout,
        ServerFault,
    ),
    security((), ("device_credential" = []))
)]
pub async fn metadata(
    State(app): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !is_safe_metadata_name(&file) {
        return Err(ApiError::not_found("not_found", "no such metadata file"));
    }
    let versioned = file
        .split('.')
        .next()
        .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    let cache = if versioned { IMMUTABLE } else { SHORT };
    let mut view = app.view();
    // A replica behind others (a publish made elsewhere, its change notice not yet here):
    // catch up with the published head before answering 404 for what may be the next version.
    if view.current_file(&file).is_none()
        && !view.may_hold_older(&file)
        && view.may_be_newer(&file)
        && crate::background::catch_up(&app).await?
    {
        view = app.view();
    }
    if let Some((bytes, etag)) = view.current_file(&file) {
        return Ok(json_response(&headers, bytes, etag, cache));
    }
    // Older versions stay readable: a device that fetched the previous timestamp a moment
    // before a publish still finds the snapshot and roles it names. Only a name that can
    // exist (a known role, below its current version) reaches the database: anyone may ask.
    if view.may_hold_older(&file) {
        app.metadata_lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(bytes) = app.state.metadata(&file).await? {
            let etag = crate::view::etag_of(&bytes);
            return Ok(json_response(&headers, Bytes::from(bytes), &etag, cache));
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

/// A target file (firmware image, support record), for any TUF client (no login).
///
/// Content-addressed (consistent snapshots: `<product>/<sha256>.<file>` or
/// `<sha256>.<product>/<file>`), so its ETag is its SHA-256 and it is cached forever; a single
/// byte range resumes an interrupted download (206).
#[utoipa::path(
    get,
    path = "/tuf/targets/{path}",
    tag = "tuf",
    params(
        ("path" = String, Path, description = "Consistent-snapshot target path, may contain `/`: `acme-cam/<sha256>.fw.bin`",
            example = "acme-cam/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.fw-1.2.0.bin"),
        ("Range" = Option<String>, Header, description = "One byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n`"),
        ("If-Range" = Option<String>, Header, description = "The ETag the client's partial copy has; another one gets the whole file"),
        ("If-None-Match" = Option<String>, Header, description = "ETag of a copy the client has: 304 when it is current"),
    ),
    responses(
        (status = 200, description = "The whole file", body = inline(Binary), content_type = "application/octet-stream",
            headers(
                ("ETag" = String, description = "`\"<sha256>\"`"),
                ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"),
                ("Accept-Ranges" = String, description = "`bytes`"),
                ("Content-Length" = u64),
            )),
        (status = 206, description = "The requested byte range", body = inline(Binary), content_type = "application/octet-stream",
            headers(
                ("Content-Range" = String, description = "`bytes a-b/length`"),
                ("ETag" = String),
                ("Content-Length" = u64),
            )),
        (status = 304, description = "The client's copy (If-None-Match) is current",
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 404, description = "No such target (or a path that is not a consistent-snapshot target path)", body = ErrorBody),
        (status = 416, description = "The range is outside the file (`range_not_satisfiable`)", body = ErrorBody,
            headers(("Content-Range" = String, description = "`bytes */length`"))),
        ServerFault,
        (status = 401, description = "`--tuf-access enrolled` and no live device credential (or admin token) sent", body = ErrorBody),
    ),
    security((), ("device_credential" = []))
)]
pub async fn target(
    State(app): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    use tokio::io::AsyncReadExt;
    let not_found = || ApiError::not_found("not_found", "no such target");
    let (name, sha256) = parse_target_path(&path).ok_or_else(not_found)?;
    let view = app.view();
    let length = match view.targets.get(&name) {
        Some((sha, len)) if *sha == sha256 => *len,
        _ => return Err(not_found()),
    };
    let etag = format!("\"{sha256}\"");
    if not_modified(&headers, &etag) {
        return Ok(not_modified_response(&etag, IMMUTABLE));
    }
    let range = match requested_range(&headers, &etag, length) {
        Ok(range) => range,
        Err(refused) => return Ok(refused.into_response()),
    };
    let (start, end) = range.unwrap_or((0, length.saturating_sub(1)));
    let count = if length == 0 { 0 } else { end - start + 1 };
    let (_, reader) = app
        .blobs
        .open_at(&sha256, start)
        .await?
        .ok_or_else(not_found)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        reader.take(count),
        256 * 1024,
    ));
    let mut resp = image_response(body, count, &etag);
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{length}")) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// The byte range a request asks for (`None`: the whole image), or the 416 answer to a range
/// outside the image. An If-Range with another validator means the client's partial copy is
/// stale: it gets the whole image.
fn requested_range(
    headers: &HeaderMap,
    etag: &str,
    length: u64,
) -> Result<Option<(u64, u64)>, RangeNotSatisfiable> {
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    if !if_range_ok {
        return Ok(None);
    }
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    parse_range(range_header, length).map_err(|()| RangeNotSatisfiable { length })
}

/// 416 for a range outside an image of `length` bytes.
struct RangeNotSatisfiable {
    length: u64,
}

impl IntoResponse for RangeNotSatisfiable {
    fn into_response(self) -> Response {
        let length = self.length;
        let resp = ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            format!("the image has {length} bytes"),
        )
        .into_response();
        with_header(resp, header::CONTENT_RANGE, &format!("bytes */{length}"))
    }
}

/// An image (or a range of it): immutable, its sha256 as ETag.
fn image_response(body: Body, count: u64, etag: &str) -> Response {
    let resp = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
            (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
            (header::CONTENT_LENGTH, HeaderValue::from(count)),
        ],
        body,
    )
        .into_response();
    with_header(resp, header::ETAG, etag)
}

/// `--tuf-access enrolled` (the router mounts this only then): `/tuf/` answers only requests
/// bearing an enrolled, unrevoked device's credential or the admin token, or with
/// `--device-auth mtls` a device's unrevoked client certificate (401 with a JSON body
/// otherwise). `public` (the default) lets any TUF client, mirror or CDN read it: TUF
/// protects integrity, not secrecy.
pub async fn require_access(
    State(app): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if app.config.device_auth == crate::deviceauth::DeviceAuth::Mtls
        && request
            .extensions()
            .get::<crate::tls::ClientCertificate>()
            .is_some()
    {
        return match crate::auth::certified_device(&app, request.extensions(), None).await {
            Ok(_) => next.run(request).await,
            Err(e) => ApiError::from(e).into_response(),
        };
    }
    match crate::auth::bearer_token(request.headers()) {
        Some(t) if app.credentials.is_live(t) || app.is_admin_token(t) => next.run(request).await,
        Some(t) => match live_in_the_store(&app, t).await {
            Ok(true) => next.run(request).await,
            Ok(false) => {
                ApiError::unauthorized("invalid or revoked credential for /tuf/").into_response()
            }
            Err(e) => ApiError::from(e).into_response(),
        },
        None => ApiError::unauthorized(
            "this server serves /tuf/ to enrolled devices only: send the device credential as a bearer token",
        )
        .into_response(),
    }
}

/// A credential this replica does not know may be one a device got at another replica a moment
/// ago, before that replica's change notice arrived here (behind a load balancer, the device's
/// next request may reach any replica): the state store is asked (a read through an index by
/// digest, what a wrong credential costs), and a live credential it knows is kept here.
async fn live_in_the_store(
    app: &AppState,
    presented: &str,
) -> Result<bool, crate::storage::StateError> {
    let digest = crate::deviceauth::sha256_hex(presented);
    Ok(match app.state.live_credential(&digest).await? {
        Some(credential) => {
            app.credentials.set(credential);
            true
        }
        None => false,
    })
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
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Ok(Some((0, 4))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 10), Ok(None));
        for bad in ["bytes=10-", "bytes=5-2", "bytes=-0", "bytes=x-1", "bytes=1"] {
            assert_eq!(parse_range(Some(bad), 10), Err(()), "{bad}");
        }
    }

    #[test]
    fn if_none_match() {
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, "\"a\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"b\", W/\"a\""),
        );
        assert!(not_modified(&h, "\"a\""));
        assert!(!not_modified(&h, "\"c\""));
    }

    #[test]
    fn metadata_names_are_plain() {
        assert!(is_safe_metadata_name("3.acme-cam.json"));
        for bad in ["../x.json", ".json", "a/b.json", "x.txt", "%2e%2e.json"] {
            assert!(!is_safe_metadata_name(bad), "{bad}");
        }
    }
}
