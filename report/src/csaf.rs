//! CSAF 2.0 advisories (OASIS Common Security Advisory Framework 2.0, profile
//! `csaf_security_advisory`) made from the signed advisory data: one document per advisory id
//! named by a product's signed releases. Its product tree lists every signed release of the
//! product; its vulnerability marks the releases below the fixing release's security version
//! `known_affected` and the fixing release and later `fixed` (the VEX product status), with a
//! `vendor_fix` remediation naming the fixed version. Pure: the signer writes the files of a
//! CSAF provider directory ([`provider_files`]).

use serde_json::{json, Value};

use airlock_core::release::Release;

/// Who publishes the advisories (CSAF `document.publisher`).
#[derive(Debug, Clone)]
pub struct Publisher {
    pub name: String,
    /// A URL of the publisher's own (CSAF requires a namespace URI).
    pub namespace: String,
}

fn product_id(r: &Release) -> String {
    format!("{}-{}", r.info.product, r.info.version)
}

/// The CSAF tracking id of `advisory` for `product`.
pub fn tracking_id(product: &str, advisory: &str) -> String {
    format!("{product}-{advisory}")
}

/// The file name CSAF 2.0 section 5.1 gives a document: the tracking id in lower case, every
/// character but `+`, `-`, `a-z`, `0-9` replaced by `_`, then `.json`.
pub fn file_name(tracking_id: &str) -> String {
    let name: String = tracking_id
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '+' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}.json")
}

/// One CSAF document per advisory id named by `releases` (of one product), oldest fix first:
/// (tracking id, year of its initial release, document).
pub fn documents(
    product: &str,
    releases: &[Release],
    publisher: &Publisher,
    generator_version: &str,
) -> Vec<(String, i16, Value)> {
    let mut ids: Vec<(&Release, &airlock_core::release::Advisory)> = Vec::new();
    let mut by_time: Vec<&Release> = releases.iter().collect();
    by_time.sort_by_key(|r| (r.info.released, r.info.security_version));
    for r in &by_time {
        for a in &r.info.advisories {
            if !ids.iter().any(|(_, seen)| seen.id == a.id) {
                ids.push((r, a));
            }
        }
    }
    let versions: Vec<Value> = by_time
        .iter()
        .map(|r| {
            json!({
                "category": "product_version",
                "name": r.info.version.to_string(),
                "product": {"name": format!("{} {}", r.info.product, r.info.version), "product_id": product_id(r)}
            })
        })
        .collect();
    let product_tree = json!({
        "branches": [{
            "category": "vendor",
            "name": publisher.name,
            "branches": [{"category": "product_name", "name": product, "branches": versions}]
        }]
    });
    ids.into_iter()
        .map(|(fix, advisory)| {
            let tracking = tracking_id(product, &advisory.id);
            let released = fix.info.released.to_string();
            let fixed: Vec<String> = by_time
                .iter()
                .filter(|r| r.info.security_version >= fix.info.security_version)
                .map(|r| product_id(r))
                .collect();
            let affected: Vec<String> = by_time
                .iter()
                .filter(|r| r.info.security_version < fix.info.security_version)
                .map(|r| product_id(r))
                .collect();
            let severity = format!("{:?}", advisory.severity).to_lowercase();
            let mut status = json!({"fixed": fixed});
            let mut vulnerability = json!({
                "notes": [{"category": "description", "title": "Description", "text": advisory.summary}],
                "threats": [{"category": "impact", "details": format!("Severity: {severity} (as assessed by {}).", publisher.name)}],
            });
            if advisory.id.starts_with("CVE-") {
                vulnerability["cve"] = json!(advisory.id);
            } else {
                vulnerability["ids"] = json!([{"system_name": publisher.name, "text": advisory.id}]);
            }
            if !affected.is_empty() {
                status["known_affected"] = json!(affected);
                vulnerability["remediations"] = json!([{
                    "category": "vendor_fix",
                    "details": format!("Update {product} to {} (security version {}) or later; devices with automatic updates install it without action.", fix.info.version, fix.info.security_version),
                    "date": released,
                    "product_ids": affected,
                }]);
            }
            vulnerability["product_status"] = status;
            let document = json!({
                "document": {
                    "category": "csaf_security_advisory",
                    "csaf_version": "2.0",
                    "distribution": {"tlp": {"label": "WHITE", "url": "https://www.first.org/tlp/"}},
                    "lang": "en",
                    "publisher": {"category": "vendor", "name": publisher.name, "namespace": publisher.namespace},
                    "title": format!("{product}: {} ({severity})", advisory.id),
                    "aggregate_severity": {"text": severity},
                    "notes": [{"category": "summary", "title": "Summary", "text": format!("{} Fixed in {product} {}.", advisory.summary, fix.info.version)}],
                    "tracking": {
                        "id": tracking,
                        "status": "final",
                        "version": "1",
                        "initial_release_date": released,
                        "current_release_date": released,
                        "revision_history": [{"date": released, "number": "1", "summary": format!("Published with the signed release {}.", fix.info.version)}],
                        "generator": {"engine": {"name": "airlock", "version": generator_version}},
                    },
                },
                "product_tree": product_tree,
                "vulnerabilities": [vulnerability],
            });
            (tracking, fix.info.released.to_zoned(jiff::tz::TimeZone::UTC).year(), document)
        })
        .collect()
}

/// The files of a CSAF 2.0 provider directory (section 7.1: requirements 8, 11-14, 18) for
/// `documents` of every product, as (path under `.well-known/csaf/`, bytes):
/// `provider-metadata.json`, and under `white/` each document in its year folder with its
/// `.sha256`, `index.txt` and `changes.csv` (newest first). `base_url` is where
/// `.well-known/csaf/` is served (e.g. `https://updates.example`).
pub fn provider_files(
    base_url: &str,
    publisher: &Publisher,
    documents: &[(String, i16, Value)],
    now: jiff::Timestamp,
) -> Vec<(String, Vec<u8>)> {
    use sha2::Digest;
    let base = base_url.trim_end_matches('/');
    let mut files = Vec::new();
    let mut index = Vec::new();
    let mut changes: Vec<(String, String)> = Vec::new();
    for (tracking, year, doc) in documents {
        let path = format!("{year}/{}", file_name(tracking));
        let mut bytes = serde_json::to_vec_pretty(doc).unwrap_or_default();
        bytes.push(b'\n');
        let digest = hex::encode(sha2::Sha256::digest(&bytes));
        let name = file_name(tracking);
        files.push((
            format!("white/{path}.sha256"),
            format!("{digest}  {name}\n").into_bytes(),
        ));
        files.push((format!("white/{path}"), bytes));
        index.push(path.clone());
        let current = doc["document"]["tracking"]["current_release_date"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        changes.push((path, current));
    }
    changes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    index.sort();
    files.push((
        "white/index.txt".into(),
        index
            .iter()
            .map(|p| format!("{p}\n"))
            .collect::<String>()
            .into_bytes(),
    ));
    files.push((
        "white/changes.csv".into(),
        changes
            .iter()
            .map(|(p, t)| format!("\"{p}\",\"{t}\"\n"))
            .collect::<String>()
            .into_bytes(),
    ));
    let metadata = json!({
        "canonical_url": format!("{base}/.well-known/csaf/provider-metadata.json"),
        "distributions": [{"directory_url": format!("{base}/.well-known/csaf/white/")}],
        "last_updated": airlock_core::whole_seconds(now).to_string(),
        "list_on_CSAF_aggregators": true,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": true,
        "publisher": {"category": "vendor", "name": publisher.name, "namespace": publisher.namespace},
        "role": "csaf_provider",
    });
    let mut bytes = serde_json::to_vec_pretty(&metadata).unwrap_or_default();
    bytes.push(b'\n');
    files.push(("provider-metadata.json".into(), bytes));
    files
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn release(version: &str, sv: u64, released: &str, advisories: serde_json::Value) -> Release {
        serde_json::from_value(json!({
            "name": format!("acme-cam/fw-{version}.bin"), "length": 4, "sha256": "ab",
            "product": "acme-cam", "version": version, "security_version": sv,
            "kind": "security", "released": released, "advisories": advisories
        }))
        .unwrap()
    }

    #[test]
    fn one_document_per_advisory_with_affected_and_fixed_releases() {
        let releases = [
            release("1.0.0", 1, "2026-01-01T00:00:00Z", json!([])),
            release(
                "1.2.0",
                3,
                "2026-09-22T12:00:00Z",
                json!([{"id": "CVE-2026-1111", "severity": "high", "summary": "RTSP parser overflow"}]),
            ),
        ];
        let publisher = Publisher {
            name: "Acme".into(),
            namespace: "https://acme.example".into(),
        };
        let docs = documents("acme-cam", &releases, &publisher, "0.1.0");
        assert_eq!(docs.len(), 1);
        let (tracking, year, doc) = &docs[0];
        assert_eq!(tracking, "acme-cam-CVE-2026-1111");
        assert_eq!(*year, 2026);
        let v = &doc["vulnerabilities"][0];
        assert_eq!(v["cve"], "CVE-2026-1111");
        assert_eq!(
            v["product_status"]["known_affected"],
            json!(["acme-cam-1.0.0"])
        );
        assert_eq!(v["product_status"]["fixed"], json!(["acme-cam-1.2.0"]));
        assert!(v["remediations"][0]["details"]
            .as_str()
            .unwrap()
            .contains("1.2.0"));
        assert_eq!(file_name(tracking), "acme-cam-cve-2026-1111.json");
        let files = provider_files(
            "https://u.example/",
            &publisher,
            &docs,
            "2026-10-01T00:00:00Z".parse().unwrap(),
        );
        let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "white/2026/acme-cam-cve-2026-1111.json.sha256",
                "white/2026/acme-cam-cve-2026-1111.json",
                "white/index.txt",
                "white/changes.csv",
                "provider-metadata.json"
            ]
        );
        assert_eq!(files[2].1, b"2026/acme-cam-cve-2026-1111.json\n");
        assert_eq!(
            files[3].1,
            b"\"2026/acme-cam-cve-2026-1111.json\",\"2026-09-22T12:00:00Z\"\n"
        );
    }
}
