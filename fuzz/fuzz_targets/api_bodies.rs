//! Check-in, report and enrolment bodies as the server reads them: `routes::parse_json` into the
//! `airlock_core::api` type, then the server's own checks of the body (`decide::device_state`,
//! the device policy's bound, `reports::validate`, `deviceauth::check_device_id`). Every input is
//! tried as each body.
#![no_main]

use libfuzzer_sys::fuzz_target;

use airlock_core::api::{CheckInRequest, DeviceReport, EnrolRequest};
use airlock_core::names;
use airlock_server::routes::parse_json;

/// What the server accepts re-serialises to a body it reads back as the same value.
fn round_trips<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let json = serde_json::to_vec(value).expect("an accepted body serialises");
    let again: T = parse_json(&json).expect("a re-serialised body parses");
    assert_eq!(
        serde_json::to_value(value).expect("to value"),
        serde_json::to_value(&again).expect("to value"),
        "body changed through a round trip"
    );
}

fuzz_target!(|data: &[u8]| {
    let now = airlock_fuzz::fixture().now;
    if let Ok(req) = parse_json::<CheckInRequest>(data) {
        round_trips(&req);
        if let Ok(state) = airlock_server::decide::device_state(&req) {
            assert!(names::check_product_id(&state.product).is_ok());
            let printed = state.version.to_string();
            assert_eq!(semver::Version::parse(&printed).ok(), Some(state.version));
        }
        if let Some(policy) = &req.policy {
            // The server's default bound (`--max-postpone-days 30`).
            let _ = policy.validate(now, 30);
            let _ = policy.allows(airlock_core::release::ReleaseKind::Security, now);
        }
    }
    if let Ok(report) = parse_json::<DeviceReport>(data) {
        round_trips(&report);
        if airlock_server::reports::validate(&report).is_ok() {
            assert!(report.code.as_ref().is_none_or(|c| c.len() <= 256));
        }
    }
    if let Ok(req) = parse_json::<EnrolRequest>(data) {
        round_trips(&req);
    }
    // The device id of the URL path (`/v1/devices/{device_id}/...`).
    if let Ok(id) = std::str::from_utf8(data) {
        if airlock_server::deviceauth::check_device_id(id).is_ok() {
            assert!(!id.is_empty() && id.len() <= 128);
            assert!(!id.contains(['/', '\\', '%', '\0', ' ']), "{id:?}");
        }
    }
});
