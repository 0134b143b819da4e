//! `airlock-sim run`: a fleet rollout rehearsal from a scenario file.

use anyhow::{Context, Result};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

use crate::scenario::{self, RunOptions, Scenario};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario (TOML; examples in examples/scenarios/).
    scenario: PathBuf,
    /// Directory for timeline.jsonl, timeline.csv, samples.json, summary.json and charts.
    #[arg(long, env = "AIRLOCK_SIM_OUT")]
    out: Option<PathBuf>,
    /// Override the scenario's fleet size.
    #[arg(long, env = "AIRLOCK_SIM_DEVICES")]
    devices: Option<usize>,
    /// Override the scenario's seed.
    #[arg(long, env = "AIRLOCK_SIM_SEED")]
    seed: Option<u64>,
    /// Keep the working directory (server data, repository, device states).
    #[arg(long, env = "AIRLOCK_SIM_KEEP")]
    keep: bool,
}

/// Exit code 3 when a check of the scenario failed.
pub async fn run(args: RunArgs, json: bool) -> Result<u8> {
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("reading {}", args.scenario.display()))?;
    let mut scn =
        Scenario::parse(&text).with_context(|| format!("scenario {}", args.scenario.display()))?;
    if let Some(n) = args.devices {
        anyhow::ensure!(n > 0, "--devices must be at least 1");
        scn.fleet.devices = n;
    }
    if let Some(s) = args.seed {
        scn.seed = s;
    }
    let summary = scenario::run(
        &scn,
        &RunOptions {
            out: args.out,
            progress: std::io::stderr().is_terminal() && !json,
            keep: args.keep,
        },
    )
    .await?;
    super::print(json, &summary, scenario::render)?;
    Ok(if summary.ok { 0 } else { 3 })
}
