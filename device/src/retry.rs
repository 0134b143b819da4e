//! Retrying the device's requests to its server. A fleet meets a restarting server, a replica
//! killed behind its load balancer or a database that is briefly away as a connection refused,
//! a 502/503/504 from the balancer or a 503 with Retry-After from the server. The device tries
//! again after an exponentially growing wait with a cap, a bounded number of times, and with
//! jitter, so that devices which failed together do not all come back in the same instant.
//! A refusal of the request itself (4xx) is never retried, nor a server fault (500).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a failed request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The longest wait before the first retry; each further retry may wait twice as long.
    pub first: Duration,
    /// The longest wait between two attempts, whatever the attempt; a server's Retry-After is
    /// followed up to this too.
    pub max: Duration,
    /// Attempts in all, the first included: 1 means no retry.
    pub attempts: u32,
}

impl Default for Backoff {
    /// 0.5 s, 1 s, 2 s, 4 s, 8 s: six attempts within about 16 s at most.
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(500),
            max: Duration::from_secs(8),
            attempts: 6,
        }
    }
}

impl Backoff {
    /// One attempt, no retry.
    pub const NONE: Backoff = Backoff {
        first: Duration::ZERO,
        max: Duration::ZERO,
        attempts: 1,
    };

    /// The longest wait before retry number `retry` (0 for the first): `first` doubled
    /// `retry` times, at most `max`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.first
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max)
    }

    /// The wait before retry number `retry`: between half the [`Self::ceiling`] and the whole
    /// of it, placed by `jitter` (0 to 1); at least the server's `retry_after`, but never more
    /// than `max`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let ceiling = self.ceiling(retry);
        let jittered = ceiling / 2 + ceiling.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        jittered.max(retry_after.unwrap_or_default()).min(self.max)
    }
}

/// Answers worth another attempt: the server or a proxy in front of it is overloaded,
/// restarting or cannot reach it for now.
pub fn is_transient(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
}

/// A Retry-After given in seconds (the form the server sends).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A number in 0..1 that differs from call to call and device to device. Not for secrets: it
/// only spreads retries (the standard library's per-instance random hash keys, so no RNG
/// dependency).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// How many requests of a cycle were retried (shared with the TUF transport).
#[derive(Debug, Clone, Default)]
pub struct Retries(Arc<AtomicU32>);

impl Retries {
    pub fn count(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether a request that failed this way may be sent again: a request that cannot have
/// reached the server (no connection) always; one that may have (the connection broke after
/// it was sent, a timeout) only if sending it twice does no harm (`repeatable`).
fn may_resend(e: &reqwest::Error, repeatable: bool) -> bool {
    e.is_connect() || (repeatable && (e.is_timeout() || e.is_request()))
}

/// Sends the request `build` makes, again after a transient failure ([`is_transient`], a
/// connection failure), as `backoff` allows. Returns the last answer or error.
pub async fn send(
    backoff: &Backoff,
    retries: &Retries,
    repeatable: bool,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut retry = 0;
    loop {
        let result = build().send().await;
        let wait = match &result {
            Ok(resp) if is_transient(resp.status()) => retry_after(resp),
            Err(e) if may_resend(e, repeatable) => None,
            _ => return result,
        };
        if retry + 1 >= backoff.attempts {
            return result;
        }
        let delay = backoff.delay(retry, wait, jitter());
        match &result {
            Ok(resp) => {
                tracing::debug!(status = %resp.status(), ?delay, retry, url = %resp.url(), "retrying")
            }
            Err(e) => tracing::debug!(error = %e, ?delay, retry, "retrying"),
        }
        retries.add();
        tokio::time::sleep(delay).await;
        retry += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn waits_grow_exponentially_to_a_cap() {
        let b = Backoff::default();
        let ceilings: Vec<u64> = (0..8).map(|r| b.ceiling(r).as_millis() as u64).collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
        assert_eq!(b.ceiling(u32::MAX), b.max, "no overflow");
        for retry in 0..10 {
            let ceiling = b.ceiling(retry);
            assert_eq!(b.delay(retry, None, 0.0), ceiling / 2);
            assert_eq!(b.delay(retry, None, 1.0), ceiling);
            let d = b.delay(retry, None, jitter());
            assert!(d >= ceiling / 2 && d <= ceiling, "{d:?}");
        }
        // a Retry-After is waited at least, and at most the cap
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(3)), 0.0),
            Duration::from_secs(3)
        );
        assert_eq!(b.delay(0, Some(Duration::from_secs(3600)), 0.0), b.max);
        // the total wait of all retries is bounded
        let total: Duration = (0..b.attempts - 1).map(|r| b.ceiling(r)).sum();
        assert_eq!(total, Duration::from_millis(15_500));
    }

    #[test]
    fn only_transient_answers_are_retried() {
        for s in [408, 429, 502, 503, 504] {
            assert!(
                is_transient(reqwest::StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
        for s in [200, 202, 400, 401, 403, 404, 409, 500] {
            assert!(
                !is_transient(reqwest::StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let values: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let distinct: std::collections::BTreeSet<u64> =
            values.iter().map(|v| v.to_bits()).collect();
        assert!(distinct.len() > 32, "{distinct:?}");
    }

    /// A server that answers the first `failures` requests with 503 (Retry-After: 0) and the
    /// rest with 200; returns its URL and how many requests it saw.
    async fn flaky_server(failures: usize) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let answer = if n < failures {
                    "HTTP/1.1 503 Service Unavailable\r\nretry-after: 0\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                } else {
                    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                };
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        (url, seen)
    }

    fn quick(attempts: u32) -> Backoff {
        Backoff {
            first: Duration::from_millis(10),
            max: Duration::from_millis(40),
            attempts,
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_an_answer() {
        let (url, seen) = flaky_server(3).await;
        let client = reqwest::Client::new();
        let retries = Retries::default();
        let resp = send(&quick(6), &retries, true, || client.get(&url))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(seen.load(Ordering::SeqCst), 4);
        assert_eq!(retries.count(), 3);
    }

    #[tokio::test]
    async fn retries_stop_after_the_bounded_attempts() {
        let (url, seen) = flaky_server(usize::MAX).await;
        let client = reqwest::Client::new();
        let retries = Retries::default();
        let started = std::time::Instant::now();
        let resp = send(&quick(4), &retries, true, || client.get(&url))
            .await
            .unwrap();
        assert_eq!(resp.status(), 503, "the last answer is returned");
        assert_eq!(seen.load(Ordering::SeqCst), 4);
        assert_eq!(retries.count(), 3);
        // waits of at most 10 + 20 + 40 ms
        assert!(started.elapsed() < Duration::from_secs(2));
        let once = send(&Backoff::NONE, &Retries::default(), true, || {
            client.get(&url)
        })
        .await
        .unwrap();
        assert_eq!(once.status(), 503);
        assert_eq!(
            seen.load(Ordering::SeqCst),
            5,
            "no retry with Backoff::NONE"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_then_reported() {
        // a port nothing listens on
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = reqwest::Client::new();
        let retries = Retries::default();
        let url = format!("http://127.0.0.1:{port}/");
        let err = send(&quick(3), &retries, false, || client.get(&url))
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err}");
        assert_eq!(retries.count(), 2);
    }
}
