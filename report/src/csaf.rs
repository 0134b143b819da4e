//! CSAF 2.0 advisories (OASIS Common Security Advisory Framework 2.0, profile
//! `csaf_security_advisory`) made from the signed advisory data: one document per advisory id
//! named by a product's signed releases. Its product tree lists every signed release of the
//! product; its vulnerability marks the releases below the fixing release's security version
//! `known_affected` and the fixing release and later `fixed` (the VEX product status), with a
//! `vendor_fix` remediation naming the fixed version. Pure: the signer writes the files of a
//! CSAF provider directory ([`provider_files`]).

use serde_json::{json, Value};

use airlock_core::release::Release;
use airlock_core::vex::NotAffected;

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

/// One CSAF document per advisory id named by `releases` (of one product), oldest fix first,
/// then one `csaf_vex` document per vulnerability that only `not_affected` statements name:
/// (tracking id, year of its initial release, document).
///
/// The not-affected statements (VEX, signed in the support record) move the releases they cover
/// from `known_affected` to `known_not_affected`, with the statement's justification as a flag
/// and its impact statement as a threat (CSAF 2.0 sections 3.2.3.5 and 3.2.3.13, mandatory
/// test 6.1.27.9); a release at or after the fix stays `fixed`.
pub fn documents(
    product: &str,
    releases: &[Release],
    not_affected: &[NotAffected],
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
    let header = |category: &str,
                  title: String,
                  summary: String,
                  tracking: String,
                  events: Vec<(jiff::Timestamp, String)>| {
        let revisions: Vec<Value> = events
            .iter()
            .enumerate()
            .map(|(i, (at, summary))| json!({"date": at.to_string(), "number": (i + 1).to_string(), "summary": summary}))
            .collect();
        let first = events.first().map(|e| e.0.to_string()).unwrap_or_default();
        let last = events.last().map(|e| e.0.to_string()).unwrap_or_default();
        json!({
            "category": category,
            "csaf_version": "2.0",
            "distribution": {"tlp": {"label": "WHITE", "url": "https://www.first.org/tlp/"}},
            "lang": "en",
            "publisher": {"category": "vendor", "name": publisher.name, "namespace": publisher.namespace},
            "title": title,
            "notes": [{"category": "summary", "title": "Summary", "text": summary}],
            "tracking": {
                "id": tracking,
                "status": "final",
                "version": events.len().max(1).to_string(),
                "initial_release_date": first,
                "current_release_date": last,
                "revision_history": revisions,
                "generator": {"engine": {"name": "airlock", "version": generator_version}},
            },
        })
    };
    // the releases each statement covers, outside `exclude`: (statement, product ids)
    let covered =
        |statements: &[&NotAffected], exclude: &[String]| -> Vec<(NotAffected, Vec<String>)> {
            statements
                .iter()
                .map(|n| {
                    let ids: Vec<String> = by_time
                        .iter()
                        .filter(|r| n.covers(&r.info.version))
                        .map(|r| product_id(r))
                        .filter(|id| !exclude.contains(id))
                        .collect();
                    ((*n).clone(), ids)
                })
                .filter(|(_, ids)| !ids.is_empty())
                .collect()
        };
    let add_vex = |vulnerability: &mut Value,
                   covered: &[(NotAffected, Vec<String>)]|
     -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for (_, ids) in covered {
            for id in ids {
                if !all.contains(id) {
                    all.push(id.clone());
                }
            }
        }
        if all.is_empty() {
            return all;
        }
        vulnerability["product_status"]["known_not_affected"] = json!(all);
        vulnerability["flags"] = json!(covered
            .iter()
            .map(|(n, ids)| json!({"label": n.justification.as_str(), "date": n.at.to_string(), "product_ids": ids}))
            .collect::<Vec<_>>());
        let threats = vulnerability["threats"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut threats = threats;
        for (n, ids) in covered {
            threats.push(json!({"category": "impact", "details": n.impact_text(), "date": n.at.to_string(), "product_ids": ids}));
        }
        vulnerability["threats"] = json!(threats);
        all
    };
    let set_id = |vulnerability: &mut Value, id: &str| {
        if id.starts_with("CVE-") {
            vulnerability["cve"] = json!(id);
        } else {
            vulnerability["ids"] = json!([{"system_name": publisher.name, "text": id}]);
        }
    };
    let mut out: Vec<(String, i16, Value)> = ids
        .iter()
        .map(|(fix, advisory)| {
            let tracking = tracking_id(product, &advisory.id);
            let fixed: Vec<String> = by_time
                .iter()
                .filter(|r| r.info.security_version >= fix.info.security_version)
                .map(|r| product_id(r))
                .collect();
            let statements = statements_of(not_affected, &advisory.id);
            let covered = covered(&statements, &fixed);
            let affected: Vec<String> = by_time
                .iter()
                .filter(|r| r.info.security_version < fix.info.security_version)
                .map(|r| product_id(r))
                .filter(|id| !covered.iter().any(|(_, ids)| ids.contains(id)))
                .collect();
            let severity = format!("{:?}", advisory.severity).to_lowercase();
            let mut vulnerability = json!({
                "notes": [{"category": "description", "title": "Description", "text": advisory.summary}],
                "threats": [{"category": "impact", "details": format!("Severity: {severity} (as assessed by {}).", publisher.name)}],
                "product_status": {"fixed": fixed},
            });
            set_id(&mut vulnerability, &advisory.id);
            if let Some(cwe) = &advisory.cwe {
                vulnerability["cwe"] = json!({"id": cwe.id, "name": cwe.name});
            }
            if let Some(cvss) = &advisory.cvss_v3 {
                let scored = if affected.is_empty() { &fixed } else { &affected };
                vulnerability["scores"] = json!([{
                    "products": scored,
                    "cvss_v3": {
                        "version": cvss.version().as_str(),
                        "vectorString": cvss.to_string(),
                        "baseScore": cvss.base_score(),
                        "baseSeverity": cvss.severity().as_csaf(),
                    }
                }]);
            }
            if !affected.is_empty() {
                vulnerability["product_status"]["known_affected"] = json!(affected);
                vulnerability["remediations"] = json!([{
                    "category": "vendor_fix",
                    "details": format!("Update {product} to {} (security version {}) or later; devices with automatic updates install it without action.", fix.info.version, fix.info.security_version),
                    "date": fix.info.released.to_string(),
                    "product_ids": affected,
                }]);
            }
            add_vex(&mut vulnerability, &covered);
            let mut events = vec![(fix.info.released, format!("Published with the signed release {}.", fix.info.version))];
            for (n, _) in &covered {
                events.push((n.at, format!("Signed not-affected statement ({}).", n.justification)));
            }
            events.sort_by_key(|e| e.0);
            let document = json!({
                "document": header(
                    "csaf_security_advisory",
                    format!("{product}: {} ({severity})", advisory.id),
                    format!("{} Fixed in {product} {}.", advisory.summary, fix.info.version),
                    tracking.clone(),
                    events.clone(),
                ),
                "product_tree": product_tree,
                "vulnerabilities": [vulnerability],
            });
            let mut document = document;
            document["document"]["aggregate_severity"] = json!({"text": severity});
            (tracking, year_of(events[0].0), document)
        })
        .collect();
    // vulnerabilities only not-affected statements name: csaf_vex documents
    let mut vex_ids: Vec<&str> = Vec::new();
    for n in not_affected {
        if !ids.iter().any(|(_, a)| a.id == n.cve) && !vex_ids.contains(&n.cve.as_str()) {
            vex_ids.push(&n.cve);
        }
    }
    for id in vex_ids {
        let statements = statements_of(not_affected, id);
        let covered = covered(&statements, &[]);
        if covered.is_empty() {
            // no signed release matches yet: nothing to state
            continue;
        }
        let tracking = tracking_id(product, id);
        let mut vulnerability = json!({
            "notes": [{"category": "description", "title": "Not affected", "text": format!("{product} is not affected by {id}.")}],
            "threats": [],
            "product_status": {},
        });
        set_id(&mut vulnerability, id);
        add_vex(&mut vulnerability, &covered);
        let mut events: Vec<(jiff::Timestamp, String)> = covered
            .iter()
            .map(|(n, _)| {
                (
                    n.at,
                    format!("Signed not-affected statement ({}).", n.justification),
                )
            })
            .collect();
        events.sort_by_key(|e| e.0);
        let summary = covered
            .iter()
            .map(|(n, _)| n.impact_text().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let document = json!({
            "document": header(
                "csaf_vex",
                format!("{product}: {id} (not affected)"),
                format!("{product} is not affected by {id}: {summary}"),
                tracking.clone(),
                events.clone(),
            ),
            "product_tree": product_tree,
            "vulnerabilities": [vulnerability],
        });
        out.push((tracking, year_of(events[0].0), document));
    }
    out
}

/// The statements about vulnerability `id`, oldest first.
fn statements_of<'a>(not_affected: &'a [NotAffected], id: &str) -> Vec<&'a NotAffected> {
    let mut s: Vec<&NotAffected> = not_affected.iter().filter(|n| n.cve == id).collect();
    s.sort_by_key(|n| n.at);
    s
}

fn year_of(t: jiff::Timestamp) -> i16 {
    t.to_zoned(jiff::tz::TimeZone::UTC).year()
}

/// When a provider directory of `documents` last changed: the newest document's
/// `current_release_date`, so the same signed data always gives the same bytes; `None` for
/// no documents.
pub fn last_updated(documents: &[(String, i16, Value)]) -> Option<jiff::Timestamp> {
    documents
        .iter()
        .filter_map(|(_, _, d)| {
            d["document"]["tracking"]["current_release_date"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        })
        .max()
}

/// The files of a CSAF 2.0 provider directory (section 7.1: requirements 8, 11-14, 18) for
/// `documents` of every product, as (path under `.well-known/csaf/`, bytes):
/// `provider-metadata.json`, and under `white/` each document in its year folder with its
/// `.sha256`, `index.txt` and `changes.csv` (newest first). `base_url` is where
/// `.well-known/csaf/` is served (e.g. `https://updates.example`). `last_updated` of the
/// provider metadata is the newest document's date ([`last_updated`]); `now` only when there is
/// no document.
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
        "last_updated": last_updated(documents)
            .unwrap_or_else(|| airlock_core::whole_seconds(now))
            .to_string(),
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
        let docs = documents("acme-cam", &releases, &[], &publisher, "0.1.0");
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

    fn statement(cve: &str, versions: Option<&str>, at: &str) -> NotAffected {
        NotAffected {
            cve: cve.into(),
            justification: airlock_core::vex::Justification::ComponentNotPresent,
            versions: versions.map(Into::into),
            impact: None,
            at: at.parse().unwrap(),
        }
    }

    #[test]
    fn not_affected_statements_and_scores_are_rendered() {
        let mut fix = release(
            "1.2.0",
            3,
            "2026-09-22T12:00:00Z",
            json!([{"id": "CVE-2026-1111", "severity": "critical", "summary": "overflow",
                "cvss_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "cwe": {"id": "CWE-787", "name": "Out-of-bounds Write"}}]),
        );
        fix.info.product = "acme-cam".into();
        let releases = [
            release("1.0.0", 1, "2026-01-01T00:00:00Z", json!([])),
            release("1.1.0", 2, "2026-05-01T00:00:00Z", json!([])),
            fix,
        ];
        let publisher = Publisher {
            name: "Acme".into(),
            namespace: "https://acme.example".into(),
        };
        let statements = [
            // 1.0.0 predates the vulnerable code
            statement("CVE-2026-1111", Some("<1.1.0"), "2026-10-01T00:00:00Z"),
            // a vulnerability no release fixes: its own VEX document
            statement("CVE-2026-2222", None, "2026-10-02T00:00:00Z"),
            // one that covers no signed release: nothing to say
            statement("CVE-2026-3333", Some(">=9.0.0"), "2026-10-03T00:00:00Z"),
        ];
        let docs = documents("acme-cam", &releases, &statements, &publisher, "0.1.0");
        let ids: Vec<&str> = docs.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(ids, ["acme-cam-CVE-2026-1111", "acme-cam-CVE-2026-2222"]);
        let v = &docs[0].2["vulnerabilities"][0];
        assert_eq!(
            v["product_status"]["known_affected"],
            json!(["acme-cam-1.1.0"])
        );
        assert_eq!(
            v["product_status"]["known_not_affected"],
            json!(["acme-cam-1.0.0"])
        );
        assert_eq!(v["product_status"]["fixed"], json!(["acme-cam-1.2.0"]));
        assert_eq!(v["flags"][0]["label"], "component_not_present");
        assert_eq!(
            v["remediations"][0]["product_ids"],
            json!(["acme-cam-1.1.0"])
        );
        assert_eq!(v["scores"][0]["products"], json!(["acme-cam-1.1.0"]));
        assert_eq!(v["scores"][0]["cvss_v3"]["baseScore"], 9.8);
        assert_eq!(v["scores"][0]["cvss_v3"]["baseSeverity"], "CRITICAL");
        assert_eq!(v["cwe"]["id"], "CWE-787");
        let tracking = &docs[0].2["document"]["tracking"];
        assert_eq!(tracking["version"], "2");
        assert_eq!(tracking["initial_release_date"], "2026-09-22T12:00:00Z");
        assert_eq!(tracking["current_release_date"], "2026-10-01T00:00:00Z");
        let vex = &docs[1].2;
        assert_eq!(vex["document"]["category"], "csaf_vex");
        assert_eq!(
            vex["vulnerabilities"][0]["product_status"],
            json!({"known_not_affected": ["acme-cam-1.0.0", "acme-cam-1.1.0", "acme-cam-1.2.0"]})
        );
        assert_eq!(
            vex["vulnerabilities"][0]["threats"][0]["category"],
            "impact"
        );
        // the provider's date is the newest document's, whatever the clock says
        assert_eq!(
            last_updated(&docs).unwrap().to_string(),
            "2026-10-02T00:00:00Z"
        );
    }
}
