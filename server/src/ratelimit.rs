//! Per-client rate limits (keyed by the peer's IP address, governor's GCRA) on the device and
//! admin endpoints. Over the limit: 429 with a JSON error and Retry-After.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use crate::app::AppState;
use crate::error::ApiError;

/// Requests per second and burst for one client; `None` disables the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    pub fn new(per_second: u32, burst: u32) -> Option<Rate> {
        Some(Rate {
            per_second: NonZeroU32::new(per_second)?,
            burst: NonZeroU32::new(burst.max(per_second))?,
        })
    }
}

pub struct Limiter {
    inner: DefaultKeyedRateLimiter<IpAddr>,
}

impl Limiter {
    pub fn new(rate: Rate) -> Self {
        Limiter {
            inner: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(rate.per_second).allow_burst(rate.burst),
            ),
        }
    }

    /// `Err(seconds to wait)` when `ip` is over its limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.inner.check_key(&ip).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }

    /// Forgets clients that have been quiet (bounds memory).
    pub fn forget_idle(&self) {
        self.inner.retain_recent();
    }
}

/// The limiters of a server.
#[derive(Default)]
pub struct Limits {
    pub devices: Option<Limiter>,
    pub admin: Option<Limiter>,
}

impl Limits {
    pub fn new(devices: Option<Rate>, admin: Option<Rate>) -> Self {
        Limits {
            devices: devices.map(Limiter::new),
            admin: admin.map(Limiter::new),
        }
    }

    pub fn forget_idle(&self) {
        for l in [&self.devices, &self.admin].into_iter().flatten() {
            l.forget_idle();
        }
    }
}

fn too_many(ip: IpAddr, wait: u64) -> Response {
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests from {ip}; retry in {wait} s"),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    resp
}

fn peer(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

pub async fn limit_devices(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if let (Some(limiter), Some(ip)) = (&app.limits.devices, peer(&req)) {
        if let Err(wait) = limiter.check(ip) {
            return too_many(ip, wait);
        }
    }
    next.run(req).await
}

pub async fn limit_admin(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if let (Some(limiter), Some(ip)) = (&app.limits.admin, peer(&req)) {
        if let Err(wait) = limiter.check(ip) {
            return too_many(ip, wait);
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_client() {
        let l = Limiter::new(Rate::new(1, 3).unwrap());
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        assert!(l.check(a).is_err(), "burst of 3 used up");
        assert!(l.check(b).is_ok(), "another client has its own budget");
        assert_eq!(Rate::new(0, 5), None, "0 disables");
    }
}
