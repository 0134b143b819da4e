//! Per-client rate limits against the real server (issue 12 item 10): an IPv6 client is its /64
//! (two addresses of one /64 share a budget, another /64 has its own), and `X-Forwarded-For`
//! names the client only when the peer is inside `--trust-forwarded-for`; otherwise a client
//! cannot escape its limit by writing the header.
//!
//! The IPv6 test adds documentation addresses (2001:db8::/32) to `lo`, so it needs root and
//! `ip`; it reports SKIPPED otherwise (a failure under AIRLOCK_REQUIRE_ALL=1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use airlock_e2e::*;
use serde_json::Value;

/// One request per second after a burst of 3, on the device endpoints.
const LIMIT: [&str; 4] = ["--device-rate", "1", "--device-burst", "3"];

/// A server with no published repository is enough: the limit answers before the handler.
fn server(dir: &Path, extra: &[&str]) -> Server {
    if !dir.join("srv").exists() {
        ok(dir, "airlock-server", &["init", "--data", "srv"]);
    }
    Server::start_with(dir, &[&LIMIT[..], extra].concat())
}

/// A check-in from `client` (its source address is the client's own), with `X-Forwarded-For`
/// lines if given: the status and, for a 429, the error's message.
fn check_in(client: &reqwest::blocking::Client, url: &str, forwarded: &[&str]) -> (u16, String) {
    let mut req = client
        .post(format!("{url}/v1/devices/d1/check-in"))
        .header("content-type", "application/json")
        .body(r#"{"product": "acme-cam", "version": "1.0.0", "security_version": 2}"#);
    for line in forwarded {
        req = req.header("x-forwarded-for", *line);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    if status != 429 {
        return (status, String::new());
    }
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().unwrap();
    assert_eq!(body["error"], "rate_limited");
    (status, body["message"].as_str().unwrap().to_string())
}

/// Sends until the server answers 429 (the burst is 3; one more may have refilled on a slow
/// machine); returns the refusal's message, which names the client the server saw.
fn use_up(who: &str, mut send: impl FnMut(usize) -> (u16, String)) -> String {
    for i in 0..6 {
        let (status, message) = send(i);
        if status == 429 {
            assert!(i >= 3, "{who}: limited after {i} requests: the burst is 3");
            return message;
        }
    }
    panic!("{who}: never limited");
}

fn limited(answer: (u16, String), who: &str) {
    assert_eq!(answer.0, 429, "{who} should share a used-up budget");
}

fn let_through(answer: (u16, String), who: &str) {
    assert_ne!(answer.0, 429, "{who} has its own budget: {}", answer.1);
}

#[test]
fn forwarded_for_counts_only_from_trusted_proxies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let client = reqwest::blocking::Client::new();

    // 127.0.0.1 is a trusted proxy: each forwarded client has its own budget.
    let proxy = server(dir, &["--trust-forwarded-for", "10.0.0.0/8,127.0.0.1/32"]);
    let url = proxy.url.clone();
    let message = use_up("192.0.2.1", |_| check_in(&client, &url, &["192.0.2.1"]));
    assert!(message.contains("192.0.2.1"), "{message}");
    let_through(check_in(&client, &url, &["192.0.2.2"]), "192.0.2.2");
    // entries before the proxy's are the client's to write: they change nothing
    limited(
        check_in(&client, &url, &["198.51.100.1, 192.0.2.1"]),
        "192.0.2.1 behind a forged entry",
    );
    // the proxy's entry with a port is still that client
    use_up("203.0.113.9:4711 behind forged entries", |i| {
        check_in(
            &client,
            &url,
            &[&format!("198.51.100.{i}, 203.0.113.9:4711")],
        )
    });
    // an entry that is no address makes the proxy the client, never the forged entry before it
    use_up("unknown behind forged entries", |i| {
        check_in(&client, &url, &[&format!("198.51.100.{i}, unknown")])
    });
    limited(check_in(&client, &url, &[]), "the proxy itself");
    // IPv6 clients behind the proxy are keyed per /64 too
    use_up("2001:db8:7:1::1", |_| {
        check_in(&client, &url, &["2001:db8:7:1::1"])
    });
    limited(
        check_in(&client, &url, &["2001:db8:7:1:ffff::2"]),
        "another address of the /64",
    );
    let_through(check_in(&client, &url, &["2001:db8:7:2::1"]), "another /64");
    drop(proxy);

    // Not trusted (no flag, or a block without 127.0.0.1): the header is ignored, so a new
    // forged address per request does not escape the peer's limit.
    for trust in [&[][..], &["--trust-forwarded-for", "10.0.0.0/8"][..]] {
        let server = server(dir, trust);
        let message = use_up("127.0.0.1 forging the header", |i| {
            check_in(&client, &server.url, &[&format!("192.0.2.{i}")])
        });
        assert!(message.contains("127.0.0.1"), "{trust:?}: {message}");
        limited(
            check_in(&client, &server.url, &["192.0.2.200"]),
            "a forged address",
        );
    }
}

/// Test addresses on `lo`, removed on drop.
struct LoopbackAddresses(Vec<IpAddr>);

impl LoopbackAddresses {
    /// Adds `addresses` (without duplicate address detection, so they are usable at once), or
    /// says why not.
    fn add(addresses: &[IpAddr]) -> Result<LoopbackAddresses, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("needs root to add IPv6 addresses to lo".into());
        }
        let mut added = LoopbackAddresses(Vec::new());
        for address in addresses {
            let out = Command::new("ip")
                .args([
                    "-6",
                    "addr",
                    "add",
                    &format!("{address}/128"),
                    "dev",
                    "lo",
                    "nodad",
                ])
                .output()
                .map_err(|e| format!("running ip: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "ip -6 addr add {address}/128 dev lo: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            added.0.push(*address);
        }
        Ok(added)
    }
}

impl Drop for LoopbackAddresses {
    fn drop(&mut self) {
        for address in &self.0 {
            let _ = Command::new("ip")
                .args(["-6", "addr", "del", &format!("{address}/128"), "dev", "lo"])
                .output();
        }
    }
}

#[test]
fn ipv6_clients_share_a_limit_per_64() {
    const TEST: &str = "ipv6_clients_share_a_limit_per_64";
    // a prefix of this run's own, so parallel runs do not share addresses
    let tag = std::process::id() & 0xffff;
    let ip = |s: String| s.parse::<IpAddr>().unwrap();
    let (first, second, other) = (
        ip(format!("2001:db8:{tag:x}:1::1")),
        ip(format!("2001:db8:{tag:x}:1::2")),
        ip(format!("2001:db8:{tag:x}:2::1")),
    );
    let _addresses = match LoopbackAddresses::add(&[first, second, other]) {
        Ok(added) => added,
        Err(why) => return skip(TEST, &why),
    };
    let tmp = tempfile::tempdir().unwrap();
    let server = server(tmp.path(), &["--listen", "[::1]:0"]);
    let from = |source: IpAddr| {
        let client = reqwest::blocking::Client::builder()
            .local_address(source)
            .build()
            .unwrap();
        check_in(&client, &server.url, &[])
    };

    let message = use_up("the first address", |_| from(first));
    assert!(message.contains(&first.to_string()), "{message}");
    limited(from(second), "another address of the same /64");
    let_through(from(other), "an address of another /64");
}
