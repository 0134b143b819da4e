//! `airlock-server init` and `airlock-server rotate-online-key`: online keys in a data
//! directory.

use anyhow::Result;
use std::path::PathBuf;

use airlock_server::{InitReport, Storage};

// (the command's help is the doc comment of its variant in main.rs)
#[derive(clap::Args)]
pub struct InitArgs {
    /// The data directory to create (or to complete: an existing online key is kept).
    #[arg(long, env = "AIRLOCK_DATA")]
    pub data: PathBuf,
}

#[derive(clap::Args)]
pub struct RotateOnlineKeyArgs {
    /// The server's data directory (as `serve --data`).
    #[arg(long, env = "AIRLOCK_DATA")]
    pub data: PathBuf,
}

pub async fn init(args: InitArgs, storage: &Storage, json: bool) -> Result<()> {
    let report = airlock_server::init_data_dir(&args.data, storage).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "initialised {}\nonline key id {}\npublic key   {} ({})\nnext: airlock init REPO --online-key {}",
            report.data.display(),
            report.online_key_id,
            public_key(&report),
            report.online_pub_file.display(),
            report.online_pub_file.display()
        );
    }
    Ok(())
}

pub fn rotate_online_key(args: RotateOnlineKeyArgs, json: bool) -> Result<()> {
    let report = airlock_server::prepare_next_online_key(&args.data)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "prepared the next online key {} ({})\nnext: airlock root rotate REPO --online-key {}, then publish",
            report.online_key_id,
            report.online_pub_file.display(),
            report.online_pub_file.display()
        );
    }
    Ok(())
}

fn public_key(report: &InitReport) -> &str {
    report.online_public_key["keyval"]["public"]
        .as_str()
        .unwrap_or("")
}
