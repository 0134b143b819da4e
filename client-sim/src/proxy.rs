//! A tampering proxy in front of airlock-server, standing in for a compromised server or a
//! man in the middle. Devices pointed at it must refuse whatever it changes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::{Arc, Mutex};

/// What the proxy does to responses.
#[derive(Debug, Clone, Default)]
pub enum Tamper {
    /// Forward unchanged.
    #[default]
    None,
    /// Flip a byte in every firmware image download (support records pass unchanged).
    FlipTargetByte,
    /// Answer `timestamp.json` with these (older, validly signed) bytes.
    ReplayTimestamp(Bytes),
}

#[derive(Clone)]
struct ProxyState {
    upstream: url::Url,
    client: reqwest::Client,
    tamper: Arc<Mutex<Tamper>>,
}

/// A running proxy.
pub struct Proxy {
    pub url: url::Url,
    tamper: Arc<Mutex<Tamper>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 (free port) in front of `upstream`.
    pub async fn start(upstream: url::Url, client: reqwest::Client) -> anyhow::Result<Proxy> {
        let tamper = Arc::new(Mutex::new(Tamper::None));
        let state = ProxyState {
            upstream,
            client,
            tamper: tamper.clone(),
        };
        let app = Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Proxy {
            url: url::Url::parse(&format!("http://{addr}/"))?,
            tamper,
            task,
        })
    }

    pub fn set(&self, tamper: Tamper) {
        match self.tamper.lock() {
            Ok(mut t) => *t = tamper,
            Err(p) => *p.into_inner() = tamper,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let tamper = match state.tamper.lock() {
        Ok(t) => t.clone(),
        Err(p) => p.into_inner().clone(),
    };
    let path = uri.path();
    if let Tamper::ReplayTimestamp(bytes) = &tamper {
        if path == "/tuf/metadata/timestamp.json" {
            return (StatusCode::OK, bytes.clone()).into_response();
        }
    }
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let Ok(url) = state.upstream.join(path_and_query.trim_start_matches('/')) else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let resp = match state
        .client
        .request(method, url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let Ok(bytes) = resp.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut bytes = bytes.to_vec();
    let firmware = path.starts_with("/tuf/targets/") && !path.ends_with("/support.json");
    if matches!(tamper, Tamper::FlipTargetByte) && firmware {
        if let Some(b) = bytes.get_mut(0) {
            *b ^= 0xff;
        }
    }
    (status, bytes).into_response()
}
