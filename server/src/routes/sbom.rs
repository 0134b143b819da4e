//! `GET /v1/products/{product}/releases/{version}/sbom`: a release's SBOM, no login.
//!
//! The SBOM is a TUF target of the product role (airlock_core::sbom), bound to its image by the
//! image's signed `custom.sbom`; this route serves the same bytes under a stable address per
//! product and version (also with `--tuf-access enrolled`, where /tuf/ needs a credential), with
//! the SBOM's sha256 as ETag and headers naming the TUF target to verify it against.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use airlock_core::api::{consistent_target_path, ErrorBody};
use airlock_core::names;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::openapi::ReleasePath;
use crate::routes::responses::ServerFault;

/// Cached for a short while, then revalidated: a withdrawn release's SBOM goes away.
const CACHE: &str = "public, max-age=300";

/// A release's SBOM (CycloneDX or SPDX JSON), no login.
///
/// The bytes of the release's SBOM target, signed by the product role with the image
/// (`custom.sbom` of the image names its path, sha256, length and format). `X-TUF-Target`
/// names the target and `Link` its consistent-snapshot URL, to verify it through TUF.
#[utoipa::path(
    get,
    path = "/v1/products/{product}/releases/{version}/sbom",
    tag = "public",
    params(
        ReleasePath,
        ("If-None-Match" = Option<String>, Header, description = "ETag of a copy the client has: 304 when it is current"),
    ),
    responses(
        (status = 200, description = "The SBOM: CycloneDX JSON or SPDX JSON, as signed",
            content(
                (Object = "application/vnd.cyclonedx+json"),
                (Object = "application/spdx+json"),
            ),
            headers(
                ("ETag" = String, description = "`\"<sha256>\"` of the SBOM"),
                ("Cache-Control" = String),
                ("X-TUF-Target" = String, description = "The SBOM's TUF target name"),
                ("X-SBOM-Format" = String, description = "`cyclonedx` or `spdx`"),
                ("Link" = String, description = "`</tuf/targets/...>; rel=\"alternate\"`: the signed target"),
            )),
        (status = 304, description = "The client's copy (If-None-Match) is current",
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 404, description = "Unknown product (`unknown_product`), unknown release (`unknown_release`) or a release published without an SBOM (`no_sbom`)", body = ErrorBody),
        ServerFault,
    )
)]
pub async fn release_sbom(
    State(app): State<AppState>,
    Path((product, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let unknown_product =
        || ApiError::not_found("unknown_product", format!("unknown product {product:?}"));
    names::check_product_id(&product).map_err(|_| unknown_product())?;
    let view = app.view();
    let p = view.products.get(&product).ok_or_else(unknown_product)?;
    let unknown_release = || {
        ApiError::not_found(
            "unknown_release",
            format!("{product} has no release {version:?}"),
        )
    };
    let wanted: semver::Version = version.parse().map_err(|_| unknown_release())?;
    let release = p
        .releases
        .iter()
        .find(|r| r.info.version == wanted)
        .ok_or_else(unknown_release)?;
    let sbom = p
        .sboms
        .iter()
        .find(|s| s.info.sbom_for == release.name)
        .ok_or_else(|| {
            ApiError::not_found(
                "no_sbom",
                format!("{product} {wanted} was released without an SBOM"),
            )
        })?;
    let etag = format!("\"{}\"", sbom.sha256);
    if super::tuf::not_modified(&headers, &etag) {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
        return Ok(resp);
    }
    let bytes = app
        .blobs
        .read_small(&sbom.sha256, sbom.length)
        .await?
        .ok_or_else(|| ApiError::internal(format!("the blob of {} is missing", sbom.name)))?;
    let mut resp = (StatusCode::OK, Body::from(bytes)).into_response();
    let h = resp.headers_mut();
    let link = format!(
        "</tuf/targets/{}>; rel=\"alternate\"",
        consistent_target_path(&sbom.name, &sbom.sha256)
    );
    for (name, value) in [
        (
            header::CONTENT_TYPE,
            sbom.info.format.media_type().to_string(),
        ),
        (header::ETAG, etag),
        (header::CACHE_CONTROL, CACHE.to_string()),
        (header::LINK, link),
        (
            header::HeaderName::from_static("x-tuf-target"),
            sbom.name.clone(),
        ),
        (
            header::HeaderName::from_static("x-sbom-format"),
            sbom.info.format.as_str().to_string(),
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    Ok(resp)
}
