//! Public, login-free pages generated from the signed support records (ETSI EN 303 645 5.3-13,
//! PSTI Schedule 1 ¶3, CRA Art. 13(19)): the support statement as JSON and as a page, and
//! `/.well-known/security.txt` (RFC 9116) from the records' security contacts.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use airlock_core::api::{consistent_target_path, ErrorBody};
use airlock_core::names;
use airlock_core::release::Severity;
use airlock_core::support::SupportRecord;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::openapi::ProductPath;
use crate::routes::responses::UnknownProduct;
use crate::view::{ProductView, RepoView};

/// Where the support statement stands today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupportStatus {
    Supported,
    SecurityUpdatesOnly,
    EndOfSupport,
}

impl SupportStatus {
    pub fn of(record: &SupportRecord, now: jiff::Timestamp) -> Self {
        if !record.security_window_open(now) {
            SupportStatus::EndOfSupport
        } else if !record.feature_window_open(now) {
            SupportStatus::SecurityUpdatesOnly
        } else {
            SupportStatus::Supported
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            SupportStatus::Supported => "supported: security and feature updates",
            SupportStatus::SecurityUpdatesOnly => "supported: security updates only",
            SupportStatus::EndOfSupport => "end of support: no more security updates",
        }
    }
}

/// Where to find the signed bytes of the record, to verify this JSON against TUF metadata.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignedRecord {
    pub target: String,
    pub sha256: String,
    pub length: u64,
    pub url: String,
    pub role: String,
    pub role_metadata: String,
}

/// A product's signed support record, with its status today and where the signed bytes are.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SupportStatement {
    #[serde(flatten)]
    pub record: SupportRecord,
    pub status: SupportStatus,
    pub signed_record: SignedRecord,
}

fn unknown_product(product: &str) -> ApiError {
    ApiError::not_found("unknown_product", format!("unknown product {product:?}"))
}

/// A published product by id; 404 `unknown_product` for a malformed id too.
fn published_product<'v>(view: &'v RepoView, product: &str) -> Result<&'v ProductView, ApiError> {
    names::check_product_id(product).map_err(|_| unknown_product(product))?;
    view.products
        .get(product)
        .ok_or_else(|| unknown_product(product))
}

fn statement(
    view: &RepoView,
    product: &str,
    now: jiff::Timestamp,
) -> Result<SupportStatement, ApiError> {
    let p = published_product(view, product)?;
    let target = names::support_target_name(product);
    let (sha256, length) = view
        .targets
        .get(&target)
        .cloned()
        .ok_or_else(|| unknown_product(product))?;
    let role_version = view.index.roles.get(product).copied().unwrap_or(0);
    Ok(SupportStatement {
        record: p.support.clone(),
        status: SupportStatus::of(&p.support, now),
        signed_record: SignedRecord {
            url: format!("/tuf/targets/{}", consistent_target_path(&target, &sha256)),
            target,
            sha256,
            length,
            role: product.to_string(),
            role_metadata: format!("/tuf/metadata/{role_version}.{product}.json"),
        },
    })
}

/// One product in `GET /v1/products`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductSummary {
    pub product: String,
    pub status: SupportStatus,
    #[schema(value_type = String, format = Date)]
    pub security_updates_until: jiff::civil::Date,
    /// Path of the support statement (JSON).
    pub support: String,
    /// Path of the support page (HTML).
    pub page: String,
}

/// `GET /v1/products`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductList {
    pub products: Vec<ProductSummary>,
}

/// A signed advisory with the release that fixes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishedAdvisory {
    /// e.g. `CVE-2026-12345` or a vendor id.
    pub id: String,
    pub severity: Severity,
    pub summary: String,
    /// Version of the release that fixes it.
    pub fixed_in: String,
    pub security_version: u64,
    /// Target name of that release.
    pub target: String,
    #[schema(value_type = String, format = DateTime)]
    pub released: jiff::Timestamp,
}

/// `GET /v1/products/{product}/advisories`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdvisoryList {
    pub product: String,
    /// Newest release first.
    pub advisories: Vec<PublishedAdvisory>,
}

/// A product's support statement (JSON), no login.
///
/// Generated from the signed support record (ETSI EN 303 645 5.3-13, CRA Art. 13(19));
/// `signed_record` names the signed bytes, to verify it against TUF metadata.
#[utoipa::path(
    get,
    path = "/v1/products/{product}/support",
    tag = "public",
    params(ProductPath),
    responses(
        (status = 200, description = "The support statement", body = SupportStatement),
        UnknownProduct,
    )
)]
pub async fn support_json(
    State(app): State<AppState>,
    Path(product): Path<String>,
) -> Result<Json<SupportStatement>, ApiError> {
    Ok(Json(statement(&app.view(), &product, app.clock.now())?))
}

/// Every published product and its support status, no login.
#[utoipa::path(
    get,
    path = "/v1/products",
    tag = "public",
    responses((status = 200, description = "The products", body = ProductList))
)]
pub async fn products(State(app): State<AppState>) -> Json<ProductList> {
    let view = app.view();
    let now = app.clock.now();
    let products = view
        .products
        .iter()
        .map(|(id, p)| ProductSummary {
            product: id.clone(),
            status: SupportStatus::of(&p.support, now),
            security_updates_until: p.support.security_updates_until,
            support: format!("/v1/products/{id}/support"),
            page: format!("/products/{id}"),
        })
        .collect();
    Json(ProductList { products })
}

/// A product's support page (HTML), no login.
#[utoipa::path(
    get,
    path = "/products/{product}",
    tag = "public",
    params(ProductPath),
    responses(
        (status = 200, description = "The support page", body = String, content_type = "text/html; charset=utf-8"),
        UnknownProduct,
    )
)]
pub async fn support_page(
    State(app): State<AppState>,
    Path(product): Path<String>,
) -> Result<Html<String>, ApiError> {
    let s = statement(&app.view(), &product, app.clock.now())?;
    let page = super::support_page::SupportPage::new(&product, &s)
        .render()
        .map_err(|e| ApiError::internal(format!("rendering the support page: {e}")))?;
    Ok(Html(page))
}

/// `security.txt` (RFC 9116) from the support records' security contacts.
///
/// Contact (one per distinct contact), Expires (required), Policy.
#[utoipa::path(
    get,
    path = "/.well-known/security.txt",
    tag = "public",
    responses(
        (status = 200, description = "The security.txt file", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "No support record names a security contact", body = ErrorBody),
    )
)]
pub async fn security_txt(State(app): State<AppState>) -> Result<Response, ApiError> {
    let view = app.view();
    let mut contacts: Vec<&str> = Vec::new();
    let mut policies: Vec<&str> = Vec::new();
    let mut csaf: Vec<String> = Vec::new();
    // the provider this server is (--csaf-publisher) first, then those the records name
    if let Some(provider) = &app.config.csaf {
        csaf.push(provider.metadata_url());
    }
    for p in view.products.values() {
        if let Some(url) = p.support.csaf_provider_metadata.as_deref() {
            if !csaf.iter().any(|c| c == url) {
                csaf.push(url.to_string());
            }
        }
        if let Some(c) = p.support.security_contact.as_deref() {
            if !contacts.contains(&c) {
                contacts.push(c);
            }
        }
        if let Some(pol) = p.support.disclosure_policy.as_deref() {
            if !policies.contains(&pol) {
                policies.push(pol);
            }
        }
    }
    if contacts.is_empty() {
        return Err(ApiError::not_found(
            "not_found",
            "no product's support record names a security contact",
        ));
    }
    let expires = app
        .clock
        .now()
        .checked_add(jiff::SignedDuration::from_hours(24 * 364))
        .map(airlock_core::whole_seconds)
        .unwrap_or_else(|_| app.clock.now());
    let mut text = String::new();
    for c in contacts {
        text.push_str(&format!("Contact: {c}\n"));
    }
    text.push_str(&format!("Expires: {expires}\n"));
    for p in policies {
        text.push_str(&format!("Policy: {p}\n"));
    }
    // CSAF 2.0 section 7.1.8: the provider-metadata.json of the vendor's advisories
    for url in csaf {
        text.push_str(&format!("CSAF: {url}\n"));
    }
    text.push_str("Preferred-Languages: en\n");
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// The signed advisories of a product's releases, newest release first, no login.
#[utoipa::path(
    get,
    path = "/v1/products/{product}/advisories",
    tag = "public",
    params(ProductPath),
    responses(
        (status = 200, description = "The advisories", body = AdvisoryList),
        UnknownProduct,
    )
)]
pub async fn advisories(
    State(app): State<AppState>,
    Path(product): Path<String>,
) -> Result<Json<AdvisoryList>, ApiError> {
    let view = app.view();
    let p = published_product(&view, &product)?;
    let mut releases: Vec<_> = p
        .releases
        .iter()
        .filter(|r| !r.info.advisories.is_empty())
        .collect();
    releases.sort_by(|a, b| b.info.version.cmp(&a.info.version));
    let advisories = releases
        .iter()
        .flat_map(|r| {
            r.info.advisories.iter().map(move |a| PublishedAdvisory {
                id: a.id.clone(),
                severity: a.severity,
                summary: a.summary.clone(),
                fixed_in: r.info.version.to_string(),
                security_version: r.info.security_version,
                target: r.name.clone(),
                released: r.info.released,
            })
        })
        .collect();
    Ok(Json(AdvisoryList {
        product,
        advisories,
    }))
}
