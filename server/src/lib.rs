//! airlock-server: serves the TUF repository, verifies publishes, decides device updates.
//!
//! `main.rs` parses the command line and `cmd/` runs each command; this library holds the
//! server so that tests and the simulator can run it in-process.

pub mod admin_tokens;
pub mod app;
pub mod auth;
pub mod background;
pub mod cache;
pub mod checkins;
pub mod clock;
pub mod data_dir;
pub mod decide;
pub mod deviceauth;
pub mod enrolment;
pub mod error;
pub mod fleet;
pub mod follow;
pub mod metrics;
pub mod online_key;
pub mod publish;
pub mod ratelimit;
pub mod reports;
pub mod rollouts;
pub mod routes;
pub mod selfcheck;
pub mod serve;
pub mod storage;
pub mod storage_config;
pub mod storage_move;
pub mod tls;
pub mod ui;
pub mod view;

pub use admin_tokens::{
    create_admin_token, list_admin_tokens, load_admin_token, load_or_create_admin_token,
    revoke_admin_token, save_new_admin_token,
};
pub use app::{open, AppState, ServeConfig};
pub use background::{
    expiring_offline_roles, follow_head, spawn_renewal, spawn_sync, sync_from_store,
};
pub use clock::{Clock, SystemClock};
pub use data_dir::{init_data_dir, DataDir, InitReport};
pub use follow::spawn_follow;
pub use online_key::prepare_next_online_key;
pub use serve::{serve, serve_with_tls};
pub use storage_config::Storage;
