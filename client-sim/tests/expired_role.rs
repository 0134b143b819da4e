//! One product's expired role must not stop the others (issue 12 item 6): tough's loader
//! fetches every delegated role, and with expiry enforced one lapsed role refused the whole
//! load, so devices of every product stopped updating and the server's self-check refused to
//! renew snapshot and timestamp. Here acme-a's role expires (for real: tough reads the system
//! clock) and a device of acme-b still updates, and the server still renews.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use jiff::{SignedDuration, Timestamp, ToSpan};

use airlock_core::release::ReleaseKind;
use airlock_signer::repo::Repo;
use airlock_signer::{init, product, publish, release};
use airlock_sim::device::{run_device, AgentConfig, DeviceConfig, Outcome};
use airlock_sim::scenario::SimClock;

fn product(id: &str, day0: jiff::civil::Date) -> product::ProductOptions {
    product::ProductOptions {
        min_security_version: 1,
        security_contact: Some("mailto:security@vendor.example".into()),
        ..product::ProductOptions::new(
            id.into(),
            day0,
            day0.checked_add(300.days()).unwrap(),
            day0.checked_add(2000.days()).unwrap(),
        )
    }
}

async fn add_release(repo: &Repo, dir: &Path, product: &str, version: &str) -> Result<()> {
    let file = dir.join(format!("{product}-{version}.bin"));
    let mut bytes = format!("{product} {version}\n").into_bytes();
    bytes.resize(4096, b'.');
    std::fs::write(&file, bytes)?;
    release::add(
        repo,
        &release::ReleaseOptions {
            product: product.into(),
            file,
            name: None,
            version: version.parse()?,
            security_version: 1,
            kind: ReleaseKind::Security,
            requires: None,
            released: None,
            advisories: Vec::new(),
            allow_older: false,
            sbom: None,
        },
    )
    .await
    .with_context(|| format!("adding {product} {version}"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_of_b_updates_and_the_server_renews_while_a_role_of_a_has_expired() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let start = Timestamp::now();
    let clock = Arc::new(SimClock::new(start));
    let srv = dir.join("srv");
    airlock_server::init_data_dir(&srv, &airlock_server::Storage::default()).await?;
    let (token, _) = airlock_server::load_or_create_admin_token(&dir.join("admin.token"))?;
    let app = airlock_server::open(
        &srv,
        &airlock_server::Storage::default(),
        airlock_server::ServeConfig {
            device_rate: None,
            admin_rate: None,
            device_auth: airlock_server::deviceauth::DeviceAuth::Open,
            ..airlock_server::ServeConfig::default()
        },
        &token,
        clock.clone(),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = url::Url::parse(&format!("http://{}/", listener.local_addr()?))?;
    tokio::spawn(airlock_server::serve(
        listener,
        app.clone(),
        std::future::pending::<()>(),
    ));
    let repo_dir = dir.join("repo");
    init::init(&init::InitOptions {
        dir: repo_dir.clone(),
        online_key_file: airlock_server::DataDir::new(&srv).online_pub(),
        root_threshold: 1,
        root_keys: 1,
        targets_threshold: 1,
        targets_keys: 1,
        expiry_days: 365,
    })
    .await?;
    let repo = Repo::open(&repo_dir)?;
    let day0 = airlock_core::support::utc_date(start);
    product::add(&repo, &product("acme-a", day0)).await?;
    product::add(&repo, &product("acme-b", day0)).await?;
    add_release(&repo, dir, "acme-a", "1.1.0").await?;
    add_release(&repo, dir, "acme-b", "1.1.0").await?;

    // acme-a's role, re-signed to expire in a few seconds (its key holder then goes quiet).
    let expires = airlock_core::whole_seconds(Timestamp::now() + SignedDuration::from_secs(3));
    let mut role = repo.load_role("acme-a")?.signed;
    role.expires = expires;
    role.version = role.version.saturating_add(1);
    let delegations = repo
        .load_targets()?
        .signed
        .delegations
        .context("delegations")?;
    let keys = repo.role_keys("acme-a")?;
    repo.write_role("acme-a", role, &delegations, &keys).await?;
    publish::publish(
        &repo,
        &publish::PublishOptions {
            server: server.clone(),
            admin_token: token.clone(),
            hold: false,
            progress: false,
        },
    )
    .await?;
    while Timestamp::now() <= expires + SignedDuration::from_secs(1) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // A device of acme-b relies on nothing of acme-a: it updates.
    let device = DeviceConfig::new(AgentConfig {
        server: server.clone(),
        tuf_base: server.clone(),
        trusted_root: repo.metadata_dir().join("1.root.json"),
        state_dir: dir.join("devices").join("b-1"),
        id: "b-1".into(),
        product: "acme-b".into(),
        version: "1.0.0".parse()?,
        security_version: 1,
        now: None,
        enrol_token: None,
        retry: airlock_device::Backoff::default(),
    });
    let http = reqwest::Client::new();
    let run = run_device(&device, &http).await?;
    assert!(
        matches!(&run.outcome, Outcome::Installed { to, .. } if to == "1.1.0"),
        "{:?}",
        run.outcome
    );
    // A device of acme-a relies on the expired role: it refuses (a freeze, TUF 5.6.5).
    let device_a = DeviceConfig::new(AgentConfig {
        state_dir: dir.join("devices").join("a-1"),
        id: "a-1".into(),
        product: "acme-a".into(),
        ..device.agent.clone()
    });
    let run = run_device(&device_a, &http).await?;
    assert_eq!(
        run.outcome.refusal(),
        Some(airlock_device::Refusal::ExpiredMetadata),
        "{:?}",
        run.outcome
    );

    // /readyz stays ready and names the expired role (a warning, not a failure).
    clock.set(Timestamp::now());
    let resp = http.get(server.join("readyz")?).send().await?;
    assert_eq!(resp.status(), 200);
    let ready: serde_json::Value = resp.json().await?;
    let expiring = ready["expiring"].as_array().context("expiring")?;
    assert!(
        expiring
            .iter()
            .any(|e| e["role"] == "acme-a" && e["expired"] == true),
        "{ready}"
    );
    assert!(!expiring.iter().any(|e| e["role"] == "acme-b"), "{ready}");

    // The server keeps renewing snapshot and timestamp.
    let before = app.view().index.timestamp_version;
    airlock_server::publish::resign(&app)
        .await
        .map_err(|e| anyhow::anyhow!("renewing with acme-a's role expired: {e}"))?;
    assert_eq!(app.view().index.timestamp_version, before + 1);

    // And B's team can still publish: A's expired role travels along unchanged.
    add_release(&repo, dir, "acme-b", "1.2.0").await?;
    publish::publish(
        &repo,
        &publish::PublishOptions {
            server: server.clone(),
            admin_token: token.clone(),
            hold: false,
            progress: false,
        },
    )
    .await
    .context("publishing acme-b 1.2.0 while acme-a's role is expired")?;
    let device_b = DeviceConfig::new(AgentConfig {
        state_dir: dir.join("devices").join("b-1"),
        id: "b-1".into(),
        product: "acme-b".into(),
        ..device_a.agent
    });
    let run = run_device(&device_b, &http).await?;
    assert!(
        matches!(&run.outcome, Outcome::Installed { to, .. } if to == "1.2.0"),
        "{:?}",
        run.outcome
    );
    Ok(())
}
