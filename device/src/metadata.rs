//! The device's TUF client: a refresh from its trusted metadata (TUF 5.3-5.6, tough's
//! `RepositoryLoader`), then its own product's releases and signed support record. Everything
//! the device later decides rests on what this returns.

use airlock_core::error_chain;
use airlock_core::names;
use airlock_core::release::Release;
use airlock_core::support::SupportRecord;
use airlock_core::verify::{read_product_targets, ProductTargets, SbomTarget};

use crate::config::Config;
use crate::refusal::{classify_tuf_error, Refusal, Refused};
use crate::retry::Retries;
use crate::state::{stored_credential, tuf_dir};
use crate::transport::HttpTransport;

/// The device's verified view of its product: releases and support record.
#[derive(Debug, Clone)]
pub struct Verified {
    pub releases: Vec<Release>,
    /// Delta targets of the product role, each consistent with `releases` (docs/deltas.md).
    pub deltas: Vec<airlock_core::delta::Delta>,
    pub support: SupportRecord,
}

fn tuf_failure(context: &str, e: &tough::error::Error) -> Refused {
    Refused::new(
        classify_tuf_error(e),
        format!("{context}: {}", error_chain(e)),
    )
}

/// TUF refresh from the device's trusted metadata, then its product's releases and support
/// record, all judged fresh at `now` (the device's clock).
pub async fn refresh(
    cfg: &Config,
    client: &reqwest::Client,
    retries: &Retries,
    now: jiff::Timestamp,
) -> Result<Verified, Refused> {
    let (repo, listed) = load(cfg, client, retries, now).await?;
    let support = support_record(&repo, &cfg.product).await?;
    Ok(Verified {
        releases: listed.releases,
        deltas: listed.deltas,
        support,
    })
}

/// A release's SBOM, fetched and verified through TUF ([`fetch_sbom`]).
#[derive(Debug, Clone)]
pub struct VerifiedSbom {
    /// The SBOM target, bound to its image by the signed role (the image's `custom.sbom`
    /// names this path, sha256, length and format).
    pub target: SbomTarget,
    /// The SBOM's bytes: its signed length and sha256 checked.
    pub bytes: Vec<u8>,
    /// What [`airlock_core::sbom::validate`] read from it.
    pub summary: airlock_core::sbom::SbomSummary,
}

/// The SBOM of the product's release `version`: a TUF refresh (the same checks as
/// [`refresh`]), then the SBOM target the release's signed fields name, downloaded with its
/// length and sha256 checked, and checked to be a valid SBOM of the signed format.
/// `Refusal::InvalidMetadata` when the release has no SBOM or the file is not a valid one.
/// The device's clock (`cfg.now`) judges the metadata fresh; a device that enrolled before
/// uses its stored credential (`--tuf-access enrolled`).
pub async fn fetch_sbom(
    cfg: &Config,
    client: &reqwest::Client,
    version: &semver::Version,
) -> Result<VerifiedSbom, Refused> {
    let invalid = |m: String| Refused::new(Refusal::InvalidMetadata, m);
    let (repo, listed) = load(cfg, client, &Retries::default(), cfg.now()).await?;
    let release = listed
        .releases
        .iter()
        .find(|r| r.info.version == *version)
        .ok_or_else(|| invalid(format!("{} has no release {version}", cfg.product)))?;
    let target = listed
        .sbom_of(&release.name)
        .cloned()
        .ok_or_else(|| invalid(format!("{} was released without an SBOM", release.name)))?;
    let name = tough::TargetName::new(target.name.clone()).map_err(|e| invalid(e.to_string()))?;
    let stream = repo
        .read_target(&name)
        .await
        .map_err(|e| tuf_failure("SBOM", &e))?
        .ok_or_else(|| invalid(format!("{} is not listed", target.name)))?;
    // tough checks the signed length and sha256 as the bytes arrive
    let bytes = tough::IntoVec::into_vec(stream)
        .await
        .map_err(|e| tuf_failure("SBOM", &e))?;
    let summary = airlock_core::sbom::validate(&bytes)
        .map_err(|e| invalid(format!("{}: {e}", target.name)))?;
    if summary.format != target.info.format || summary.spec_version != target.info.spec_version {
        return Err(invalid(format!(
            "{}: the file is {} {}, its signed fields say {} {}",
            target.name,
            summary.format,
            summary.spec_version,
            target.info.format,
            target.info.spec_version
        )));
    }
    Ok(VerifiedSbom {
        target,
        bytes,
        summary,
    })
}

/// The TUF refresh of [`refresh`]: the repository and the product role's targets.
async fn load(
    cfg: &Config,
    client: &reqwest::Client,
    retries: &Retries,
    now: jiff::Timestamp,
) -> Result<(tough::Repository, ProductTargets), Refused> {
    let local = |e: String| Refused::new(Refusal::LocalStorage, e);
    let dir = tuf_dir(&cfg.state_dir);
    std::fs::create_dir_all(&dir).map_err(|e| local(format!("creating {}: {e}", dir.display())))?;
    // Start from the newest root this device has verified before; the pinned root otherwise.
    let trusted = dir.join("root.json");
    let root_file = if trusted.is_file() {
        &trusted
    } else {
        &cfg.trusted_root
    };
    let root = std::fs::read(root_file)
        .map_err(|e| local(format!("reading trusted root {}: {e}", root_file.display())))?;
    let join = |path: &str| {
        cfg.tuf_base
            .join(path)
            .map_err(|e| Refused::new(Refusal::Other, e.to_string()))
    };
    // tough loads every delegated role and, enforcing expiry, refuses the whole load when any
    // one has expired: one product's lapsed role would stop every other product's devices.
    // Expiry is enforced below instead, at the device's clock, for exactly the roles this
    // device relies on; every other check (signatures, thresholds, versions, hashes, lengths)
    // stays tough's.
    let repo = tough::RepositoryLoader::new(&root, join("tuf/metadata/")?, join("tuf/targets/")?)
        .expiration_enforcement(tough::ExpirationEnforcement::Unsafe)
        .transport(
            HttpTransport::new(client.clone())
                .with_bearer(stored_credential(&cfg.state_dir))
                .with_retry(cfg.retry, retries.clone()),
        )
        .datastore(&dir)
        .load()
        .await
        .map_err(|e| tuf_failure("TUF verification failed", &e))?;

    let role_targets = product_role(&repo, &cfg.product)?;
    // TUF 5.3.10, 5.4.4, 5.5.6, 5.6.5: nothing the device relies on may have expired by the
    // device's own clock (the only expiry check: tough's is off, see above). A repository or a
    // man in the middle that keeps serving the same metadata cannot freeze the device past
    // this. Another product's role is not relied on, so its expiry does not matter here.
    let expiries = [
        ("root", repo.root().signed.expires),
        ("timestamp", repo.timestamp().signed.expires),
        ("snapshot", repo.snapshot().signed.expires),
        ("targets", repo.targets().signed.expires),
        (cfg.product.as_str(), role_targets.signed.expires),
    ];
    if let Some((role, expires)) = first_expired(&expiries, now) {
        return Err(Refused::new(
            Refusal::ExpiredMetadata,
            format!("freeze attack: {role} metadata expired at {expires} (device clock {now}); refusing stale metadata"),
        ));
    }
    let listed = read_product_targets(&cfg.product, &role_targets.signed).map_err(|e| {
        Refused::new(
            Refusal::InvalidMetadata,
            format!("signed metadata of {}: {e}", cfg.product),
        )
    })?;
    Ok((repo, listed))
}

/// The product role, reached through the delegation for exactly `<product>/*`.
fn product_role<'a>(
    repo: &'a tough::Repository,
    product: &str,
) -> Result<&'a tough::schema::Signed<tough::schema::Targets>, Refused> {
    let bad = |m: String| Refused::new(Refusal::BadDelegation, m);
    let delegations = repo
        .targets()
        .signed
        .delegations
        .as_ref()
        .ok_or_else(|| bad("targets metadata has no delegations".into()))?;
    let role = delegations
        .roles
        .iter()
        .find(|r| r.name == product)
        .ok_or_else(|| bad(format!("no signed role for product {product}")))?;
    let expected = names::product_path_pattern(product);
    match &role.paths {
        tough::schema::PathSet::Paths(p) if p.len() == 1 && p[0].value() == expected => {}
        _ => {
            return Err(bad(format!(
                "the delegation of {product} is not exactly {expected}"
            )))
        }
    }
    role.targets
        .as_ref()
        .ok_or_else(|| bad(format!("role {product} was not loaded")))
}

/// The product's support record, a target its role signed (verified by length and hash).
async fn support_record(repo: &tough::Repository, product: &str) -> Result<SupportRecord, Refused> {
    let name = tough::TargetName::new(names::support_target_name(product))
        .map_err(|e| Refused::new(Refusal::InvalidMetadata, e.to_string()))?;
    let stream = repo
        .read_target(&name)
        .await
        .map_err(|e| tuf_failure("support record", &e))?
        .ok_or_else(|| {
            Refused::new(
                Refusal::BadDelegation,
                format!("no signed support record for {product}"),
            )
        })?;
    let bytes = tough::IntoVec::into_vec(stream)
        .await
        .map_err(|e| tuf_failure("support record", &e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Refused::new(
            Refusal::InvalidMetadata,
            format!("support record of {product} is invalid: {e}"),
        )
    })
}

/// The first role (in TUF order) whose metadata has expired at `now`.
pub fn first_expired<'a>(
    expiries: &[(&'a str, jiff::Timestamp)],
    now: jiff::Timestamp,
) -> Option<(&'a str, jiff::Timestamp)> {
    expiries
        .iter()
        .copied()
        .find(|(_, expires)| *expires <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_expired_is_in_order_and_inclusive() {
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let list = [
            ("root", t("2030-01-01T00:00:00Z")),
            ("timestamp", t("2026-01-02T00:00:00Z")),
            ("snapshot", t("2026-01-01T00:00:00Z")),
        ];
        assert_eq!(first_expired(&list, t("2025-12-31T00:00:00Z")), None);
        assert_eq!(
            first_expired(&list, t("2026-01-01T00:00:00Z")),
            Some(("snapshot", t("2026-01-01T00:00:00Z")))
        );
        assert_eq!(
            first_expired(&list, t("2026-06-01T00:00:00Z")).map(|(r, _)| r),
            Some("timestamp")
        );
    }
}
