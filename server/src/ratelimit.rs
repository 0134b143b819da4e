//! Per-client rate limits (governor's GCRA) on the device and admin endpoints. Over the limit:
//! 429 with a JSON error and Retry-After.
//!
//! A client is its IPv4 address, or its IPv6 /64: one host usually holds a whole /64 and could
//! otherwise take a fresh address (and a fresh budget) per request. Behind a reverse proxy every
//! request comes from the proxy; `--trust-forwarded-for CIDR` names the proxies whose
//! `X-Forwarded-For` is believed (the last address it appended is the client). From anyone
//! else the header is ignored: a client could name any address it likes.

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

/// An address block, `10.0.0.0/8` or `fd00::/8` (a plain address is a block of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let bad =
            || format!("{s:?} is not an address block (e.g. 10.0.0.0/8, fd00::/8, 127.0.0.1)");
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.network, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), self.prefix, 32)
                    == masked(u32::from(a).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (a dual-stack listener's IPv4 clients) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The key a client's budget is kept under: its IPv4 address or its IPv6 /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// Who the client is: the peer, or, when the peer is a trusted proxy, the address that proxy
/// appended to `X-Forwarded-For` (its last entry; earlier ones the client could have written).
/// When that address is a trusted proxy too, the entry before it is believed, and so on. An
/// entry that is no address (`unknown`, an obfuscated name) ends the walk at the proxy that
/// sent it: skipping it would believe an entry the client wrote.
pub fn client_ip(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_proxy = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    // right to left; a line that is not text counts as one entry that is no address
    let mut entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|line| line.to_str().unwrap_or("?").rsplit(','));
    let mut client = peer;
    while is_proxy(client) {
        match entries.next().and_then(forwarded_address) {
            Some(ip) => client = ip,
            None => break,
        }
    }
    client
}

/// One `X-Forwarded-For` entry: `192.0.2.1`, `2001:db8::1`, or with a port as some proxies
/// write it (`192.0.2.1:4711`, `[2001:db8::1]:4711`, `[2001:db8::1]`).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
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
        self.inner.check_key(&client_key(ip)).map_err(|not_until| {
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

fn peer(app: &AppState, req: &Request) -> Option<IpAddr> {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(client_ip(
        peer,
        req.headers(),
        &app.config.trust_forwarded_for,
    ))
}

pub async fn limit_devices(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if let (Some(limiter), Some(ip)) = (&app.limits.devices, peer(&app, &req)) {
        if let Err(wait) = limiter.check(ip) {
            return too_many(ip, wait);
        }
    }
    next.run(req).await
}

pub async fn limit_admin(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if let (Some(limiter), Some(ip)) = (&app.limits.admin, peer(&app, &req)) {
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

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        let l = Limiter::new(Rate::new(1, 2).unwrap());
        // one host, a fresh address per request inside its /64
        assert!(l.check("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(l.check("2001:db8:1:2::2".parse().unwrap()).is_ok());
        assert!(
            l.check("2001:db8:1:2:ffff::3".parse().unwrap()).is_err(),
            "the /64 shares one budget"
        );
        assert!(
            l.check("2001:db8:1:3::1".parse().unwrap()).is_ok(),
            "another /64"
        );
        assert_eq!(
            client_key("::ffff:10.0.0.1".parse().unwrap()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 192.0.2.9".parse().unwrap());
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_ip(stranger, &headers, &trusted), stranger);
        assert_eq!(client_ip(proxy, &headers, &[]), proxy, "off by default");
        assert_eq!(
            client_ip(proxy, &headers, &trusted),
            "192.0.2.9".parse::<IpAddr>().unwrap(),
            "the address the proxy appended"
        );
        let mut junk = axum::http::HeaderMap::new();
        junk.insert("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(client_ip(proxy, &junk, &trusted), proxy);
        assert!("fd00::/8"
            .parse::<Cidr>()
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(stranger));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("::ffff:10.0.0.5"
            .parse::<IpAddr>()
            .is_ok_and(|ip| trusted[0].contains(ip)));
    }

    /// The client writes what it likes before the proxy's entry; only the proxy's counts.
    #[test]
    fn only_the_entry_a_trusted_proxy_appended_is_believed() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let from = |lines: &[&str]| {
            let mut headers = axum::http::HeaderMap::new();
            for line in lines {
                headers.append("x-forwarded-for", line.parse().unwrap());
            }
            client_ip(proxy, &headers, &trusted)
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // an entry that is no address ends the walk at the proxy, never at a forged entry
        assert_eq!(from(&["192.0.2.1, unknown"]), proxy);
        assert_eq!(from(&["192.0.2.1,"]), proxy);
        assert_eq!(from(&["192.0.2.1", "unknown"]), proxy);
        // with a port, as some proxies write it
        assert_eq!(from(&["192.0.2.1, 203.0.113.9:4711"]), ip("203.0.113.9"));
        assert_eq!(from(&["[2001:db8::5]:4711"]), ip("2001:db8::5"));
        assert_eq!(from(&["[2001:db8::5]"]), ip("2001:db8::5"));
        // one entry per line: the last line is the nearest proxy's
        assert_eq!(from(&["192.0.2.1", "203.0.113.9"]), ip("203.0.113.9"));
        // a chain of trusted proxies: the first address from the right that is not one of them
        assert_eq!(
            from(&["192.0.2.1, 198.51.100.7, 10.1.1.1"]),
            ip("198.51.100.7")
        );
        assert_eq!(from(&["10.1.1.1"]), ip("10.1.1.1"), "nothing before it");
        assert_eq!(from(&[]), proxy, "no header: the proxy itself");
    }
}
