//! `airlock release add ... --sbom FILE`: the release's SBOM (CycloneDX 1.5+ or SPDX 2.3 JSON),
//! checked with [`airlock_core::sbom::validate`] and published as the TUF target
//! `<product>/<image file>.cdx.json` (or `.spdx.json`) of the product role, signed with the
//! image; the image's `custom.sbom` names it (path, sha256, length, format, spec_version) and
//! its `custom.sbom_for` names the image (docs/signer.md, "SBOMs").

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

use airlock_core::names;
use airlock_core::sbom::{self, SbomFormat, SbomRef, SbomSummary, SbomTargetInfo};

use crate::repo::Repo;

/// An SBOM read and checked, before anything is written.
#[derive(Debug, Clone)]
pub struct PreparedSbom {
    pub bytes: Vec<u8>,
    pub summary: SbomSummary,
    /// Its target name.
    pub target: String,
    /// The image's target name.
    pub image: String,
    pub sha256: String,
}

/// What `release add --json` prints about the SBOM.
#[derive(Debug, Clone, Serialize)]
pub struct SbomReport {
    pub path: String,
    pub sha256: String,
    pub length: u64,
    pub format: SbomFormat,
    pub spec_version: String,
    /// Components (CycloneDX) or packages (SPDX) it lists.
    pub components: usize,
}

/// Reads `file` and checks it as an SBOM of the image `image_target` (`<product>/<file>`).
pub fn prepare(file: &Path, image_target: &str) -> Result<PreparedSbom> {
    let meta =
        std::fs::metadata(file).with_context(|| format!("reading SBOM {}", file.display()))?;
    if meta.len() > sbom::MAX_SBOM_BYTES {
        return Err(sbom::SbomError::TooLarge(meta.len()))
            .with_context(|| format!("SBOM {}", file.display()));
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading SBOM {}", file.display()))?;
    let summary = sbom::validate(&bytes).with_context(|| format!("SBOM {}", file.display()))?;
    let target = sbom::sbom_target_name(image_target, summary.format);
    names::split_target_name(&target).with_context(|| {
        format!(
            "the SBOM's target name {target} (the image's name and {}) is too long or invalid: give the image a shorter --name",
            summary.format.suffix()
        )
    })?;
    use sha2::Digest;
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    Ok(PreparedSbom {
        bytes,
        summary,
        target,
        image: image_target.to_string(),
        sha256,
    })
}

impl PreparedSbom {
    pub fn length(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// `custom.sbom` of the image target.
    pub fn reference(&self) -> SbomRef {
        SbomRef {
            path: self.target.clone(),
            sha256: self.sha256.clone(),
            length: self.length(),
            format: self.summary.format,
            spec_version: self.summary.spec_version.clone(),
        }
    }

    /// The SBOM's TUF target entry.
    pub fn target_entry(&self) -> Result<tough::schema::Target> {
        Ok(tough::schema::Target {
            length: self.length(),
            hashes: tough::schema::Hashes {
                sha256: hex::decode(&self.sha256)?.into(),
                _extra: std::collections::HashMap::new(),
            },
            custom: SbomTargetInfo {
                sbom_for: self.image.clone(),
                format: self.summary.format,
                spec_version: self.summary.spec_version.clone(),
            }
            .to_custom(),
            _extra: std::collections::HashMap::new(),
        })
    }

    /// Adds `custom.sbom` to the image's custom fields.
    pub fn bind(
        &self,
        custom: &mut std::collections::HashMap<String, serde_json::Value>,
    ) -> Result<()> {
        custom.insert(
            sbom::IMAGE_FIELD.to_string(),
            serde_json::to_value(self.reference())?,
        );
        Ok(())
    }

    /// Writes the SBOM next to its final place (a leftover-named copy, synced); returns the
    /// copy and the final path, for [`Staged::commit`] after the role is signed.
    pub fn stage(&self, repo: &Repo) -> Result<Staged> {
        let dest = repo.target_path(&self.target)?;
        let dir = dest.parent().context("the target path has no directory")?;
        let (_, file) = names::split_target_name(&self.target)?;
        let tmp = dir.join(format!(".{file}{}", crate::leftovers::SUFFIX));
        std::fs::write(&tmp, &self.bytes).with_context(|| format!("writing {}", tmp.display()))?;
        crate::durable::sync_path(&tmp)?;
        Ok(Staged { tmp, dest })
    }

    pub fn report(&self) -> SbomReport {
        SbomReport {
            path: self.target.clone(),
            sha256: self.sha256.clone(),
            length: self.length(),
            format: self.summary.format,
            spec_version: self.summary.spec_version.clone(),
            components: self.summary.components,
        }
    }
}

/// An SBOM copy waiting for its role to be signed.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
}

impl Staged {
    pub fn commit(&self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("moving {} into place", self.dest.display()))
    }

    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// The SBOM target that the image target `entry` names (`custom.sbom`), if any: what a
/// withdrawal removes with the image.
pub fn named_by(entry: &tough::schema::Target) -> Option<String> {
    sbom::image_sbom_ref(&entry.custom)
        .and_then(|r| r.ok())
        .map(|r| r.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prepared_sbom_binds_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sbom.json");
        std::fs::write(
            &file,
            serde_json::to_vec(&serde_json::json!({
                "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                "components": [{"type": "library", "name": "zlib", "version": "1.3.1"}]
            }))
            .unwrap(),
        )
        .unwrap();
        let p = prepare(&file, "acme-cam/fw.bin").unwrap();
        assert_eq!(p.target, "acme-cam/fw.bin.cdx.json");
        let entry = p.target_entry().unwrap();
        let info = sbom::sbom_target_info(&entry.custom).unwrap();
        assert_eq!(info.sbom_for, "acme-cam/fw.bin");
        let mut custom = std::collections::HashMap::new();
        p.bind(&mut custom).unwrap();
        let r = sbom::image_sbom_ref(&custom).unwrap().unwrap();
        assert_eq!(r.sha256, hex::encode(&*entry.hashes.sha256));
        assert_eq!(r.length, entry.length);
        assert_eq!(r.spec_version, "1.6");

        std::fs::write(
            &file,
            b"{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.4\"}",
        )
        .unwrap();
        let e = prepare(&file, "acme-cam/fw.bin").unwrap_err();
        assert!(e.chain().any(|c| c.is::<sbom::SbomError>()), "{e:#}");
        let long = format!("acme-cam/{}", "f".repeat(195));
        std::fs::write(
            &file,
            serde_json::to_vec(
                &serde_json::json!({"bomFormat": "CycloneDX", "specVersion": "1.5"}),
            )
            .unwrap(),
        )
        .unwrap();
        let e = prepare(&file, &long).unwrap_err();
        assert!(format!("{e:#}").contains("shorter --name"), "{e:#}");
    }
}
