//! Online-key rotation across replicas (issue 12, item 8): two servers over one state
//! database reading one key directory (a shared secret mount). The rotation is prepared once;
//! the replica that publishes the root naming the new key switches with that publish, the other
//! when it follows that root, with no copying; both then renew with the new key. A crash in
//! the middle of the file renames recovers by itself at the next start: the key is chosen by
//! the published root, not by file name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use airlock_sim::lab::Lab;

/// A replica over the lab's state database (SQLite file) with `data` as its data (and key)
/// directory.
async fn replica(lab: &Lab, data: &Path) -> anyhow::Result<airlock_server::AppState> {
    airlock_server::open(
        data,
        &airlock_server::Storage {
            state_url: Some(format!(
                "sqlite://{}",
                lab.dir.join("srv").join("airlock.db").display()
            )),
            blobs: None,
            schema: Default::default(),
        },
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
}

async fn resigns(app: &airlock_server::AppState) {
    airlock_server::sync_from_store(app).await.unwrap();
    airlock_server::publish::resign(app)
        .await
        .unwrap_or_else(|e| panic!("renewal with key {}: {e}", app.online_key_id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_follows_an_online_key_rotation_and_a_crash_recovers() {
    let lab = Lab::demo("online-key").await.unwrap();
    let srv = lab.dir.join("srv");
    // replica B reads the same key directory (here: the same data directory)
    let b = replica(&lab, &srv).await.unwrap();
    let old_id = lab.app().online_key_id();
    assert_eq!(b.online_key_id(), old_id);
    let old_key = std::fs::read(srv.join("online.key")).unwrap();

    // the rotation, prepared once, and the root that names the new key published through A
    let next = airlock_server::prepare_next_online_key(&srv).unwrap();
    let new_key = std::fs::read(srv.join("online-next.key")).unwrap();
    lab.repo
        .rotate_online_key(&next.online_pub_file)
        .await
        .unwrap();
    lab.publish(false).await.unwrap();
    assert_eq!(lab.app().online_key_id(), next.online_key_id);

    // B follows the root and signs with the new key; so does A
    resigns(&b).await;
    assert_eq!(b.online_key_id(), next.online_key_id);
    resigns(lab.app()).await;
    assert_eq!(std::fs::read(srv.join("online.key")).unwrap(), new_key);
    assert!(!srv.join("online-next.key").exists());

    // a crash between the renames of a promotion: the old key retired, no online.key yet
    let crashed = lab.dir.join("crashed");
    std::fs::create_dir_all(&crashed).unwrap();
    std::fs::write(crashed.join("online.retired.1.key"), &old_key).unwrap();
    std::fs::write(crashed.join("online-next.key"), &new_key).unwrap();
    let c = replica(&lab, &crashed)
        .await
        .expect("a replica whose key files a crash left half-renamed starts");
    assert_eq!(c.online_key_id(), next.online_key_id);
    assert_eq!(std::fs::read(crashed.join("online.key")).unwrap(), new_key);
    assert!(!crashed.join("online-next.key").exists());
    resigns(&c).await;

    // a crash before any rename: online.key still the old key beside online-next.key
    let early = lab.dir.join("early");
    std::fs::create_dir_all(&early).unwrap();
    std::fs::write(early.join("online.key"), &old_key).unwrap();
    std::fs::write(early.join("online-next.key"), &new_key).unwrap();
    let d = replica(&lab, &early).await.unwrap();
    assert_eq!(d.online_key_id(), next.online_key_id);
    assert_eq!(std::fs::read(early.join("online.key")).unwrap(), new_key);
    resigns(&d).await;
    assert_ne!(old_id, next.online_key_id);
}

/// Behind a load balancer a device may read the new timestamp from the replica that published
/// it and the snapshot it names from another that has not followed yet (its change notice in
/// flight, or lost while PostgreSQL restarted). That replica catches up instead of answering
/// 404, which the device would take as a failed update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_behind_serves_what_another_just_published() {
    let lab = Lab::demo("behind").await.unwrap();
    let srv = lab.dir.join("srv");
    let b = replica(&lab, &srv).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(airlock_server::serve(
        listener,
        b.clone(),
        std::future::pending(),
    ));

    // new snapshot and timestamp versions through A; B follows nothing by itself here (SQLite
    // sends no change notices and no periodic sync runs in this test)
    let before = b.view().index.clone();
    lab.resign().await.unwrap();
    let now = lab.app().view().index.clone();
    assert_eq!(now.snapshot_version, before.snapshot_version + 1);
    assert_eq!(b.view().index.snapshot_version, before.snapshot_version);

    for file in [
        format!("{}.snapshot.json", now.snapshot_version),
        format!("{}.timestamp.json", now.timestamp_version),
    ] {
        let resp = reqwest::get(format!("http://{addr}/tuf/metadata/{file}"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{file}");
    }
    assert_eq!(b.view().index.snapshot_version, now.snapshot_version);
    // a version nobody published is still a 404, after one look at the head
    let resp = reqwest::get(format!(
        "http://{addr}/tuf/metadata/{}.snapshot.json",
        now.snapshot_version + 1
    ))
    .await
    .unwrap();
    assert_eq!(resp.status(), 404);
}
