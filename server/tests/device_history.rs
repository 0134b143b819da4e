//! `GET /v1/admin/devices/{device_id}`: one device's history over the admin API (the
//! dashboard's device page as JSON): its enrolment, check-ins as runs of the same answer,
//! offers and reports; the scope, the 400 and the 404.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use airlock_core::api::{DeviceHistory, DeviceReport, ReportStatus};
use airlock_server::storage::CheckInRecord;
use airlock_server::{ServeConfig, Storage, SystemClock};

mod common;
use common::{start, ADMIN};

#[tokio::test]
async fn a_devices_history_over_the_admin_api() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, url) = start(tmp.path(), ServeConfig::default(), Arc::new(SystemClock)).await;
    let srv = tmp.path().join("srv");

    // what devices told the server, straight into the store
    let at = |s: i64| jiff::Timestamp::from_second(1_800_000_000 + s).unwrap();
    let check_in = |s: i64, version: &str, decision: &str, offered: Option<&str>| CheckInRecord {
        device_id: "cam-7".into(),
        product: "acme-cam".into(),
        version: version.into(),
        security_version: 1,
        decision: decision.into(),
        at: at(s),
        policy: None,
        offered: offered.map(Into::into),
    };
    app.state
        .record_check_ins(&[
            check_in(0, "1.0.0", "up_to_date", None),
            check_in(60, "1.0.0", "up_to_date", None),
            check_in(120, "1.0.0", "update", Some("1.1.0")),
        ])
        .await
        .unwrap();
    let report = |status: ReportStatus| DeviceReport {
        status,
        version: "1.1.0".into(),
        code: None,
        delta: None,
    };
    app.state
        .record_report("cam-7", &report(ReportStatus::Installed), at(150))
        .await
        .unwrap();
    app.state
        .record_check_in(&check_in(180, "1.1.0", "up_to_date", None))
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let get = |id: &str, token: &str| {
        let req = http
            .get(format!("{url}/v1/admin/devices/{id}"))
            .bearer_auth(token);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = get("cam-7", ADMIN).await;
    assert_eq!(status, 200, "{body}");
    let h: DeviceHistory = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(h.device_id, "cam-7");
    assert!(h.enrolment.is_none(), "never enrolled");
    let runs: Vec<_> = h
        .check_ins
        .iter()
        .map(|r| {
            (
                r.since,
                r.until,
                r.check_ins,
                r.version.as_str(),
                r.decision.as_str(),
                r.offered.as_deref(),
                r.current,
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            (at(180), at(180), 1, "1.1.0", "up_to_date", None, true),
            (at(120), at(120), 1, "1.0.0", "update", Some("1.1.0"), false),
            (at(0), at(60), 2, "1.0.0", "up_to_date", None, false),
        ]
    );
    assert_eq!(h.offers.len(), 1);
    assert_eq!(
        (h.offers[0].version.as_str(), h.offers[0].first_offered_at),
        ("1.1.0", at(120))
    );
    assert_eq!(h.reports.len(), 1);
    assert_eq!(
        (h.reports[0].status.as_str(), h.reports[0].counted),
        ("installed", true)
    );
    // times are RFC 3339 text
    assert_eq!(body["check_ins"][2]["since"], at(0).to_string());

    // refusals: unknown device, malformed id, no or wrong token, a token without `read`
    let (status, body) = get("cam-8", ADMIN).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_device"))
    );
    let (status, body) = get("bad%20id", ADMIN).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(get("cam-7", "wrong-token-0123456789").await.0, 401);
    let devices_only = airlock_server::create_admin_token(
        &srv,
        &Storage::default(),
        "revoker",
        &["devices".to_string()],
    )
    .await
    .unwrap();
    assert_eq!(get("cam-7", &devices_only).await.0, 403);
}
