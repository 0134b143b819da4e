//! `GET /openapi.json` from the real server: a public JSON document, and every operation it
//! describes is routed: requested with sample parameters, it answers with one of its documented
//! statuses and content types (never the router's "no such endpoint" fallback), and JSON
//! answers carry the properties their schema requires.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::*;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "head", "post", "put", "delete"];

/// Whether `answer` is the router's fallback for an unknown path.
fn is_fallback(status: u16, body: &str) -> bool {
    status == 404
        && serde_json::from_str::<Value>(body)
            .is_ok_and(|v| v["error"] == "not_found" && v["message"] == "no such endpoint")
}

/// Follows `#/components/schemas/X`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// A light check of `value` against `schema`: required properties of objects (through $ref,
/// allOf and array items), types of what is required.
fn check_required(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        check_required(doc, part, value, at);
    }
    match schema["type"].as_str() {
        Some("object") => {
            assert!(value.is_object(), "{at}: expected an object, got {value}");
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                let field = value
                    .get(name)
                    .unwrap_or_else(|| panic!("{at}: required property {name} missing in {value}"));
                if let Some(property) = schema["properties"].get(name) {
                    check_required(doc, property, field, &format!("{at}.{name}"));
                }
            }
        }
        Some("array") => {
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: expected an array, got {value}"));
            for (i, item) in items.iter().enumerate() {
                check_required(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        Some("string") => assert!(value.is_string(), "{at}: expected a string, got {value}"),
        Some("boolean") => assert!(value.is_boolean(), "{at}: expected a boolean, got {value}"),
        Some("integer") => assert!(value.is_u64() || value.is_i64(), "{at}: {value}"),
        _ => {}
    }
}

#[test]
fn openapi_document_matches_the_served_routes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);
    let admin_token = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string();
    let client = reqwest::blocking::Client::new();

    // The document: public, JSON, OpenAPI 3.
    let resp = server.get("/openapi.json");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        resp.headers()["content-type"]
    );
    let doc: Value = resp.json().unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["title"], "airlock-server");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{} paths", paths.len());

    // The fallback is recognisable, so "not the fallback" below means something.
    let unknown = server.get("/v1/no-such-endpoint");
    assert!(is_fallback(
        unknown.status().as_u16(),
        &unknown.text().unwrap()
    ));

    // Sample parameters: real ones from the published repository where there are any.
    let statement: Value = server.get("/v1/products/acme-cam/support").json().unwrap();
    let target_url = statement["signed_record"]["url"].as_str().unwrap();
    let target_path = target_url
        .strip_prefix("/tuf/targets/")
        .unwrap()
        .to_string();
    let blob = statement["signed_record"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let fill = |path: &str| {
        path.replace("{product}", "acme-cam")
            .replace("{version}", "1.2.0")
            .replace("{action}", "pause")
            .replace("{device_id}", "cam-openapi-1")
            .replace("{sha256}", &blob)
            .replace("{file}", "timestamp.json")
            .replace("{path}", &target_path)
    };

    let mut checked = 0;
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let url = format!("{}{}", server.url, fill(path));
            let what = format!("{} {url}", method.to_uppercase());
            let mut req = client.request(
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                &url,
            );
            let admin = path.starts_with("/v1/admin/");
            let reads = method == "get" || method == "head";
            if admin && reads {
                // reads with the token, to see real answers
                req = req.bearer_auth(&admin_token);
            }
            // Admin changes are sent without a token (401): this test changes nothing.
            if !reads {
                let body = if path.ends_with("/check-in") {
                    r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#
                } else if path.ends_with("/reports") {
                    r#"{"status": "downloading", "version": "1.2.0"}"#
                } else {
                    "{}"
                };
                req = req
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let resp = req.send().unwrap();
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            let body = resp.text().unwrap();
            assert!(!is_fallback(status, &body), "{what}: not routed: {body}");
            assert_ne!(status, 405, "{what}: method not routed: {body}");
            let responses = &op["responses"];
            let documented = responses
                .get(status.to_string())
                .unwrap_or_else(|| panic!("{what}: status {status} is not documented: {body}"));
            if let (Some(content), Some(actual), false) = (
                documented["content"].as_object(),
                content_type.as_deref(),
                method == "head",
            ) {
                let media = |t: &str| t.split(';').next().unwrap().trim().to_ascii_lowercase();
                let matching = content.iter().find(|(t, _)| media(t) == media(actual));
                let (_, media_type) = matching.unwrap_or_else(|| {
                    panic!(
                        "{what}: {status} answered {actual}, documented {:?}",
                        content.keys().collect::<Vec<_>>()
                    )
                });
                if media(actual) == "application/json" {
                    let value: Value = serde_json::from_str(&body)
                        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
                    check_required(&doc, &media_type["schema"], &value, &what);
                }
            }
            checked += 1;
        }
    }
    // every route, plus HEAD of metadata, targets and blobs
    assert!(checked >= 28, "{checked} operations checked");

    // A few answers the walk above must have seen, to show it reached the handlers.
    let ok = |p: &str| client.get(format!("{}{p}", server.url)).send().unwrap();
    assert_eq!(ok(&fill("/tuf/targets/{path}")).status(), 200);
    assert_eq!(ok("/v1/admin/repository").status(), 401);
}
