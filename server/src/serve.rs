//! Serving HTTP until shutdown: our own accept loop over hyper, because `axum::serve` has no
//! header-read timeout, no idle timeout and no connection cap. Without them a client that sends
//! its headers a byte at a time (or opens a connection and says nothing) holds a file
//! descriptor for ever, and thousands of them exhaust the server and stall its shutdown.
//! Over TLS the handshake counts against the header-read timeout, and HTTP/2 is served when the
//! client offers it (ALPN).

use anyhow::Result;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::app::AppState;
use crate::routes;
use crate::tls::{ClientCertificate, Tls};

/// Limits on connections (see `airlock-server serve --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest a client may take to send a request's headers (also bounds how long a fresh
    /// connection may stay silent).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes moving for this long is closed.
    /// (hyper starts the header-read timer as soon as a connection waits for a request, so
    /// between keep-alive requests the shorter of the two applies.)
    pub idle_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// What one connection is doing: when bytes last moved and how many requests are in flight.
struct Activity {
    started: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How long the connection has been idle (`None` while a request is in flight).
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        Some(self.started.elapsed().saturating_sub(last))
    }
}

/// A socket that records when bytes move through it.
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Counts a request in flight until its response future completes or is dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted in flight until it is sent or dropped.
struct Guarded {
    body: axum::body::Body,
    guard: InFlight,
}

impl http_body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let _ = &self.guard;
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Serves plain HTTP until `shutdown` completes. Then it stops accepting, closes connections
/// that have no request in flight (idle or still sending headers) at once, and lets in-flight
/// requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_with_tls(listener, app, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given (HTTP/2 when the client offers it by ALPN, with the
/// client's verified certificate as a request extension, [`ClientCertificate`]).
pub async fn serve_with_tls(
    listener: tokio::net::TcpListener,
    app: AppState,
    tls: Option<Arc<Tls>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let limits = app.config.connections;
    let router = routes::router(app);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tracker = tokio_util::task::TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        // at the cap, wait for a connection to end before accepting (clients queue in the backlog)
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // e.g. out of file descriptors: back off instead of spinning
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = socket.set_nodelay(true);
        tracker.spawn(connection(
            socket,
            peer,
            router.clone(),
            tls.clone(),
            limits,
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// The router as a hyper service for one connection: counts requests in flight and hands each
/// request the peer's address and, over TLS, the mark [`crate::ui::ServedOverTls`] (the
/// dashboard's cookie is then Secure) and the client certificate.
fn service(
    router: axum::Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    over_tls: bool,
    certificate: Option<ClientCertificate>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + Send
       + Clone
       + 'static {
    use tower::ServiceExt as _;
    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let guard = InFlight::start(&activity);
        let router = router.clone();
        let certificate = certificate.clone();
        async move {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            if over_tls {
                req.extensions_mut().insert(crate::ui::ServedOverTls);
            }
            if let Some(c) = certificate {
                req.extensions_mut().insert(c);
            }
            let resp = router.oneshot(req).await;
            // in flight until the body is sent (a download is not idle)
            resp.map(|r| r.map(|body| axum::body::Body::new(Guarded { body, guard })))
        }
    })
}

/// One accepted connection: the TLS handshake (bounded by the header-read timeout), then HTTP.
async fn connection(
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    tls: Option<Arc<Tls>>,
    limits: ConnectionLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let activity = Activity::new();
    let watched = Watched {
        inner: socket,
        activity: activity.clone(),
    };
    let Some(tls) = tls else {
        let service = service(router, peer, activity.clone(), false, None);
        let http = Http::Http1;
        serve_connection(watched, peer, service, http, activity, limits, stop, permit).await;
        return;
    };
    let handshake =
        tokio::time::timeout(limits.header_read_timeout, tls.acceptor().accept(watched));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                log_handshake_failure(peer, &e);
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        _ = stop.changed() => return,
    };
    let (_, session) = stream.get_ref();
    let http = if session.alpn_protocol() == Some(b"h2") {
        Http::Http2
    } else {
        Http::Http1
    };
    let certificate = tls.client_certificate(session);
    let service = service(router, peer, activity.clone(), true, certificate);
    serve_connection(stream, peer, service, http, activity, limits, stop, permit).await;
}

/// A refused client certificate is worth the operator's attention (a revoked or foreign
/// device); other handshake failures (scanners, old clients) are not.
fn log_handshake_failure(peer: SocketAddr, e: &std::io::Error) {
    let cause = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match cause {
        Some(rustls::Error::InvalidCertificate(why)) => {
            tracing::warn!(%peer, reason = ?why, "client certificate refused at the TLS handshake")
        }
        _ => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
    }
}

/// The HTTP version of a connection: HTTP/2 only when TLS negotiated it (ALPN `h2`), so a
/// plain connection never waits for a version preface without the header-read timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Http {
    Http1,
    Http2,
}

#[allow(clippy::too_many_arguments)]
async fn serve_connection<I, S>(
    io: I,
    peer: SocketAddr,
    service: S,
    http: Http,
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(io);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    match http {
        Http::Http1 => {
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            builder = builder.http1_only();
        }
        Http::Http2 => {
            builder.http2().timer(TokioTimer::new());
            builder = builder.http2_only();
        }
    }
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        return;
    }
    let tick = (limits.idle_timeout / 4).max(Duration::from_millis(50));
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                let _ = changed;
                conn.as_mut().graceful_shutdown();
                if activity.idle_for().is_some() {
                    return; // nothing in flight: close now rather than wait for the client
                }
            }
            _ = tokio::time::sleep(tick) => {
                if activity.idle_for().is_some_and(|idle| idle >= limits.idle_timeout) {
                    tracing::debug!(%peer, "closing an idle connection");
                    return;
                }
                if stopping && activity.idle_for().is_some() {
                    return;
                }
            }
        }
    }
}

/// Completes on Ctrl-C or SIGTERM (then in-flight requests finish).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
