//! `airlock-sim run`: fleet rehearsals on a simulated clock, through the real binary. The
//! example scenarios run with smaller fleets; each must show what it is about (a rollout that
//! converges, a bad release paused by the server, the end-of-support notice) and nothing may be
//! installed unverified.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use airlock_e2e::*;
use serde_json::Value;
use std::path::Path;

fn run_scenario(dir: &Path, file: &Path, extra: &[&str], out: &str) -> (i32, Value) {
    let mut args = vec!["--json", "run", file.to_str().unwrap(), "--out", out];
    args.extend_from_slice(extra);
    let o = run(dir, "airlock-sim", &args);
    let code = o.status.code().unwrap_or(-1);
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON summary (exit {code}):\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (code, summary)
}

fn example(name: &str) -> std::path::PathBuf {
    workspace_root().join("examples/scenarios").join(name)
}

fn rollout<'a>(summary: &'a Value, version: &str) -> &'a Value {
    summary["rollouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == version)
        .unwrap_or_else(|| panic!("no rollout of {version}: {summary}"))
}

/// Issue 18: one fleet, one run, devices one, two and three versions behind a release signed
/// with deltas: those that keep their image rebuild a delta for a small share of the image's
/// bytes, the others fetch it whole; every device ends on the release, verified.
#[test]
fn a_fleet_with_deltas_fetches_a_fraction_of_the_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, s) = run_scenario(dir, &example("deltas.toml"), &["--devices", "12"], "out");
    assert_eq!((code, &s["ok"]), (0, &Value::Bool(true)), "{s:#}");
    assert_eq!(s["unverified_installs"], 0);
    assert_eq!(s["final_versions"]["acme-cam@1.3.0"], 12, "{s:#}");
    let full = 1_048_576_u64;
    let groups = s["wire_bytes"]["per_group"].as_object().unwrap();
    assert_eq!(groups.len(), 6, "{s:#}");
    let mut delta_bytes = 0;
    let mut full_bytes = 0;
    for (name, g) in groups {
        let devices = g["devices"].as_u64().unwrap();
        assert!(devices > 0, "every group has a device at 12: {name}");
        assert_eq!(g["installs"].as_u64().unwrap(), devices, "{name}: {g}");
        let bytes = g["bytes"].as_u64().unwrap();
        if name.ends_with("deltas") {
            assert_eq!(
                g["delta_installs"].as_u64().unwrap(),
                devices,
                "{name}: {g}"
            );
            assert!(
                bytes < devices * full / 20,
                "{name}: under 5% per device: {g}"
            );
            delta_bytes += bytes;
        } else {
            assert_eq!(g["delta_installs"], 0, "{name}: {g}");
            assert_eq!(bytes, devices * full, "{name}: {g}");
            full_bytes += bytes;
        }
        assert_eq!(g["delta_fallbacks"], 0, "{name}: {g}");
    }
    assert!(delta_bytes > 0 && full_bytes > 10 * delta_bytes, "{s:#}");
    // further behind, a larger delta (the changes of every release in between)
    let per_device = |name: &str| {
        let g = &groups[name];
        g["bytes"].as_u64().unwrap() / g["devices"].as_u64().unwrap()
    };
    assert!(
        per_device("1 behind (1.2.0), deltas") < per_device("3 behind (1.0.0), deltas"),
        "{s:#}"
    );
    let svg = std::fs::read_to_string(dir.join("out/wire.svg")).unwrap();
    for name in groups.keys() {
        assert!(svg.contains(name.as_str()), "{name} in wire.svg");
    }
}

#[test]
fn staged_rollout_converges_and_writes_timeline_and_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, s) = run_scenario(
        dir,
        &example("staged-rollout.toml"),
        &["--devices", "120"],
        "out",
    );
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["ok"], true);
    assert_eq!(s["unverified_installs"], 0);
    assert_eq!(s["final_versions"]["acme-cam@1.3.0"], 120, "{s}");
    assert_eq!(rollout(&s, "1.3.0")["state"], "active");
    // downloads cut off on the way were resumed with Range requests (206 from the server)
    let resumed = s["events"]["download_resumed"].as_u64().unwrap_or(0);
    assert!(resumed > 0, "{s}");
    assert_eq!(s["events"]["download_interrupted"].as_u64(), Some(resumed));
    assert!(s["range_responses"].as_u64().unwrap() >= resumed, "{s}");
    for f in [
        "timeline.jsonl",
        "timeline.csv",
        "samples.json",
        "summary.json",
        "versions.svg",
        "rollouts.svg",
        "failures.svg",
    ] {
        assert!(dir.join("out").join(f).is_file(), "{f} missing");
    }
    let svg = std::fs::read_to_string(dir.join("out/versions.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("acme-cam@1.3.0"));
    // the timeline: installs of 1.3.0 only after the rollout started, in time order
    let timeline = std::fs::read_to_string(dir.join("out/timeline.jsonl")).unwrap();
    let events: Vec<Value> = timeline
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let started = events
        .iter()
        .find(|e| e["event"] == "rollout_started")
        .unwrap()["hours"]
        .as_f64()
        .unwrap();
    let installs: Vec<f64> = events
        .iter()
        .filter(|e| e["event"] == "installed" && e["version"] == "1.3.0")
        .map(|e| e["hours"].as_f64().unwrap())
        .collect();
    assert_eq!(installs.len(), 120);
    assert!(installs.iter().all(|h| *h >= started));
    assert!(events
        .windows(2)
        .all(|w| w[0]["hours"].as_f64() <= w[1]["hours"].as_f64()));
    // waves: not everyone in the first day (1% then 10%)
    let first_day = installs.iter().filter(|h| **h < started + 24.0).count();
    assert!(first_day < 30, "{first_day} installs in the first wave day");
}

#[test]
fn a_bad_release_is_paused_by_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // the example, with a fleet small enough for the test and a worse failure rate so that
    // the rule trips for any seed
    let text = std::fs::read_to_string(example("bad-release.toml"))
        .unwrap()
        .replace("failure_rate = 0.08", "failure_rate = 0.3");
    std::fs::write(dir.join("bad.toml"), text).unwrap();
    let (code, s) = run_scenario(dir, &dir.join("bad.toml"), &["--devices", "150"], "out");
    assert_eq!(code, 0, "{s}");
    let r = rollout(&s, "1.3.0");
    assert_eq!(r["state"], "paused", "{s}");
    assert!(
        r["reason"].as_str().unwrap().contains("failures"),
        "the server records why: {r}"
    );
    // the pause spared most of the fleet
    let on_new = s["final_versions"]["acme-cam@1.3.0"].as_u64().unwrap_or(0);
    assert!(on_new < 75, "{on_new} of 150 devices got the bad release");
    assert_eq!(s["unverified_installs"], 0);
    assert_eq!(s["events"]["server_restarted"], 1);
    // the restart cut off the downloads in flight; they resumed from the restarted server
    assert!(
        s["events"]["download_interrupted"].as_u64().unwrap_or(0) > 0,
        "{s}"
    );
    // issue 14: each chart marks what happened and why; counts without decimals
    for chart in ["versions.svg", "rollouts.svg", "failures.svg"] {
        let svg = std::fs::read_to_string(dir.join("out").join(chart)).unwrap();
        for label in [
            "1.3.0 started, wave 2%",
            "1.3.0 wave 20%",
            "1.3.0 paused by health rule: ",
        ] {
            assert!(svg.contains(label), "{chart}: no {label:?}");
        }
    }
    let versions = std::fs::read_to_string(dir.join("out/versions.svg")).unwrap();
    let decimals: Vec<&str> = versions
        .split("</text>")
        .filter_map(|part| part.rsplit_once('>'))
        .map(|(_, text)| text.trim())
        .filter(|text| text.contains('.') && text.parse::<f64>().is_ok())
        .collect();
    assert!(decimals.is_empty(), "decimals on the axes: {decimals:?}");
    // the pause is on the timeline when it happened, not at the end of the run
    let timeline = std::fs::read_to_string(dir.join("out/timeline.jsonl")).unwrap();
    let paused = timeline
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["event"] == "rollout_paused")
        .unwrap();
    assert!(paused["hours"].as_f64().unwrap() < 120.0, "{paused}");
}

/// Issue 12, item 5: devices that were never offered a release report it `failed`; only the
/// reports of devices the server offered it count, so the rollout is not paused.
#[test]
fn devices_never_offered_a_release_cannot_pause_its_rollout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, s) = run_scenario(dir, &example("false-reports.toml"), &[], "out");
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["ok"], true, "{s}");
    let lies = s["events"]["false_report"].as_u64().unwrap_or(0);
    assert!(lies >= 40, "the liars reported: {lies} false reports\n{s}");
    let r = rollout(&s, "1.2.0");
    assert_eq!(r["state"], "active", "{s}");
    // the first wave installed it; no device failed it
    assert!(r["installed"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(r["failed"], 0, "{s}");
    assert_eq!(s["unverified_installs"], 0);
}

#[test]
fn end_of_support_and_devices_offline_for_months_recover() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let text = std::fs::read_to_string(example("end-of-support.toml"))
        .unwrap()
        .replace("step = \"6h\"", "step = \"12h\"");
    std::fs::write(dir.join("eos.toml"), text).unwrap();
    let (code, s) = run_scenario(dir, &dir.join("eos.toml"), &["--devices", "60"], "out");
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["ok"], true, "{s}");
    // everyone, including the devices that were offline for 90 days (timestamp long expired)
    // and those that lost their trusted metadata, ends on the sunset release
    assert_eq!(s["final_versions"]["acme-doorbell@3.5.0"], 60, "{s}");
    assert!(s["events"]["end_of_support"].as_u64().unwrap() >= 55);
    assert!(
        s["events"]["trusted_metadata_lost"].as_u64().unwrap_or(0) >= 1,
        "{s}"
    );
    assert_eq!(s["events"].get("refused"), None, "{s}");
}

#[test]
fn key_rotation_mid_rollout_and_runs_are_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, a) = run_scenario(
        dir,
        &example("key-rotation.toml"),
        &["--devices", "60"],
        "a",
    );
    assert_eq!(code, 0, "{a}");
    assert_eq!(a["final_versions"]["acme-cam@1.3.0"], 60, "{a}");
    assert_eq!(a["events"]["product_key_rotated"], 1);
    let (_, b) = run_scenario(
        dir,
        &example("key-rotation.toml"),
        &["--devices", "60"],
        "b",
    );
    let strip = |p: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(p))
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                format!(
                    "{} {} {} {}",
                    v["hours"], v["device"], v["event"], v["version"]
                )
            })
            .collect()
    };
    assert_eq!(strip("a/timeline.jsonl"), strip("b/timeline.jsonl"));
    assert_eq!(a["events"], b["events"]);
    // another seed, another run
    let (_, c) = run_scenario(
        dir,
        &example("key-rotation.toml"),
        &["--devices", "60", "--seed", "99"],
        "c",
    );
    assert_ne!(strip("a/timeline.jsonl"), strip("c/timeline.jsonl"));
    assert_eq!(c["final_versions"]["acme-cam@1.3.0"], 60);
}

#[test]
fn bad_scenario_files_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("bad.toml"),
        "name = \"x\"\nduration = \"3 days\"\n",
    )
    .unwrap();
    let err = fails(dir, "airlock-sim", &["run", "bad.toml"]);
    assert!(err.contains("bad.toml"), "{err}");
    let err = fails(dir, "airlock-sim", &["run", "missing.toml"]);
    assert!(err.contains("missing.toml"), "{err}");
}

/// Issue 14: every example scenario's expectations hold with a small fleet. A scenario refuses a
/// fleet smaller than it needs, naming the minimum (bad-release: its health rule counts 20
/// reports); at that minimum, and for bad-release at the 50 devices the issue ran, every check
/// passes. Shares (the 8% that fail to boot) are counts of the fleet, so they hold at any size.
#[test]
fn every_example_scenario_holds_with_a_small_fleet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let files: Vec<String> = std::fs::read_dir(workspace_root().join("examples/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    assert_eq!(files.len(), 7, "{files:?}");
    // each at the smallest fleet it accepts: 1 device, or the minimum its refusal names
    let check = |file: &str, devices: &str, out: &str| {
        let (code, s) = run_scenario(dir, Path::new(file), &["--devices", devices], out);
        assert_eq!(
            (code, &s["ok"]),
            (0, &Value::Bool(true)),
            "{file} with {devices} devices: {s:#}"
        );
        assert_eq!(s["devices"].as_u64().unwrap().to_string(), devices);
    };
    let minimums: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                scope.spawn(move || {
                    let out = run(
                        dir,
                        "airlock-sim",
                        &["run", file, "--devices", "1", "--json"],
                    );
                    if out.status.code() != Some(1) {
                        check(file, "1", &format!("out-{i}"));
                        return "1".to_string();
                    }
                    let err = String::from_utf8_lossy(&out.stderr).to_string();
                    let minimum = err
                        .split("needs at least ")
                        .nth(1)
                        .and_then(|rest| rest.split(' ').next())
                        .unwrap_or_else(|| panic!("{file} with 1 device: {err}"))
                        .to_string();
                    assert!(
                        err.contains(&format!("--devices {minimum} or more")),
                        "{err}"
                    );
                    check(file, &minimum, &format!("out-{i}"));
                    minimum
                })
            })
            .collect();
        // the run
        scope.spawn(|| {
            check(
                example("bad-release.toml").to_str().unwrap(),
                "50",
                "out-50",
            )
        });
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let bad_release = files
        .iter()
        .position(|f| f.ends_with("bad-release.toml"))
        .unwrap();
    assert_eq!(minimums[bad_release], "20", "{files:?} {minimums:?}");
    assert_eq!(
        minimums.iter().filter(|m| *m == "1").count(),
        6,
        "{minimums:?}"
    );
}
