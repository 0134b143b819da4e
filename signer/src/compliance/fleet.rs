//! Fleet figures for the report, from the server's admin API
//! (`GET /v1/admin/products/{product}/fleet`, scope `read`); how the report shows them is
//! [`airlock_report::fleet`].

use anyhow::{Context, Result};

use airlock_core::api::FleetReport;

pub use airlock_report::fleet::{history_chart, human_duration, outcome_text, share, FleetFigures};

use crate::publish::error_of;

/// Fetches the fleet figures of `product` with a token that has the `read` scope.
pub async fn fetch(server: &url::Url, token: &str, product: &str) -> Result<FleetReport> {
    let url = server
        .join(&format!("v1/admin/products/{product}/fleet"))
        .context("building the fleet URL")?;
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("creating the HTTP client")?
        .get(url.clone())
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("fetching fleet figures from {url}"))?;
    if !resp.status().is_success() {
        return Err(error_of(resp)
            .await
            .context(format!("fetching fleet figures from {url}")));
    }
    resp.json()
        .await
        .with_context(|| format!("reading the fleet figures from {url}"))
}
