//! Support records (`<product>/support.json`) as the server reads them at publish
//! (`serde_json` into `SupportRecord`) and the rules it applies: `validate`, `check_change`
//! from a previous record, `check_product_rules` (`airlock_core::verify`), the windows.
//! Input: one record, or two separated by a NUL byte (previous, next).
#![no_main]

use libfuzzer_sys::fuzz_target;

use airlock_core::release::ReleaseKind;
use airlock_core::support::SupportRecord;
use airlock_core::verify::{check_product_rules, PublishedProduct};

fuzz_target!(|data: &[u8]| {
    let now = airlock_fuzz::fixture().now;
    let parts = airlock_fuzz::parts(data);
    let records: Vec<SupportRecord> = parts
        .iter()
        .take(2)
        .filter_map(|p| serde_json::from_slice(p).ok())
        .collect();
    for record in &records {
        // A record re-serialises to the same record (what the signer signs is what is read).
        let json = serde_json::to_vec(record).expect("serialises");
        let again: SupportRecord = serde_json::from_slice(&json).expect("re-parses");
        assert_eq!(&again, record);
        let valid = record.validate().is_ok();
        if valid {
            assert!(
                record.check_change(record).is_ok(),
                "an unchanged valid record is refused as its own successor"
            );
        }
        let _ = record.feature_window_open(now);
        let _ = record.security_window_open(now);
        for kind in [
            ReleaseKind::Feature,
            ReleaseKind::Security,
            ReleaseKind::Sunset,
        ] {
            let _ = record.kind_allowed(kind, now);
        }
        let _ = check_product_rules(&record.product, None, record, &[], now);
    }
    if let [previous, next] = records.as_slice() {
        let _ = previous.check_change(next);
        let published = PublishedProduct {
            support: previous.clone(),
            release_names: Default::default(),
        };
        let _ = check_product_rules(&next.product, Some(&published), next, &[], now);
    }
});
