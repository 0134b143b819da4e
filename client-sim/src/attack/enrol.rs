//! Drill devices against a real server enrol as drill devices: with an enrolment token made
//! with `drill: true`, whose credentials the server answers as any device's but records none
//! of their check-ins or reports. So a drill run against a production server never adds
//! devices, installs or failures to the fleet figures, the compliance report or a rollout's
//! health rule (issue 14). The command makes its own drill token with the admin token (and
//! revokes it afterwards), or checks that the `--enrol-token` it was given is one.

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

use airlock_core::api::{
    EnrolRequest, EnrolResponse, EnrolmentTokenInfo, EnrolmentTokenRequest, EnrolmentTokenResponse,
    TokenUses,
};

use super::ServerTarget;

/// What to tell a user whose run cannot mark its devices as drill devices.
pub const NEEDS_DRILL_TOKEN: &str = "against a server, drill devices enrol with a drill \
enrolment token, so that the server keeps them out of fleet figures, reports and rollouts: \
give --admin-token-file (scope devices; the command makes a drill token and revokes it \
afterwards) or --enrol-token with a token from `airlock enrolment-token create --drill`";

/// The enrolment token the run's drill devices use.
pub struct DrillEnrolment {
    pub token: String,
    /// The id of a token this run made (revoked by [`finish`]).
    made: Option<String>,
}

/// POSTs `body` as JSON to `path` on `server` (with `bearer` if given); the answer as `T`, or
/// an error naming the server's `{"error","message"}`.
async fn post<T: DeserializeOwned>(
    client: &reqwest::Client,
    server: &url::Url,
    path: &str,
    bearer: Option<&str>,
    body: &impl Serialize,
) -> Result<T> {
    let url = server
        .join(path)
        .with_context(|| format!("building the URL of {path}"))?;
    let mut request = client.post(url).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let resp = request
        .send()
        .await
        .with_context(|| format!("POST {path} on {server}"))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        bail!("POST {path} on {server} failed ({status}): {}", text.trim());
    }
    resp.json()
        .await
        .with_context(|| format!("reading the answer of POST {path}"))
}

/// The drill token for a run of `drills` drills: the given `--enrol-token` once the server
/// confirmed it enrols drill devices (by enrolling `<id_prefix>-drill-check` with it), else one
/// made with the admin token; an error when there is neither.
pub async fn drill_enrolment(
    client: &reqwest::Client,
    target: &ServerTarget,
    id_prefix: &str,
    drills: usize,
) -> Result<DrillEnrolment> {
    if let Some(token) = &target.enrol_token {
        let answer: EnrolResponse = post(
            client,
            &target.url,
            &format!("v1/devices/{id_prefix}-drill-check/enrol"),
            None,
            &EnrolRequest {
                token: token.clone(),
                product: target.device.product.clone(),
                credential: None,
            },
        )
        .await
        .context("checking the enrolment token")?;
        if !answer.drill {
            bail!(
                "the --enrol-token is not a drill token: its devices would count in {}'s fleet \
                 figures and rollouts (device {} was enrolled with it to find out; revoke it \
                 with `airlock device revoke`). {NEEDS_DRILL_TOKEN}",
                target.device.product,
                answer.device_id
            );
        }
        return Ok(DrillEnrolment {
            token: token.clone(),
            made: None,
        });
    }
    let Some(admin) = &target.admin_token else {
        bail!("{NEEDS_DRILL_TOKEN}");
    };
    // one device per drill, two more for endless-data's two parts, one spare
    let uses = u32::try_from(drills.saturating_add(3)).unwrap_or(u32::MAX);
    let made: EnrolmentTokenResponse = post(
        client,
        &target.url,
        "v1/admin/enrolment-tokens",
        Some(admin),
        &EnrolmentTokenRequest {
            product: target.device.product.clone(),
            device_id: None,
            expires_in: Some("1h".into()),
            expires_at: None,
            uses: Some(TokenUses::Count(uses)),
            drill: true,
        },
    )
    .await
    .context("making a drill enrolment token with the admin token")?;
    if !made.drill {
        bail!(
            "{} made an ordinary enrolment token, not a drill token (a server older than \
             airlock-sim?): not running drills that would count in its fleet figures",
            target.url
        );
    }
    Ok(DrillEnrolment {
        token: made.token,
        made: Some(made.id),
    })
}

/// Revokes the drill token this run made, if it made one.
pub async fn finish(client: &reqwest::Client, target: &ServerTarget, enrolment: &DrillEnrolment) {
    let (Some(id), Some(admin)) = (&enrolment.made, &target.admin_token) else {
        return;
    };
    let revoked: Result<EnrolmentTokenInfo> = post(
        client,
        &target.url,
        &format!("v1/admin/enrolment-tokens/{id}/revoke"),
        Some(admin),
        &serde_json::json!({}),
    )
    .await;
    if let Err(e) = revoked {
        tracing::warn!(token = %id, "could not revoke the run's drill enrolment token: {e:#}");
    }
}
