//! SBOM files (`airlock release add --sbom FILE`, and the SBOM targets `airlock verify` and the
//! device library fetch): `airlock_core::sbom::validate`, CycloneDX 1.5-1.7 and SPDX 2.3 JSON,
//! and the custom fields that bind an SBOM target to its image (`image_sbom_ref`,
//! `sbom_target_info`), read from the same bytes as a JSON object.
#![no_main]

use libfuzzer_sys::fuzz_target;

use airlock_core::sbom::{self, SbomFormat};

fuzz_target!(|data: &[u8]| {
    let result = sbom::validate(data);
    if let Ok(summary) = &result {
        let doc: serde_json::Value = serde_json::from_slice(data).expect("accepted means JSON");
        // the format is the one the document claims
        match summary.format {
            SbomFormat::Cyclonedx => {
                assert_eq!(doc["bomFormat"], "CycloneDX");
                assert!(sbom::CYCLONEDX_VERSIONS.contains(&summary.spec_version.as_str()));
            }
            SbomFormat::Spdx => {
                assert!(doc.get("bomFormat").is_none());
                assert_eq!(summary.spec_version, sbom::SPDX_VERSION);
            }
        }
        // every component is at least a few bytes of the input
        assert!(summary.components <= data.len() / 8 + 1);
        // the verdict depends on the content, not its spelling
        let again = serde_json::to_vec_pretty(&doc).expect("serialises");
        assert_eq!(sbom::validate(&again).as_ref(), Ok(summary));
        // the SBOM target's name for a valid image name is a valid target name or refused
        let name = sbom::sbom_target_name("acme-cam/fw-1.0.0.bin", summary.format);
        assert!(airlock_core::names::split_target_name(&name).is_ok());
    }
    // the same bytes as a target's custom fields
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(data) {
        let custom: std::collections::HashMap<String, serde_json::Value> =
            map.into_iter().collect();
        if let Some(Ok(r)) = sbom::image_sbom_ref(&custom) {
            let json = serde_json::to_value(&r).expect("serialises");
            assert_eq!(serde_json::from_value::<sbom::SbomRef>(json).ok(), Some(r));
        }
        if let Ok(info) = sbom::sbom_target_info(&custom) {
            assert!(sbom::is_sbom_target(&custom));
            assert_eq!(sbom::sbom_target_info(&info.to_custom()), Ok(info));
        }
    }
});
