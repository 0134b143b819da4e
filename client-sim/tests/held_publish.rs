//! `publish --hold` fails closed (issue 12, item 7): devices check in without pause, on the
//! publishing replica and on a second replica over the same state database that follows it,
//! while releases are published held. No check-in may ever be offered a held release: the
//! holds are committed in the transaction that switches the head, and a replica switches to a
//! new head only together with the rollouts committed with it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use airlock_core::api::{CheckInRequest, CheckInResponse};
use airlock_core::release::ReleaseKind;
use airlock_core::rollout::RolloutState;
use airlock_server::auth::Device;
use airlock_sim::lab::{Lab, NewRelease, CAM};

/// Checks devices in until `stop`; counts check-ins and offers of anything newer than 1.2.0
/// (every later release is published held).
async fn check_in_until(
    app: airlock_server::AppState,
    stop: Arc<AtomicBool>,
    sync: bool,
    check_ins: Arc<AtomicUsize>,
    offers: Arc<std::sync::Mutex<Vec<String>>>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if sync {
            airlock_server::sync_from_store(&app).await.unwrap();
        }
        for _ in 0..20 {
            n += 1;
            let device = Device {
                id: format!("cam-{}", n % 500),
                enrolled_product: None,
                drill: false,
            };
            let req = CheckInRequest {
                product: CAM.into(),
                version: "1.2.0".into(),
                security_version: 3,
                policy: None,
                installed_sha256: None,
                delta_algorithms: None,
            };
            let answer = airlock_server::decide::check_in(&app, &device, req)
                .await
                .unwrap();
            check_ins.fetch_add(1, Ordering::Relaxed);
            if let CheckInResponse::Update { target, .. } = answer {
                offers.lock().unwrap().push(target.version);
            }
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_ins_racing_held_publishes_never_get_the_held_release() {
    let lab = Lab::demo("held-race").await.unwrap();
    // a second replica over the same data directory and state database
    let replica = airlock_server::open(
        &lab.dir.join("srv"),
        &airlock_server::Storage::default(),
        airlock_server::ServeConfig {
            device_rate: None,
            admin_rate: None,
            device_auth: airlock_server::deviceauth::DeviceAuth::Open,
            ..airlock_server::ServeConfig::default()
        },
        &lab.token,
        Arc::new(airlock_server::SystemClock),
    )
    .await
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let check_ins = Arc::new(AtomicUsize::new(0));
    let offers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (app, sync) in [
        (lab.app().clone(), false),
        (lab.app().clone(), false),
        (replica.clone(), true),
        (replica.clone(), false),
    ] {
        tasks.push(tokio::spawn(check_in_until(
            app,
            stop.clone(),
            sync,
            check_ins.clone(),
            offers.clone(),
        )));
    }

    let versions = ["1.3.0", "1.4.0", "1.5.0", "1.6.0", "1.7.0", "1.8.0"];
    for (i, version) in versions.iter().enumerate() {
        let file = lab.dir.join(format!("fw-{version}.bin"));
        std::fs::write(&file, vec![i as u8 + 1; 4096 + i]).unwrap();
        lab.repo
            .add_release(&NewRelease {
                product: CAM.into(),
                file,
                version: version.parse().unwrap(),
                security_version: 3,
                kind: ReleaseKind::Feature,
                requires: None,
                released: jiff::Timestamp::now(),
                deltas_from: None,
            })
            .await
            .unwrap();
        // as `airlock publish` does: a 503 (SQLite's write lock held past its busy timeout by
        // the racing check-ins' writes, on a loaded machine) is retried after a pause
        for attempt in 1..=4 {
            match lab.publish(true).await {
                Ok(_) => break,
                Err(e) if attempt < 4 && e.to_string().contains("503") => {
                    eprintln!("publish of {version}: {e}; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
                Err(e) => panic!("publish of {version}: {e:#}"),
            }
        }
    }
    // let the replica follow the last publish while devices keep checking in
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    let offers = offers.lock().unwrap().clone();
    let count = check_ins.load(Ordering::Relaxed);
    assert!(count > 1000, "only {count} check-ins raced the publishes");
    assert!(
        offers.is_empty(),
        "{} of {count} check-ins were offered a held release: {:?}",
        offers.len(),
        &offers[..offers.len().min(10)]
    );
    // both replicas hold every new release
    for app in [lab.app(), &replica] {
        let rollouts = app.rollouts();
        for version in versions {
            assert!(
                rollouts
                    .iter()
                    .any(|r| r.version.to_string() == version && r.state == RolloutState::Held),
                "{version} not held: {rollouts:?}"
            );
        }
    }
}
