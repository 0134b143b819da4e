//! The server renews snapshot and timestamp by itself (on an injected clock), so devices never
//! meet an expired timestamp because nobody republished; and it reports offline-signed roles
//! that will expire.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use airlock_server::{Clock, ServeConfig};

#[derive(Debug)]
struct FakeClock(Mutex<jiff::Timestamp>);

impl Clock for FakeClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

impl FakeClock {
    fn advance(&self, hours: i64) {
        let mut t = self.0.lock().unwrap();
        *t = t
            .checked_add(jiff::SignedDuration::from_hours(hours))
            .unwrap();
    }
}

#[tokio::test]
async fn snapshot_and_timestamp_are_renewed_at_half_life() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = tmp.path().join("srv");
    airlock_server::init_data_dir(&srv, &airlock_server::Storage::default())
        .await
        .unwrap();
    let clock = Arc::new(FakeClock(Mutex::new(jiff::Timestamp::now())));
    let app = airlock_server::open(
        &srv,
        &airlock_server::Storage::default(),
        ServeConfig::default(),
        "test-admin-token-0123456789",
        clock.clone(),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(airlock_server::serve(
        listener,
        app.clone(),
        std::future::pending(),
    ));

    // nothing published: nothing to renew
    assert!(!airlock_server::publish::renew_if_due(&app).await.unwrap());

    let repo_dir = tmp.path().join("repo");
    airlock_signer::init::init(&airlock_signer::init::InitOptions {
        dir: repo_dir.clone(),
        online_key_file: airlock_server::DataDir::new(&srv).online_pub(),
        root_threshold: 1,
        root_keys: 1,
        targets_threshold: 1,
        targets_keys: 1,
        expiry_days: 20,
    })
    .await
    .unwrap();
    let repo = airlock_signer::repo::Repo::open(&repo_dir).unwrap();
    airlock_signer::product::add(
        &repo,
        &airlock_signer::product::ProductOptions {
            security_contact: Some("mailto:security@acme.example".into()),
            ..airlock_signer::product::ProductOptions::new(
                "acme-cam".into(),
                "2025-01-01".parse().unwrap(),
                "2027-01-01".parse().unwrap(),
                "2030-01-01".parse().unwrap(),
            )
        },
    )
    .await
    .unwrap();
    airlock_signer::publish::publish(
        &repo,
        &airlock_signer::publish::PublishOptions {
            server: url,
            admin_token: "test-admin-token-0123456789".into(),
            hold: false,
            progress: false,
        },
    )
    .await
    .unwrap();
    let v1 = app.view();
    assert_eq!(v1.index.timestamp_version, 1);

    // 11 h later (timestamp lifetime 24 h): not due yet
    clock.advance(11);
    assert!(!airlock_server::publish::renew_if_due(&app).await.unwrap());
    // 13 h later: past half-life, renewed with new versions and expiry from the new now
    clock.advance(2);
    assert!(airlock_server::publish::renew_if_due(&app).await.unwrap());
    let v2 = app.view();
    assert_eq!(v2.index.timestamp_version, 2);
    assert_eq!(v2.index.snapshot_version, 2);
    assert!(v2.index.timestamp_expires.unwrap() > v1.index.timestamp_expires.unwrap());
    assert_ne!(v2.timestamp, v1.timestamp);
    // the metadata the devices read is unchanged
    assert_eq!(v2.index.targets_version, v1.index.targets_version);

    // offline-signed roles (20 days) are reported within a 30-day warning horizon
    let soon = airlock_server::expiring_offline_roles(
        &v2,
        clock.now(),
        jiff::SignedDuration::from_hours(24 * 30),
    );
    let names: Vec<&str> = soon.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(names, vec!["root", "targets", "acme-cam"]);
    assert!(airlock_server::expiring_offline_roles(
        &v2,
        clock.now(),
        jiff::SignedDuration::from_hours(24)
    )
    .is_empty());
}
