//! tough's [`Transport`] over HTTP (reqwest) and the filesystem (`file://`). A 404 becomes
//! `FileNotFound`, which is how a TUF client learns that no newer root exists (TUF 5.3.3).
//! A request that failed for a passing reason is sent again as its [`Backoff`] allows (none by
//! default): a metadata read is repeatable.

use async_trait::async_trait;
use futures::TryStreamExt;
use tough::{Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

use crate::retry::{self, Backoff, Retries};

#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    /// Sent as `Authorization: Bearer ...` (a device credential, for servers that serve
    /// `/tuf/` to enrolled devices only).
    bearer: Option<String>,
    retry: Backoff,
    retries: Retries,
}

impl HttpTransport {
    pub fn new(client: reqwest::Client) -> Self {
        HttpTransport {
            client,
            bearer: None,
            retry: Backoff::NONE,
            retries: Retries::default(),
        }
    }

    /// Retries failed requests as `backoff` allows, counting them in `retries`.
    pub fn with_retry(mut self, backoff: Backoff, retries: Retries) -> Self {
        self.retry = backoff;
        self.retries = retries;
        self
    }

    pub fn with_bearer(mut self, bearer: Option<String>) -> Self {
        self.bearer = bearer;
        self
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        if url.scheme() == "file" {
            return tough::FilesystemTransport.fetch(url).await;
        }
        let resp = retry::send(&self.retry, &self.retries, true, || {
            let request = self.client.get(url.clone());
            match &self.bearer {
                Some(b) => request.bearer_auth(b),
                None => request,
            }
        })
        .await
        .map_err(|e| TransportError::new_with_cause(TransportErrorKind::Other, &url, e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::FORBIDDEN {
            return Err(TransportError::new(TransportErrorKind::FileNotFound, &url));
        }
        if !status.is_success() {
            return Err(TransportError::new_with_cause(
                TransportErrorKind::Other,
                &url,
                std::io::Error::other(format!("HTTP {status}")),
            ));
        }
        let err_url = url.clone();
        let stream = resp.bytes_stream().map_err(move |e| {
            TransportError::new_with_cause(TransportErrorKind::Other, &err_url, e)
        });
        Ok(Box::pin(stream))
    }
}
