//! A fault-injecting TCP proxy in front of an HTTP service (the S3-protocol server): it passes
//! connections through, answers every request with a 5xx of its own, or accepts requests and
//! never answers. Switching the mode cuts the open connections, so that pooled keep-alive
//! connections meet the new mode at once.
//!
//! Plain threads rather than tokio: the e2e tests are blocking, and one thread per connection
//! is plenty for a test's few hundred requests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Connections reach the service.
    Pass,
    /// Every request is answered with an S3 error document, 500 `InternalError` and 503
    /// `SlowDown` in turn.
    Fail,
    /// Requests are read and never answered.
    Hang,
}

pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: String,
    mode: Mutex<Mode>,
    /// Requests answered with an error so far (which one comes next).
    failed: std::sync::atomic::AtomicU64,
    /// Every connection opened (client and upstream sides), cut by [`FaultProxy::set`].
    open: Mutex<Vec<TcpStream>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and passes connections to `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            upstream,
            mode: Mutex::new(Mode::Pass),
            failed: std::sync::atomic::AtomicU64::new(0),
            open: Mutex::new(Vec::new()),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let shared = accepting.clone();
                std::thread::spawn(move || serve(&shared, client));
            }
        });
        FaultProxy { url, shared }
    }

    /// Switches the mode for new connections and cuts the open ones.
    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
        for conn in self.shared.open.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.set(Mode::Pass);
    }
}

fn track(shared: &Shared, conn: &TcpStream) {
    if let Ok(c) = conn.try_clone() {
        shared.open.lock().unwrap().push(c);
    }
}

fn serve(shared: &Shared, mut client: TcpStream) {
    let mode = *shared.mode.lock().unwrap();
    track(shared, &client);
    match mode {
        Mode::Pass => {
            let Ok(upstream) = TcpStream::connect(&shared.upstream) else {
                return;
            };
            track(shared, &upstream);
            let (Ok(mut client_in), Ok(mut upstream_out)) =
                (client.try_clone(), upstream.try_clone())
            else {
                return;
            };
            let up = std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut upstream_out);
                let _ = upstream_out.shutdown(Shutdown::Write);
            });
            let mut upstream_in = upstream;
            let _ = std::io::copy(&mut upstream_in, &mut client);
            let _ = client.shutdown(Shutdown::Write);
            let _ = up.join();
        }
        Mode::Fail => {
            read_request_head(&mut client);
            let n = shared
                .failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (status, reason, code) = if n.is_multiple_of(2) {
                (500, "Internal Server Error", "InternalError")
            } else {
                (503, "Service Unavailable", "SlowDown")
            };
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>injected fault</Message></Error>"
            );
            let _ = write!(
                client,
                "HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.shutdown(Shutdown::Write);
            // let the client finish sending (an upload's body) so that it reads the answer
            let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
            let mut sink = [0u8; 64 << 10];
            while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
        }
        Mode::Hang => {
            let mut sink = [0u8; 64 << 10];
            while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
        }
    }
}

/// Reads up to the end of the request head (the blank line), or until the client stops.
fn read_request_head(client: &mut TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < (64 << 10) {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
}
