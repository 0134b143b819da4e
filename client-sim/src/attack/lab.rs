//! The attack lab: the demo's lab (acme-cam in support, acme-doorbell past its security window)
//! plus what the drills need: acme-hub past its feature window with a raised security floor,
//! a release below that floor, a feature release and a release with a `requires` chain;
//! acme-cam's key rotated (the old key kept to forge with); several versions of every metadata
//! file (three publishes and a re-sign).

use airlock_core::keys::SigningKey;
use airlock_core::release::ReleaseKind;
use airlock_signer::{product, release, support};
use anyhow::{Context, Result};
use tough::schema::{Role, Signature, Signed, Targets};

use crate::demo::Lab;

pub const CAM: &str = "acme-cam";
pub const DOORBELL: &str = "acme-doorbell";
pub const HUB: &str = "acme-hub";
/// acme-hub's security floor after it was raised.
pub const HUB_FLOOR: u64 = 3;

/// What only the lab has: a product key that a newer delegation revoked.
pub struct Revoked {
    pub product: String,
    pub key: SigningKey,
    pub key_id: String,
}

impl Revoked {
    /// Re-signs a product role (its exact `signed` part) with the revoked key only.
    pub fn forge(&self, role_bytes: &[u8]) -> Result<Vec<u8>> {
        let role: Signed<Targets> =
            serde_json::from_slice(role_bytes).context("parsing the role to forge")?;
        let canonical = role
            .signed
            .canonical_form()
            .context("canonical form of the role")?;
        let sig = self.key.sign_bytes(&canonical);
        let forged = Signed {
            signed: role.signed,
            signatures: vec![Signature {
                keyid: hex::decode(&self.key_id)
                    .context("decoding the revoked key id")?
                    .into(),
                sig: sig.into(),
            }],
        };
        serde_json::to_vec(&forged).context("serialising the forged role")
    }
}

fn date(s: &str) -> Result<jiff::civil::Date> {
    s.parse().with_context(|| format!("parsing date {s}"))
}

/// Starts the demo lab and extends it for the drills.
pub async fn build() -> Result<(Lab, Revoked)> {
    let lab = Lab::start("airlock-attack-").await?;
    let repo = &lab.repo;

    // acme-hub: feature window closed 2024-12-31, security window open until 2030-12-31.
    product::add(
        repo,
        &product::ProductOptions {
            id: HUB.into(),
            support_start: date("2020-01-01")?,
            feature_until: date("2024-12-31")?,
            security_until: date("2030-12-31")?,
            min_security_version: 1,
            notice_url: Some("https://acme.example/support/acme-hub".into()),
            statement: None,
            successor: None,
            security_contact: Some("mailto:security@acme.example".into()),
            disclosure_policy: None,
            updatable: true,
            rationale: None,
            keys: 1,
            threshold: 1,
        },
    )
    .await
    .context("adding acme-hub")?;
    let fw_dir = lab.dir.join("firmware");
    std::fs::create_dir_all(&fw_dir).with_context(|| format!("creating {}", fw_dir.display()))?;
    // (version, security_version, kind, requires, released)
    let releases: [(&str, u64, ReleaseKind, Option<&str>, &str); 4] = [
        (
            "1.5.0",
            1,
            ReleaseKind::Security,
            None,
            "2024-03-01T09:00:00Z",
        ),
        (
            "2.0.0",
            3,
            ReleaseKind::Feature,
            None,
            "2024-06-01T09:00:00Z",
        ),
        (
            "2.1.0",
            3,
            ReleaseKind::Security,
            None,
            "2025-03-01T09:00:00Z",
        ),
        (
            "2.2.0",
            3,
            ReleaseKind::Security,
            Some("2.1.0"),
            "2025-06-01T09:00:00Z",
        ),
    ];
    for (i, (version, sv, kind, requires, released)) in releases.into_iter().enumerate() {
        let file = fw_dir.join(format!("{HUB}-fw-{version}.bin"));
        let bytes: Vec<u8> = (0..32 * 1024 + i * 100)
            .map(|n| (n as u8).wrapping_mul(7).wrapping_add(i as u8))
            .collect();
        std::fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
        release::add(
            repo,
            &release::ReleaseOptions {
                product: HUB.into(),
                file,
                name: None,
                version: version.parse()?,
                security_version: sv,
                kind,
                requires: requires.map(str::parse).transpose()?,
                released: Some(released.parse()?),
                advisories: Vec::new(),
            },
        )
        .await
        .with_context(|| format!("adding {HUB} {version}"))?;
    }
    lab.publish().await.context("publishing acme-hub")?;

    // Raise acme-hub's floor (1.5.0 is now revoked as vulnerable) and rotate acme-cam's key.
    support::set_floor(
        repo,
        HUB,
        HUB_FLOOR,
        Some("1.5.0 has a known vulnerability (drill)"),
    )
    .await
    .context("raising the floor of acme-hub")?;
    let old_key = repo.load_key(CAM)?;
    let key_id = old_key.key_id()?;
    product::rotate_key(repo, CAM)
        .await
        .context("rotating the key of acme-cam")?;
    lab.publish()
        .await
        .context("publishing the raised floor and the rotated key")?;
    Ok((
        lab,
        Revoked {
            product: CAM.into(),
            key: old_key,
            key_id,
        },
    ))
}
