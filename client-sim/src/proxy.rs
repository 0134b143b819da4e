//! A tampering proxy in front of airlock-server, standing in for a compromised server or a
//! man in the middle. Devices pointed at it must refuse whatever it changes.
//!
//! It can rewrite check-in answers (a compromised server offering something the device must not
//! install) as well as anything below `/tuf/` (a man in the middle or a compromised mirror:
//! replaced images, replayed or substituted metadata, broken signatures, endless responses).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_core::api::CheckInResponse;

/// An endless response stops by itself after this many bytes...
pub const ENDLESS_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// ...or after this long, whichever comes first (or as soon as the client hangs up).
pub const ENDLESS_MAX_DURATION: Duration = Duration::from_secs(60);
const ENDLESS_CHUNK: usize = 64 * 1024;

/// Which responses a tamper applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Where {
    /// Exactly this request path, e.g. `/tuf/metadata/timestamp.json`.
    Path(String),
    /// Every firmware image below `/tuf/targets/` (support records excluded).
    Firmware,
}

impl Where {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Where::Path(p) => p == path,
            Where::Firmware => is_firmware(path),
        }
    }
}

/// What the proxy does to responses.
#[derive(Debug, Clone, Default)]
pub enum Tamper {
    /// Forward unchanged.
    #[default]
    None,
    /// Flip a byte in every firmware image download (support records pass unchanged).
    FlipTargetByte,
    /// Replace every byte of every firmware image (same length): arbitrary software.
    ReplaceTargetBytes,
    /// Flip one byte in the middle of the responses it matches (e.g. one delta).
    FlipByte(Where),
    /// Answer `timestamp.json` with these (older, validly signed) bytes.
    ReplayTimestamp(Bytes),
    /// Answer this exact request path with these bytes (e.g. older metadata under a newer name).
    Serve { path: String, bytes: Bytes },
    /// Flip one byte of the first signature of the JSON metadata at this path.
    FlipSignature { path: String },
    /// Remove every signature of the JSON metadata at this path.
    DropSignatures { path: String },
    /// Answer with an endless body (bounded by [`ENDLESS_MAX_BYTES`], [`ENDLESS_MAX_DURATION`]).
    Endless(Where),
    /// Replace every check-in answer with this one (a compromised server).
    CheckIn(CheckInResponse),
    /// Several of the above; for intercepted paths the first that applies wins.
    Many(Vec<Tamper>),
}

impl Tamper {
    /// The tampers, with `Many` flattened.
    fn flatten(&self) -> Vec<&Tamper> {
        match self {
            Tamper::Many(list) => list.iter().flat_map(Tamper::flatten).collect(),
            Tamper::None => Vec::new(),
            other => vec![other],
        }
    }
}

/// A firmware image path below `/tuf/targets/` (support records are not firmware).
pub fn is_firmware(path: &str) -> bool {
    path.starts_with("/tuf/targets/") && !path.ends_with("support.json")
}

/// `POST /v1/devices/{id}/check-in`.
pub fn is_check_in(method: &Method, path: &str) -> bool {
    method == Method::POST && path.starts_with("/v1/devices/") && path.ends_with("/check-in")
}

/// Flips one byte of the first signature of a TUF metadata document (`signatures[0].sig`,
/// hex). `None` if the document has no signature to flip.
pub fn flip_signature(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let sig = doc.get_mut("signatures")?.get_mut(0)?.get_mut("sig")?;
    let mut raw = hex::decode(sig.as_str()?).ok()?;
    let first = raw.first_mut()?;
    *first ^= 0x01;
    *sig = serde_json::Value::String(hex::encode(raw));
    serde_json::to_vec(&doc).ok()
}

/// Removes every signature of a TUF metadata document. `None` if it is not one.
pub fn drop_signatures(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let sigs = doc.get_mut("signatures")?;
    sigs.as_array()?;
    *sigs = serde_json::Value::Array(Vec::new());
    serde_json::to_vec(&doc).ok()
}

/// An endless stream of JSON whitespace that stops after `max_bytes` or `max_duration`, counting
/// what it produced in `served`.
pub fn endless_stream(
    max_bytes: u64,
    max_duration: Duration,
    served: Arc<AtomicU64>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let chunk = Bytes::from(vec![b' '; ENDLESS_CHUNK]);
    let started = Instant::now();
    futures::stream::unfold(0u64, move |sent| {
        let chunk = chunk.clone();
        let served = served.clone();
        async move {
            if sent >= max_bytes || started.elapsed() >= max_duration {
                return None;
            }
            let n = (chunk.len() as u64).min(max_bytes - sent);
            let piece = chunk.slice(..n as usize);
            served.fetch_add(n, Ordering::Relaxed);
            Some((Ok(piece), sent + n))
        }
    })
}

#[derive(Clone)]
struct ProxyState {
    upstream: url::Url,
    client: reqwest::Client,
    tamper: Arc<Mutex<Tamper>>,
    endless_served: Arc<AtomicU64>,
    requested: Arc<Mutex<Vec<String>>>,
}

/// A running proxy.
pub struct Proxy {
    pub url: url::Url,
    tamper: Arc<Mutex<Tamper>>,
    endless_served: Arc<AtomicU64>,
    /// The path of every request since the last [`Proxy::take_requested`].
    requested: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 (free port) in front of `upstream`.
    pub async fn start(upstream: url::Url, client: reqwest::Client) -> anyhow::Result<Proxy> {
        let tamper = Arc::new(Mutex::new(Tamper::None));
        let endless_served = Arc::new(AtomicU64::new(0));
        let requested = Arc::new(Mutex::new(Vec::new()));
        let state = ProxyState {
            upstream,
            client,
            tamper: tamper.clone(),
            endless_served: endless_served.clone(),
            requested: requested.clone(),
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
            endless_served,
            requested,
            task,
        })
    }

    pub fn set(&self, tamper: Tamper) {
        match self.tamper.lock() {
            Ok(mut t) => *t = tamper,
            Err(p) => *p.into_inner() = tamper,
        }
    }

    /// Bytes sent in endless responses so far.
    pub fn endless_served(&self) -> u64 {
        self.endless_served.load(Ordering::Relaxed)
    }

    pub fn reset_endless_served(&self) {
        self.endless_served.store(0, Ordering::Relaxed);
    }

    /// The paths requested since the last call (what a device fetched), and a fresh log.
    pub fn take_requested(&self) -> Vec<String> {
        match self.requested.lock() {
            Ok(mut r) => std::mem::take(&mut *r),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let tamper = match state.tamper.lock() {
        Ok(t) => t.clone(),
        Err(p) => p.into_inner().clone(),
    };
    let tampers = tamper.flatten();
    let path = uri.path();
    match state.requested.lock() {
        Ok(mut r) => r.push(path.to_string()),
        Err(p) => p.into_inner().push(path.to_string()),
    }

    // Answers the proxy makes up without asking the server.
    for t in &tampers {
        match t {
            Tamper::ReplayTimestamp(bytes) if path == "/tuf/metadata/timestamp.json" => {
                return (StatusCode::OK, bytes.clone()).into_response();
            }
            Tamper::Serve { path: p, bytes } if p == path => {
                return (StatusCode::OK, bytes.clone()).into_response();
            }
            Tamper::Endless(w) if w.matches(path) => {
                let stream = endless_stream(
                    ENDLESS_MAX_BYTES,
                    ENDLESS_MAX_DURATION,
                    state.endless_served.clone(),
                );
                return (StatusCode::OK, Body::from_stream(stream)).into_response();
            }
            _ => {}
        }
    }

    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let Ok(url) = state.upstream.join(path_and_query.trim_start_matches('/')) else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let check_in = is_check_in(&method, path);
    let mut request = state
        .client
        .request(method, url)
        .header("content-type", "application/json")
        .body(body);
    // What a device sends that the server acts on passes through unchanged (the device's
    // credential, resumed-download and cache validators).
    for name in [
        "authorization",
        "range",
        "if-range",
        "if-none-match",
        "x-request-id",
    ] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            request = request.header(name, v);
        }
    }
    let resp = match request.send().await {
        Ok(r) => r,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let Ok(bytes) = resp.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut bytes = bytes.to_vec();

    // Rewrites of what the server answered.
    for t in &tampers {
        match t {
            Tamper::FlipTargetByte if is_firmware(path) => {
                if let Some(b) = bytes.get_mut(0) {
                    *b ^= 0xff;
                }
            }
            Tamper::ReplaceTargetBytes if is_firmware(path) => {
                bytes.iter_mut().for_each(|b| *b = 0x41);
            }
            Tamper::FlipByte(w) if w.matches(path) => {
                let middle = bytes.len() / 2;
                if let Some(b) = bytes.get_mut(middle) {
                    *b ^= 0x5a;
                }
            }
            Tamper::FlipSignature { path: p } if p == path => {
                if let Some(b) = flip_signature(&bytes) {
                    bytes = b;
                }
            }
            Tamper::DropSignatures { path: p } if p == path => {
                if let Some(b) = drop_signatures(&bytes) {
                    bytes = b;
                }
            }
            Tamper::CheckIn(answer) if check_in => {
                return match serde_json::to_vec(answer) {
                    Ok(b) => json_response(StatusCode::OK, b),
                    Err(_) => StatusCode::BAD_GATEWAY.into_response(),
                };
            }
            _ => {}
        }
    }
    (status, bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn signatures_are_flipped_or_dropped() {
        let doc = br#"{"signed":{"_type":"timestamp","version":3},"signatures":[{"keyid":"ab","sig":"00ff10"}]}"#;
        let flipped: serde_json::Value =
            serde_json::from_slice(&flip_signature(doc).unwrap()).unwrap();
        assert_eq!(flipped["signatures"][0]["sig"], "01ff10");
        assert_eq!(flipped["signed"]["version"], 3);
        let dropped: serde_json::Value =
            serde_json::from_slice(&drop_signatures(doc).unwrap()).unwrap();
        assert_eq!(dropped["signatures"], serde_json::json!([]));
        assert_eq!(flip_signature(br#"{"signatures":[]}"#), None);
        assert_eq!(flip_signature(b"not json"), None);
        assert_eq!(drop_signatures(br#"{"signed":{}}"#), None);
    }

    #[test]
    fn paths() {
        assert!(is_firmware("/tuf/targets/acme-cam/ab.fw.bin"));
        assert!(!is_firmware("/tuf/targets/acme-cam/ab.support.json"));
        assert!(!is_firmware("/tuf/metadata/timestamp.json"));
        assert!(is_check_in(&Method::POST, "/v1/devices/d-1/check-in"));
        assert!(!is_check_in(&Method::GET, "/v1/devices/d-1/check-in"));
        assert!(!is_check_in(&Method::POST, "/v1/devices/d-1/reports"));
        assert!(Where::Path("/a".into()).matches("/a"));
        assert!(!Where::Path("/a".into()).matches("/b"));
    }

    #[test]
    fn many_is_flattened() {
        let t = Tamper::Many(vec![
            Tamper::FlipTargetByte,
            Tamper::Many(vec![Tamper::None, Tamper::ReplaceTargetBytes]),
        ]);
        assert_eq!(t.flatten().len(), 2);
        assert!(Tamper::None.flatten().is_empty());
    }

    #[tokio::test]
    async fn endless_stream_stops_by_itself() {
        let served = Arc::new(AtomicU64::new(0));
        let total: usize = endless_stream(200_000, Duration::from_secs(10), served.clone())
            .map(|c| c.unwrap().len())
            .fold(0, |a, n| async move { a + n })
            .await;
        assert_eq!(total, 200_000);
        assert_eq!(served.load(Ordering::Relaxed), 200_000);
        let n = endless_stream(u64::MAX, Duration::ZERO, served)
            .count()
            .await;
        assert_eq!(n, 0);
    }
}
