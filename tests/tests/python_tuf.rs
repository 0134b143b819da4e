//! Interop: python-tuf's ngclient (a real, independent TUF client) reads what airlock publishes.
//! Needs a Python with `tuf` installed: `.venv/bin/python` (made by scripts/test) or
//! AIRLOCK_PYTHON. Skips loudly without it; under CI the skip is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_e2e::*;

#[test]
fn python_tuf_ngclient_refreshes_and_downloads() {
    let Some(py) = python_with_tuf() else {
        skip(
            "python_tuf_ngclient_refreshes_and_downloads",
            "no Python with python-tuf (run scripts/test, or set AIRLOCK_PYTHON)",
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    story_repo(dir);
    let server = Server::start(dir);
    publish(dir, &server);

    let got = ngclient(&py, dir, &server, "acme-cam/fw-1.2.0.bin");
    let fw = firmware(1, 300_000);
    assert_eq!(got["sha256"], sha256_hex(&fw).as_str());
    assert_eq!(got["length"], 300_000);
    assert_eq!(got["custom"]["version"], "1.2.0");
    assert_eq!(got["custom"]["security_version"], 3);
    assert_eq!(got["timestamp_version"], 1);

    // a later publish: the same client (persisted metadata) refreshes to it
    std::fs::write(dir.join("fw-1.3.0.bin"), firmware(3, 5000)).unwrap();
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
        ],
    );
    publish(dir, &server);
    let got = ngclient(&py, dir, &server, "acme-cam/fw-1.3.0.bin");
    assert_eq!(got["sha256"], sha256_hex(&firmware(3, 5000)).as_str());
    assert_eq!(got["timestamp_version"], 2);
    // and the support record, a signed target too
    let got = ngclient(&py, dir, &server, "acme-cam/support.json");
    assert!(got["length"].as_u64().unwrap() > 50);
}
