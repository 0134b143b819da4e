//! `airlock rollout start|status|list|pause|resume|abort`: staged rollouts through the server's
//! admin API.

use anyhow::{Context, Result};

use airlock_core::api::{RolloutAction, RolloutRequest, RolloutStatus};

use crate::publish::error_of;

#[derive(Debug, Clone)]
pub struct AdminClient {
    pub server: url::Url,
    pub token: String,
    client: reqwest::Client,
}

impl AdminClient {
    pub fn new(server: url::Url, token: String) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("creating the HTTP client")?;
        Ok(AdminClient {
            server,
            token,
            client,
        })
    }

    /// Sends an admin request with the token; the answer's JSON, or the server's refusal.
    pub async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("contacting {}", self.server))?;
        if !resp.status().is_success() {
            return Err(error_of(resp).await);
        }
        resp.json().await.context("reading the server's answer")
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.server.join(path).context("building the admin URL")
    }

    /// A GET of an admin path (`v1/admin/...`).
    pub fn get(&self, path: &str) -> Result<reqwest::RequestBuilder> {
        Ok(self.client.get(self.url(path)?))
    }

    /// A POST of an admin path (`v1/admin/...`).
    pub fn post(&self, path: &str) -> Result<reqwest::RequestBuilder> {
        Ok(self.client.post(self.url(path)?))
    }

    pub async fn start(&self, req: &RolloutRequest) -> Result<RolloutStatus> {
        let url = self.url("v1/admin/rollouts")?;
        self.send(self.client.post(url).json(req)).await
    }

    /// Every rollout the server has, oldest first, ended ones included.
    pub async fn list(&self) -> Result<Vec<RolloutStatus>> {
        self.send(self.get("v1/admin/rollouts")?).await
    }

    pub async fn status(&self, product: &str, version: &str) -> Result<RolloutStatus> {
        let url = self.url(&format!("v1/admin/rollouts/{product}/{version}"))?;
        self.send(self.client.get(url)).await
    }

    pub async fn act(
        &self,
        product: &str,
        version: &str,
        action: &str,
        reason: Option<String>,
    ) -> Result<RolloutStatus> {
        let url = self.url(&format!("v1/admin/rollouts/{product}/{version}/{action}"))?;
        self.send(self.client.post(url).json(&RolloutAction { reason }))
            .await
    }
}

/// The devices reached: offered the release, of the product's devices the server knows.
fn offered(s: &RolloutStatus) -> String {
    let share = if s.fleet_devices == 0 {
        0.0
    } else {
        s.devices_offered as f64 * 100.0 / s.fleet_devices as f64
    };
    format!(
        "offered to {} of {} devices ({share:.1}%)",
        s.devices_offered, s.fleet_devices
    )
}

/// Human-readable status. The wave's share (device buckets the waves have opened) and the
/// devices reached (offered the release) are different figures: both are shown, named.
pub fn render(s: &RolloutStatus) -> String {
    format!(
        "rollout {} of {} {} ({}): {}{}\n  waves {}; the current wave opens it to {:.2}% of the fleet\n  {}\n  health rule: {}\n  reports since start: {} installed, {} failed ({:.1}% failures)\n",
        s.id,
        s.product,
        s.version,
        s.target,
        s.state,
        s.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default(),
        s.waves.join(","),
        s.reached_percent,
        offered(s),
        s.pause_if.as_deref().unwrap_or("none"),
        s.installed,
        s.failed,
        s.failure_rate_percent
    )
}

/// Human-readable list: one line per rollout, oldest first.
pub fn render_list(list: &[RolloutStatus]) -> String {
    if list.is_empty() {
        return "no rollouts\n".to_string();
    }
    let mut out = String::from("product\tversion\tstate\twave\treached\treports\tid\treason\n");
    for s in list {
        out.push_str(&format!(
            "{}\t{}\t{}\t{:.2}%\t{}/{} devices\t{} installed, {} failed\t{}\t{}\n",
            s.product,
            s.version,
            s.state,
            s.reached_percent,
            s.devices_offered,
            s.fleet_devices,
            s.installed,
            s.failed,
            s.id,
            s.reason.as_deref().unwrap_or("")
        ));
    }
    out
}
