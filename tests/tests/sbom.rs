//! SBOM per release (CRA Annex I Part II(1)): `airlock release add ... --sbom FILE` with a
//! CycloneDX and an SPDX SBOM; the SBOM target signed with and bound to its image; published,
//! served at /v1/products/{p}/releases/{v}/sbom and through TUF; validated with the formats' own
//! validators from PyPI (cyclonedx-python-lib, spdx-tools: tests/interop/sbom_validate.py, in
//! .venv made by scripts/test, or AIRLOCK_PYTHON); fetched and checked by `airlock verify` and
//! by the device library (`airlock-sim device --sbom`); a tampered SBOM refused; an invalid SBOM
//! refused at release add; withdrawn with its release; listed in the compliance report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_e2e::*;

fn cyclonedx() -> serde_json::Value {
    serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        "version": 1,
        "metadata": {
            "timestamp": "2026-11-01T00:00:00Z",
            "component": {"type": "firmware", "name": "acme-cam", "version": "1.3.0", "bom-ref": "fw"}
        },
        "components": [
            {"type": "library", "name": "openssl", "version": "3.0.13", "bom-ref": "openssl",
             "purl": "pkg:generic/openssl@3.0.13",
             "hashes": [{"alg": "SHA-256", "content": "ab".repeat(32)}]},
            {"type": "operating-system", "name": "linux", "version": "6.6.1", "bom-ref": "linux",
             "components": [{"type": "library", "name": "busybox", "version": "1.36.1", "bom-ref": "busybox"}]}
        ],
        "dependencies": [
            {"ref": "fw", "dependsOn": ["openssl", "linux"]},
            {"ref": "linux", "dependsOn": ["busybox"]}
        ]
    })
}

fn spdx() -> serde_json::Value {
    serde_json::json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "acme-cam-1.4.0",
        "documentNamespace": "https://acme.example/spdx/acme-cam-1.4.0-5b3ad1f0",
        "creationInfo": {"created": "2026-11-01T00:00:00Z", "creators": ["Tool: acme-build-1.0", "Organization: Acme"]},
        "packages": [
            {"SPDXID": "SPDXRef-fw", "name": "acme-cam", "versionInfo": "1.4.0",
             "downloadLocation": "NOASSERTION", "filesAnalyzed": false},
            {"SPDXID": "SPDXRef-openssl", "name": "openssl", "versionInfo": "3.0.14",
             "downloadLocation": "https://www.openssl.org/source/openssl-3.0.14.tar.gz",
             "filesAnalyzed": false,
             "checksums": [{"algorithm": "SHA256", "checksumValue": "cd".repeat(32)}]}
        ],
        "relationships": [
            {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-fw"},
            {"spdxElementId": "SPDXRef-fw", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-openssl"}
        ]
    })
}

fn write_json(path: &Path, v: &serde_json::Value) -> Vec<u8> {
    let bytes = serde_json::to_vec_pretty(v).unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

fn release_add(dir: &Path, version: &str, sv: &str, kind: &str, sbom: Option<&str>) -> Output2 {
    let file = format!("fw-{version}.bin");
    std::fs::write(dir.join(&file), firmware(sv.parse().unwrap(), 4000)).unwrap();
    let mut args = vec![
        "--json",
        "release",
        "add",
        "repo",
        "acme-cam",
        &file,
        "--version",
        version,
        "--security-version",
        sv,
        "--kind",
        kind,
    ];
    if let Some(s) = sbom {
        args.extend(["--sbom", s]);
    }
    let out = run(dir, "airlock", &args);
    Output2 {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Output2 {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn role(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("repo/metadata/acme-cam.json")).unwrap())
        .unwrap()
}

/// A Python that has the SBOM validators (`None` after a loud skip, or a failure under CI).
fn python_with_validators(test: &str) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var("AIRLOCK_PYTHON")
        .ok()
        .map(PathBuf::from)
        .into_iter()
        .chain([workspace_root().join(".venv/bin/python")])
        .collect();
    let found = candidates.into_iter().find(|py| {
        Command::new(py)
            .args([
                "-c",
                "import cyclonedx.validation.json, spdx_tools.spdx.validation",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        skip(
            test,
            "no Python with cyclonedx-python-lib and spdx-tools (run scripts/test, or set AIRLOCK_PYTHON)",
        );
    }
    found
}

/// tests/interop/sbom_validate.py: the format's own validator on `file`.
fn validate_with_pypi(py: &Path, format: &str, file: &Path) -> serde_json::Value {
    let out = Command::new(py)
        .arg(workspace_root().join("tests/interop/sbom_validate.py"))
        .arg(format)
        .arg(file)
        .output()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sbom_validate.py: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.success(), answer["valid"] == true, "{answer}");
    answer
}

#[test]
fn sboms_are_signed_bound_served_verified_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let cdx = write_json(&dir.join("acme-cam-1.3.0.cdx.json"), &cyclonedx());
    let spdx_bytes = write_json(&dir.join("acme-cam-1.4.0.spdx.json"), &spdx());

    // an invalid SBOM is refused before anything is signed: exit 4, a JSON error naming the fix
    let mut old = cyclonedx();
    old["specVersion"] = "1.4".into();
    write_json(&dir.join("old.cdx.json"), &old);
    let role_before = role(dir);
    let out = release_add(dir, "1.3.0", "4", "feature", Some("old.cdx.json"));
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    let err: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(err["error"], "refused");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("old.cdx.json") && message.contains("use 1.5, 1.6 or 1.7"),
        "{message}"
    );
    // not JSON at all
    std::fs::write(
        dir.join("sbom.xml"),
        "<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"/>",
    )
    .unwrap();
    let out = release_add(dir, "1.3.0", "4", "feature", Some("sbom.xml"));
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stderr.contains("converted to JSON"), "{}", out.stderr);
    // an SPDX document whose relationship names nothing in it
    let mut dangling = spdx();
    dangling["relationships"][1]["relatedSpdxElement"] = "SPDXRef-zlib".into();
    write_json(&dir.join("dangling.spdx.json"), &dangling);
    let out = release_add(dir, "1.3.0", "4", "feature", Some("dangling.spdx.json"));
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stderr.contains("relationships[1]"), "{}", out.stderr);
    // a missing file: not found (5)
    let out = release_add(dir, "1.3.0", "4", "feature", Some("nothing.json"));
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert_eq!(role(dir), role_before, "nothing was signed");
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("repo/targets/acme-cam"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".cdx.json") || n.contains(".spdx.json") || n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // a CycloneDX SBOM with a feature release, an SPDX one with a security release
    let out = release_add(
        dir,
        "1.3.0",
        "4",
        "feature",
        Some("acme-cam-1.3.0.cdx.json"),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["sbom"]["path"], "acme-cam/fw-1.3.0.bin.cdx.json");
    assert_eq!(report["sbom"]["format"], "cyclonedx");
    assert_eq!(report["sbom"]["spec_version"], "1.6");
    assert_eq!(report["sbom"]["components"], 3);
    assert_eq!(report["sbom"]["sha256"], sha256_hex(&cdx).as_str());
    let out = release_add(
        dir,
        "1.4.0",
        "5",
        "security",
        Some("acme-cam-1.4.0.spdx.json"),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["sbom"]["path"], "acme-cam/fw-1.4.0.bin.spdx.json");
    assert_eq!(report["sbom"]["spec_version"], "SPDX-2.3");

    // bound both ways in the signed role
    let signed = role(dir)["signed"].clone();
    let image = &signed["targets"]["acme-cam/fw-1.3.0.bin"];
    assert_eq!(
        image["custom"]["sbom"],
        serde_json::json!({
            "path": "acme-cam/fw-1.3.0.bin.cdx.json",
            "sha256": sha256_hex(&cdx),
            "length": cdx.len(),
            "format": "cyclonedx",
            "spec_version": "1.6",
        })
    );
    let sbom_target = &signed["targets"]["acme-cam/fw-1.3.0.bin.cdx.json"];
    assert_eq!(sbom_target["length"], cdx.len());
    assert_eq!(sbom_target["hashes"]["sha256"], sha256_hex(&cdx).as_str());
    assert_eq!(sbom_target["custom"]["sbom_for"], "acme-cam/fw-1.3.0.bin");
    assert!(signed["targets"]["acme-cam/fw-1.2.0.bin"]["custom"]
        .get("sbom")
        .is_none());
    let verified = ok(dir, "airlock", &["--json", "verify", "repo"]);
    let verified: serde_json::Value = serde_json::from_str(&verified).unwrap();
    let cam = verified["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == "acme-cam")
        .unwrap()
        .clone();
    assert_eq!(cam["sboms"], 2, "{verified}");

    // published and served: the convenience route and the TUF target hold the same bytes
    let server = Server::start(dir);
    publish(dir, &server);
    let resp = server.get("/v1/products/acme-cam/releases/1.3.0/sbom");
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(
        headers["content-type"].to_str().unwrap(),
        "application/vnd.cyclonedx+json"
    );
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&cdx)));
    assert_eq!(
        headers["x-tuf-target"].to_str().unwrap(),
        "acme-cam/fw-1.3.0.bin.cdx.json"
    );
    assert_eq!(resp.bytes().unwrap().as_ref(), cdx.as_slice());
    let not_modified = reqwest::blocking::Client::new()
        .get(format!(
            "{}/v1/products/acme-cam/releases/1.3.0/sbom",
            server.url
        ))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    let tuf = server
        .get(&target_url(&server, "acme-cam/fw-1.3.0.bin.cdx.json", &cdx).replace(&server.url, ""));
    assert_eq!(tuf.status(), 200);
    assert_eq!(tuf.bytes().unwrap().as_ref(), cdx.as_slice());
    let resp = server.get("/v1/products/acme-cam/releases/1.4.0/sbom");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/spdx+json"
    );
    let served_spdx = resp.bytes().unwrap().to_vec();
    assert_eq!(served_spdx, spdx_bytes);
    for (path, status, code) in [
        ("/v1/products/acme-cam/releases/1.2.0/sbom", 404, "no_sbom"),
        (
            "/v1/products/acme-cam/releases/9.9.9/sbom",
            404,
            "unknown_release",
        ),
        (
            "/v1/products/acme-cam/releases/latest/sbom",
            404,
            "unknown_release",
        ),
        (
            "/v1/products/nope/releases/1.3.0/sbom",
            404,
            "unknown_product",
        ),
    ] {
        let resp = server.get(path);
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let body: serde_json::Value = resp.json().unwrap();
        assert_eq!(body["error"], code, "{path}: {body}");
    }

    // the formats' own validators accept what the server serves
    std::fs::write(dir.join("served.cdx.json"), &cdx).unwrap();
    std::fs::write(dir.join("served.spdx.json"), &served_spdx).unwrap();
    if let Some(py) = python_with_validators("sboms_are_signed_bound_served_verified_and_reported")
    {
        let v = validate_with_pypi(&py, "cyclonedx", &dir.join("served.cdx.json"));
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(
            v["components"], 4,
            "the firmware and its three components: {v}"
        );
        let v = validate_with_pypi(&py, "spdx", &dir.join("served.spdx.json"));
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["components"], 2, "{v}");
        // and refuse what airlock refuses (the checks agree on these)
        let v = validate_with_pypi(&py, "spdx", &dir.join("dangling.spdx.json"));
        assert_eq!(v["valid"], false, "{v}");
        let mut bad_type = cyclonedx();
        bad_type["components"][0]["type"] = "gadget".into();
        write_json(&dir.join("bad-type.cdx.json"), &bad_type);
        let v = validate_with_pypi(&py, "cyclonedx", &dir.join("bad-type.cdx.json"));
        assert_eq!(v["valid"], false, "{v}");
        let out = release_add(dir, "1.5.0", "6", "security", Some("bad-type.cdx.json"));
        assert_eq!(out.code, Some(4), "{}", out.stderr);
    }

    // `airlock verify` of the server fetches each SBOM through TUF and checks it
    let verified = ok(
        dir,
        "airlock",
        &[
            "--json",
            "verify",
            &server.url,
            "--trusted-root",
            "repo/metadata/1.root.json",
        ],
    );
    let verified: serde_json::Value = serde_json::from_str(&verified).unwrap();
    assert_eq!(verified["problems"], serde_json::json!([]), "{verified}");

    // the device library fetches it through TUF (airlock-sim device --sbom)
    let sim = ok(
        dir,
        "airlock-sim",
        &[
            "--json",
            "device",
            "--server",
            &server.url,
            "--trusted-root",
            "repo/metadata/1.root.json",
            "--state",
            "dev1",
            "--id",
            "cam-1",
            "--product",
            "acme-cam",
            "--version",
            "1.2.0",
            "--security-version",
            "3",
            "--sbom",
            "1.4.0",
            "--sbom-out",
            "device.spdx.json",
        ],
    );
    let sim: serde_json::Value = serde_json::from_str(&sim).unwrap();
    assert_eq!(sim["target"], "acme-cam/fw-1.4.0.bin.spdx.json", "{sim}");
    assert_eq!(sim["format"], "spdx");
    assert_eq!(sim["subject"], "acme-cam 1.4.0");
    assert_eq!(
        std::fs::read(dir.join("device.spdx.json")).unwrap(),
        spdx_bytes
    );
    let out = run(
        dir,
        "airlock-sim",
        &[
            "--json",
            "device",
            "--server",
            &server.url,
            "--trusted-root",
            "repo/metadata/1.root.json",
            "--state",
            "dev1",
            "--id",
            "cam-1",
            "--product",
            "acme-cam",
            "--version",
            "1.2.0",
            "--security-version",
            "3",
            "--sbom",
            "1.2.0",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("without an SBOM"));

    // the compliance report lists each release's SBOM; 1.2.0 has none: a CRA Part II(1) gap
    let report = ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--format",
            "json",
            "--jurisdiction",
            "eu",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let ledger = report["ledger"].as_array().unwrap();
    let sbom_of = |v: &str| {
        ledger
            .iter()
            .find(|l| l["version"] == v)
            .unwrap_or_else(|| panic!("{v} in {ledger:?}"))["sbom"]
            .clone()
    };
    assert_eq!(sbom_of("1.2.0"), serde_json::Value::Null);
    assert_eq!(sbom_of("1.3.0")["path"], "acme-cam/fw-1.3.0.bin.cdx.json");
    assert_eq!(sbom_of("1.3.0")["sha256"], sha256_hex(&cdx).as_str());
    assert_eq!(sbom_of("1.4.0")["format"], "spdx");
    let eu = report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["jurisdiction"] == "eu")
        .unwrap();
    let gap = eu["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .find(|m| m.starts_with("CRA (EU) 2024/2847 Annex I Part II(1)"))
        .unwrap_or_else(|| panic!("no SBOM gap in {eu}"));
    assert!(
        gap.contains("1 of 3 release(s) have no SBOM: 1.2.0"),
        "{gap}"
    );
    let md = ok(
        dir,
        "airlock",
        &["compliance", "report", "acme-cam", "--repo", "repo"],
    );
    assert!(md.contains("Software bills of materials"), "{md}");
    assert!(md.contains("acme-cam/fw-1.4.0.bin.spdx.json"), "{md}");

    // withdrawn with its release: the SBOM target leaves the role and the route forgets it
    ok(
        dir,
        "airlock",
        &[
            "release",
            "withdraw",
            "repo",
            "acme-cam",
            "1.3.0",
            "--reason",
            "replaced by 1.4.0",
        ],
    );
    let signed = role(dir)["signed"].clone();
    assert!(signed["targets"]
        .get("acme-cam/fw-1.3.0.bin.cdx.json")
        .is_none());
    ok(dir, "airlock", &["verify", "repo"]);
    publish(dir, &server);
    assert_eq!(
        server
            .get("/v1/products/acme-cam/releases/1.3.0/sbom")
            .status(),
        404
    );
    assert_eq!(
        server
            .get("/v1/products/acme-cam/releases/1.4.0/sbom")
            .status(),
        200
    );
}

#[test]
fn a_tampered_or_unbound_sbom_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let cdx = write_json(&dir.join("sbom.cdx.json"), &cyclonedx());
    let out = release_add(dir, "1.3.0", "4", "security", Some("sbom.cdx.json"));
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    // a static copy (publish --out), its SBOM changed: verify finds the hash mismatch
    ok(
        dir,
        "airlock",
        &[
            "publish",
            "repo",
            "--out",
            "static",
            "--online-key-file",
            "srv/online.key",
        ],
    );
    ok(dir, "airlock", &["verify", "static"]);
    let sha = sha256_hex(&cdx);
    let mut tampered = cyclonedx();
    tampered["components"][0]["version"] = "3.0.1".into();
    let tampered_bytes = serde_json::to_vec_pretty(&tampered).unwrap();
    let copy = dir.join(format!(
        "static/targets/acme-cam/{sha}.fw-1.3.0.bin.cdx.json"
    ));
    assert!(copy.is_file(), "{}", copy.display());
    std::fs::write(&copy, &tampered_bytes).unwrap();
    let out = run(dir, "airlock", &["--json", "verify", "static"]);
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("acme-cam/fw-1.3.0.bin.cdx.json") && problems.contains("sha256"),
        "{problems}"
    );

    // the signer's own copy changed: verify finds it too
    let in_repo = dir.join("repo/targets/acme-cam/fw-1.3.0.bin.cdx.json");
    std::fs::write(&in_repo, &tampered_bytes).unwrap();
    let out = run(dir, "airlock", &["--json", "verify", "repo"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("fw-1.3.0.bin.cdx.json"));

    // the product key re-signs the SBOM target for the tampered bytes without the image's
    // signed fields: the binding no longer holds, verify and the server refuse it
    resign_product_role(&dir.join("repo"), "acme-cam", |signed| {
        let t = &mut signed["targets"]["acme-cam/fw-1.3.0.bin.cdx.json"];
        t["length"] = tampered_bytes.len().into();
        t["hashes"]["sha256"] = sha256_hex(&tampered_bytes).into();
    });
    let out = run(dir, "airlock", &["--json", "verify", "repo"]);
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("SBOM acme-cam/fw-1.3.0.bin.cdx.json")
            && stdout.contains("acme-cam/fw-1.3.0.bin names sha256"),
        "{stdout}"
    );
    let server = Server::start(dir);
    let out = run(
        dir,
        "airlock",
        &[
            "--json",
            "publish",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("names sha256"), "{stderr}");

    // an SBOM target that names an image the role does not hold
    resign_product_role(&dir.join("repo"), "acme-cam", |signed| {
        let image = signed["targets"]["acme-cam/fw-1.3.0.bin"].clone();
        let sbom = signed["targets"]["acme-cam/fw-1.3.0.bin.cdx.json"].clone();
        let mut image = image;
        image["custom"].as_object_mut().unwrap().remove("sbom");
        signed["targets"]["acme-cam/fw-1.3.0.bin"] = image;
        signed["targets"]["acme-cam/fw-1.3.0.bin.cdx.json"] = sbom;
    });
    let out = run(dir, "airlock", &["--json", "verify", "repo"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("is not a release of the role that names it"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
