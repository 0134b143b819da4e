//! What happens around the fleet during a run: releases published (and their rollouts
//! started) when due, and the scenario's events (support extended, floor raised, key rotated,
//! a rollout paused or resumed by an operator).

use anyhow::{bail, Context, Result};

use airlock_core::api::RolloutRequest;

use super::setup::Stage;
use super::spec::{self, Scenario};

/// A rollout id derived from the scenario and its seed (so that runs are reproducible).
fn rollout_id(scn: &Scenario, product: &str, version: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{}/{}/{product}/{version}", scn.name, scn.seed));
    format!("sim-{}", hex::encode(&digest[..8]))
}

/// Signs and publishes a release; a release with a rollout is published held and its rollout
/// started.
pub async fn publish_release(
    scn: &Scenario,
    stage: &mut Stage,
    r: &spec::ReleaseSpec,
    now: jiff::Timestamp,
) -> Result<()> {
    stage.add_release(r, now).await?;
    stage
        .lab
        .publish(r.rollout.is_some())
        .await
        .with_context(|| format!("publishing {} {}", r.product, r.version))?;
    let version = r.version.to_string();
    stage.timeline.log(
        now,
        "release-team",
        "published",
        &version,
        Some(r.product.clone()),
    );
    let Some(ro) = &r.rollout else {
        return Ok(());
    };
    stage
        .lab
        .start_rollout(&RolloutRequest {
            product: r.product.clone(),
            version: version.clone(),
            waves: ro.waves.clone(),
            pause_if: ro.pause_if.clone(),
            // buckets follow from the seed: the same scenario gives the same waves
            id: Some(rollout_id(scn, &r.product, &version)),
        })
        .await
        .with_context(|| format!("starting the rollout of {} {}", r.product, r.version))?;
    stage.timeline.log(
        now,
        "release-team",
        "rollout_started",
        &version,
        Some(ro.waves.clone()),
    );
    Ok(())
}

pub async fn apply_event(
    stage: &mut Stage,
    e: &spec::EventSpec,
    now: jiff::Timestamp,
) -> Result<()> {
    let reason = e
        .reason
        .clone()
        .unwrap_or_else(|| format!("scenario event {}", e.action));
    let (event, version, detail) = match e.action.as_str() {
        "extend-support" => {
            let security = e
                .security_until
                .as_ref()
                .context("extend-support needs security_until")?
                .resolve(stage.start)?;
            let feature = e
                .feature_until
                .as_ref()
                .map(|f| f.resolve(stage.start))
                .transpose()?;
            stage
                .lab
                .repo
                .extend_support(&e.product, security, feature, &reason)
                .await?;
            stage.lab.publish(false).await?;
            let detail = format!("{}: security updates until {security}", e.product);
            ("support_extended", String::new(), Some(detail))
        }
        "set-floor" => {
            let floor = e.floor.context("set-floor needs floor")?;
            stage
                .lab
                .repo
                .set_floor(&e.product, floor, Some(&reason))
                .await?;
            stage.lab.publish(false).await?;
            let detail = format!("{}: security version floor {floor}", e.product);
            ("floor_raised", String::new(), Some(detail))
        }
        "rotate-product-key" => {
            stage.lab.repo.rotate_product_key(&e.product).await?;
            stage.lab.publish(false).await?;
            (
                "product_key_rotated",
                String::new(),
                Some(e.product.clone()),
            )
        }
        "pause-rollout" | "resume-rollout" => {
            let version = e.version.clone().context("needs version")?;
            let (action, event) = if e.action == "pause-rollout" {
                ("pause", "rollout_paused")
            } else {
                ("resume", "rollout_resumed")
            };
            stage
                .lab
                .rollout_action(&e.product, &version, action, reason.clone())
                .await?;
            stage
                .timeline
                .log(now, "operator", event, &version, Some(reason));
            return Ok(());
        }
        other => bail!("unknown event action {other:?}"),
    };
    stage
        .timeline
        .log(now, "release-team", event, &version, detail);
    Ok(())
}
