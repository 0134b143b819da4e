//! `airlock compliance report`: the signed evidence report for a product.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

/// Whether `FILE.sig` (`{"keyid", "sig"}`) is a valid Ed25519 signature over `bytes` by a
/// targets key listed in repo/metadata/root.json.
fn signature_matches(dir: &Path, file: &str, bytes: &[u8]) -> bool {
    let sig: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{file}.sig"))).unwrap()).unwrap();
    let root: Value =
        serde_json::from_slice(&std::fs::read(dir.join("repo/metadata/root.json")).unwrap())
            .unwrap();
    let keyid = sig["keyid"].as_str().unwrap();
    assert!(root["signed"]["roles"]["targets"]["keyids"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == keyid));
    let public = hex::decode(
        root["signed"]["keys"][keyid]["keyval"]["public"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
    let signature =
        ed25519_dalek::Signature::from_slice(&hex::decode(sig["sig"].as_str().unwrap()).unwrap())
            .unwrap();
    key.verify_strict(bytes, &signature).is_ok()
}

/// Reads FILE, asserts FILE.sig verifies over it, returns its bytes.
fn verify_signature(dir: &Path, file: &str) -> Vec<u8> {
    let bytes = std::fs::read(dir.join(file)).unwrap();
    assert!(
        signature_matches(dir, file, &bytes),
        "{file}.sig does not verify"
    );
    bytes
}

#[test]
fn signed_compliance_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(5, 100)).unwrap();
    ok(
        dir,
        "airlock",
        &[
            "release",
            "add",
            "repo",
            "acme-cam",
            "fw-1.3.0.bin",
            "--version",
            "1.3.0",
            "--security-version",
            "4",
            "--kind",
            "security",
            "--advisory",
            "CVE-2026-1111:high:RTSP parser overflow",
        ],
    );
    ok(
        dir,
        "airlock",
        &[
            "support",
            "extend",
            "repo",
            "acme-cam",
            "--security-until",
            "2031-12-31",
            "--reason",
            "longer life",
        ],
    );

    let report: Value = serde_json::from_str(&ok(
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
        ],
    ))
    .unwrap();
    assert_eq!(report["support"]["security_updates_until"], "2031-12-31");
    assert_eq!(report["support"]["history"][0]["reason"], "longer life");
    assert_eq!(report["ledger"].as_array().unwrap().len(), 2);
    assert_eq!(report["ledger"][1]["advisories"][0], "CVE-2026-1111 (high)");
    assert!(report["ledger"][1]["retained_until"]
        .as_str()
        .unwrap()
        .starts_with("20"));
    assert_eq!(report["mechanism"][0]["role"], "root");
    let refs: Vec<&str> = report["crosswalk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reference"].as_str().unwrap())
        .collect();
    assert!(
        refs.contains(&"CRA (EU) 2024/2847 Art. 13(9)")
            && refs.contains(&"PSTI Regs (SI 2023/1007) Sch. 1 para 3"),
        "{refs:?}"
    );
    let uk: Value = serde_json::from_str(&ok(
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
            "uk",
        ],
    ))
    .unwrap();
    assert!(uk["crosswalk"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["jurisdiction"] == "uk" || c["jurisdiction"] == "all"));

    // markdown, signed: the detached signature verifies with the targets key from root.json
    ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--out",
            "report.md",
        ],
    );
    let text = verify_signature(dir, "report.md");
    let md = String::from_utf8_lossy(&text);
    assert!(
        md.contains("| eu | CRA (EU) 2024/2847 Art. 13(8) |"),
        "{md}"
    );
    // the story's record has a contact and a policy but not the reporting times: said
    // prominently, and per row
    assert!(
        md.contains("> **WARNING:** the signed support record lacks the time within which reports are acknowledged"),
        "{md}"
    );
    assert!(md.contains("It is not legal advice"), "{md}");
    assert!(md.contains("| uk | Product Security and Telecommunications Infrastructure Act 2022"));
    assert!(!md.contains("meets"), "{md}");
    assert!(
        md.contains(&format!("by airlock {}", env!("CARGO_PKG_VERSION"))),
        "{md}"
    );
    let uk_reporting = report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["rows"].as_array().unwrap())
        .find(|r| r["reference"] == "PSTI Regs (SI 2023/1007) Sch. 1 para 2")
        .unwrap();
    assert_eq!(uk_reporting["status"], "missing", "{uk_reporting}");
    // without --server or --evidence the report says so instead of inventing figures
    assert!(md.contains("Fleet figures were not requested"), "{md}");
    assert!(md.contains("| 1.2.0 | security | 3 |") && md.contains("| not requested |"));
    assert!(
        md.contains("Automated test verdicts were not supplied"),
        "{md}"
    );
    assert_eq!(report["fleet"]["status"], "not_requested");
    assert!(report["automated_tests"].is_null());
    let mut tampered = text.clone();
    tampered[10] ^= 1;
    assert!(!signature_matches(dir, "report.md", &tampered));
    // airlock checks the same signature
    let out = ok(
        dir,
        "airlock",
        &[
            "compliance",
            "verify",
            "report.md",
            "--root",
            "repo/metadata/root.json",
        ],
    );
    assert!(out.contains("signature by targets key"), "{out}");
    std::fs::write(dir.join("tampered.md"), &tampered).unwrap();
    let e = fails(
        dir,
        "airlock",
        &[
            "compliance",
            "verify",
            "tampered.md",
            "--root",
            "repo/metadata/root.json",
            "--sig",
            "report.md.sig",
        ],
    );
    assert!(e.contains("does not match the file"), "{e}");

    let e = fails(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--format",
            "docx",
        ],
    );
    assert!(e.contains("unsupported format"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--server",
            "http://127.0.0.1:9",
        ],
    );
    assert!(e.contains("--server needs --admin-token-file"), "{e}");
    let e = fails(
        dir,
        "airlock",
        &["compliance", "report", "nope", "--repo", "repo"],
    );
    assert!(e.contains("unknown product"), "{e}");
}

fn check_in(server: &Server, device: &str, version: &str, security_version: u64) {
    let (status, answer) = server.post_json(
        &format!("/v1/devices/{device}/check-in"),
        &format!(
            r#"{{"product": "acme-cam", "version": "{version}", "security_version": {security_version}}}"#
        ),
    );
    assert_eq!(status, 200, "{answer}");
}

fn report(server: &Server, device: &str, status: &str, version: &str) {
    let (code, answer) = server.post_json(
        &format!("/v1/devices/{device}/reports"),
        &format!(r#"{{"status": "{status}", "version": "{version}"}}"#),
    );
    assert!((200..300).contains(&code), "{code} {answer}");
}

/// Fleet figures from the server's read-scoped admin endpoint, in the report.
#[test]
fn fleet_figures_and_rollout_outcomes_from_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let read = ok(
        dir,
        "airlock-server",
        &[
            "token", "create", "--data", "srv", "--name", "auditor", "--scope", "read",
        ],
    );
    std::fs::write(dir.join("read.token"), read.trim()).unwrap();
    let server = Server::start(dir);
    publish(dir, &server);
    ok(
        dir,
        "airlock",
        &[
            "rollout",
            "start",
            "--server",
            &server.url,
            "--admin-token-file",
            "admin.token",
            "acme-cam",
            "1.2.0",
            "--waves",
            "100%@0h",
        ],
    );

    // five devices: three below the signed floor (2), two of them update to 1.2.0, one fails
    for (device, version, sv) in [
        ("cam-1", "1.0.0", 1),
        ("cam-2", "1.0.0", 1),
        ("cam-3", "1.1.0", 1),
        ("cam-4", "1.1.0", 2),
        ("cam-5", "1.1.0", 2),
    ] {
        check_in(&server, device, version, sv);
    }
    report(&server, "cam-1", "installed", "1.2.0");
    report(&server, "cam-4", "installed", "1.2.0");
    report(&server, "cam-3", "failed", "1.2.0");
    check_in(&server, "cam-1", "1.2.0", 3);
    check_in(&server, "cam-4", "1.2.0", 3);

    let client = reqwest::blocking::Client::new();
    let fleet_url = format!("{}/v1/admin/products/acme-cam/fleet", server.url);
    assert_eq!(client.get(&fleet_url).send().unwrap().status(), 401);
    let missing = client
        .get(format!("{}/v1/admin/products/nope/fleet", server.url))
        .bearer_auth(read.trim())
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
    let fleet: Value = client
        .get(&fleet_url)
        .bearer_auth(read.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(fleet["devices"], 5, "{fleet:#}");
    assert_eq!(fleet["min_security_version"], 2);
    // cam-1 and cam-4 on 1.2.0 (3), cam-5 on 2: three of five at or above the floor
    assert_eq!(fleet["devices_supported"], 3, "{fleet:#}");
    assert_eq!(fleet["supported_percent"], 60.0);
    assert_eq!(fleet["versions"][0]["version"], "1.2.0");
    assert_eq!(fleet["versions"][0]["devices"], 2);
    let release = &fleet["releases"][0];
    assert_eq!(release["version"], "1.2.0");
    assert_eq!(release["devices_installed"], 2);
    assert_eq!(release["devices_failed"], 1);
    assert!(release["median_seconds_to_install"].as_u64().is_some());
    assert_eq!(release["rollout"]["state"], "active");
    assert_eq!(release["rollout"]["installed"], 2);
    // history from installed reports only: cam-1 then cam-4 on 1.2.0; the failed report and
    // devices that only checked in are not counted
    let history = fleet["history"].as_array().unwrap();
    assert_eq!(history.len(), 24, "{fleet:#}");
    assert_eq!(
        history[23]["versions"],
        serde_json::json!({"1.2.0": 2}),
        "{fleet:#}"
    );
    let first = history[0]["versions"].as_object().unwrap();
    assert_eq!(first.len(), 1, "{fleet:#}");
    assert!(
        (1..=2).contains(&first["1.2.0"].as_u64().unwrap()),
        "{fleet:#}"
    );
    // in time order (compared as instants: RFC 3339 strings with varying fraction digits do
    // not sort as text)
    let at = |p: &Value| {
        p["at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    assert!(
        history.windows(2).all(|w| at(&w[0]) <= at(&w[1])),
        "{fleet:#}"
    );
    assert!(at(&history[0]) < at(&history[23]), "{fleet:#}");

    let report: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "read.token",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(report["fleet"]["status"], "from_server");
    assert_eq!(report["fleet"]["figures"]["devices"], 5);
    assert_eq!(report["fleet_on_newest_security_release"]["devices"], 2);
    assert_eq!(report["fleet_on_newest_security_release"]["of"], 5);
    assert_eq!(report["ledger"][0]["fleet"]["devices_installed"], 2);
    let outcome = report["ledger"][0]["rollout_outcome"].as_str().unwrap();
    assert!(
        outcome.starts_with("active: 2 installed, 1 failed since "),
        "{outcome}"
    );

    ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "read.token",
            "--out",
            "fleet.md",
        ],
    );
    let md = String::from_utf8(verify_signature(dir, "fleet.md")).unwrap();
    assert!(md.contains("## Fleet\n"), "{md}");
    assert!(
        md.contains("| On a supported security version | 3 of 5 (60.0%) |"),
        "{md}"
    );
    // the newest security release is 1.2.0 (security version 3): cam-1 and cam-4
    assert!(
        md.contains(
            "| On the newest security release | 2 of 5 (40.0%) (release 1.2.0, security version 3, or later) |"
        ),
        "{md}"
    );
    // with figures from the server the timeliness row (ETSI 5.3-8) is evidenced
    assert!(
        md.contains("| all | ETSI EN 303 645 V2.1.1 5.3-8 |")
            && md.contains("evidenced: median time to install 1.2.0"),
        "{md}"
    );
    assert!(
        md.contains("| 1.0.0 | 1 | 1 | 20.0% | no (below the floor) |"),
        "{md}"
    );
    assert!(
        md.contains("| active: 2 installed, 1 failed since "),
        "{md}"
    );

    let html = ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "read.token",
            "--format",
            "html",
        ],
    );
    assert!(html.contains("<h3>Fleet versions over time</h3>"), "{html}");
    let svg = &html[html.find("<svg").expect("an inline chart")..];
    let svg = &svg[..svg.find("</svg>").expect("a closed chart")];
    assert!(svg.contains("1.2.0"), "the legend names the version: {svg}");
    assert!(md.contains("### Fleet versions over time\n"), "{md}");
    assert!(md.contains("| time (UTC) | 1.2.0 |\n"), "{md}");

    // a wrong token is a clear error, not a report without figures
    std::fs::write(dir.join("wrong.token"), "not-a-token").unwrap();
    let e = fails(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--server",
            &server.url,
            "--admin-token-file",
            "wrong.token",
        ],
    );
    assert!(
        e.contains("fetching fleet figures") && e.contains("401"),
        "{e}"
    );
}

/// Pages of a PDF, counted from its page objects (`/Type /Page`, not `/Pages`).
fn pdf_pages(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes).replace("/Type /Page", "/Type/Page");
    text.match_indices("/Type/Page")
        .filter(|(at, m)| !text[at + m.len()..].starts_with('s'))
        .count()
}

/// The text of a PDF by poppler's pdftotext, or `None` (said loudly) when it is not installed.
fn pdf_text(test: &str, dir: &Path, file: &str) -> Option<String> {
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", file, "-"])
        .current_dir(dir)
        .output();
    match out {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => panic!(
            "pdftotext {file} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => {
            skip(
                test,
                "pdftotext (Debian package poppler-utils) is not installed; the PDF's text is not checked",
            );
            None
        }
    }
}

#[test]
fn pdf_report_statements_of_compliance_and_test_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);

    // evidence: a real attack-drill run and a conformance log
    std::fs::create_dir(dir.join("evidence")).unwrap();
    let drills = run(dir, "airlock-sim", &["attack", "--all", "--json"]);
    assert!(
        drills.status.success(),
        "{}",
        String::from_utf8_lossy(&drills.stderr)
    );
    std::fs::write(dir.join("evidence/attacks.json"), &drills.stdout).unwrap();
    std::fs::write(
        dir.join("evidence/conformance.txt"),
        "...\nconformance: 113 passed, 0 failed, 0 xfailed, 0 skipped\n",
    )
    .unwrap();
    let report: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--evidence",
            "evidence",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let tests = report["automated_tests"].as_array().unwrap();
    assert_eq!(tests.len(), 2, "{tests:?}");
    assert_eq!(tests[0]["suite"], "attack_drills");
    assert_eq!(tests[0]["verdict"], "pass", "{:#}", tests[0]);
    assert!(tests[0]["drills"].as_array().unwrap().len() >= 10);
    assert_eq!(tests[1]["suite"], "tuf_conformance");
    assert_eq!(tests[1]["passed"], 113);
    assert_eq!(tests[1]["verdict"], "pass");
    // typed-in (unsigned) results are listed but bind nothing: the drills row stays missing
    for t in tests {
        assert_eq!(t["provenance"]["kind"], "unverified", "{t:#}");
    }
    let unsigned_md = ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--evidence",
            "evidence",
        ],
    );
    assert!(
        unsigned_md.contains("UNVERIFIED: no signature (FILE.sig) by a targets key"),
        "{unsigned_md}"
    );
    assert!(
        unsigned_md.contains("the attack-drill results given are unverified"),
        "{unsigned_md}"
    );
    // signed by a targets key: bound
    ok(
        dir,
        "airlock",
        &[
            "compliance",
            "sign-evidence",
            "--repo",
            "repo",
            "evidence/attacks.json",
            "evidence/conformance.txt",
        ],
    );
    let md = ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--evidence",
            "evidence",
        ],
    );
    assert!(
        md.contains("| TUF conformance | conformance.txt |") && md.contains("| 113 | 0 |"),
        "{md}"
    );
    assert!(md.contains("signed by targets key"), "{md}");
    assert!(!md.contains("UNVERIFIED:"), "{md}");
    assert!(md.contains("### Attack drills: attacks.json"), "{md}");
    assert!(
        md.contains("evidenced: attack drills passed: attacks.json"),
        "{md}"
    );
    // a signed file changed afterwards is unverified again
    let mut changed = std::fs::read_to_string(dir.join("evidence/conformance.txt")).unwrap();
    changed = changed.replace("113 passed", "114 passed");
    std::fs::write(dir.join("evidence/conformance.txt"), changed).unwrap();
    let tampered: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--evidence",
            "evidence",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let conformance = &tampered["automated_tests"][1];
    assert_eq!(
        conformance["provenance"]["kind"], "unverified",
        "{conformance:#}"
    );
    assert!(
        conformance["provenance"]["reason"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{conformance:#}"
    );
    // run at report time: the report runs the drills itself
    let ran: Value = serde_json::from_str(&ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--run-drills",
            "--sim-bin",
            bin("airlock-sim").to_str().unwrap(),
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let run0 = &ran["automated_tests"][0];
    assert_eq!(run0["provenance"]["kind"], "run_at_report_time", "{run0:#}");
    assert_eq!(
        run0["provenance"]["command"],
        "airlock-sim attack --all --json"
    );
    assert!(run0["provenance"]["tool_version"]
        .as_str()
        .unwrap()
        .starts_with("airlock-sim "));
    assert_eq!(run0["verdict"], "pass", "{run0:#}");
    assert_eq!(run0["sha256"].as_str().unwrap().len(), 64);
    let e = fails(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--run-drills",
            "--sim-bin",
            "/nonexistent/airlock-sim",
        ],
    );
    assert!(
        e.contains("install it beside airlock or give --sim-bin"),
        "{e}"
    );
    std::fs::write(dir.join("evidence/broken.json"), "[]").unwrap();
    let e = fails(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--evidence",
            "evidence",
        ],
    );
    assert!(
        e.contains("broken.json: not the output of `airlock-sim attack"),
        "{e}"
    );
    std::fs::remove_file(dir.join("evidence/broken.json")).unwrap();

    // the report as a signed PDF
    ok(
        dir,
        "airlock",
        &[
            "compliance",
            "report",
            "acme-cam",
            "--repo",
            "repo",
            "--evidence",
            "evidence",
            "--format",
            "pdf",
            "--out",
            "report.pdf",
        ],
    );
    let pdf = verify_signature(dir, "report.pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let pages = pdf_pages(&pdf);
    assert!((3..=12).contains(&pages), "{pages} pages");
    if let Some(text) = pdf_text("pdf_report_text", dir, "report.pdf") {
        for needle in [
            "Update and support compliance report: acme-cam",
            "Security updates until",
            "Fleet figures were not requested",
            "Attack drills: attacks.json",
            "Crosswalk",
            "PSTI",
            &format!("page {pages} of {pages}"),
        ] {
            assert!(
                text.contains(needle),
                "{needle:?} not in the PDF text:\n{text}"
            );
        }
    }

    // statements of compliance: UK in Markdown, Australia as PDF, both signed
    let who = [
        "--manufacturer",
        "Acme Devices Ltd",
        "--address",
        "1 Example Street, London EC1A 1AA, United Kingdom",
        "--signatory",
        "Jane Doe",
        "--signatory-function",
        "Head of Product Security",
        "--place",
        "London",
        "--date",
        "2026-03-04",
    ];
    let mut args = vec![
        "compliance",
        "statement",
        "acme-cam",
        "--repo",
        "repo",
        "--regime",
        "uk",
        "--out",
        "statement-uk.md",
    ];
    args.extend(who);
    // the record does not say when reporters hear back: a draft, unless forced
    let out = run(dir, "airlock", &args);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("written as a DRAFT"));
    let draft = String::from_utf8(verify_signature(dir, "statement-uk.md")).unwrap();
    assert!(
        draft.starts_with("# DRAFT statement of compliance (United Kingdom)"),
        "{draft}"
    );
    let mut forced = args.clone();
    forced.push("--force");
    ok(dir, "airlock", &forced);
    let issued = String::from_utf8(verify_signature(dir, "statement-uk.md")).unwrap();
    assert!(
        issued.starts_with("# Statement of compliance (United Kingdom)"),
        "{issued}"
    );
    assert!(issued.contains("Issued with gaps (--force)"), "{issued}");
    ok(
        dir,
        "airlock",
        &[
            "product",
            "set",
            "repo",
            "acme-cam",
            "--acknowledge-within",
            "5",
            "--status-updates-every",
            "14",
        ],
    );
    ok(dir, "airlock", &args);
    let uk = String::from_utf8(verify_signature(dir, "statement-uk.md")).unwrap();
    assert!(
        uk.contains(
            "reports acknowledged within 5 day(s); status updates every 14 day(s) until resolved"
        ),
        "{uk}"
    );
    for needle in [
        "# Statement of compliance (United Kingdom): acme-cam",
        "| Manufacturer | Acme Devices Ltd |",
        "| Defined support period | Security updates are provided at least until 2030-12-31 (UTC)",
        "mailto:security@acme.example",
        "prepared by or on behalf of the manufacturer",
        "Schedule 1 to the Regulations",
        "| Name of signatory | Jane Doe |",
        "| Place of issue | London |",
        "| Date of issue | 2026-03-04 |",
    ] {
        assert!(uk.contains(needle), "{needle:?} not in:\n{uk}");
    }
    assert!(!uk.contains("## Gaps"), "{uk}");

    let mut args = vec![
        "compliance",
        "statement",
        "acme-cam",
        "--repo",
        "repo",
        "--regime",
        "au",
        "--format",
        "pdf",
        "--out",
        "statement-au.pdf",
    ];
    args.extend(who);
    ok(dir, "airlock", &args);
    let au = verify_signature(dir, "statement-au.pdf");
    assert!(au.starts_with(b"%PDF-"));
    assert!(
        (1..=2).contains(&pdf_pages(&au)),
        "{} pages",
        pdf_pages(&au)
    );
    if let Some(text) = pdf_text("pdf_statement_text", dir, "statement-au.pdf") {
        for needle in [
            "Statement of compliance (Australia): acme-cam",
            "Acme Devices Ltd",
            "at least 5 years",
            "2030-12-31",
        ] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
    }

    // JSON form; a product past its support period is issued with its gap named
    let mut args = vec![
        "compliance",
        "statement",
        "acme-old",
        "--repo",
        "repo",
        "--regime",
        "au",
        "--format",
        "json",
    ];
    args.extend(who);
    let out = run(dir, "airlock", &args);
    assert!(out.status.success());
    let old: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(old["regime"], "au");
    assert_eq!(old["security_updates_until"], "2024-12-31");
    assert_eq!(old["manufacturer"], "Acme Devices Ltd");
    let gaps = old["gaps"].as_array().unwrap();
    assert!(
        gaps.iter()
            .any(|g| g.as_str().unwrap().contains("ended on 2024-12-31")),
        "{gaps:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: The defined support period ended")
    );

    let e = fails(
        dir,
        "airlock",
        &[
            "compliance",
            "statement",
            "acme-cam",
            "--repo",
            "repo",
            "--regime",
            "uk",
        ],
    );
    assert!(e.contains("--manufacturer"), "{e}");
    let mut args = vec![
        "compliance",
        "statement",
        "acme-cam",
        "--repo",
        "repo",
        "--regime",
        "eu",
    ];
    args.extend(who);
    let e = fails(dir, "airlock", &args);
    assert!(e.contains("unknown regime"), "{e}");
}

/// The signed samples in docs/ are what scripts/sample-report makes with this airlock: their
/// signatures verify against the committed root, they carry the evidence binding (drills run at
/// report time, fleet figures from a server), and the report has the sections a report made
/// now has. Regenerate them with scripts/sample-report when this fails.
#[test]
fn committed_samples_are_current() {
    let docs = workspace_root().join("docs");
    for file in [
        "sample-compliance-report.md",
        "sample-compliance-report.pdf",
        "sample-statement-of-compliance-uk.md",
    ] {
        ok(
            &docs,
            "airlock",
            &[
                "compliance",
                "verify",
                file,
                "--root",
                "sample-compliance-root.json",
            ],
        );
    }
    let sample = std::fs::read_to_string(docs.join("sample-compliance-report.md")).unwrap();
    for needle in [
        "| provenance |",
        "run at report time (airlock-sim ",
        "airlock-sim attack --all --json",
        "evidenced: attack drills passed",
    ] {
        assert!(
            sample.contains(needle),
            "{needle:?} not in docs/sample-compliance-report.md: regenerate it with scripts/sample-report"
        );
    }
    assert!(!sample.contains("UNVERIFIED:"));
    assert!(!sample.contains("Fleet figures were not requested"));
    let statement =
        std::fs::read_to_string(docs.join("sample-statement-of-compliance-uk.md")).unwrap();
    assert!(
        statement.starts_with("# Statement of compliance (United Kingdom)"),
        "the sample statement is a draft or stale: regenerate it with scripts/sample-report"
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let fresh = ok(
        dir,
        "airlock",
        &["compliance", "report", "acme-cam", "--repo", "repo"],
    );
    let sections = |md: &str| -> Vec<String> {
        md.lines()
            .filter(|l| l.starts_with("# ") || l.starts_with("## "))
            .map(|l| l.to_string())
            .collect()
    };
    assert_eq!(
        sections(&sample),
        sections(&fresh),
        "docs/sample-compliance-report.md has other sections than a report made now: regenerate it with scripts/sample-report"
    );
}
