//! The device's calls to the server's device API: enrolment, check-in and reports. Nothing
//! the server answers is trusted: the check-in answer is only a claim the device re-checks
//! against its own verified metadata ([`crate::offer`]).

use airlock_core::api::{
    CheckInRequest, CheckInResponse, DeviceReport, EnrolRequest, EnrolResponse, ReportStatus,
};

use crate::config::Config;
use crate::error::Error;
use crate::retry::{self, Retries};
use crate::state::{proposed_credential, store_credential, stored_credential};

fn url(cfg: &Config, what: &'static str, path: &str) -> Result<url::Url, Error> {
    cfg.server
        .join(path)
        .map_err(|source| Error::Url { what, source })
}

/// Enrols with the token if the device has no credential yet; returns the credential.
/// The device proposes its own credential ([`proposed_credential`]), so an enrolment whose
/// answer was lost is safe to send again: if the server had taken it, the repeat is answered
/// as the first time (the server knows the credential's digest, and only this device the
/// credential); if it had not (a replica killed before its commit), the repeat enrols it.
pub async fn ensure_enrolled(
    cfg: &Config,
    client: &reqwest::Client,
    retries: &Retries,
) -> Result<Option<String>, Error> {
    if let Some(c) = stored_credential(&cfg.state_dir) {
        return Ok(Some(c));
    }
    let Some(token) = &cfg.enrol_token else {
        return Ok(None);
    };
    // the device's own credential, kept before the request goes out: a repeat after a lost
    // answer (even after a restart) proposes the same one and is answered as the first time
    let request = EnrolRequest {
        token: token.clone(),
        product: cfg.product.clone(),
        credential: Some(proposed_credential(&cfg.state_dir)?),
    };
    let answer: EnrolResponse = post(
        (cfg, client, retries, true),
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
    retries: &Retries,
    credential: Option<&str>,
    request: &CheckInRequest,
) -> Result<CheckInResponse, Error> {
    post(
        (cfg, client, retries, true),
        credential,
        ("check-in", "check-in"),
        request,
        |server, source| Error::CheckInRequest { server, source },
        |status, body| Error::CheckInRefused { status, body },
    )
    .await
}

/// Posts `body` to `v1/devices/<id>/<endpoint>` and reads the JSON answer, retried as
/// `cfg.retry` allows (a request that may have reached the server only if `repeatable`).
/// `what` names the call in errors; `unsent` and `refused` build the call's own errors.
async fn post<T: serde::de::DeserializeOwned>(
    (cfg, client, retries, repeatable): (&Config, &reqwest::Client, &Retries, bool),
    credential: Option<&str>,
    (what, endpoint): (&'static str, &str),
    body: &impl serde::Serialize,
    unsent: impl FnOnce(url::Url, reqwest::Error) -> Error,
    refused: impl FnOnce(reqwest::StatusCode, String) -> Error,
) -> Result<T, Error> {
    let url = url(cfg, what, &format!("v1/devices/{}/{endpoint}", cfg.id))?;
    let resp = retry::send(&cfg.retry, retries, repeatable, || {
        let req = client.post(url.clone()).json(body);
        match credential {
            Some(c) => req.bearer_auth(c),
            None => req,
        }
    })
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

/// Reports progress or a result, retried as `cfg.retry` allows; whether the server took it
/// (2xx). Not delivered, it is logged, and the next check-in tells the server what the device
/// runs anyway. A report sent twice (its first answer lost) is recorded twice; each counts
/// once, as the device's latest vote.
pub async fn send_report(
    cfg: &Config,
    client: &reqwest::Client,
    retries: &Retries,
    status: ReportStatus,
    version: &str,
    code: Option<String>,
) -> bool {
    let report = DeviceReport {
        status,
        version: version.to_string(),
        code,
        delta: None,
    };
    send_device_report(cfg, client, retries, &report).await
}

/// [`send_report`] with a report built by the caller (e.g. one that says how a delta went).
pub async fn send_device_report(
    cfg: &Config,
    client: &reqwest::Client,
    retries: &Retries,
    report: &DeviceReport,
) -> bool {
    let Ok(url) = cfg.server.join(&format!("v1/devices/{}/reports", cfg.id)) else {
        return false;
    };
    let credential = stored_credential(&cfg.state_dir);
    let sent = retry::send(&cfg.retry, retries, true, || {
        let req = client.post(url.clone()).json(&report);
        match &credential {
            Some(c) => req.bearer_auth(c),
            None => req,
        }
    })
    .await;
    match sent {
        Ok(resp) if resp.status().is_success() => true,
        Ok(resp) => {
            tracing::warn!(device = %cfg.id, status = %resp.status(), "report not taken");
            false
        }
        Err(e) => {
            tracing::warn!(device = %cfg.id, error = %e, "report not delivered");
            false
        }
    }
}
