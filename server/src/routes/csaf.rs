//! The CSAF 2.0 provider (OASIS CSAF 2.0 section 7.1, role `csaf_provider`): the signed
//! advisories and VEX statements of every published product as CSAF documents under
//! `/.well-known/csaf/`: `provider-metadata.json` (requirement 7), `white/` with one folder
//! per year (11), `index.txt` (12), `changes.csv` (13) and a `.sha256` per document (18).
//!
//! Where the documents come from: the server renders them, on request, from the repository
//! view it has verified (the same TUF chain a device checks: root, targets, the product role
//! that signs the releases, their advisories and the support record with its not-affected
//! statements), with [`airlock_report::csaf`], the code `airlock advisory csaf` runs on the
//! signer's side. The server holds no product key and adds nothing that is not in the signed
//! metadata: every date comes from a signed release or statement, so the bytes are the same on
//! every replica and anyone can re-make them from the repository and compare
//! (docs/compliance.md, "CSAF advisories").

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use airlock_core::api::ErrorBody;
use airlock_report::csaf::Publisher;

use std::sync::{Arc, Mutex};

use crate::app::AppState;
use crate::error::ApiError;
use crate::view::RepoView;

/// The CSAF provider's settings (`airlock-server serve --csaf-publisher ...`).
#[derive(Debug, Clone)]
pub struct CsafProvider {
    pub publisher: Publisher,
    /// Where this server is reached (`https://updates.example`), without a trailing `/`.
    pub base_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CsafConfigError {
    #[error("--csaf-publisher must not be empty")]
    EmptyPublisher,
    #[error("--csaf-base-url {0} must be an https:// URL with no query or fragment (CSAF 2.0 section 7.1.3: TLS)")]
    BadBaseUrl(String),
    #[error("--csaf-namespace {0} must be an http(s) URL")]
    BadNamespace(String),
}

impl CsafProvider {
    /// `namespace` is kept as given (as `airlock advisory csaf --namespace` keeps it), so both
    /// write the same bytes.
    pub fn new(
        publisher: &str,
        namespace: &str,
        base_url: &url::Url,
    ) -> Result<Self, CsafConfigError> {
        if publisher.trim().is_empty() {
            return Err(CsafConfigError::EmptyPublisher);
        }
        let namespace_ok =
            url::Url::parse(namespace).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
        if !namespace_ok {
            return Err(CsafConfigError::BadNamespace(namespace.to_string()));
        }
        // CSAF requires TLS for a provider; a test server on 127.0.0.1 may use http
        let local = matches!(
            base_url.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]")
        );
        let scheme_ok = base_url.scheme() == "https" || (local && base_url.scheme() == "http");
        if !scheme_ok || base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(CsafConfigError::BadBaseUrl(base_url.to_string()));
        }
        Ok(CsafProvider {
            publisher: Publisher {
                name: publisher.trim().to_string(),
                namespace: namespace.to_string(),
            },
            base_url: base_url.as_str().trim_end_matches('/').to_string(),
        })
    }

    /// The URL of `provider-metadata.json` (security.txt's `CSAF:` line).
    pub fn metadata_url(&self) -> String {
        format!("{}/.well-known/csaf/provider-metadata.json", self.base_url)
    }
}

/// Every file of the provider directory, rendered from the verified view: (path under
/// `.well-known/csaf/`, bytes).
fn provider_files(app: &AppState) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let provider = app.config.csaf.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "csaf_not_configured",
            "this server publishes no CSAF advisories (start it with --csaf-publisher, --csaf-namespace and --csaf-base-url)",
        )
    })?;
    let view = app.view();
    let documents = app.csaf_documents.of(&view, |view| {
        let mut documents = Vec::new();
        for (product, p) in &view.products {
            documents.extend(airlock_report::csaf::documents(
                product,
                &p.releases,
                &p.support.not_affected,
                &provider.publisher,
                env!("CARGO_PKG_VERSION"),
            ));
        }
        documents
    });
    Ok(airlock_report::csaf::provider_files(
        &provider.base_url,
        &provider.publisher,
        &documents,
        app.clock.now(),
    ))
}

/// CSAF documents as [`airlock_report::csaf::documents`] renders them: (file name, year, JSON).
type Rendered = Arc<Vec<(String, i16, serde_json::Value)>>;

/// The CSAF documents of one view generation, kept until the next publish: a request for any
/// provider file no longer renders every product's documents again.
#[derive(Default)]
pub struct Documents(Mutex<Option<(u64, Rendered)>>);

impl Documents {
    fn of(
        &self,
        view: &RepoView,
        render: impl FnOnce(&RepoView) -> Vec<(String, i16, serde_json::Value)>,
    ) -> Rendered {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*kept {
            Some((generation, documents)) if *generation == view.generation => documents.clone(),
            _ => {
                let documents = Arc::new(render(view));
                *kept = Some((view.generation, documents.clone()));
                documents
            }
        }
    }
}

fn file(app: &AppState, path: &str) -> Result<Response, ApiError> {
    let files = provider_files(app)?;
    let (_, bytes) = files
        .into_iter()
        .find(|(p, _)| p == path)
        .ok_or_else(|| ApiError::not_found("not_found", format!("no CSAF file {path}")))?;
    let content_type = if path.ends_with(".json") {
        "application/json"
    } else if path.ends_with(".csv") {
        "text/csv; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        bytes,
    )
        .into_response())
}

/// The CSAF provider metadata (CSAF 2.0 section 7.1.7), no login.
#[utoipa::path(
    get,
    path = "/.well-known/csaf/provider-metadata.json",
    tag = "public",
    responses(
        (status = 200, description = "provider-metadata.json", content_type = "application/json", body = Object),
        (status = 404, description = "The server publishes no CSAF advisories (csaf_not_configured)", body = ErrorBody),
    )
)]
pub async fn provider_metadata(State(app): State<AppState>) -> Result<Response, ApiError> {
    file(&app, "provider-metadata.json")
}

/// Every CSAF document's path (`YYYY/name.json`), one a line (CSAF 2.0 section 7.1.12).
#[utoipa::path(
    get,
    path = "/.well-known/csaf/white/index.txt",
    tag = "public",
    responses(
        (status = 200, description = "index.txt", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "The server publishes no CSAF advisories (csaf_not_configured)", body = ErrorBody),
    )
)]
pub async fn index_txt(State(app): State<AppState>) -> Result<Response, ApiError> {
    file(&app, "white/index.txt")
}

/// Every CSAF document's path and current release date, newest first (CSAF 2.0 section
/// 7.1.13).
#[utoipa::path(
    get,
    path = "/.well-known/csaf/white/changes.csv",
    tag = "public",
    responses(
        (status = 200, description = "changes.csv", body = String, content_type = "text/csv; charset=utf-8"),
        (status = 404, description = "The server publishes no CSAF advisories (csaf_not_configured)", body = ErrorBody),
    )
)]
pub async fn changes_csv(State(app): State<AppState>) -> Result<Response, ApiError> {
    file(&app, "white/changes.csv")
}

/// `{year}/{document}` of a CSAF document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DocumentPath {
    /// Year of the document's initial release
    #[param(pattern = "^[0-9]{4}$", example = "2026")]
    pub year: String,
    /// The document's file name (CSAF 2.0 section 5.1), or it with `.sha256`
    #[param(
        pattern = "^[a-z0-9+_-]+\\.json(\\.sha256)?$",
        example = "acme-cam-cve-2026-1111.json"
    )]
    pub document: String,
}

/// A CSAF document (TLP:WHITE), or its SHA-256 (`NAME.json.sha256`, CSAF 2.0 section 7.1.18).
#[utoipa::path(
    get,
    path = "/.well-known/csaf/white/{year}/{document}",
    tag = "public",
    params(DocumentPath),
    responses(
        (status = 200, description = "The CSAF document (NAME.json, JSON) or its sha256 (NAME.json.sha256, `HEX  NAME`)", content(
            (Object = "application/json"),
            (String = "text/plain; charset=utf-8")
        )),
        (status = 404, description = "No such document, or no CSAF advisories served", body = ErrorBody),
    )
)]
pub async fn document(
    State(app): State<AppState>,
    Path((year, document)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let year_ok = year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit());
    let name = document
        .strip_suffix(".json.sha256")
        .or_else(|| document.strip_suffix(".json"));
    let name_ok = name.is_some_and(|n| {
        !n.is_empty()
            && n.len() <= 200
            && n.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'_')
            })
    });
    if !year_ok || !name_ok {
        return Err(ApiError::not_found(
            "not_found",
            format!("no CSAF document {year}/{document}"),
        ));
    }
    file(&app, &format!("white/{year}/{document}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_base_url_must_be_https_except_on_loopback() {
        let ns = "https://acme.example";
        let ok = |u: &str| CsafProvider::new("Acme", ns, &u.parse().unwrap());
        assert_eq!(
            ok("https://updates.acme.example/").unwrap().metadata_url(),
            "https://updates.acme.example/.well-known/csaf/provider-metadata.json"
        );
        assert!(ok("http://127.0.0.1:8080").is_ok());
        assert!(ok("http://updates.acme.example").is_err());
        assert!(ok("https://updates.acme.example/?x=1").is_err());
        assert!(CsafProvider::new(" ", ns, &"https://u.example".parse().unwrap()).is_err());
        assert!(CsafProvider::new("Acme", "acme", &"https://u.example".parse().unwrap()).is_err());
    }
}
