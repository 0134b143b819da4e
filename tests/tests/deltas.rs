//! Delta updates end to end (docs/deltas.md): `release add --deltas-from` signs deltas with the
//! release, the server verifies and serves them and offers the one that fits a device's
//! installed image, and simulated devices one and two versions behind update through a delta
//! with far fewer bytes on the wire; a device with no readable image, or whose image is not
//! the delta's source, gets the full image (and says so); a release that changes everything
//! gets no delta.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

/// Pseudo-random bytes (incompressible), deterministic from `seed`.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn release(dir: &Path, version: &str, image: &[u8], extra: &[&str]) -> Value {
    let file = format!("fw-{version}.bin");
    std::fs::write(dir.join(&file), image).unwrap();
    let mut args = vec![
        "release",
        "add",
        "repo",
        "acme-cam",
        &file,
        "--version",
        version,
        "--security-version",
        "3",
        "--kind",
        "security",
        "--json",
    ];
    args.extend(extra);
    serde_json::from_str(&ok(dir, "airlock", &args)).unwrap()
}

fn device(dir: &Path, server: &Server, id: &str) -> Value {
    device_with(dir, server, id, &[])
}

fn device_with(dir: &Path, server: &Server, id: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "device",
        "--server",
        &server.url,
        "--trusted-root",
        "repo/metadata/1.root.json",
        "--state",
        id,
        "--id",
        id,
        "--product",
        "acme-cam",
        "--version",
        "1.0.0",
        "--security-version",
        "2",
        "--json",
    ];
    args.extend(extra);
    let out = ok(dir, "airlock-sim", &args);
    serde_json::from_str(&out).unwrap()
}

#[test]
fn devices_behind_update_through_signed_deltas_and_fall_back_to_full_images() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // acme-cam 1.2.0 (a periodic test pattern), then a line of incompressible images
    story_repo(dir);
    let v120 = noise(120, 400_000);
    let server = Server::start(dir);
    // a fresh release line on incompressible images
    let mut v130 = v120.clone();
    v130[1000..1040].copy_from_slice(&noise(130, 40));
    v130.extend_from_slice(&noise(131, 2000));
    // first 1.2.5 (the base every device installs in full), then the deltas
    let base = release(dir, "1.2.5", &v120, &[]);
    assert!(
        base.get("deltas").is_none(),
        "deltas are off by default: {base:#}"
    );
    publish(dir, &server);
    for id in ["cam-a", "cam-b", "cam-c", "cam-d"] {
        let run = device(dir, &server, id);
        assert_eq!(run["outcome"], "installed", "{run:#}");
        assert_eq!(run["to"], "1.2.5", "{run:#}");
        assert_eq!(run["image_bytes"], v120.len() as u64, "{run:#}");
        assert!(run.get("delta").is_none(), "{run:#}");
    }

    // 1.3.0 with deltas from the two newest earlier releases: 1.2.5 (a small change) and
    // 1.2.0 (another image entirely: the story's periodic pattern).
    let r130 = release(dir, "1.3.0", &v130, &["--deltas-from", "2"]);
    let deltas = r130["deltas"].as_array().unwrap();
    assert_eq!(deltas.len(), 1, "{r130:#}");
    assert_eq!(deltas[0]["from_version"], "1.2.5");
    let delta_len = deltas[0]["length"].as_u64().unwrap();
    assert!(
        delta_len * 20 < v130.len() as u64,
        "a small change gives a delta under 5% of the image: {r130:#}"
    );
    let skipped = r130["deltas_skipped"].as_array().unwrap();
    assert_eq!(skipped[0]["from_version"], "1.2.0", "{r130:#}");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("save under 10%"),
        "{r130:#}"
    );
    let role: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("repo/metadata/acme-cam.json")).unwrap(),
    )
    .unwrap();
    let name = deltas[0]["target"].as_str().unwrap();
    let custom = &role["signed"]["targets"][name]["custom"]["delta"];
    assert_eq!(custom["algorithm"], "zstd-patch-from", "{custom:#}");
    assert_eq!(custom["source_sha256"], sha256_hex(&v120));
    assert_eq!(custom["target"], "acme-cam/fw-1.3.0.bin");
    assert_eq!(custom["target_sha256"], sha256_hex(&v130));
    assert_eq!(custom["target_length"], v130.len() as u64);
    publish(dir, &server);

    // served like any target (consistent-snapshot name, Range)
    let delta_bytes = std::fs::read(dir.join("repo/targets").join(name)).unwrap();
    let url = target_url(&server, name, &delta_bytes);
    let part = reqwest::blocking::Client::new()
        .get(&url)
        .header("range", "bytes=0-9")
        .send()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert!(part.headers().get("etag").is_some());

    // one version behind: the delta, far fewer bytes on the wire than the image
    let run = device(dir, &server, "cam-a");
    assert_eq!(run["outcome"], "installed", "{run:#}");
    assert_eq!(run["to"], "1.3.0", "{run:#}");
    assert_eq!(run["delta"]["applied"], true, "{run:#}");
    assert_eq!(run["image_bytes"], delta_len, "{run:#}");
    assert_eq!(
        std::fs::read(dir.join("cam-a/firmware/fw-1.3.0.bin")).unwrap(),
        v130
    );

    // an installed image that is not the delta's source (its bytes changed on the device):
    // the delta is refused, the full image installed, the report says so
    let kept = dir.join("cam-b/firmware/fw-1.2.5.bin");
    let mut altered = std::fs::read(&kept).unwrap();
    altered[10] ^= 0xff;
    std::fs::write(&kept, altered).unwrap();
    let run = device(dir, &server, "cam-b");
    assert_eq!(run["outcome"], "installed", "{run:#}");
    assert_eq!(run["to"], "1.3.0", "{run:#}");
    assert_eq!(run["delta"]["applied"], false, "{run:#}");
    assert!(
        run["delta"]["reason"]
            .as_str()
            .unwrap()
            .contains("not the delta's source"),
        "{run:#}"
    );
    // the source is checked before the delta is fetched: no bytes spent on it
    assert_eq!(run["image_bytes"], v130.len() as u64, "{run:#}");

    // a device that cannot read its image (none kept: it runs what it was built with) gets the
    // full image and no delta offer
    let run = device(dir, &server, "cam-new");
    assert_eq!(run["to"], "1.3.0", "{run:#}");
    assert!(run.get("delta").is_none(), "{run:#}");
    assert_eq!(run["image_bytes"], v130.len() as u64, "{run:#}");

    // 1.4.0: cam-c is two versions behind (on 1.2.5) and gets the delta from 1.2.5
    let mut v140 = v130.clone();
    v140[200_000..200_100].copy_from_slice(&noise(140, 100));
    let r140 = release(dir, "1.4.0", &v140, &["--deltas-from", "2"]);
    assert_eq!(r140["deltas"].as_array().unwrap().len(), 2, "{r140:#}");
    publish(dir, &server);
    let run = device(dir, &server, "cam-c");
    assert_eq!(run["from"], "1.2.5", "{run:#}");
    assert_eq!(run["to"], "1.4.0", "{run:#}");
    assert_eq!(run["delta"]["applied"], true, "{run:#}");
    assert!(
        run["image_bytes"].as_u64().unwrap() * 20 < v140.len() as u64,
        "{run:#}"
    );
    let run = device(dir, &server, "cam-a");
    assert_eq!(run["to"], "1.4.0", "{run:#}");
    assert_eq!(run["delta"]["applied"], true, "{run:#}");

    // drill: the delta's bytes altered on the server (same length): refused while it downloads
    // (hash mismatch), nothing installed from it, the full image taken instead
    let from_125 = r140["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["from_version"] == "1.2.5")
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = std::fs::read_dir(dir.join("srv"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .join("sha256")
                .join(&from_125[..2])
                .join(&from_125)
        })
        .find(|p| p.is_file())
        .expect("the delta's blob in the server's store");
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&blob, &bytes).unwrap();
    let run = device(dir, &server, "cam-d");
    assert_eq!(run["to"], "1.4.0", "{run:#}");
    assert_eq!(run["delta"]["applied"], false, "{run:#}");
    assert!(
        run["delta"]["reason"]
            .as_str()
            .unwrap()
            .contains("hash mismatch"),
        "{run:#}"
    );
    assert_eq!(
        std::fs::read(dir.join("cam-d/firmware/fw-1.4.0.bin")).unwrap(),
        v140
    );

    // what operators see: per release, devices updated by delta and fallbacks (stored with the
    // reports, migration 0012); the counters in /metrics
    let admin = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    let fleet: Value = reqwest::blocking::Client::new()
        .get(format!("{}/v1/admin/products/acme-cam/fleet", server.url))
        .bearer_auth(admin.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let of = |version: &str| {
        let r = fleet["releases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["version"] == version)
            .unwrap_or_else(|| panic!("no release {version} in {fleet:#}"));
        (
            r["devices_installed"].as_u64().unwrap(),
            r["devices_by_delta"].as_u64().unwrap(),
            r["delta_fallbacks"].as_u64().unwrap(),
        )
    };
    // 1.3.0: cam-a by delta, cam-b fell back, cam-new had no delta offered
    assert_eq!(of("1.3.0"), (3, 1, 1), "{fleet:#}");
    // 1.4.0: cam-c and cam-a by delta, cam-d fell back (the altered delta)
    assert_eq!(of("1.4.0"), (3, 2, 1), "{fleet:#}");
    assert_eq!(of("1.2.5"), (4, 0, 0), "{fleet:#}");
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.url))
        .unwrap()
        .text()
        .unwrap();
    for line in [
        "airlock_device_delta_reports_total{outcome=\"applied\"} 3",
        "airlock_device_delta_reports_total{outcome=\"fell_back\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }

    // a release that changes everything: no delta (it would save nothing)
    let r150 = release(dir, "1.5.0", &noise(150, 400_000), &["--deltas-from", "3"]);
    assert!(r150.get("deltas").is_none(), "{r150:#}");
    assert_eq!(
        r150["deltas_skipped"].as_array().unwrap().len(),
        3,
        "{r150:#}"
    );

    // withdrawing 1.4.0 takes its deltas out of the role; the publish verifies
    ok(
        dir,
        "airlock",
        &[
            "release", "withdraw", "repo", "acme-cam", "1.4.0", "--reason", "test", "--force",
        ],
    );
    let role = std::fs::read_to_string(dir.join("repo/metadata/acme-cam.json")).unwrap();
    assert!(!role.contains("fw-1.4.0.bin.from-"), "{role}");
    publish(dir, &server);
}

#[test]
fn a_policy_for_full_images_gets_no_delta_and_old_check_ins_still_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let v1 = noise(1, 100_000);
    let mut v2 = v1.clone();
    v2[500] ^= 1;
    release(dir, "1.2.5", &v1, &[]);
    release(dir, "1.3.0", &v2, &["--deltas-from", "1"]);
    let server = Server::start(dir);
    publish(dir, &server);
    let sha = sha256_hex(&v1);
    let check_in = |body: &str| {
        let (status, answer) = server.post_json("/v1/devices/cam-1/check-in", body);
        assert_eq!(status, 200, "{answer:#}");
        answer
    };
    let answer = check_in(&format!(
        r#"{{"product":"acme-cam","version":"1.2.5","security_version":3,"installed_sha256":"{sha}"}}"#
    ));
    assert_eq!(answer["target"]["name"], "acme-cam/fw-1.3.0.bin");
    assert_eq!(
        answer["target"]["delta"]["source_sha256"], sha,
        "{answer:#}"
    );
    assert!(answer["target"]["delta"]["url"]
        .as_str()
        .unwrap()
        .starts_with("/tuf/targets/acme-cam/"));
    let answer = check_in(&format!(
        r#"{{"product":"acme-cam","version":"1.2.5","security_version":3,"installed_sha256":"{sha}","policy":{{"full_images":true}}}}"#
    ));
    assert!(answer["target"].get("delta").is_none(), "{answer:#}");
    // an older agent: no installed_sha256, the full image only
    let answer = check_in(r#"{"product":"acme-cam","version":"1.2.5","security_version":3}"#);
    assert_eq!(answer["target"]["name"], "acme-cam/fw-1.3.0.bin");
    assert!(answer["target"].get("delta").is_none(), "{answer:#}");
    // another image: no delta fits
    let other = "ab".repeat(32);
    let answer = check_in(&format!(
        r#"{{"product":"acme-cam","version":"1.2.5","security_version":3,"installed_sha256":"{other}"}}"#
    ));
    assert!(answer["target"].get("delta").is_none(), "{answer:#}");
}

#[test]
fn a_device_short_of_memory_updates_through_a_bsdiff_delta() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    let v125 = noise(125, 400_000);
    let mut v130 = v125.clone();
    v130[1000..1040].copy_from_slice(&noise(130, 40));
    v130.extend_from_slice(&noise(131, 2000));
    release(dir, "1.2.5", &v125, &[]);
    publish(dir, &server);
    let bsdiff_only = ["--delta-algorithms", "bsdiff4"];
    for (id, extra) in [("cam-z", &[][..]), ("cam-b", &bsdiff_only[..])] {
        let run = device_with(dir, &server, id, extra);
        assert_eq!(run["to"], "1.2.5", "{run:#}");
    }

    // both methods: one delta each from 1.2.5, both small
    let r130 = release(
        dir,
        "1.3.0",
        &v130,
        &["--deltas-from", "1", "--delta-method", "zstd,bsdiff"],
    );
    let deltas = r130["deltas"].as_array().unwrap();
    assert_eq!(deltas.len(), 2, "{r130:#}");
    let by = |algorithm: &str| {
        deltas
            .iter()
            .find(|d| d["algorithm"] == algorithm)
            .unwrap_or_else(|| panic!("no {algorithm} delta: {r130:#}"))
    };
    let (zstd, bsdiff) = (by("zstd-patch-from"), by("bsdiff4"));
    let bsdiff_name = bsdiff["target"].as_str().unwrap();
    assert!(bsdiff_name.ends_with(".bsdiff"), "{bsdiff_name}");
    let bsdiff_len = bsdiff["length"].as_u64().unwrap();
    assert!(
        bsdiff_len * 20 < v130.len() as u64,
        "a small change gives a bsdiff delta under 5% of the image: {r130:#}"
    );
    let role: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("repo/metadata/acme-cam.json")).unwrap(),
    )
    .unwrap();
    let custom = &role["signed"]["targets"][bsdiff_name]["custom"]["delta"];
    assert_eq!(custom["algorithm"], "bsdiff4", "{custom:#}");
    assert_eq!(custom["source_sha256"], sha256_hex(&v125));
    assert_eq!(custom["target_sha256"], sha256_hex(&v130));
    publish(dir, &server);

    // the server offers each device the delta it asks for; old agents get zstd
    let sha = sha256_hex(&v125);
    let offered = |algorithms: &str| {
        let body = format!(
            r#"{{"product":"acme-cam","version":"1.2.5","security_version":3,"installed_sha256":"{sha}"{algorithms}}}"#
        );
        let (status, answer) = server.post_json("/v1/devices/cam-x/check-in", &body);
        assert_eq!(status, 200, "{answer:#}");
        answer["target"]["delta"]["algorithm"].clone()
    };
    assert_eq!(offered(""), "zstd-patch-from");
    assert_eq!(offered(r#","delta_algorithms":["bsdiff4"]"#), "bsdiff4");
    assert_eq!(
        offered(r#","delta_algorithms":["bsdiff4","zstd-patch-from"]"#),
        "bsdiff4"
    );
    assert_eq!(offered(r#","delta_algorithms":["xdelta3"]"#), Value::Null);
    assert_eq!(offered(r#","delta_algorithms":[]"#), Value::Null);

    // the device short of memory rebuilds from the bsdiff delta, checked against the full target
    let run = device_with(dir, &server, "cam-b", &bsdiff_only);
    assert_eq!(run["to"], "1.3.0", "{run:#}");
    assert_eq!(run["delta"]["applied"], true, "{run:#}");
    assert_eq!(run["delta"]["name"], bsdiff_name, "{run:#}");
    assert_eq!(run["image_bytes"], bsdiff_len, "{run:#}");
    assert_eq!(
        std::fs::read(dir.join("cam-b/firmware/fw-1.3.0.bin")).unwrap(),
        v130
    );
    // a default agent prefers zstd
    let run = device(dir, &server, "cam-z");
    assert_eq!(run["delta"]["applied"], true, "{run:#}");
    assert_eq!(run["delta"]["name"], zstd["target"], "{run:#}");

    // the repository's delta_method setting: bsdiff only from now on
    let config_path = dir.join("repo/airlock.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["delta_method"] = serde_json::json!(["bsdiff"]);
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let mut v140 = v130.clone();
    v140[300_000..300_064].copy_from_slice(&noise(140, 64));
    let r140 = release(dir, "1.4.0", &v140, &["--deltas-from", "1"]);
    let deltas = r140["deltas"].as_array().unwrap();
    assert_eq!(deltas.len(), 1, "{r140:#}");
    assert_eq!(deltas[0]["algorithm"], "bsdiff4", "{r140:#}");
    publish(dir, &server);

    // the bsdiff delta's bytes altered on the server: refused (hash mismatch), the full image
    // installed instead, the report says so
    let sha = deltas[0]["sha256"].as_str().unwrap().to_string();
    let blob = std::fs::read_dir(dir.join("srv"))
        .unwrap()
        .map(|e| e.unwrap().path().join("sha256").join(&sha[..2]).join(&sha))
        .find(|p| p.is_file())
        .expect("the delta's blob in the server's store");
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&blob, &bytes).unwrap();
    let run = device_with(dir, &server, "cam-b", &bsdiff_only);
    assert_eq!(run["to"], "1.4.0", "{run:#}");
    assert_eq!(run["delta"]["applied"], false, "{run:#}");
    assert!(
        run["delta"]["reason"]
            .as_str()
            .unwrap()
            .contains("hash mismatch"),
        "{run:#}"
    );
    assert_eq!(
        std::fs::read(dir.join("cam-b/firmware/fw-1.4.0.bin")).unwrap(),
        v140
    );
    // cam-z asks for zstd first, and is offered bsdiff, all the role signs (the same altered
    // bytes: refused, full image)
    let run = device(dir, &server, "cam-z");
    assert_eq!(run["to"], "1.4.0", "{run:#}");
    assert_eq!(run["delta"]["name"], deltas[0]["target"], "{run:#}");
    assert_eq!(run["delta"]["applied"], false, "{run:#}");
}
