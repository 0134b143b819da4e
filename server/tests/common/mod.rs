//! The in-process server the server's integration tests start: a fresh data directory in
//! `dir`, the embedded default storage, `config`, the time of `clock`, on 127.0.0.1.

use std::sync::Arc;

use airlock_server::{AppState, Clock, ServeConfig, Storage};

/// The admin token of every server started here.
pub const ADMIN: &str = "test-admin-token-0123456789";

/// The running server's state (to look into, or to change behind its back) and its URL.
pub async fn start(
    dir: &std::path::Path,
    config: ServeConfig,
    clock: Arc<dyn Clock>,
) -> (AppState, String) {
    let srv = dir.join("srv");
    airlock_server::init_data_dir(&srv, &Storage::default())
        .await
        .unwrap();
    let app = airlock_server::open(&srv, &Storage::default(), config, ADMIN, clock)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(airlock_server::serve(
        listener,
        app.clone(),
        std::future::pending(),
    ));
    (app, url)
}
