//! What the lab's repository holds. The demo: acme-cam in support and acme-doorbell past its
//! security window, four releases. The attack drills add acme-hub past its feature window
//! with a raised security floor, a release below that floor, a feature release and a release
//! with a `requires` chain; acme-plug, whose releases have deltas; acme-cam's key rotated (the old key kept to forge with); several
//! versions of every metadata file (three publishes and a re-sign).

use anyhow::{Context, Result};
use tough::schema::{Role, Signature, Signed, Targets};

use airlock_core::keys::SigningKey;
use airlock_core::release::ReleaseKind;

use super::repository::{NewRelease, Product};
use super::Lab;

pub const CAM: &str = "acme-cam";
pub const DOORBELL: &str = "acme-doorbell";
pub const HUB: &str = "acme-hub";
/// The product whose releases have deltas, for the delta drills.
pub const PLUG: &str = "acme-plug";
/// acme-hub's security floor after it was raised.
pub const HUB_FLOOR: u64 = 3;

/// Deterministic pseudo-random firmware bytes.
fn firmware(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn date(s: &str) -> Result<jiff::civil::Date> {
    s.parse().with_context(|| format!("parsing date {s}"))
}

fn acme(id: &str, dates: [&str; 3], floor: u64) -> Result<Product> {
    Ok(Product {
        min_security_version: floor,
        notice_url: Some(format!("https://acme.example/support/{id}")),
        security_contact: Some("mailto:security@acme.example".into()),
        ..Product::new(id.into(), date(dates[0])?, date(dates[1])?, date(dates[2])?)
    })
}

/// Writes the image `bytes` to `<lab>/firmware/<product>-fw-<version>.bin` and signs it.
async fn sign(
    lab: &Lab,
    (product, version, security_version, kind, requires, released): (
        &str,
        &str,
        u64,
        ReleaseKind,
        Option<&str>,
        &str,
    ),
    bytes: Vec<u8>,
    deltas_from: Option<u32>,
) -> Result<()> {
    let fw_dir = lab.dir.join("firmware");
    std::fs::create_dir_all(&fw_dir).with_context(|| format!("creating {}", fw_dir.display()))?;
    let file = fw_dir.join(format!("{product}-fw-{version}.bin"));
    std::fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
    lab.repo
        .add_release(&NewRelease {
            product: product.into(),
            file,
            version: version.parse()?,
            security_version,
            kind,
            requires: requires.map(str::parse).transpose()?,
            released: released.parse()?,
            deltas_from,
        })
        .await
        .with_context(|| format!("adding {product} {version}"))?;
    Ok(())
}

/// The demo's products and releases (not published).
pub async fn demo(lab: &Lab) -> Result<()> {
    lab.repo
        .add_product(&acme(CAM, ["2025-01-01", "2027-06-30", "2030-12-31"], 1)?)
        .await?;
    lab.repo
        .add_product(&Product {
            statement: Some(
                "acme-doorbell reached the end of its security support on 2025-12-31. \
                 It keeps working locally; replace it with acme-doorbell-2 for continued updates."
                    .into(),
            ),
            successor: Some("acme-doorbell-2".into()),
            ..acme(DOORBELL, ["2019-01-01", "2022-12-31", "2025-12-31"], 0)?
        })
        .await?;
    let releases = [
        (
            CAM,
            "1.0.0",
            1,
            ReleaseKind::Security,
            None,
            "2025-02-01T09:00:00Z",
        ),
        (
            CAM,
            "1.1.0",
            2,
            ReleaseKind::Feature,
            None,
            "2025-09-01T09:00:00Z",
        ),
        (
            CAM,
            "1.2.0",
            3,
            ReleaseKind::Security,
            None,
            "2026-03-01T09:00:00Z",
        ),
        (
            DOORBELL,
            "3.4.0",
            7,
            ReleaseKind::Security,
            None,
            "2025-06-01T09:00:00Z",
        ),
    ];
    for (i, release) in releases.into_iter().enumerate() {
        sign(
            lab,
            release,
            firmware(i as u64 + 1, 64 * 1024 + i * 1000),
            None,
        )
        .await?;
    }
    Ok(())
}

/// acme-plug for the delta drills: three security releases, each a small change of the one
/// before, signed with deltas from up to two earlier releases (1.1.0 from 1.0.0; 1.2.0 from
/// 1.0.0 and from 1.1.0), so that a device at 1.0.0 can be offered a delta for another source
/// (1.2.0 from 1.1.0) and a delta that rebuilds another image (1.1.0 from 1.0.0, offered
/// with 1.2.0).
async fn plug(lab: &Lab) -> Result<()> {
    lab.repo
        .add_product(&acme(PLUG, ["2025-01-01", "2030-12-31", "2031-12-31"], 1)?)
        .await
        .context("adding acme-plug")?;
    let mut image = firmware(41, 48 * 1024);
    let releases = [
        ("1.0.0", 1, "2026-01-05T09:00:00Z"),
        ("1.1.0", 2, "2026-02-05T09:00:00Z"),
        ("1.2.0", 3, "2026-03-05T09:00:00Z"),
    ];
    for (i, (version, security_version, released)) in releases.into_iter().enumerate() {
        if i > 0 {
            // a small change: 256 bytes rewritten in place, 512 bytes appended
            let at = 4096 * i;
            image[at..at + 256].copy_from_slice(&firmware(50 + i as u64, 256));
            image.extend_from_slice(&firmware(60 + i as u64, 512));
        }
        let release = (
            PLUG,
            version,
            security_version,
            ReleaseKind::Security,
            None,
            released,
        );
        sign(lab, release, image.clone(), Some(2)).await?;
    }
    Ok(())
}

/// What only the drill lab has: a product key that a newer delegation revoked.
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

/// Starts the demo lab and extends it for the attack drills.
pub async fn drills(prefix: &str) -> Result<(Lab, Revoked)> {
    let lab = Lab::demo(prefix).await?;
    // acme-hub: feature window closed 2024-12-31, security window open until 2030-12-31.
    lab.repo
        .add_product(&acme(HUB, ["2020-01-01", "2024-12-31", "2030-12-31"], 1)?)
        .await
        .context("adding acme-hub")?;
    let releases = [
        (
            HUB,
            "1.5.0",
            1,
            ReleaseKind::Security,
            None,
            "2024-03-01T09:00:00Z",
        ),
        (
            HUB,
            "2.0.0",
            3,
            ReleaseKind::Feature,
            None,
            "2024-06-01T09:00:00Z",
        ),
        (
            HUB,
            "2.1.0",
            3,
            ReleaseKind::Security,
            None,
            "2025-03-01T09:00:00Z",
        ),
        (
            HUB,
            "2.2.0",
            3,
            ReleaseKind::Security,
            Some("2.1.0"),
            "2025-06-01T09:00:00Z",
        ),
    ];
    for (i, release) in releases.into_iter().enumerate() {
        let bytes = (0..32 * 1024 + i * 100)
            .map(|n| (n as u8).wrapping_mul(7).wrapping_add(i as u8))
            .collect();
        sign(&lab, release, bytes, None).await?;
    }
    plug(&lab).await?;
    lab.publish(false)
        .await
        .context("publishing acme-hub and acme-plug")?;

    // Raise acme-hub's floor (1.5.0 is now revoked as vulnerable) and rotate acme-cam's key.
    lab.repo
        .set_floor(
            HUB,
            HUB_FLOOR,
            Some("1.5.0 has a known vulnerability (drill)"),
        )
        .await
        .context("raising the floor of acme-hub")?;
    let old_key = lab
        .repo
        .rotate_product_key(CAM)
        .await
        .context("rotating the key of acme-cam")?;
    let key_id = old_key.key_id()?;
    lab.publish(false)
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
