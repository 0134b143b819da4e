//! `airlock-sim demo`: the whole story in a temporary directory.

use anyhow::Result;
use clap::Args;
use std::io::IsTerminal;

use crate::demo::{self, DemoOptions};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Fleet size.
    #[arg(long, default_value_t = 200, env = "AIRLOCK_DEMO_DEVICES")]
    devices: usize,
    /// Devices updating at the same time.
    #[arg(long, default_value_t = 16, env = "AIRLOCK_DEMO_CONCURRENCY")]
    concurrency: usize,
    /// Keep the temporary directory and print its path.
    #[arg(long, env = "AIRLOCK_DEMO_KEEP")]
    keep: bool,
}

/// Exit code 3 when a drill failed or a tampered image was installed.
pub async fn run(args: DemoArgs, json: bool) -> Result<u8> {
    let summary = demo::run(&DemoOptions {
        devices: args.devices,
        concurrency: args.concurrency,
        keep: args.keep,
        progress: !json && std::io::stderr().is_terminal(),
    })
    .await?;
    super::print(json, &summary, demo::render)?;
    Ok(if summary.ok() { 0 } else { 3 })
}
