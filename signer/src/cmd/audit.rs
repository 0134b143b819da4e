//! `airlock audit`: the server's audit log (admin API, scope `read`), filtered and paged.

use anyhow::Result;

use airlock_signer::audit::{self, AuditFilter};

use super::enrolment_token::AdminServer;
use super::Globals;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    server: AdminServer,
    /// Only this actor: an admin token's name (`airlock-server token create --name`;
    /// `admin-token-file` for the token of --admin-token-file), `server` (the server by itself),
    /// `cli` (`airlock-server` commands).
    #[arg(long, env = "AIRLOCK_AUDIT_ACTOR")]
    actor: Option<String>,
    /// Only this action and the actions under it: `publish`, `rollout` (every rollout action),
    /// `rollout.abort`, ...
    #[arg(long, env = "AIRLOCK_AUDIT_ACTION")]
    action: Option<String>,
    /// At or after: an RFC 3339 time (2026-12-01T08:00:00Z) or a date (2026-12-01, UTC).
    #[arg(long, env = "AIRLOCK_AUDIT_SINCE")]
    since: Option<String>,
    /// Before: an RFC 3339 time or a date (UTC).
    #[arg(long, env = "AIRLOCK_AUDIT_UNTIL")]
    until: Option<String>,
    /// Entries older than this id (the next page, as the previous one says).
    #[arg(long, env = "AIRLOCK_AUDIT_BEFORE")]
    before: Option<u64>,
    /// At most this many entries, 1-1000.
    #[arg(long, env = "AIRLOCK_AUDIT_LIMIT", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
}

pub async fn run(args: Args, globals: &Globals) -> Result<()> {
    let filter = AuditFilter {
        actor: args.actor,
        action: args.action,
        since: args.since,
        until: args.until,
        before: args.before,
        limit: Some(args.limit),
    };
    let page = audit::fetch(&args.server.client()?, &filter).await?;
    globals.print(&page, || audit::render(&page))
}
