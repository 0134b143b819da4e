//! `airlock release add`: a firmware image becomes a target `<product>/<file>` of the product's
//! role, with the signed release fields of DESIGN.md in its `custom` field; `airlock release
//! withdraw`: a release leaves the role, recorded in the signed support history.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::PathBuf;

use airlock_core::names;
use airlock_core::release::{ReleaseInfo, ReleaseKind};
use tough::schema::Targets;

use crate::repo::{expiry_in_days, Repo};
use crate::support;

#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    pub product: String,
    pub file: PathBuf,
    /// Target file name; defaults to the file's own name.
    pub name: Option<String>,
    pub version: semver::Version,
    pub security_version: u64,
    pub kind: ReleaseKind,
    pub requires: Option<semver::Version>,
    /// Release time; defaults to now.
    pub released: Option<jiff::Timestamp>,
    /// Vulnerabilities this release fixes.
    pub advisories: Vec<airlock_core::release::Advisory>,
    /// Accept a version older than the product's newest release (a maintenance branch).
    pub allow_older: bool,
    /// The release's SBOM (CycloneDX 1.5+ or SPDX 2.3 JSON), published with it (crate::sbom).
    pub sbom: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    pub target: String,
    pub length: u64,
    pub sha256: String,
    pub role_version: u64,
    #[serde(flatten)]
    pub info: ReleaseInfo,
    /// The product's newest release, when this one is older (added with --allow-older).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub older_than: Option<semver::Version>,
    /// Deltas to this release, signed with it (docs/deltas.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<crate::delta::DeltaReport>,
    /// Earlier releases no delta was made from, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deltas_skipped: Vec<crate::delta::Skipped>,
    /// The SBOM target published with it (--sbom).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<crate::sbom::SbomReport>,
}

/// Refuses a release older than the product's newest one (`newest`), unless `allow_older`
/// (a maintenance branch, e.g. 1.1.1 after 1.4.0); returns that newest version when allowed,
/// so the output can say so.
pub(crate) fn check_not_older(
    product: &str,
    version: &semver::Version,
    newest: Option<&semver::Version>,
    allow_older: bool,
) -> Result<Option<semver::Version>> {
    match newest {
        Some(newest) if newest > version => {
            if !allow_older {
                bail!(
                    "{product} {version} is older than its newest release {newest}; if this is a \
                     release of an older line on purpose (a maintenance branch), add it with --allow-older"
                );
            }
            Ok(Some(newest.clone()))
        }
        _ => Ok(None),
    }
}

/// What the text output says about a release older than the newest (see [`check_not_older`]).
pub fn older_note(older_than: Option<&semver::Version>) -> String {
    older_than
        .map(|n| format!(" (older than the newest release {n}: allowed by --allow-older)"))
        .unwrap_or_default()
}

/// targets.json and the signed role of `product`, to add releases to: refused for a product id
/// that is not valid, not delegated by targets.json, or whose role waits in a staged targets
/// change.
pub(crate) fn product_role_for_release(repo: &Repo, product: &str) -> Result<(Targets, Targets)> {
    names::check_product_id(product)?;
    crate::targets::check_product_not_staged(repo, product)?;
    let targets = repo.load_targets()?.signed;
    if !repo.products(&targets).iter().any(|p| p == product) {
        return Err(repo.unknown_product(product));
    }
    let role = repo.load_role(product)?.signed;
    Ok((targets, role))
}

/// Refuses an empty firmware file (0 bytes: a failed build or copy), which no device could
/// install. `length` is the length of the copy when known, else the file's.
pub(crate) fn check_not_empty(file: &std::path::Path, length: Option<u64>) -> Result<()> {
    let length = match length {
        Some(l) => l,
        None => std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .len(),
    };
    if length == 0 {
        bail!(
            "firmware file {} is empty (0 bytes): no device could install it; check the build that made it",
            file.display()
        );
    }
    Ok(())
}

pub async fn add(repo: &Repo, opts: &ReleaseOptions) -> Result<ReleaseReport> {
    add_with_deltas(repo, opts, &crate::delta::DeltaOptions::default()).await
}

/// [`add`], with deltas from as many previous releases as `deltas` says (docs/deltas.md).
pub async fn add_with_deltas(
    repo: &Repo,
    opts: &ReleaseOptions,
    deltas: &crate::delta::DeltaOptions,
) -> Result<ReleaseReport> {
    let delta_count = deltas.count(repo)?;
    let delta_methods = deltas.methods(repo)?;
    let started = std::time::Instant::now();
    let ms = || started.elapsed().as_millis() as u64;
    let config = repo.config()?;
    let (targets, mut role) = product_role_for_release(repo, &opts.product)?;
    tracing::debug!(
        elapsed_ms = ms(),
        targets = role.targets.len(),
        "role loaded"
    );
    let support = repo.load_support(&opts.product)?;

    if !opts.file.is_file() {
        bail!("firmware file {} does not exist", opts.file.display());
    }
    check_not_empty(&opts.file, None)?;
    let file_name = match &opts.name {
        Some(n) => n.clone(),
        None => opts
            .file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .context("the firmware path has no file name")?,
    };
    names::check_file_name(&file_name)?;
    if file_name == names::SUPPORT_FILE {
        bail!("{} is reserved for the support record", names::SUPPORT_FILE);
    }
    let target = format!("{}/{}", opts.product, file_name);

    let released = airlock_core::whole_seconds(opts.released.unwrap_or_else(jiff::Timestamp::now));
    let info = ReleaseInfo {
        product: opts.product.clone(),
        version: opts.version.clone(),
        security_version: opts.security_version,
        kind: opts.kind,
        requires: opts.requires.clone(),
        released,
        advisories: opts.advisories.clone(),
    };
    let mut seen = std::collections::HashSet::new();
    for a in &info.advisories {
        if !seen.insert(a.id.as_str()) {
            bail!("advisory {} is given twice", a.id);
        }
    }
    if opts.kind == ReleaseKind::Feature && !info.advisories.is_empty() {
        bail!("advisories belong to security (or sunset) releases; this is a feature release");
    }
    // The signer refuses what the server would refuse (DESIGN.md support rules).
    support
        .check_new_release(&info, released)
        .context("the product's support record does not allow this release")?;
    // One pass over the role, reading only each target's version (a role may hold 100k).
    let mut newest: Option<semver::Version> = None;
    for (name, t) in &role.targets {
        if name.raw() == target {
            bail!("{target} is already released; give the new image a new file name");
        }
        if airlock_core::delta::is_delta(t) {
            continue;
        }
        let version = t
            .custom
            .get("version")
            .and_then(|v| v.as_str())
            .and_then(|v| semver::Version::parse(v).ok());
        if version.as_ref() == Some(&info.version) {
            bail!(
                "{} version {} is already released as {}",
                opts.product,
                info.version,
                name.raw()
            );
        }
        if version > newest {
            newest = version;
        }
    }
    let older_than = check_not_older(
        &opts.product,
        &info.version,
        newest.as_ref(),
        opts.allow_older,
    )?;
    // checked before the keys are asked for, like the image
    let sbom = match &opts.sbom {
        Some(file) => {
            let p = crate::sbom::prepare(file, &target)?;
            if role.targets.keys().any(|n| n.raw() == p.target) {
                bail!(
                    "{} is already a target; give the new image a new file name",
                    p.target
                );
            }
            Some(p)
        }
        None => None,
    };

    // The keys first: a passphrase or PIN is asked before a long copy, and a wrong one stops
    // the command before it touches the repository.
    tracing::debug!(elapsed_ms = ms(), "release checked");
    let keys = repo.role_keys(&opts.product)?;
    // Copy the image next to its final name, hash the copy that will be served, sign the role,
    // and only then move the image into place: a failure leaves the repository as it was.
    let dest = repo.target_path(&target)?;
    let dir = dest
        .parent()
        .context("the target path has no directory")?
        .to_path_buf();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // copies an interrupted run left (an hour old: no run is still writing them)
    crate::leftovers::remove_stale(repo, Some(&opts.product), jiff::Timestamp::now())?;
    let tmp = dir.join(format!(".{file_name}{}", crate::leftovers::SUFFIX));
    let mut made_deltas: Vec<crate::delta::Made> = Vec::new();
    let mut staged_sbom = None;
    let result = async {
        std::fs::copy(&opts.file, &tmp)
            .with_context(|| format!("copying {} into the repository", opts.file.display()))?;
        // on the disk before the role that lists it
        crate::durable::sync_path(&tmp)?;
        let (sha256, length) = crate::digest::sha256_file(&tmp)?;
        // the copy, in case the file was emptied since the check above
        check_not_empty(&opts.file, Some(length))?;
        let mut custom = info.to_custom();
        if let Some(s) = &sbom {
            s.bind(&mut custom)?;
            staged_sbom = Some(s.stage(repo)?);
        }
        let entry = tough::schema::Target {
            length,
            hashes: tough::schema::Hashes {
                sha256: hex::decode(&sha256)?.into(),
                _extra: std::collections::HashMap::new(),
            },
            custom,
            _extra: std::collections::HashMap::new(),
        };
        let sources = crate::delta::sources(&role, &info.version, delta_count);
        let (made, deltas_skipped) = crate::delta::make(
            repo,
            &sources,
            &delta_methods,
            &crate::delta::NewImage {
                target: &target,
                path: &tmp,
                sha256: &sha256,
                length,
            },
        )?;
        made_deltas = made;
        tracing::debug!(elapsed_ms = ms(), deltas = made_deltas.len(), "deltas made");
        let report = ReleaseReport {
            target: target.clone(),
            length,
            sha256,
            // the version the role is signed at below (saturating, as it is bumped there)
            role_version: role.version.get().saturating_add(1),
            info: info.clone(),
            older_than: older_than.clone(),
            deltas: made_deltas
                .iter()
                .map(|m| crate::delta::report(m, length))
                .collect(),
            deltas_skipped,
            sbom: sbom.as_ref().map(crate::sbom::PreparedSbom::report),
        };
        let mut role = std::mem::replace(
            &mut role,
            tough::schema::Targets::new(String::new(), std::num::NonZeroU64::MIN, released),
        );
        role.add_target(tough::TargetName::new(target.clone())?, entry);
        for m in &made_deltas {
            // a delta of an earlier release under the same name is replaced
            role.add_target(tough::TargetName::new(m.name.clone())?, m.target()?);
        }
        if let Some(s) = &sbom {
            role.add_target(tough::TargetName::new(s.target.clone())?, s.target_entry()?);
        }
        role.version = role.version.saturating_add(1);
        role.expires = expiry_in_days(config.expiry_days)?;
        let delegations = targets
            .delegations
            .clone()
            .context("targets.json has no delegations")?;
        // Sign first (nothing written if the keys are missing), then move the image in, then
        // write the role: the role never lists an image that is not in place.
        let signed = repo
            .sign_role(&opts.product, role, &delegations, &keys)
            .await?;
        std::fs::rename(&tmp, &dest)
            .with_context(|| format!("moving {} into place", dest.display()))?;
        for m in &made_deltas {
            std::fs::rename(&m.tmp, &m.dest)
                .with_context(|| format!("moving {} into place", m.dest.display()))?;
        }
        if let Some(s) = &staged_sbom {
            s.commit()?;
        }
        tracing::debug!(elapsed_ms = ms(), bytes = signed.len(), "role signed");
        crate::durable::write_atomic(&repo.role_path(&opts.product), &signed)?;
        tracing::debug!(elapsed_ms = ms(), "role written");
        Ok::<_, anyhow::Error>(report)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        crate::delta::remove(&made_deltas);
        if let Some(s) = &staged_sbom {
            s.discard();
        }
    }
    let report = result?;
    Ok(report)
}

/// `airlock release withdraw`: removes a release from the product role (no longer offered) and
/// records the withdrawal in the signed support history.
pub async fn withdraw(
    repo: &Repo,
    product: &str,
    version: &semver::Version,
    reason: &str,
    force: bool,
    retention_years: i16,
) -> Result<String> {
    names::check_product_id(product)?;
    // kept in the signed history, the public page and (forced) the audit log
    support::require_reason(reason)?;
    let role = repo.load_role(product)?.signed;
    let mut found = None;
    for (name, t) in &role.targets {
        if let Ok(r) = airlock_core::release::Release::from_target(name.raw(), t) {
            if r.info.version == *version {
                found = Some(name.clone());
            }
        }
    }
    let Some(name) = found else {
        bail!("{product} has no release {version}");
    };
    let release = role
        .targets
        .get(&name)
        .map(|t| airlock_core::release::Release::from_target(name.raw(), t))
        .transpose()?;
    let mut next = repo.load_support(product)?;
    let mut within_retention = false;
    if let Some(r) = &release {
        if let Some(until) = r.retained_until(retention_years, next.security_updates_until) {
            within_retention = jiff::Timestamp::now() < until;
            if within_retention && !force {
                bail!(
                    "{} carries a security fix and must stay available until {until} (CRA Art. 13(9): 10 years or the rest of the support period, whichever is longer); use --force with --reason to withdraw it anyway",
                    name.raw()
                );
            }
        }
    }
    let mut c = support::change("withdraw", reason);
    c.withdrawn = Some(name.raw().to_string());
    c.forced = within_retention;
    next.history.push(c);
    let target = name.clone();
    // Deltas to or from the withdrawn release go with it: the role must list every delta's
    // source and full target (airlock_core::delta::check_deltas).
    let withdrawn_sha256 = release.as_ref().map(|r| r.sha256.clone());
    let deltas: Vec<tough::TargetName> = role
        .targets
        .iter()
        .filter_map(|(n, t)| {
            let d = airlock_core::delta::Delta::from_target(n.raw(), t).ok()?;
            (d.info.target == name.raw()
                || Some(&d.info.source_sha256) == withdrawn_sha256.as_ref())
            .then(|| n.clone())
        })
        .collect();
    // its SBOM target (custom.sbom) leaves with it
    let sbom_target = role
        .targets
        .get(&name)
        .and_then(crate::sbom::named_by)
        .map(tough::TargetName::new)
        .transpose()?;
    support::replace_record(repo, product, &next, move |role| {
        role.remove_target(&target);
        for d in &deltas {
            role.remove_target(d);
        }
        if let Some(s) = &sbom_target {
            role.remove_target(s);
        }
        Ok(())
    })
    .await?;
    Ok(name.raw().to_string())
}

/// Attaches `--cvss ID:[SCORE:]VECTOR` and `--cwe ID:CWE-NUMBER:NAME` to the advisories given
/// with `--advisory`: each names one of them by id, at most once per advisory; the vector is
/// parsed and scored ([`airlock_core::cvss`]), a given score must equal the computed one, and
/// the score's severity must be the advisory's.
pub fn attach_scores(
    advisories: &mut [airlock_core::release::Advisory],
    cvss: &[String],
    cwe: &[String],
) -> Result<()> {
    fn target<'a>(
        advisories: &'a mut [airlock_core::release::Advisory],
        flag: &str,
        value: &str,
    ) -> Result<(&'a mut airlock_core::release::Advisory, String)> {
        let Some((id, rest)) = value.split_once(':') else {
            bail!("{flag} {value:?}: expected ID:... naming an advisory given with --advisory");
        };
        let known: Vec<String> = advisories.iter().map(|a| a.id.clone()).collect();
        let a = advisories
            .iter_mut()
            .find(|a| a.id == id.trim())
            .with_context(|| {
                format!(
                    "{flag} {value:?} names advisory {:?}, which is not given with --advisory (given: {})",
                    id.trim(),
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )
            })?;
        Ok((a, rest.trim().to_string()))
    }
    for value in cvss {
        let (advisory, rest) = target(advisories, "--cvss", value)?;
        if advisory.cvss_v3.is_some() {
            bail!("--cvss: advisory {} is given a vector twice", advisory.id);
        }
        let (score, vector) = if rest.starts_with("CVSS:") {
            (None, rest.as_str())
        } else {
            match rest.split_once(':') {
                Some((score, vector)) => (Some(score), vector),
                None => (None, rest.as_str()),
            }
        };
        let parsed: airlock_core::cvss::CvssV3 = vector
            .parse()
            .with_context(|| format!("--cvss for advisory {}", advisory.id))?;
        if let Some(score) = score {
            parsed
                .check_score(score)
                .with_context(|| format!("--cvss for advisory {}", advisory.id))?;
        }
        advisory.set_cvss(parsed).map_err(anyhow::Error::msg)?;
    }
    for value in cwe {
        let (advisory, rest) = target(advisories, "--cwe", value)?;
        if advisory.cwe.is_some() {
            bail!("--cwe: advisory {} is given a weakness twice", advisory.id);
        }
        let parsed: airlock_core::cvss::Cwe = rest
            .parse()
            .with_context(|| format!("--cwe for advisory {}", advisory.id))?;
        advisory.cwe = Some(parsed);
    }
    Ok(())
}
