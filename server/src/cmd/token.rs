//! `airlock-server token create|list|revoke`: scoped admin tokens, stored as digests.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

use airlock_server::Storage;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token with the given scopes; it is printed once.
    Create {
        #[arg(long, env = "AIRLOCK_DATA")]
        data: PathBuf,
        /// A name to list and revoke it by.
        #[arg(long, env = "AIRLOCK_TOKEN_NAME")]
        name: String,
        /// publish, rollout, devices or read (repeatable; the environment variable holds one).
        #[arg(long = "scope", env = "AIRLOCK_TOKEN_SCOPE", required = true)]
        scopes: Vec<String>,
    },
    /// List tokens (names, scopes, revoked).
    List {
        #[arg(long, env = "AIRLOCK_DATA")]
        data: PathBuf,
    },
    /// Revoke the tokens with this name.
    Revoke {
        #[arg(long, env = "AIRLOCK_DATA")]
        data: PathBuf,
        /// The name the tokens were created with (`token create --name`).
        name: String,
    },
}

pub async fn run(command: TokenCommand, storage: &Storage, json: bool) -> Result<()> {
    match command {
        TokenCommand::Create { data, name, scopes } => {
            let token = airlock_server::create_admin_token(&data, storage, &name, &scopes).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"name": name, "scopes": scopes, "token": token})
                );
            } else {
                println!("{token}");
            }
        }
        TokenCommand::List { data } => {
            let tokens = airlock_server::list_admin_tokens(&data, storage).await?;
            if json {
                let list: Vec<_> = tokens
                    .iter()
                    .map(|(n, s, r)| serde_json::json!({"name": n, "scopes": s.split(',').collect::<Vec<_>>(), "revoked": r}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for (n, s, r) in tokens {
                    println!("{n}\t{s}{}", if r { "\trevoked" } else { "" });
                }
            }
        }
        TokenCommand::Revoke { data, name } => {
            let n = airlock_server::revoke_admin_token(&data, storage, &name).await?;
            if json {
                println!("{}", serde_json::json!({"name": name, "revoked": n}));
            } else {
                println!("revoked {n} token(s) named {name}");
            }
        }
    }
    Ok(())
}
