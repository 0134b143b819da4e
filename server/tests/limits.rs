//! The server under abuse (issue 12): admin routes answer before reading a body, per-route body
//! limits, admin timeouts, bounded metrics labels, header-read and idle timeouts, the
//! connection cap, a shutdown that does not wait for idle clients, and unauthenticated
//! requests that do not reach the database each time. All on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_server::serve::ConnectionLimits;
use airlock_server::{AppState, ServeConfig, Storage, SystemClock};

const ADMIN: &str = "test-admin-token-0123456789";

struct Running {
    url: String,
    addr: std::net::SocketAddr,
    app: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn server(configure: impl FnOnce(&mut ServeConfig)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let srv = dir.path().join("srv");
    airlock_server::init_data_dir(&srv, &Storage::default())
        .await
        .unwrap();
    let mut config = ServeConfig {
        max_metadata_bytes: 1024,
        device_auth: airlock_server::deviceauth::DeviceAuth::Open,
        device_rate: None,
        admin_rate: None,
        ..ServeConfig::default()
    };
    configure(&mut config);
    let app = airlock_server::open(
        &srv,
        &Storage::default(),
        config,
        ADMIN,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(airlock_server::serve(listener, app.clone(), async {
        let _ = stopped.await;
    }));
    Running {
        url: format!("http://{addr}"),
        addr,
        app,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

/// Sends `head` on a fresh connection and returns the status line of the answer, read within
/// `within` (`None` when none came).
fn status_line(addr: std::net::SocketAddr, head: &str, within: Duration) -> Option<String> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(within)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).ok()?;
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .map(str::to_string)
}

/// Whether the server has closed `s` (EOF or reset) rather than keeping it open.
fn closed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_before_reading_the_body() {
    let srv = server(|_| {}).await;
    let sha = "a".repeat(64);
    let routes = [
        ("PUT", format!("/v1/admin/blobs/{sha}")),
        ("GET", format!("/v1/admin/blobs/{sha}")),
        ("POST", "/v1/admin/publish".to_string()),
        ("GET", "/v1/admin/repository".to_string()),
        ("POST", "/v1/admin/resign".to_string()),
        ("POST", "/v1/admin/enrolment-tokens".to_string()),
        ("POST", "/v1/admin/devices/cam-1/revoke".to_string()),
        ("POST", "/v1/admin/rollouts".to_string()),
        ("GET", "/v1/admin/rollouts".to_string()),
        ("GET", "/v1/admin/rollouts/cam/1.0.0".to_string()),
        ("POST", "/v1/admin/rollouts/cam/1.0.0/pause".to_string()),
        ("GET", "/v1/admin/products/cam/fleet".to_string()),
    ];
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        for (method, path) in routes {
            // announces 4 GiB and sends none of it: an answer proves nothing was buffered
            let head = format!(
                "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 content-length: 4294967296\r\n\r\n"
            );
            let line = status_line(addr, &head, Duration::from_secs(5));
            assert_eq!(
                line.as_deref(),
                Some("HTTP/1.1 401 Unauthorized"),
                "{method} {path} answered before its body"
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_a_routes_limit_get_413_as_json() {
    let srv = server(|_| {}).await;
    let client = reqwest::Client::new();
    let big = vec![b' '; 20 << 10];
    for path in [
        "/v1/devices/cam-1/check-in",
        "/v1/devices/cam-1/reports",
        "/v1/devices/cam-1/enrol",
    ] {
        let resp = client
            .post(format!("{}{path}", srv.url))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 413, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "too_large", "{path}: {body}");
    }
    // a small body is read (and refused for what it says)
    let resp = client
        .post(format!("{}/v1/devices/cam-1/check-in", srv.url))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // publish: the configured limit, and the flag that raises it
    let resp = client
        .post(format!("{}/v1/admin/publish", srv.url))
        .bearer_auth(ADMIN)
        .body(vec![b' '; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "too_large");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("--max-metadata-bytes"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_requests_time_out() {
    let srv = server(|c| c.admin_timeout = Duration::from_millis(500)).await;
    // a publish in progress holds the lock a re-sign waits for
    let _busy = srv.app.publish_lock.lock().await;
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/admin/resign", srv.url))
        .bearer_auth(ADMIN)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("answered before the client gave up");
    assert_eq!(resp.status().as_u16(), 408);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_share_one_metrics_label() {
    let srv = server(|_| {}).await;
    let client = reqwest::Client::new();
    for i in 0..40 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        client
            .request(method, format!("{}/healthz", srv.url))
            .send()
            .await
            .unwrap();
    }
    let metrics = client
        .get(format!("{}/metrics", srv.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("airlock_http_requests_total{"))
        .collect();
    assert!(series.len() <= 2, "{series:#?}");
    assert!(
        series.iter().any(|l| l.contains("method=\"other\"")),
        "{series:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_while_devices_get_answers() {
    let srv = server(|c| {
        c.connections = ConnectionLimits {
            header_read_timeout: Duration::from_secs(2),
            ..ConnectionLimits::default()
        }
    })
    .await;
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        // 1,000 clients that never finish their headers
        let mut slow: Vec<TcpStream> = (0..1000)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
                    .unwrap();
                s
            })
            .collect();
        let mut latencies = Vec::new();
        for i in 0..200 {
            if i % 20 == 0 {
                // the slow ones keep dripping header bytes
                for s in &mut slow {
                    let _ = s.write_all(b"x-drip: 1\r\n");
                }
            }
            let started = Instant::now();
            let head = "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
            let line = status_line(addr, head, Duration::from_secs(5));
            latencies.push(started.elapsed());
            assert_eq!(line.as_deref(), Some("HTTP/1.1 200 OK"));
        }
        latencies.sort();
        let p99 = latencies[latencies.len() * 99 / 100 - 1];
        assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
        // and the slow ones are cut after the header-read timeout
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            for s in &mut slow {
                let _ = s.write_all(b"x-drip: 1\r\n");
            }
            let open = slow.iter_mut().map(closed).filter(|c| !c).count();
            if open == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{open} slow connections still open"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let srv = server(|c| {
        c.connections = ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_millis(500),
            ..ConnectionLimits::default()
        }
    })
    .await;
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        assert!(s.read(&mut buf).unwrap() > 0, "answered");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !closed(&mut s) {
            assert!(Instant::now() < deadline, "idle connection still open");
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait() {
    let srv = server(|c| {
        c.connections = ConnectionLimits {
            max_connections: 2,
            ..ConnectionLimits::default()
        }
    })
    .await;
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let head = "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
        assert_eq!(
            status_line(addr, head, Duration::from_millis(500)),
            None,
            "a third connection waits"
        );
        drop(held);
        assert_eq!(
            status_line(addr, head, Duration::from_secs(5)).as_deref(),
            Some("HTTP/1.1 200 OK")
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_idle_or_slow_clients() {
    let mut srv = server(|_| {}).await;
    let addr = srv.addr;
    let clients = tokio::task::spawn_blocking(move || {
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
        let mut idle = TcpStream::connect(addr).unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        assert!(idle.read(&mut buf).unwrap() > 0);
        (slow, idle)
    })
    .await
    .unwrap();
    srv.stop.take().unwrap().send(()).unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(3), &mut srv.task).await;
    assert!(
        finished.is_ok(),
        "shutdown waited for an idle and a slow client"
    );
    drop(clients);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_lookups_do_not_reach_the_database_each_time() {
    let srv = server(|_| {}).await;
    let client = reqwest::Client::new();
    for _ in 0..50 {
        client
            .get(format!("{}/metrics", srv.url))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        srv.app.rollout_figures.loads(),
        1,
        "rollout figures per scrape"
    );
    for _ in 0..50 {
        client
            .get(format!("{}/readyz", srv.url))
            .send()
            .await
            .unwrap();
    }
    assert!(srv.app.readiness.loads() <= 2, "store checks per probe");
    for i in 1..50 {
        for name in [
            format!("{i}.snapshot.json"),
            format!("{i}.no-such-role.json"),
        ] {
            let resp = client
                .get(format!("{}/tuf/metadata/{name}", srv.url))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 404);
        }
    }
    assert_eq!(
        srv.app
            .metadata_lookups
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "metadata misses that cannot exist"
    );
}
