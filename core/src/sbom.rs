//! Software bills of materials (SBOMs) published with a release (CRA Annex I Part II(1)).
//!
//! `airlock release add ... --sbom FILE` publishes the SBOM as a TUF target of the product role,
//! `<product>/<image file>.cdx.json` (CycloneDX) or `<product>/<image file>.spdx.json` (SPDX),
//! signed by the product key with the image, and binds the two both ways:
//!
//! - the image target's `custom.sbom` is a [`SbomRef`]: the SBOM target's path, sha256, length
//!   and format;
//! - the SBOM target's `custom` is a [`SbomTargetInfo`]: `sbom_for` (the image's target name),
//!   `format` and `spec_version`.
//!
//! [`validate`] checks an SBOM file (untrusted input: size, JSON depth and every field it reads
//! are bounded) for the structure its format requires: CycloneDX 1.5, 1.6 or 1.7 JSON, or SPDX
//! 2.3 JSON. It is the signer's own check, before signing; the tests run the formats' own
//! validators (cyclonedx-python-lib, spdx-tools) on top of it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use thiserror::Error;

/// The largest SBOM accepted (a firmware SBOM of thousands of components is a few MiB).
pub const MAX_SBOM_BYTES: u64 = 32 * 1024 * 1024;

/// The custom field of an image target that names its SBOM.
pub const IMAGE_FIELD: &str = "sbom";
/// The custom field of an SBOM target that names its image.
pub const SBOM_FOR_FIELD: &str = "sbom_for";

/// CycloneDX spec versions accepted (JSON).
pub const CYCLONEDX_VERSIONS: &[&str] = &["1.5", "1.6", "1.7"];
/// The SPDX version accepted (JSON).
pub const SPDX_VERSION: &str = "SPDX-2.3";

/// An SBOM's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SbomFormat {
    /// CycloneDX JSON (`bomFormat: "CycloneDX"`).
    Cyclonedx,
    /// SPDX JSON (`spdxVersion: "SPDX-2.3"`).
    Spdx,
}

impl SbomFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SbomFormat::Cyclonedx => "cyclonedx",
            SbomFormat::Spdx => "spdx",
        }
    }

    /// The suffix of the SBOM target's file name after the image's file name.
    pub fn suffix(self) -> &'static str {
        match self {
            SbomFormat::Cyclonedx => ".cdx.json",
            SbomFormat::Spdx => ".spdx.json",
        }
    }

    /// The media type to serve the SBOM with.
    pub fn media_type(self) -> &'static str {
        match self {
            SbomFormat::Cyclonedx => "application/vnd.cyclonedx+json",
            SbomFormat::Spdx => "application/spdx+json",
        }
    }
}

impl std::fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `custom.sbom` of an image target: the SBOM target that describes the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SbomRef {
    /// The SBOM's target name, `<product>/<image file>.cdx.json` or `.spdx.json`.
    pub path: String,
    /// Lowercase hex sha256 of the SBOM file.
    pub sha256: String,
    pub length: u64,
    pub format: SbomFormat,
    /// The format's version: `1.5`, `1.6`, `1.7` (CycloneDX) or `SPDX-2.3`.
    pub spec_version: String,
}

/// The `custom` object of an SBOM target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbomTargetInfo {
    /// The image's target name.
    pub sbom_for: String,
    pub format: SbomFormat,
    pub spec_version: String,
}

impl SbomTargetInfo {
    /// The `custom` map to put in the SBOM's TUF target.
    pub fn to_custom(&self) -> HashMap<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map.into_iter().collect(),
            _ => HashMap::new(),
        }
    }
}

/// Whether a target's custom fields mark it as an SBOM target.
pub fn is_sbom_target(custom: &HashMap<String, Value>) -> bool {
    custom.contains_key(SBOM_FOR_FIELD)
}

/// The SBOM target's name for an image target `<product>/<file>`.
pub fn sbom_target_name(image_target: &str, format: SbomFormat) -> String {
    format!("{image_target}{}", format.suffix())
}

/// Reads `custom.sbom` of an image target: `None` when it names no SBOM.
pub fn image_sbom_ref(custom: &HashMap<String, Value>) -> Option<Result<SbomRef, String>> {
    let v = custom.get(IMAGE_FIELD)?;
    Some(serde_json::from_value(v.clone()).map_err(|e| e.to_string()))
}

/// Reads the custom fields of an SBOM target.
pub fn sbom_target_info(custom: &HashMap<String, Value>) -> Result<SbomTargetInfo, String> {
    let object: Map<String, Value> = custom.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    serde_json::from_value(Value::Object(object)).map_err(|e| e.to_string())
}

/// An SBOM that passed [`validate`]: its format and what it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SbomSummary {
    pub format: SbomFormat,
    pub spec_version: String,
    /// Components (CycloneDX, nested ones included) or packages (SPDX).
    pub components: usize,
    /// The described product's name and version, when the SBOM names it
    /// (CycloneDX `metadata.component`, SPDX the package the document DESCRIBES).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// Why a file is not an SBOM airlock accepts. Every message says what to fix.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SbomError {
    #[error("the SBOM is {0} bytes, over the limit of {MAX_SBOM_BYTES} bytes")]
    TooLarge(u64),
    #[error("the SBOM is not JSON ({0}); give a CycloneDX 1.5+ JSON or SPDX 2.3 JSON file (XML, tag-value and YAML SBOMs must be converted to JSON first)")]
    NotJson(String),
    #[error("the SBOM is neither CycloneDX JSON (\"bomFormat\": \"CycloneDX\") nor SPDX JSON (\"spdxVersion\"); give a CycloneDX 1.5+ JSON or SPDX 2.3 JSON file")]
    UnknownFormat,
    #[error("CycloneDX specVersion {0:?} is not accepted: use 1.5, 1.6 or 1.7 (e.g. re-export with cyclonedx-cli convert --output-version v1_6)")]
    CyclonedxVersion(String),
    #[error("SPDX version {0:?} is not accepted: use SPDX-2.3 JSON (e.g. convert with `pyspdxtools -i IN -o OUT.spdx.json`)")]
    SpdxVersion(String),
    #[error("the {format} SBOM is invalid at {at}: {problem}")]
    Invalid {
        format: SbomFormat,
        at: String,
        problem: String,
    },
}

fn invalid(format: SbomFormat, at: impl Into<String>, problem: impl Into<String>) -> SbomError {
    SbomError::Invalid {
        format,
        at: at.into(),
        problem: problem.into(),
    }
}

/// Checks an SBOM file's bytes: CycloneDX 1.5-1.7 JSON or SPDX 2.3 JSON, with the fields and
/// structure the format's schema requires (and, for SPDX, that relationships name elements of
/// the document, as spdx-tools checks).
pub fn validate(bytes: &[u8]) -> Result<SbomSummary, SbomError> {
    if bytes.len() as u64 > MAX_SBOM_BYTES {
        return Err(SbomError::TooLarge(bytes.len() as u64));
    }
    // serde_json stops at a nesting depth of 128: no stack overflow on hostile input.
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| SbomError::NotJson(e.to_string()))?;
    let Value::Object(doc) = doc else {
        return Err(SbomError::UnknownFormat);
    };
    if doc.get("bomFormat").is_some() {
        if doc.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
            return Err(invalid(
                SbomFormat::Cyclonedx,
                "bomFormat",
                "must be the string \"CycloneDX\"",
            ));
        }
        return cyclonedx(&doc);
    }
    if let Some(v) = doc.get("spdxVersion") {
        let v = v.as_str().unwrap_or_default();
        if v != SPDX_VERSION {
            return Err(SbomError::SpdxVersion(v.to_string()));
        }
        return spdx(&doc);
    }
    Err(SbomError::UnknownFormat)
}

/// A short, printable excerpt of an untrusted string for error messages.
fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

fn string_field<'a>(
    format: SbomFormat,
    object: &'a Map<String, Value>,
    at: &str,
    field: &str,
    required: bool,
) -> Result<Option<&'a str>, SbomError> {
    match object.get(field) {
        None if required => Err(invalid(format, at, format!("{field} is missing"))),
        None => Ok(None),
        Some(Value::String(s)) if required && s.trim().is_empty() => {
            Err(invalid(format, at, format!("{field} is empty")))
        }
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format, at, format!("{field} must be a string"))),
    }
}

fn array_field<'a>(
    format: SbomFormat,
    object: &'a Map<String, Value>,
    at: &str,
    field: &str,
) -> Result<&'a [Value], SbomError> {
    match object.get(field) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(invalid(format, at, format!("{field} must be an array"))),
    }
}

fn object_at<'a>(
    format: SbomFormat,
    v: &'a Value,
    at: &str,
) -> Result<&'a Map<String, Value>, SbomError> {
    v.as_object()
        .ok_or_else(|| invalid(format, at, "must be an object"))
}

/// CycloneDX component types (1.5: the first ten; 1.6 adds cryptographic-asset).
const CDX_COMPONENT_TYPES: &[&str] = &[
    "application",
    "framework",
    "library",
    "container",
    "platform",
    "operating-system",
    "device",
    "device-driver",
    "firmware",
    "file",
    "machine-learning-model",
    "data",
    "cryptographic-asset",
];

fn cyclonedx(doc: &Map<String, Value>) -> Result<SbomSummary, SbomError> {
    const F: SbomFormat = SbomFormat::Cyclonedx;
    let spec = match doc.get("specVersion") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(invalid(F, "specVersion", "must be a string")),
        None => return Err(invalid(F, "specVersion", "is missing (e.g. \"1.6\")")),
    };
    if !CYCLONEDX_VERSIONS.contains(&spec) {
        return Err(SbomError::CyclonedxVersion(excerpt(spec)));
    }
    if let Some(v) = doc.get("version") {
        if v.as_u64().is_none_or(|n| n < 1) {
            return Err(invalid(F, "version", "must be an integer of 1 or more"));
        }
    }
    if let Some(serial) = string_field(F, doc, "the document", "serialNumber", false)? {
        if !is_urn_uuid(serial) {
            return Err(invalid(
                F,
                "serialNumber",
                format!(
                    "{:?} is not urn:uuid:<RFC 4122 UUID> (e.g. urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79)",
                    excerpt(serial)
                ),
            ));
        }
    }
    let mut refs: HashSet<String> = HashSet::new();
    let mut count = 0usize;
    let mut subject = None;
    if let Some(metadata) = doc.get("metadata") {
        let metadata = object_at(F, metadata, "metadata")?;
        if let Some(ts) = string_field(F, metadata, "metadata", "timestamp", false)? {
            if ts.parse::<jiff::Timestamp>().is_err() {
                return Err(invalid(
                    F,
                    "metadata.timestamp",
                    format!("{:?} is not an RFC 3339 date-time", excerpt(ts)),
                ));
            }
        }
        if let Some(c) = metadata.get("component") {
            let c = cdx_component(c, "metadata.component", &mut refs, &mut 0, 0)?;
            subject = Some(c);
        }
    }
    for (i, c) in array_field(F, doc, "the document", "components")?
        .iter()
        .enumerate()
    {
        cdx_component(c, &format!("components[{i}]"), &mut refs, &mut count, 0)?;
    }
    for (i, d) in array_field(F, doc, "the document", "dependencies")?
        .iter()
        .enumerate()
    {
        let at = format!("dependencies[{i}]");
        let d = object_at(F, d, &at)?;
        string_field(F, d, &at, "ref", true)?;
        for (j, on) in array_field(F, d, &at, "dependsOn")?.iter().enumerate() {
            if !on.is_string() {
                return Err(invalid(
                    F,
                    format!("{at}.dependsOn[{j}]"),
                    "must be a string",
                ));
            }
        }
    }
    Ok(SbomSummary {
        format: F,
        spec_version: spec.to_string(),
        components: count,
        subject,
    })
}

/// Nested components deeper than this are refused (real SBOMs nest a few levels).
const MAX_NESTING: usize = 32;

/// Checks one component (and its nested components); returns "name version".
fn cdx_component(
    c: &Value,
    at: &str,
    refs: &mut HashSet<String>,
    count: &mut usize,
    depth: usize,
) -> Result<String, SbomError> {
    const F: SbomFormat = SbomFormat::Cyclonedx;
    if depth > MAX_NESTING {
        return Err(invalid(F, at, "components are nested too deeply"));
    }
    let c = object_at(F, c, at)?;
    *count += 1;
    let kind = string_field(F, c, at, "type", true)?.unwrap_or_default();
    if !CDX_COMPONENT_TYPES.contains(&kind) {
        return Err(invalid(
            F,
            format!("{at}.type"),
            format!(
                "{:?} is not a CycloneDX component type ({})",
                excerpt(kind),
                CDX_COMPONENT_TYPES.join(", ")
            ),
        ));
    }
    let name = string_field(F, c, at, "name", true)?.unwrap_or_default();
    let version = string_field(F, c, at, "version", false)?;
    if let Some(r) = string_field(F, c, at, "bom-ref", false)? {
        if !refs.insert(r.to_string()) {
            return Err(invalid(
                F,
                format!("{at}.bom-ref"),
                format!(
                    "{:?} is used twice: each bom-ref must be unique",
                    excerpt(r)
                ),
            ));
        }
    }
    if let Some(purl) = string_field(F, c, at, "purl", false)? {
        if !purl.starts_with("pkg:") {
            return Err(invalid(
                F,
                format!("{at}.purl"),
                format!(
                    "{:?} is not a package URL (pkg:type/name@version)",
                    excerpt(purl)
                ),
            ));
        }
    }
    for (i, h) in array_field(F, c, at, "hashes")?.iter().enumerate() {
        let hat = format!("{at}.hashes[{i}]");
        let h = object_at(F, h, &hat)?;
        string_field(F, h, &hat, "alg", true)?;
        let content = string_field(F, h, &hat, "content", true)?.unwrap_or_default();
        if !content.bytes().all(|b| b.is_ascii_hexdigit()) || content.len() < 32 {
            return Err(invalid(F, format!("{hat}.content"), "must be a hex digest"));
        }
    }
    for (i, nested) in array_field(F, c, at, "components")?.iter().enumerate() {
        cdx_component(
            nested,
            &format!("{at}.components[{i}]"),
            refs,
            count,
            depth + 1,
        )?;
    }
    Ok(match version {
        Some(v) => format!("{name} {v}"),
        None => name.to_string(),
    })
}

/// `urn:uuid:` and an RFC 4122 UUID (8-4-4-4-12 hex digits), as CycloneDX's schema requires.
fn is_urn_uuid(s: &str) -> bool {
    let Some(uuid) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: Vec<&str> = uuid.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An SPDX element id: `SPDXRef-` and letters, digits, `.` and `-`.
fn is_spdx_id(s: &str) -> bool {
    s.strip_prefix("SPDXRef-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    })
}

fn spdx(doc: &Map<String, Value>) -> Result<SbomSummary, SbomError> {
    const F: SbomFormat = SbomFormat::Spdx;
    let top = "the document";
    if string_field(F, doc, top, "dataLicense", true)? != Some("CC0-1.0") {
        return Err(invalid(F, "dataLicense", "must be \"CC0-1.0\""));
    }
    if string_field(F, doc, top, "SPDXID", true)? != Some("SPDXRef-DOCUMENT") {
        return Err(invalid(F, "SPDXID", "must be \"SPDXRef-DOCUMENT\""));
    }
    string_field(F, doc, top, "name", true)?;
    let namespace = string_field(F, doc, top, "documentNamespace", true)?.unwrap_or_default();
    if !namespace.contains("://") || namespace.contains('#') {
        return Err(invalid(
            F,
            "documentNamespace",
            format!(
                "{:?} must be a unique absolute URI without '#' (e.g. https://example.com/spdx/acme-cam-1.2.0-<uuid>)",
                excerpt(namespace)
            ),
        ));
    }
    let creation = doc
        .get("creationInfo")
        .ok_or_else(|| invalid(F, "creationInfo", "is missing"))?;
    let creation = object_at(F, creation, "creationInfo")?;
    let created = string_field(F, creation, "creationInfo", "created", true)?.unwrap_or_default();
    if created.parse::<jiff::Timestamp>().is_err() {
        return Err(invalid(
            F,
            "creationInfo.created",
            format!(
                "{:?} is not a date-time (YYYY-MM-DDThh:mm:ssZ)",
                excerpt(created)
            ),
        ));
    }
    let creators = array_field(F, creation, "creationInfo", "creators")?;
    if creators.is_empty() {
        return Err(invalid(
            F,
            "creationInfo.creators",
            "must name at least one creator (e.g. \"Tool: syft-1.0\" or \"Organization: Acme\")",
        ));
    }
    for (i, c) in creators.iter().enumerate() {
        let ok = c.as_str().is_some_and(|c| {
            ["Tool:", "Organization:", "Person:"]
                .iter()
                .any(|p| c.starts_with(p))
        });
        if !ok {
            return Err(invalid(
                F,
                format!("creationInfo.creators[{i}]"),
                "must start with \"Tool:\", \"Organization:\" or \"Person:\"",
            ));
        }
    }
    let mut ids: HashSet<&str> = HashSet::new();
    ids.insert("SPDXRef-DOCUMENT");
    let mut names: HashMap<&str, String> = HashMap::new();
    let packages = array_field(F, doc, top, "packages")?;
    for (i, p) in packages.iter().enumerate() {
        let at = format!("packages[{i}]");
        let p = object_at(F, p, &at)?;
        let id = string_field(F, p, &at, "SPDXID", true)?.unwrap_or_default();
        if !is_spdx_id(id) {
            return Err(invalid(
                F,
                format!("{at}.SPDXID"),
                format!(
                    "{:?} is not SPDXRef-<letters, digits, '.', '-'>",
                    excerpt(id)
                ),
            ));
        }
        if !ids.insert(id) {
            return Err(invalid(
                F,
                format!("{at}.SPDXID"),
                format!("{:?} is used twice", excerpt(id)),
            ));
        }
        let name = string_field(F, p, &at, "name", true)?.unwrap_or_default();
        string_field(F, p, &at, "downloadLocation", true)?;
        let version = string_field(F, p, &at, "versionInfo", false)?;
        names.insert(
            id,
            match version {
                Some(v) => format!("{name} {v}"),
                None => name.to_string(),
            },
        );
        for (j, c) in array_field(F, p, &at, "checksums")?.iter().enumerate() {
            let cat = format!("{at}.checksums[{j}]");
            let c = object_at(F, c, &cat)?;
            string_field(F, c, &cat, "algorithm", true)?;
            let value = string_field(F, c, &cat, "checksumValue", true)?.unwrap_or_default();
            if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    F,
                    format!("{cat}.checksumValue"),
                    "must be a hex digest",
                ));
            }
        }
    }
    for (kind, field) in [("files", "fileName"), ("snippets", "name")] {
        for (i, f) in array_field(F, doc, top, kind)?.iter().enumerate() {
            let at = format!("{kind}[{i}]");
            let f = object_at(F, f, &at)?;
            let id = string_field(F, f, &at, "SPDXID", true)?.unwrap_or_default();
            if !is_spdx_id(id) || !ids.insert(id) {
                return Err(invalid(
                    F,
                    format!("{at}.SPDXID"),
                    format!("{:?} is not a new SPDXRef-... id", excerpt(id)),
                ));
            }
            string_field(F, f, &at, field, true)?;
        }
    }
    // An element a relationship names must be in the document (or another document, or NONE /
    // NOASSERTION); the document must DESCRIBE something (SPDX 2.3 6.1 / 11.1).
    let known = |id: &str| {
        ids.contains(id) || id.starts_with("DocumentRef-") || id == "NONE" || id == "NOASSERTION"
    };
    let mut described: Vec<&str> = Vec::new();
    for (i, d) in array_field(F, doc, top, "documentDescribes")?
        .iter()
        .enumerate()
    {
        let id = d.as_str().unwrap_or_default();
        if !ids.contains(id) {
            return Err(invalid(
                F,
                format!("documentDescribes[{i}]"),
                format!("{:?} is not an element of the document", excerpt(id)),
            ));
        }
        described.push(id);
    }
    for (i, r) in array_field(F, doc, top, "relationships")?
        .iter()
        .enumerate()
    {
        let at = format!("relationships[{i}]");
        let r = object_at(F, r, &at)?;
        let from = string_field(F, r, &at, "spdxElementId", true)?.unwrap_or_default();
        let kind = string_field(F, r, &at, "relationshipType", true)?.unwrap_or_default();
        let to = string_field(F, r, &at, "relatedSpdxElement", true)?.unwrap_or_default();
        if !kind.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            return Err(invalid(
                F,
                format!("{at}.relationshipType"),
                format!(
                    "{:?} is not an SPDX relationship type (e.g. DESCRIBES, CONTAINS, DEPENDS_ON)",
                    excerpt(kind)
                ),
            ));
        }
        for id in [from, to] {
            if !known(id) {
                return Err(invalid(
                    F,
                    &at,
                    format!("{:?} is not an element of the document", excerpt(id)),
                ));
            }
        }
        if from == "SPDXRef-DOCUMENT" && kind == "DESCRIBES" {
            described.push(to);
        }
        if to == "SPDXRef-DOCUMENT" && kind == "DESCRIBED_BY" {
            described.push(from);
        }
    }
    if described.is_empty() {
        return Err(invalid(
            F,
            "relationships",
            "the document describes nothing: add {\"spdxElementId\": \"SPDXRef-DOCUMENT\", \"relationshipType\": \"DESCRIBES\", \"relatedSpdxElement\": <the firmware package's SPDXID>}",
        ));
    }
    Ok(SbomSummary {
        format: F,
        spec_version: SPDX_VERSION.to_string(),
        components: packages.len(),
        subject: described.first().and_then(|id| names.get(id).cloned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    pub(crate) fn cdx() -> Value {
        json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
            "version": 1,
            "metadata": {
                "timestamp": "2026-01-01T00:00:00Z",
                "component": {"type": "firmware", "name": "acme-cam", "version": "1.2.0", "bom-ref": "fw"}
            },
            "components": [
                {"type": "library", "name": "openssl", "version": "3.0.13", "bom-ref": "openssl",
                 "purl": "pkg:generic/openssl@3.0.13",
                 "hashes": [{"alg": "SHA-256", "content": "ab".repeat(32)}]},
                {"type": "operating-system", "name": "linux", "version": "6.6.1", "bom-ref": "linux",
                 "components": [{"type": "library", "name": "busybox", "version": "1.36.1"}]}
            ],
            "dependencies": [{"ref": "fw", "dependsOn": ["openssl", "linux"]}]
        })
    }

    pub(crate) fn spdx_doc() -> Value {
        json!({
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "acme-cam-1.2.0",
            "documentNamespace": "https://example.com/spdx/acme-cam-1.2.0",
            "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: airlock-test"]},
            "packages": [
                {"SPDXID": "SPDXRef-fw", "name": "acme-cam", "versionInfo": "1.2.0",
                 "downloadLocation": "NOASSERTION"},
                {"SPDXID": "SPDXRef-openssl", "name": "openssl", "versionInfo": "3.0.13",
                 "downloadLocation": "NOASSERTION",
                 "checksums": [{"algorithm": "SHA256", "checksumValue": "ab".repeat(32)}]}
            ],
            "relationships": [
                {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-fw"},
                {"spdxElementId": "SPDXRef-fw", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-openssl"}
            ]
        })
    }

    /// A change that makes a valid SBOM invalid at one place.
    type Change = Box<dyn Fn(&mut Value)>;

    fn check(v: &Value) -> Result<SbomSummary, SbomError> {
        validate(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn a_cyclonedx_sbom_is_read() {
        let s = check(&cdx()).unwrap();
        assert_eq!(s.format, SbomFormat::Cyclonedx);
        assert_eq!(s.spec_version, "1.5");
        assert_eq!(s.components, 3, "nested components count");
        assert_eq!(s.subject.as_deref(), Some("acme-cam 1.2.0"));
        for v in ["1.6", "1.7"] {
            let mut d = cdx();
            d["specVersion"] = json!(v);
            assert_eq!(check(&d).unwrap().spec_version, v);
        }
    }

    #[test]
    fn an_spdx_sbom_is_read() {
        let s = check(&spdx_doc()).unwrap();
        assert_eq!(s.format, SbomFormat::Spdx);
        assert_eq!(s.components, 2);
        assert_eq!(s.subject.as_deref(), Some("acme-cam 1.2.0"));
        let mut d = spdx_doc();
        d["relationships"] = json!([]);
        d["documentDescribes"] = json!(["SPDXRef-fw"]);
        assert_eq!(
            check(&d).unwrap().subject.as_deref(),
            Some("acme-cam 1.2.0")
        );
    }

    #[test]
    fn older_or_unknown_formats_are_refused_naming_the_fix() {
        let mut d = cdx();
        d["specVersion"] = json!("1.4");
        let e = check(&d).unwrap_err();
        assert_eq!(e, SbomError::CyclonedxVersion("1.4".into()));
        assert!(e.to_string().contains("use 1.5, 1.6 or 1.7"), "{e}");
        let mut d = spdx_doc();
        d["spdxVersion"] = json!("SPDX-2.2");
        assert_eq!(
            check(&d).unwrap_err(),
            SbomError::SpdxVersion("SPDX-2.2".into())
        );
        assert_eq!(
            check(&json!({"a": 1})).unwrap_err(),
            SbomError::UnknownFormat
        );
        assert_eq!(check(&json!([1])).unwrap_err(), SbomError::UnknownFormat);
        assert!(matches!(validate(b"<bom/>"), Err(SbomError::NotJson(_))));
        assert!(matches!(validate(b""), Err(SbomError::NotJson(_))));
        let mut d = cdx();
        d["bomFormat"] = json!("cyclonedx");
        assert!(matches!(check(&d), Err(SbomError::Invalid { .. })));
    }

    #[test]
    fn cyclonedx_structure_is_checked() {
        let cases: Vec<(&str, Change)> = vec![
            ("specVersion", Box::new(|d| d["specVersion"] = json!(1.5))),
            ("version", Box::new(|d| d["version"] = json!(0))),
            (
                "serialNumber",
                Box::new(|d| d["serialNumber"] = json!("1234")),
            ),
            (
                "metadata.timestamp",
                Box::new(|d| d["metadata"]["timestamp"] = json!("yesterday")),
            ),
            (
                "components[0].type",
                Box::new(|d| d["components"][0]["type"] = json!("gadget")),
            ),
            (
                "components[0]",
                Box::new(|d| {
                    d["components"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("name")
                        .map(drop)
                        .unwrap()
                }),
            ),
            (
                "components[1].bom-ref",
                Box::new(|d| d["components"][1]["bom-ref"] = json!("openssl")),
            ),
            (
                "components[0].purl",
                Box::new(|d| d["components"][0]["purl"] = json!("openssl")),
            ),
            (
                "components[0].hashes[0].content",
                Box::new(|d| d["components"][0]["hashes"][0]["content"] = json!("xyz")),
            ),
            (
                "components[1].components[0]",
                Box::new(|d| d["components"][1]["components"][0] = json!("busybox")),
            ),
            (
                "dependencies[0]",
                Box::new(|d| d["dependencies"][0] = json!({"dependsOn": []})),
            ),
            ("the document", Box::new(|d| d["components"] = json!({}))),
        ];
        for (at, change) in cases {
            let mut d = cdx();
            change(&mut d);
            match check(&d) {
                Err(SbomError::Invalid {
                    at: got, format, ..
                }) => {
                    assert_eq!(format, SbomFormat::Cyclonedx);
                    assert_eq!(got, at)
                }
                other => panic!("{at}: {other:?}"),
            }
        }
    }

    #[test]
    fn spdx_structure_is_checked() {
        let cases: Vec<(&str, Change)> = vec![
            ("dataLicense", Box::new(|d| d["dataLicense"] = json!("MIT"))),
            ("SPDXID", Box::new(|d| d["SPDXID"] = json!("SPDXRef-X"))),
            ("the document", Box::new(|d| d["name"] = json!(""))),
            (
                "documentNamespace",
                Box::new(|d| d["documentNamespace"] = json!("acme")),
            ),
            (
                "creationInfo",
                Box::new(|d| {
                    d.as_object_mut()
                        .unwrap()
                        .remove("creationInfo")
                        .map(drop)
                        .unwrap()
                }),
            ),
            (
                "creationInfo.created",
                Box::new(|d| d["creationInfo"]["created"] = json!("2026")),
            ),
            (
                "creationInfo.creators",
                Box::new(|d| d["creationInfo"]["creators"] = json!([])),
            ),
            (
                "creationInfo.creators[0]",
                Box::new(|d| d["creationInfo"]["creators"] = json!(["me"])),
            ),
            (
                "packages[1].SPDXID",
                Box::new(|d| d["packages"][1]["SPDXID"] = json!("SPDXRef-fw")),
            ),
            (
                "packages[0].SPDXID",
                Box::new(|d| d["packages"][0]["SPDXID"] = json!("fw")),
            ),
            (
                "packages[0]",
                Box::new(|d| {
                    d["packages"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("downloadLocation")
                        .map(drop)
                        .unwrap()
                }),
            ),
            (
                "packages[1].checksums[0].checksumValue",
                Box::new(|d| d["packages"][1]["checksums"][0]["checksumValue"] = json!("zz")),
            ),
            (
                "relationships[1]",
                Box::new(|d| {
                    d["relationships"][1]["relatedSpdxElement"] = json!("SPDXRef-nothing")
                }),
            ),
            (
                "relationships[1].relationshipType",
                Box::new(|d| d["relationships"][1]["relationshipType"] = json!("contains")),
            ),
            (
                "relationships",
                Box::new(|d| d["relationships"] = json!([])),
            ),
            (
                "documentDescribes[0]",
                Box::new(|d| d["documentDescribes"] = json!(["SPDXRef-x"])),
            ),
        ];
        for (at, change) in cases {
            let mut d = spdx_doc();
            change(&mut d);
            match check(&d) {
                Err(SbomError::Invalid {
                    at: got, format, ..
                }) => {
                    assert_eq!(format, SbomFormat::Spdx);
                    assert_eq!(got, at)
                }
                other => panic!("{at}: {other:?}"),
            }
        }
    }

    #[test]
    fn deep_or_huge_input_is_refused_without_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            validate(deep.as_bytes()),
            Err(SbomError::NotJson(_))
        ));
        let mut c = json!({"type": "library", "name": "x"});
        for _ in 0..40 {
            c = json!({"type": "library", "name": "x", "components": [c]});
        }
        let mut d = cdx();
        d["components"] = json!([c]);
        assert!(matches!(check(&d), Err(SbomError::Invalid { .. })));
        let big = vec![b' '; MAX_SBOM_BYTES as usize + 1];
        assert_eq!(
            validate(&big).unwrap_err(),
            SbomError::TooLarge(MAX_SBOM_BYTES + 1)
        );
    }

    #[test]
    fn refs_and_target_fields_round_trip() {
        let r = SbomRef {
            path: "acme-cam/fw.bin.cdx.json".into(),
            sha256: "00".repeat(32),
            length: 7,
            format: SbomFormat::Cyclonedx,
            spec_version: "1.5".into(),
        };
        let mut custom = HashMap::new();
        custom.insert(IMAGE_FIELD.to_string(), serde_json::to_value(&r).unwrap());
        assert_eq!(image_sbom_ref(&custom), Some(Ok(r)));
        assert!(image_sbom_ref(&HashMap::new()).is_none());
        let info = SbomTargetInfo {
            sbom_for: "acme-cam/fw.bin".into(),
            format: SbomFormat::Spdx,
            spec_version: SPDX_VERSION.into(),
        };
        let custom = info.to_custom();
        assert!(is_sbom_target(&custom));
        assert_eq!(sbom_target_info(&custom), Ok(info));
        assert_eq!(
            sbom_target_name("acme-cam/fw.bin", SbomFormat::Spdx),
            "acme-cam/fw.bin.spdx.json"
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-zA-Z0-9:.@/ -]{0,12}".prop_map(Value::String),
            prop::sample::select(vec![
                "CycloneDX",
                "1.5",
                "SPDX-2.3",
                "library",
                "SPDXRef-DOCUMENT",
                "CC0-1.0",
                "DESCRIBES"
            ])
            .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "bomFormat",
                        "specVersion",
                        "components",
                        "type",
                        "name",
                        "bom-ref",
                        "spdxVersion",
                        "SPDXID",
                        "packages",
                        "relationships",
                        "metadata",
                        "creationInfo",
                        "x"
                    ])
                    .prop_map(String::from),
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any bytes: an answer, never a panic.
        #[test]
        fn any_bytes_get_an_answer(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = validate(&bytes);
        }

        /// Any JSON shaped like an SBOM: an answer, never a panic; what passes is the format
        /// it claims.
        #[test]
        fn any_json_gets_an_answer(v in json_value()) {
            if let Ok(s) = check(&v) {
                let claims_cdx = v.get("bomFormat").is_some();
                prop_assert_eq!(s.format == SbomFormat::Cyclonedx, claims_cdx);
            }
        }

        /// Removing any one required field from a valid SBOM is refused.
        #[test]
        fn a_missing_required_field_is_refused(
            field in prop::sample::select(vec!["bomFormat", "specVersion"]),
            spdx_field in prop::sample::select(vec![
                "spdxVersion", "dataLicense", "SPDXID", "name", "documentNamespace", "creationInfo"
            ]),
        ) {
            let mut d = cdx();
            d.as_object_mut().unwrap().remove(field);
            prop_assert!(check(&d).is_err());
            let mut d = spdx_doc();
            d.as_object_mut().unwrap().remove(spdx_field);
            prop_assert!(check(&d).is_err());
        }

        /// Valid SBOMs with any number of components stay valid and are counted.
        #[test]
        fn components_are_counted(names in prop::collection::vec("[a-z][a-z0-9-]{0,10}", 0..20)) {
            let mut d = cdx();
            d["components"] = Value::Array(
                names.iter().map(|n| json!({"type": "library", "name": n})).collect(),
            );
            prop_assert_eq!(check(&d).unwrap().components, names.len());
        }
    }
}
