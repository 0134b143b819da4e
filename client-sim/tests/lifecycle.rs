//! One product's whole life on a simulated clock (issue 7): launch, a feature release, the end
//! of the feature window, a security release with a signed advisory, an extension, end of
//! support and a sunset release. At each stage it checks what a device is told at check-in,
//! the public support statement (JSON and page), the advisories and the compliance report; a
//! real simulated device (the same TUF client as `airlock-sim device`) lives through it too.
//!
//! The server runs in-process on the simulated clock; the repository is signed with the real
//! signer. Offline-signed metadata is valid for a year from the real now, so the whole life
//! (with a short support period and its rationale, CRA Art. 13(8)) fits in 240 days.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use jiff::{civil::Date, SignedDuration, Timestamp, ToSpan};

use airlock_core::api::CheckInResponse;
use airlock_core::release::{Advisory, ReleaseKind, Severity};
use airlock_signer::compliance::{self, fleet::FleetFigures};
use airlock_signer::repo::Repo;
use airlock_signer::{init, product, publish, release, support};
use airlock_sim::device::{run_device, AgentConfig, DeviceConfig, Outcome};
use airlock_sim::scenario::SimClock;

const PRODUCT: &str = "acme-kit";
const STATEMENT: &str =
    "The acme-kit evaluation board gets security updates until the date shown; acme-kit-2 succeeds it.";
const SUCCESSOR: &str = "acme-kit-2";
const NOTICE: &str = "https://vendor.example/support/acme-kit";
const RATIONALE: &str =
    "An evaluation board with an expected time of use of under a year (CRA Art. 13(8)).";

struct Life {
    dir: PathBuf,
    clock: Arc<SimClock>,
    start: Timestamp,
    day0: Date,
    app: airlock_server::AppState,
    server: url::Url,
    token: String,
    repo: Repo,
    http: reqwest::Client,
    trusted_root: PathBuf,
}

impl Life {
    fn at(&self, days: i64) -> Timestamp {
        self.start
            .checked_add(SignedDuration::from_hours(24 * days))
            .expect("in range")
    }

    fn day(&self, days: i64) -> Date {
        self.day0.checked_add(days.days()).expect("in range")
    }

    /// Moves the shared clock and lets the server renew snapshot/timestamp, as its minute timer
    /// would have done on the way.
    async fn advance_to(&self, days: i64) -> Result<Timestamp> {
        let now = self.at(days);
        self.clock.set(now);
        airlock_server::publish::renew_if_due(&self.app)
            .await
            .map_err(|e| anyhow::anyhow!("renewing snapshot/timestamp: {e}"))?;
        Ok(now)
    }

    fn firmware(&self, version: &str) -> Result<PathBuf> {
        let dir = self.dir.join("firmware");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{PRODUCT}-{version}.bin"));
        let mut bytes = format!("{PRODUCT} firmware {version}\n").into_bytes();
        bytes.resize(4096, b'.');
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    fn release_options(
        &self,
        version: &str,
        security_version: u64,
        kind: ReleaseKind,
        released: Timestamp,
        advisories: Vec<Advisory>,
    ) -> Result<release::ReleaseOptions> {
        Ok(release::ReleaseOptions {
            product: PRODUCT.into(),
            file: self.firmware(version)?,
            name: None,
            version: version.parse()?,
            security_version,
            kind,
            requires: None,
            released: Some(released),
            advisories,
            allow_older: false,
            sbom: None,
        })
    }

    async fn publish(&self, repo: &Repo) -> Result<()> {
        publish::publish(
            repo,
            &publish::PublishOptions {
                server: self.server.clone(),
                admin_token: self.token.clone(),
                hold: false,
                progress: false,
            },
        )
        .await
        .map(|_| ())
    }

    async fn release_and_publish(
        &self,
        version: &str,
        security_version: u64,
        kind: ReleaseKind,
        advisories: Vec<Advisory>,
    ) -> Result<()> {
        let now = airlock_server::Clock::now(self.clock.as_ref());
        let opts = self.release_options(version, security_version, kind, now, advisories)?;
        release::add(&self.repo, &opts)
            .await
            .with_context(|| format!("signing {version}"))?;
        self.publish(&self.repo)
            .await
            .with_context(|| format!("publishing {version}"))
    }

    /// What the server answers a device of this product running `version`.
    async fn check_in(
        &self,
        device: &str,
        version: &str,
        security_version: u64,
    ) -> Result<CheckInResponse> {
        let resp = self
            .http
            .post(self.server.join(&format!("v1/devices/{device}/check-in"))?)
            .json(&serde_json::json!({
                "product": PRODUCT,
                "version": version,
                "security_version": security_version,
            }))
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "check-in: {}", resp.status());
        Ok(resp.json().await?)
    }

    async fn get(&self, path: &str) -> Result<(reqwest::StatusCode, String)> {
        let resp = self.http.get(self.server.join(path)?).send().await?;
        Ok((resp.status(), resp.text().await?))
    }

    async fn support_json(&self) -> Result<serde_json::Value> {
        let (status, body) = self.get(&format!("v1/products/{PRODUCT}/support")).await?;
        assert_eq!(status, 200, "{body}");
        Ok(serde_json::from_str(&body)?)
    }

    async fn page(&self) -> Result<String> {
        let (status, body) = self.get(&format!("products/{PRODUCT}")).await?;
        assert_eq!(status, 200, "{body}");
        Ok(body)
    }

    async fn report(&self) -> Result<compliance::Report> {
        let figures = compliance::fleet::fetch(&self.server, &self.token, PRODUCT).await?;
        compliance::build(
            &self.repo,
            PRODUCT,
            compliance::Sources {
                jurisdiction: "all".into(),
                fleet: FleetFigures::FromServer {
                    server: self.server.to_string(),
                    figures,
                },
                evidence: None,
                now: airlock_server::Clock::now(self.clock.as_ref()),
            },
        )
    }

    fn device(&self) -> DeviceConfig {
        DeviceConfig::new(AgentConfig {
            server: self.server.clone(),
            tuf_base: self.server.clone(),
            trusted_root: self.trusted_root.clone(),
            state_dir: self.dir.join("devices").join("kit-000001"),
            id: "kit-000001".into(),
            product: PRODUCT.into(),
            version: "1.0.0".parse().expect("a version"),
            security_version: 1,
            now: Some(airlock_server::Clock::now(self.clock.as_ref())),
            enrol_token: None,
            retry: airlock_device::Backoff::default(),
        })
    }

    /// One check-in cycle of the real simulated device, on the simulated clock.
    async fn run_device(&self) -> Result<Outcome> {
        Ok(run_device(&self.device(), &self.http).await?.outcome)
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

fn offered(answer: &CheckInResponse) -> (&str, ReleaseKind, Vec<&str>) {
    match answer {
        CheckInResponse::Update { target, .. } => (
            target.version.as_str(),
            target.kind,
            target.advisories.iter().map(|a| a.id.as_str()).collect(),
        ),
        other => panic!("expected an update, got {other:?}"),
    }
}

fn ledger(report: &compliance::Report) -> Vec<(String, ReleaseKind)> {
    report
        .ledger
        .iter()
        .map(|l| (l.version.clone(), l.kind))
        .collect()
}

async fn begin(dir: &Path) -> Result<Life> {
    // A whole hour of the real now: offline-signed metadata is valid for a year from it.
    let start = Timestamp::from_second(Timestamp::now().as_second() / 3600 * 3600)?;
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
    let trusted_root = repo.metadata_dir().join("1.root.json");
    Ok(Life {
        dir: dir.to_path_buf(),
        clock,
        start,
        day0: airlock_core::support::utc_date(start),
        app,
        server,
        token,
        repo,
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()?,
        trusted_root,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_product_from_launch_to_sunset() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let life = begin(tmp.path()).await?;
    let feature_until = life.day(60);
    let first_security_until = life.day(150);
    let extended_until = life.day(200);

    // --- Day 0: launch with 1.0.0 -------------------------------------------------------------
    life.advance_to(0).await?;
    product::add(
        &life.repo,
        &product::ProductOptions {
            id: PRODUCT.into(),
            support_start: life.day0,
            feature_until,
            security_until: first_security_until,
            min_security_version: 1,
            notice_url: Some(NOTICE.into()),
            statement: Some(STATEMENT.into()),
            successor: Some(SUCCESSOR.into()),
            security_contact: Some("mailto:security@vendor.example".into()),
            disclosure_policy: Some("https://vendor.example/disclosure".into()),
            report_acknowledged_within_days: Some(5),
            status_updates_every_days: Some(14),
            updatable: true,
            rationale: Some(RATIONALE.into()),
            keys: 1,
            threshold: 1,
        },
    )
    .await?;
    life.release_and_publish("1.0.0", 1, ReleaseKind::Feature, Vec::new())
        .await?;

    assert_eq!(
        life.check_in("probe-a", "1.0.0", 1).await?,
        CheckInResponse::UpToDate { deferred: None }
    );
    let json = life.support_json().await?;
    assert_eq!(json["status"], "supported");
    assert_eq!(json["support_start"], life.day0.to_string());
    assert_eq!(json["feature_updates_until"], feature_until.to_string());
    assert_eq!(
        json["security_updates_until"],
        first_security_until.to_string()
    );
    assert_eq!(json["successor"], SUCCESSOR);
    assert_eq!(json["notice_url"], NOTICE);
    assert_eq!(json["support_period_rationale"], RATIONALE);
    assert!(json.get("history").is_none(), "{json}");
    let page = life.page().await?;
    assert!(
        page.contains("supported: security and feature updates"),
        "{page}"
    );
    assert!(
        page.contains(&format!("<strong>{first_security_until}</strong>")),
        "{page}"
    );
    assert!(page.contains(SUCCESSOR) && page.contains(NOTICE), "{page}");
    assert!(page.contains("Why this support period"), "{page}");
    let report = life.report().await?;
    assert_eq!(ledger(&report), [("1.0.0".into(), ReleaseKind::Feature)]);
    assert!(report.support.history.is_empty());
    assert_eq!(
        report.support.support_period_rationale.as_deref(),
        Some(RATIONALE)
    );
    // Short period with its rationale, a contact and a disclosure policy with its times,
    // updatable: nothing the signed record decides is missing. What needs other evidence says
    // so: no SBOM yet, no attack drills given to this report.
    for v in &report.verdicts {
        assert!(!v.verdict.contains("meets"), "{v:?}");
    }
    assert!(missing(&report, "uk").is_empty(), "{:?}", report.verdicts);
    assert!(missing(&report, "au").is_empty(), "{:?}", report.verdicts);
    assert_eq!(
        missing(&report, "eu"),
        [
            "CRA (EU) 2024/2847 Annex I Part II(1)",
            "CRA (EU) 2024/2847 Annex I Part II(7)"
        ]
    );
    assert!(matches!(life.run_device().await?, Outcome::UpToDate { .. }));

    // --- Day 30: feature release 1.1.0 ------------------------------------------------------
    life.advance_to(30).await?;
    life.release_and_publish("1.1.0", 1, ReleaseKind::Feature, Vec::new())
        .await?;
    let answer = life.check_in("probe-a", "1.0.0", 1).await?;
    assert_eq!(offered(&answer), ("1.1.0", ReleaseKind::Feature, vec![]));
    assert!(matches!(
        life.run_device().await?,
        Outcome::Installed { ref to, .. } if to == "1.1.0"
    ));
    assert_eq!(life.support_json().await?["status"], "supported");
    let report = life.report().await?;
    assert_eq!(
        ledger(&report),
        [
            ("1.0.0".into(), ReleaseKind::Feature),
            ("1.1.0".into(), ReleaseKind::Feature)
        ]
    );

    // --- Day 70: the feature window has ended ----------------------------------------------
    let now = life.advance_to(70).await?;
    let late_feature = life.release_options("1.1.5", 1, ReleaseKind::Feature, now, Vec::new())?;
    let refused = release::add(&life.repo, &late_feature)
        .await
        .expect_err("the signer refuses a feature release after the feature window");
    assert!(
        format!("{refused:#}").contains("feature window"),
        "{refused:#}"
    );
    // Forced through (a role signed by hand, bypassing the signer's check, in a copy of the
    // repository): the server refuses it on publish as well.
    let forced_dir = tmp.path().join("forced-repo");
    copy_dir(
        life.repo.metadata_dir().parent().context("repo dir")?,
        &forced_dir,
    )?;
    let forced = Repo::open(&forced_dir)?;
    sign_release_by_hand(&forced, &late_feature, now).await?;
    let refused = life
        .publish(&forced)
        .await
        .expect_err("the server refuses a feature release after the feature window");
    assert!(
        format!("{refused:#}").contains("feature window"),
        "{refused:#}"
    );
    assert_eq!(
        life.check_in("probe-b", "1.1.0", 1).await?,
        CheckInResponse::UpToDate { deferred: None },
        "nothing of the forced publish reached the server"
    );
    assert_eq!(
        life.support_json().await?["status"],
        "security_updates_only"
    );
    assert!(life
        .page()
        .await?
        .contains("supported: security updates only"));

    // A security release with a signed advisory is accepted.
    let advisory = Advisory {
        id: "CVE-2026-40001".into(),
        severity: Severity::High,
        summary: "Stack overflow in the RTSP parser".into(),
        cvss_v3: None,
        cwe: None,
    };
    life.release_and_publish("1.2.0", 2, ReleaseKind::Security, vec![advisory.clone()])
        .await?;
    for (device, from) in [("probe-a", "1.0.0"), ("probe-b", "1.1.0")] {
        let answer = life.check_in(device, from, 1).await?;
        assert_eq!(
            offered(&answer),
            ("1.2.0", ReleaseKind::Security, vec!["CVE-2026-40001"]),
            "from {from}"
        );
    }
    let (status, body) = life
        .get(&format!("v1/products/{PRODUCT}/advisories"))
        .await?;
    assert_eq!(status, 200, "{body}");
    let advisories: serde_json::Value = serde_json::from_str(&body)?;
    let list = advisories["advisories"].as_array().context("a list")?;
    assert_eq!(list.len(), 1, "{advisories}");
    assert_eq!(list[0]["id"], advisory.id);
    assert_eq!(list[0]["severity"], "high");
    assert_eq!(list[0]["fixed_in"], "1.2.0");
    assert_eq!(list[0]["security_version"], 2);
    assert!(matches!(
        life.run_device().await?,
        Outcome::Installed { ref to, .. } if to == "1.2.0"
    ));
    let report = life.report().await?;
    let entry = report.ledger.last().context("a ledger entry")?;
    assert_eq!(
        (entry.version.as_str(), entry.kind, entry.security_version),
        ("1.2.0", ReleaseKind::Security, 2)
    );
    assert_eq!(entry.advisories, ["CVE-2026-40001 (high)"]);
    assert!(entry.retained_until.is_some(), "CRA Art. 13(9) retention");
    assert!(
        !report.ledger.iter().any(|l| l.version == "1.1.5"),
        "the refused release is not in the ledger"
    );

    // --- Day 100: support extended ----------------------------------------------------------
    life.advance_to(100).await?;
    let reason = "Field trials run longer than planned";
    support::extend(&life.repo, PRODUCT, extended_until, None, None, reason).await?;
    life.publish(&life.repo).await?;
    let json = life.support_json().await?;
    assert_eq!(json["security_updates_until"], extended_until.to_string());
    assert_eq!(json["history"][0]["action"], "extend");
    assert_eq!(json["history"][0]["reason"], reason);
    assert_eq!(
        json["history"][0]["security_updates_until"],
        extended_until.to_string()
    );
    let page = life.page().await?;
    assert!(
        page.contains(&format!("<strong>{extended_until}</strong>")),
        "{page}"
    );
    assert!(page.contains(reason), "{page}");
    let report = life.report().await?;
    assert_eq!(report.support.security_updates_until, extended_until);
    assert_eq!(report.support.history.len(), 1);
    assert_eq!(report.support.history[0].reason, reason);
    assert!(compliance::markdown(&report).contains(reason));
    // Shortening back is refused.
    let shortened = support::extend(
        &life.repo,
        PRODUCT,
        first_security_until,
        None,
        None,
        "oops",
    )
    .await;
    assert!(shortened.is_err(), "support is never shortened");

    // --- Day 210: past the (extended) end of security support --------------------------------
    let now = life.advance_to(210).await?;
    let answer = life.check_in("probe-c", "1.2.0", 2).await?;
    assert_eq!(
        answer,
        CheckInResponse::EndOfSupport {
            statement: STATEMENT.into(),
            successor: Some(SUCCESSOR.into()),
            notice_url: Some(NOTICE.into()),
            security_updates_until: extended_until,
        }
    );
    assert_eq!(life.support_json().await?["status"], "end_of_support");
    let page = life.page().await?;
    assert!(
        page.contains("end of support: no more security updates"),
        "{page}"
    );
    assert!(page.contains(SUCCESSOR), "{page}");
    match life.run_device().await? {
        Outcome::EndOfSupport {
            statement,
            successor,
            security_updates_until,
            ..
        } => {
            assert_eq!(statement, STATEMENT);
            assert_eq!(successor.as_deref(), Some(SUCCESSOR));
            assert_eq!(security_updates_until, extended_until);
        }
        other => panic!("expected the end-of-support notice, got {other:?}"),
    }
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        life.device().agent.state_dir.join("device.json"),
    )?)?;
    assert_eq!(
        state["end_of_support_notice"], STATEMENT,
        "the device keeps the notice"
    );
    // A statement of compliance issued after the support period cannot be backed: the UK and
    // Australian verdicts name the gap; the EU's (period, retention, notice) still hold.
    let report = life.report().await?;
    let verdict = |j: &str| {
        report
            .verdicts
            .iter()
            .find(|v| v.jurisdiction == j)
            .map(|v| v.verdict.clone())
            .unwrap()
    };
    for row in ["Art. 13(8)", "Art. 13(9)", "Art. 13(19)"] {
        assert!(
            !missing(&report, "eu").iter().any(|m| m.contains(row)),
            "{:?}",
            missing(&report, "eu")
        );
    }
    for j in ["uk", "au"] {
        assert!(
            verdict(j).contains(&format!("ended on {extended_until}")),
            "{j}: {}",
            verdict(j)
        );
    }
    let late_security = life.release_options("1.2.1", 3, ReleaseKind::Security, now, Vec::new())?;
    let refused = release::add(&life.repo, &late_security)
        .await
        .expect_err("only a sunset release after the end of support");
    assert!(format!("{refused:#}").contains("sunset"), "{refused:#}");

    // --- Day 220: a sunset release is still published and offered ---------------------------
    life.advance_to(220).await?;
    life.release_and_publish("1.3.0", 3, ReleaseKind::Sunset, Vec::new())
        .await?;
    let answer = life.check_in("probe-c", "1.2.0", 2).await?;
    assert_eq!(offered(&answer), ("1.3.0", ReleaseKind::Sunset, vec![]));
    assert!(matches!(
        life.run_device().await?,
        Outcome::Installed { ref to, .. } if to == "1.3.0"
    ));
    // After the sunset image there is nothing more: the notice again, from the signed record.
    assert!(matches!(
        life.run_device().await?,
        Outcome::EndOfSupport { .. }
    ));
    assert!(matches!(
        life.check_in("probe-c", "1.3.0", 3).await?,
        CheckInResponse::EndOfSupport { .. }
    ));
    assert_eq!(life.support_json().await?["status"], "end_of_support");

    let report = life.report().await?;
    assert_eq!(
        ledger(&report),
        [
            ("1.0.0".into(), ReleaseKind::Feature),
            ("1.1.0".into(), ReleaseKind::Feature),
            ("1.2.0".into(), ReleaseKind::Security),
            ("1.3.0".into(), ReleaseKind::Sunset),
        ]
    );
    let figures = match &report.fleet {
        FleetFigures::FromServer { figures, .. } => figures,
        FleetFigures::NotRequested => panic!("fleet figures were requested"),
    };
    let installed = |version: &str| {
        figures
            .releases
            .iter()
            .find(|r| r.version == version)
            .map(|r| r.devices_installed)
    };
    assert_eq!(
        installed("1.3.0"),
        Some(1),
        "the simulated device installed the sunset image"
    );
    assert_eq!(installed("1.2.0"), Some(1));
    let md = compliance::markdown(&report);
    for text in [
        "1.3.0",
        "sunset",
        "CVE-2026-40001 (high)",
        reason,
        RATIONALE,
    ] {
        assert!(md.contains(text), "the report names {text:?}");
    }
    Ok(())
}

/// Signs a release into the product role without the signer's support-window check: what a
/// tampered or buggy signer could produce, for the server's own check to refuse.
async fn sign_release_by_hand(
    repo: &Repo,
    opts: &release::ReleaseOptions,
    released: Timestamp,
) -> Result<()> {
    use sha2::Digest;
    let bytes = std::fs::read(&opts.file)?;
    let name = format!(
        "{PRODUCT}/{}",
        opts.file
            .file_name()
            .context("a file name")?
            .to_string_lossy()
    );
    let target_path = repo.target_path(&name)?;
    std::fs::write(&target_path, &bytes)?;
    let info = airlock_core::release::ReleaseInfo {
        product: PRODUCT.into(),
        version: opts.version.clone(),
        security_version: opts.security_version,
        kind: opts.kind,
        requires: None,
        released: airlock_core::whole_seconds(released),
        advisories: Vec::new(),
    };
    let entry = tough::schema::Target {
        length: bytes.len() as u64,
        hashes: tough::schema::Hashes {
            sha256: sha2::Sha256::digest(&bytes).to_vec().into(),
            _extra: Default::default(),
        },
        custom: info.to_custom(),
        _extra: Default::default(),
    };
    let mut role = repo.load_role(PRODUCT)?.signed;
    role.add_target(tough::TargetName::new(name)?, entry);
    role.version = role.version.saturating_add(1);
    let delegations = repo
        .load_targets()?
        .signed
        .delegations
        .context("delegations")?;
    let keys = repo.role_keys(PRODUCT)?;
    repo.write_role(PRODUCT, role, &delegations, &keys).await?;
    Ok(())
}

/// The references of a jurisdiction's missing rows.
fn missing(report: &compliance::Report, jurisdiction: &str) -> Vec<String> {
    report
        .verdicts
        .iter()
        .find(|v| v.jurisdiction == jurisdiction)
        .map(|v| {
            v.missing
                .iter()
                .map(|m| m.split(": ").next().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}
