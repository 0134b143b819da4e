//! The advisory fields a release manager types and a server or device reads back from signed
//! metadata: CVSS v3 vectors (`airlock_core::cvss::CvssV3`), CWE references (`Cwe`), whole
//! advisories (`ID:SEVERITY:SUMMARY` and their JSON with `cvss_v3`/`cwe`) and VEX "not
//! affected" statements (`airlock_core::vex::NotAffected`, JSON as in the support record).
#![no_main]

use libfuzzer_sys::fuzz_target;

use airlock_core::cvss::{Cwe, CvssV3};
use airlock_core::release::Advisory;
use airlock_core::vex::NotAffected;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = text.parse::<CvssV3>() {
        // an accepted vector prints in the specification's order and reads back the same
        let printed = v.to_string();
        let again: CvssV3 = printed.parse().expect("a printed vector re-parses");
        assert_eq!(again, v);
        let score = v.base_score();
        assert!((0.0..=10.0).contains(&score), "score {score} of {printed}");
        assert!(v.check_score(&v.base_score_text()).is_ok());
        let _ = v.severity();
    }
    if let Ok(c) = text.parse::<Cwe>() {
        assert!(c.id.starts_with("CWE-") && c.id.len() <= 10);
        assert!(c.validate().is_ok());
    }
    if let Ok(a) = text.parse::<Advisory>() {
        assert!(a.cvss_v3.is_none() && a.cwe.is_none());
    }
    if let Ok(a) = serde_json::from_str::<Advisory>(text) {
        let json = serde_json::to_string(&a).expect("serialises");
        let again: Advisory = serde_json::from_str(&json).expect("re-parses");
        assert_eq!(again, a);
        let _ = a.cvss_severity();
    }
    if let Ok(n) = serde_json::from_str::<NotAffected>(text) {
        if n.validate().is_ok() {
            let _ = n.covers(&semver::Version::new(1, 2, 3));
            assert!(!n.impact_text().is_empty());
        }
    }
});
