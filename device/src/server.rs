//! The device's calls to the server's device API: enrolment, check-in and reports. Nothing
//! the server answers is trusted: the check-in answer is only a claim the device re-checks
//! against its own verified metadata ([`crate::offer`]).

use airlock_core::api::{
    CheckInRequest, CheckInResponse, DeviceReport, EnrolRequest, EnrolResponse, ReportStatus,
};

use crate::config::Config;
use crate::error::Error;
use crate::state::{store_credential, stored_credential};

fn url(cfg: &Config, what: &'static str, path: &str) -> Result<url::Url, Error> {
    cfg.server
        .join(path)
        .map_err(|source| Error::Url { what, source })
}

/// Enrols with the token if the device has no credential yet; returns the credential.
pub async fn ensure_enrolled(
    cfg: &Config,
    client: &reqwest::Client,
) -> Result<Option<String>, Error> {
    if let Some(c) = stored_credential(&cfg.state_dir) {
        return Ok(Some(c));
    }
    let Some(token) = &cfg.enrol_token else {
        return Ok(None);
    };
    let request = EnrolRequest {
        token: token.clone(),
        product: cfg.product.clone(),
    };
    let answer: EnrolResponse = post(
        cfg,
        client,
        None,
        ("enrolment", "enrol"),
        &request,
        |server, source| Error::EnrolRequest { server, source },
        |status, body| Error::EnrolRefused { status, body },
    )
    .await?;
    store_credential(&cfg.state_dir, &answer.credential)?;
    Ok(Some(answer.credential))
}

/// Checks in: tells the server what the device runs and reads what it offers.
pub async fn check_in(
    cfg: &Config,
    client: &reqwest::Client,
    credential: Option<&str>,
    request: &CheckInRequest,
) -> Result<CheckInResponse, Error> {
    post(
        cfg,
        client,
        credential,
        ("check-in", "check-in"),
        request,
        |server, source| Error::CheckInRequest { server, source },
        |status, body| Error::CheckInRefused { status, body },
    )
    .await
}

/// Posts `body` to `v1/devices/<id>/<endpoint>` and reads the JSON answer. `what` names the
/// call in errors; `unsent` and `refused` build the call's own errors.
async fn post<T: serde::de::DeserializeOwned>(
    cfg: &Config,
    client: &reqwest::Client,
    credential: Option<&str>,
    (what, endpoint): (&'static str, &str),
    body: &impl serde::Serialize,
    unsent: impl FnOnce(url::Url, reqwest::Error) -> Error,
    refused: impl FnOnce(reqwest::StatusCode, String) -> Error,
) -> Result<T, Error> {
    let mut req = client.post(url(
        cfg,
        what,
        &format!("v1/devices/{}/{endpoint}", cfg.id),
    )?);
    if let Some(c) = credential {
        req = req.bearer_auth(c);
    }
    let resp = req
        .json(body)
        .send()
        .await
        .map_err(|source| unsent(cfg.server.clone(), source))?;
    read_answer(resp, what, refused).await
}

async fn read_answer<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    what: &'static str,
    refused: impl FnOnce(reqwest::StatusCode, String) -> Error,
) -> Result<T, Error> {
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|source| Error::ReadAnswer { what, source })?;
    if !status.is_success() {
        return Err(refused(status, text.trim().to_string()));
    }
    serde_json::from_str(&text).map_err(|source| Error::ParseAnswer { what, source })
}

/// Reports progress or a result. Best effort: a report that cannot be delivered is logged,
/// and the next check-in tells the server what the device runs anyway.
pub async fn send_report(
    cfg: &Config,
    client: &reqwest::Client,
    status: ReportStatus,
    version: &str,
    code: Option<String>,
) {
    let Ok(url) = cfg.server.join(&format!("v1/devices/{}/reports", cfg.id)) else {
        return;
    };
    let report = DeviceReport {
        status,
        version: version.to_string(),
        code,
    };
    let mut req = client.post(url).json(&report);
    if let Some(c) = stored_credential(&cfg.state_dir) {
        req = req.bearer_auth(c);
    }
    if let Err(e) = req.send().await {
        tracing::warn!(device = %cfg.id, error = %e, "report not delivered");
    }
}
