//! `GET /openapi.json`: the OpenAPI document of every endpoint, generated from the handlers'
//! `#[utoipa::path]` annotations and the body types' `ToSchema` derives, so it changes with the
//! code. The tests below fail when a route registered in `routes/mod.rs` is not documented here
//! (or a documented one is not routed).

use axum::Json;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};

use airlock_core::api::ErrorBody;

use crate::routes::{admin, audit, csaf, devices, ops, public, sbom, tuf};

/// The server's API document (title airlock-server, version of this crate).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "airlock-server",
        description = "TUF repository, device check-ins and the admin API of an airlock OTA update server. \
Every error answer is `{\"error\": code, \"message\": text}` (ErrorBody): 4xx for the caller's mistakes, 5xx for the server's."
    ),
    paths(
        ops::healthz,
        ops::readyz,
        ops::metrics,
        openapi_json,
        public::products,
        public::support_json,
        public::advisories,
        sbom::release_sbom,
        public::support_page,
        public::security_txt,
        csaf::provider_metadata,
        csaf::index_txt,
        csaf::changes_csv,
        csaf::document,
        tuf::metadata,
        tuf::target,
        devices::check_in,
        devices::report,
        devices::enrol,
        admin::head_blob,
        admin::put_blob,
        admin::publish,
        admin::repository,
        admin::resign,
        admin::create_enrolment_token,
        admin::list_enrolment_tokens,
        admin::revoke_enrolment_token,
        admin::device_history,
        admin::revoke_device,
        admin::reinstate_device,
        admin::start_rollout,
        admin::list_rollouts,
        admin::rollout_status,
        admin::rollout_action,
        admin::fleet,
        audit::audit,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerSchemes, &HeadersAreNeverNull, &HeadLikeGet),
    tags(
        (name = "tuf", description = "The TUF repository, readable by any TUF client"),
        (name = "devices", description = "Device enrolment, check-in (the update decision) and reports"),
        (name = "admin", description = "Publishing, rollouts, enrolment tokens (bearer admin token with a scope)"),
        (name = "public", description = "Support statements, security.txt and the CSAF advisories, no login"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The two bearer schemes the operations' `security(...)` name.
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            bearer(
                "The token of --admin-token-file (every scope), or one made with \
                 `airlock-server token create --scope ...` (publish, rollout, devices, read)",
            ),
        );
        components.add_security_scheme(
            "device_credential",
            bearer(
                "The device's credential from POST /v1/devices/{device_id}/enrol; required \
                 unless the server runs with --device-auth open. With --device-auth mtls the \
                 device presents its X.509 client certificate in the TLS handshake instead \
                 (its URI SAN urn:airlock:device:<id> names it; 403 `wrong_device` for another \
                 id, `no_device_id` without one)",
            ),
        );
    }
}

/// A header parameter is sent or not; `Option<String>` in an annotation means "not required",
/// never a JSON `null` (which utoipa also writes into its type, so that a client generated from
/// the document, or schemathesis, sent `If-None-Match: null`).
struct HeadersAreNeverNull;

impl Modify for HeadersAreNeverNull {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.head,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if parameter.parameter_in != ParameterIn::Header {
                        continue;
                    }
                    if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema {
                        if let SchemaType::Array(types) = &object.schema_type {
                            let mut types = types.iter().filter(|t| **t != Type::Null);
                            if let (Some(only), None) = (types.next(), types.next()) {
                                object.schema_type = SchemaType::Type(only.clone());
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Paths whose HEAD clients use (size and validators before a download; "is this blob
/// uploaded?"). axum answers HEAD on every GET route with the GET answer's status and headers
/// and no body; these get a HEAD operation derived from their GET operation.
pub const HEAD_PATHS: [&str; 3] = [
    "/tuf/metadata/{file}",
    "/tuf/targets/{path}",
    "/v1/admin/blobs/{sha256}",
];

struct HeadLikeGet;

impl Modify for HeadLikeGet {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for path in HEAD_PATHS {
            let Some(item) = openapi.paths.paths.get_mut(path) else {
                continue;
            };
            let Some(mut head) = item.get.clone() else {
                continue;
            };
            // operation ids are unique across the document
            head.operation_id = head.operation_id.map(|id| format!("{id}_head"));
            head.summary = Some(format!(
                "Status and headers of GET {path}, without the body."
            ));
            head.description = None;
            for response in head.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response.content.clear();
                }
            }
            item.head = Some(head);
        }
    }
}

/// Raw bytes in a request or response body (`type: string, format: binary`).
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

// The patterns say what the server's checks accept (`airlock_core::names::check_product_id`,
// besides the reserved role names; `deviceauth::check_device_id`; lowercase hex digests), so a
// client generated from this document, or schemathesis, knows before the server answers 400.

/// `{product}` in an operation's path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProductPath {
    /// Product id: lowercase letters, digits and `-`, up to 63
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$", example = "acme-cam")]
    pub product: String,
}

/// `{product}/{version}` in an operation's path: one release.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ReleasePath {
    /// Product id: lowercase letters, digits and `-`, up to 63
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$", example = "acme-cam")]
    pub product: String,
    /// Release version (semver)
    #[param(example = "1.2.0")]
    pub version: String,
}

/// `{sha256}` in an operation's path: a stored blob.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BlobPath {
    /// Hex SHA-256 of the content (lowercase)
    #[param(
        pattern = "^[0-9a-f]{64}$",
        example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    )]
    pub sha256: String,
}

/// `{device_id}` in an operation's path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DevicePath {
    /// 1-128 characters of A-Z a-z 0-9 . _ : -
    #[param(pattern = "^[A-Za-z0-9._:-]{1,128}$", example = "cam-0001")]
    pub device_id: String,
}

/// `{token_id}` in an operation's path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// An enrolment token's id, as created and listed (the start of its digest)
    pub token_id: String,
}

/// This document: OpenAPI 3.1 description of every endpoint (no login).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json"))
)]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    const METHODS: [&str; 8] = [
        "get", "head", "post", "put", "delete", "patch", "options", "trace",
    ];

    /// (method, path) of every route that `routes/mod.rs` registers, read from its source: a
    /// route added there without an annotated handler in [`ApiDoc`] fails
    /// `every_route_is_documented`. Paths in OpenAPI spelling (`{*path}` becomes `{path}`).
    fn routed() -> BTreeSet<(String, String)> {
        let source = include_str!("mod.rs");
        let mut routes = BTreeSet::new();
        for call in source.split(".route(").skip(1) {
            let call = call.trim_start();
            assert!(
                call.starts_with('"'),
                "routes/mod.rs registers a route whose path is not a string literal; \
                 this test reads the paths from the source: {}",
                &call[..call.len().min(80)]
            );
            let path = call[1..].split('"').next().unwrap().replace("{*", "{");
            // The method routers of this route: up to where the next builder call starts.
            let end = [
                ".route(",
                ".route_layer(",
                ".merge(",
                ".fallback(",
                ".with_state(",
            ]
            .iter()
            .filter_map(|m| call.find(m))
            .min()
            .unwrap_or(call.len());
            let methods = method_calls(&call[..end]);
            assert!(!methods.is_empty(), "no method router found for {path}");
            for method in methods {
                routes.insert((method, path.clone()));
            }
        }
        routes
    }

    /// Names of axum method routers (`get(`, `.post(` ...) called in `code`.
    fn method_calls(code: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for method in METHODS {
            let call = format!("{method}(");
            for (at, _) in code.match_indices(&call) {
                let before = code[..at].chars().next_back();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    found.insert(method.to_string());
                }
            }
        }
        found
    }

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    /// (method, path) of every documented operation.
    fn documented(doc: &Value) -> BTreeSet<(String, String)> {
        let mut ops = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                if item.get(method).is_some() {
                    ops.insert((method.to_string(), path.clone()));
                }
            }
        }
        ops
    }

    #[test]
    fn route_source_is_read() {
        let routes = routed();
        // a sanity floor, so a parser that finds nothing cannot pass the tests below
        assert!(routes.len() >= 25, "{routes:?}");
        assert!(routes.contains(&("put".into(), "/v1/admin/blobs/{sha256}".into())));
        assert!(routes.contains(&("get".into(), "/v1/admin/blobs/{sha256}".into())));
        assert!(routes.contains(&("get".into(), "/tuf/targets/{path}".into())));
        assert!(routes.contains(&("get".into(), "/openapi.json".into())));
    }

    #[test]
    fn every_route_is_documented() {
        let doc = document();
        let documented = documented(&doc);
        let routed = routed();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes without a #[utoipa::path] in ApiDoc: {undocumented:?}"
        );
        // axum answers HEAD on every GET route; documenting it is optional.
        let unrouted: Vec<_> = documented
            .iter()
            .filter(|(method, path)| {
                let routed_as = |m: &str| routed.contains(&(m.to_string(), path.clone()));
                let is_routed = routed_as(method) || (method == "head" && routed_as("get"));
                !is_routed
            })
            .collect();
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
        for path in HEAD_PATHS {
            assert!(
                documented.contains(&("head".to_string(), path.to_string())),
                "HEAD {path}"
            );
        }
    }

    #[test]
    fn document_is_structurally_openapi_3() {
        let doc = document();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3."),
            "{}",
            doc["openapi"]
        );
        assert_eq!(doc["info"]["title"], "airlock-server");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in [
            "ErrorBody",
            "CheckInRequest",
            "CheckInResponse",
            "OfferedTarget",
            "DevicePolicy",
            "DeviceReport",
            "EnrolRequest",
            "EnrolResponse",
            "PublishRequest",
            "PublishResponse",
            "RolloutRequest",
            "RolloutAction",
            "RolloutStatus",
            "EnrolmentTokenRequest",
            "EnrolmentTokenResponse",
            "EnrolmentTokenInfo",
            "TokenUses",
            "DeviceRevocation",
            "DeviceHistory",
            "SupportStatement",
            "SupportRecord",
        ] {
            assert!(
                schemas.contains_key(name),
                "components.schemas lacks {name}"
            );
        }
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        for (name, scheme) in schemes {
            assert_eq!(scheme["type"], "http", "{name}");
            assert_eq!(scheme["scheme"], "bearer", "{name}");
        }
        // Every reference resolves.
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {r}"));
            assert!(schemas.contains_key(name), "dangling $ref {r}");
        }
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            assert!(path.starts_with('/'), "{path}");
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let what = format!("{method} {path}");
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "{what}: operationId {id} twice");
                assert!(
                    !op["summary"].as_str().unwrap_or("").is_empty(),
                    "{what}: summary"
                );
                assert_eq!(op["tags"].as_array().map(Vec::len), Some(1), "{what}: tag");
                // Every {param} of the path is a documented, required path parameter.
                let params: Vec<&Value> = op["parameters"]
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                for segment in path.split('/') {
                    if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                    {
                        assert!(
                            params.iter().any(|p| p["name"] == name
                                && p["in"] == "path"
                                && p["required"] == true),
                            "{what}: path parameter {name} undocumented"
                        );
                    }
                }
                for p in &params {
                    if p["in"] == "path" {
                        let name = p["name"].as_str().unwrap();
                        assert!(
                            path.contains(&format!("{{{name}}}")),
                            "{what}: stray {name}"
                        );
                    }
                }
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{what}: no success response"
                );
                for (status, response) in responses {
                    let code: u16 = status.parse().unwrap();
                    assert!(
                        !response["description"].as_str().unwrap().is_empty(),
                        "{what} {status}: description"
                    );
                    // JSON errors are always the one error body (503 of /readyz says
                    // which store is down instead).
                    if (400..=500).contains(&code) {
                        if let Some(json) = response["content"].get("application/json") {
                            assert_eq!(
                                json["schema"]["$ref"], "#/components/schemas/ErrorBody",
                                "{what} {status}"
                            );
                        }
                    }
                }
                // Security requirements name declared schemes.
                for requirement in op["security"].as_array().into_iter().flatten() {
                    for name in requirement.as_object().unwrap().keys() {
                        assert!(schemes.contains_key(name), "{what}: unknown scheme {name}");
                    }
                }
            }
        }
    }

    fn collect_refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    /// Which credential each group of endpoints asks for.
    #[test]
    fn security_matches_the_access_rules() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let names: BTreeSet<String> = op["security"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|r| r.as_object().unwrap().keys().cloned())
                    .collect();
                let optional = op["security"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|r| r.as_object().unwrap().is_empty()));
                let what = format!("{method} {path}");
                if path.starts_with("/v1/admin/") {
                    assert_eq!(names, BTreeSet::from(["admin_token".into()]), "{what}");
                    assert!(!optional, "{what}");
                    assert!(op["responses"].get("401").is_some(), "{what}: 401");
                    assert!(op["responses"].get("403").is_some(), "{what}: 403");
                } else if path.ends_with("/check-in")
                    || path.ends_with("/reports")
                    || path.starts_with("/tuf/")
                {
                    // required unless the server runs with --device-auth open (check-in,
                    // reports) or --tuf-access public (/tuf/, the default)
                    assert_eq!(
                        names,
                        BTreeSet::from(["device_credential".into()]),
                        "{what}"
                    );
                    assert!(optional, "{what}");
                    assert!(op["responses"].get("401").is_some(), "{what}: 401");
                    if !path.starts_with("/tuf/") {
                        assert!(op["responses"].get("403").is_some(), "{what}: 403");
                    }
                } else {
                    assert!(names.is_empty(), "{what} is public: {names:?}");
                }
            }
        }
    }

    #[test]
    fn check_in_schemas_follow_the_wire_format() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let request = &schemas["CheckInRequest"];
        let required: BTreeSet<&str> = request["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            required,
            BTreeSet::from(["product", "version", "security_version"])
        );
        // deny_unknown_fields
        assert_eq!(request["additionalProperties"], false);
        // the answer is one of three shapes, told apart by "decision"
        let text = schemas["CheckInResponse"].to_string();
        for decision in ["update", "up_to_date", "end_of_support"] {
            assert!(
                text.contains(&format!("\"{decision}\"")),
                "{decision}: {text}"
            );
        }
        assert_eq!(
            schemas["RolloutStatus"]["properties"]["started_at"]["format"],
            "date-time"
        );
    }

    /// Found by schemathesis (scripts/api-fuzz, docs/fuzzing.md): header parameters typed
    /// `["string", "null"]` made it send `If-None-Match: null`; path parameters without the
    /// server's rules made it expect 2xx for ids the server refuses with 400; a target path
    /// holding `/` was never tried, as nothing said a parameter may hold one.
    #[test]
    fn parameters_say_what_a_client_may_send() {
        let doc = document();
        let mut patterns = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let (name, schema) = (p["name"].as_str().unwrap(), &p["schema"]);
                    let what = format!("{method} {path} {name}");
                    if p["in"] == "header" {
                        assert_eq!(schema["type"], "string", "{what}: text or absent");
                        assert_eq!(p["required"], false, "{what}");
                    }
                    if p["in"] != "path" {
                        continue;
                    }
                    let example = p["example"].as_str().unwrap_or_default();
                    match name {
                        "product" => {
                            assert!(airlock_core::names::check_product_id(example).is_ok())
                        }
                        "device_id" => {
                            assert!(crate::deviceauth::check_device_id(example).is_ok())
                        }
                        "sha256" => assert!(airlock_core::names::is_sha256_hex(example), "{what}"),
                        _ => continue,
                    }
                    assert!(schema["pattern"].is_string(), "{what}: the server's rule");
                    patterns += 1;
                }
            }
        }
        assert!(patterns >= 14, "{patterns} path parameters with a pattern");
        let target = &doc["paths"]["/tuf/targets/{path}"]["get"]["parameters"][0];
        assert_eq!(target["name"], "path");
        assert!(target["example"].as_str().unwrap().contains('/'));
    }

    #[test]
    fn firmware_is_binary_with_ranges() {
        let doc = document();
        let target = &doc["paths"]["/tuf/targets/{path}"];
        for status in ["200", "206"] {
            let schema = &target["get"]["responses"][status]["content"]["application/octet-stream"]
                ["schema"];
            assert_eq!(schema["type"], "string", "{status}");
            assert_eq!(schema["format"], "binary", "{status}");
        }
        for status in ["304", "416"] {
            assert!(target["get"]["responses"].get(status).is_some(), "{status}");
        }
        assert!(target["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Range" && p["in"] == "header"));
        // HEAD: same statuses and headers, no body
        let head = &target["head"]["responses"];
        assert!(head["206"]["headers"].get("Content-Range").is_some());
        assert!(head["200"].get("content").is_none());
    }
}
