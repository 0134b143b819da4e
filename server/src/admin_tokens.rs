//! Admin tokens: the token file of `serve --admin-token-file`, and the scoped tokens of
//! `airlock-server token create|list|revoke` (stored as digests).

use anyhow::{bail, Context, Result};
use std::path::Path;

use crate::auth::Scope;
use crate::data_dir::{write_new, DataDir};
use crate::deviceauth;
use crate::storage::{AdminTokenStore, AuditLog};
use crate::storage_config::Storage;

/// Reads the admin token file, creating it (0600, random) if it does not exist.
pub fn load_or_create_admin_token(path: &Path) -> Result<(String, bool)> {
    if let Some(token) = load_admin_token(path)? {
        return Ok((token, false));
    }
    let token = deviceauth::random_secret();
    save_new_admin_token(path, &token)?;
    Ok((token, true))
}

/// The admin token in the file `path`, or `None` when there is no such file (`serve` then
/// makes one with [`deviceauth::random_secret`] and saves it with [`save_new_admin_token`]
/// once the server has started, so a server that fails to start creates nothing).
pub fn load_admin_token(path: &Path) -> Result<Option<String>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the admin token from {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.len() < 16 {
        bail!(
            "the admin token in {} is shorter than 16 characters",
            path.display()
        );
    }
    Ok(Some(token))
}

/// Writes a new admin token file (0600); refuses to replace one.
pub fn save_new_admin_token(path: &Path, token: &str) -> Result<()> {
    write_new(path, format!("{token}\n").as_bytes(), 0o600)
}

/// `airlock-server token create`: a scoped admin token, printed once, stored as its digest.
pub async fn create_admin_token(
    data: &Path,
    storage: &Storage,
    name: &str,
    scopes: &[String],
) -> Result<String> {
    let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    if scopes.is_empty() {
        bail!("give at least one --scope ({})", known.join(", "));
    }
    for s in scopes {
        if !known.contains(&s.as_str()) {
            bail!("unknown scope {s:?} (known: {})", known.join(", "));
        }
    }
    if name.trim().is_empty() {
        bail!("--name must not be empty");
    }
    if crate::auth::RESERVED_ACTORS.contains(&name) {
        bail!(
            "--name {name:?} is how the audit log names {}: choose another name",
            if name == crate::auth::FILE_TOKEN_NAME {
                "the --admin-token-file token"
            } else {
                "other actors"
            }
        );
    }
    let dir = DataDir::new(data);
    dir.check_initialised()?;
    let state = storage.open_state(&dir).await?;
    let token = deviceauth::random_secret();
    state
        .insert_admin_token(
            &deviceauth::sha256_hex(&token),
            name,
            &scopes.join(","),
            jiff::Timestamp::now(),
        )
        .await?;
    state
        .audit(
            jiff::Timestamp::now(),
            "cli",
            "admin_token.create",
            &serde_json::json!({"name": name, "scopes": scopes}),
        )
        .await?;
    Ok(token)
}

/// `airlock-server token list`: (name, scopes, revoked).
pub async fn list_admin_tokens(
    data: &Path,
    storage: &Storage,
) -> Result<Vec<(String, String, bool)>> {
    let state = storage.open_state(&DataDir::new(data)).await?;
    Ok(state.admin_tokens().await?)
}

/// `airlock-server token revoke NAME`.
pub async fn revoke_admin_token(data: &Path, storage: &Storage, name: &str) -> Result<u64> {
    let state = storage.open_state(&DataDir::new(data)).await?;
    let n = state.revoke_admin_token(name).await?;
    if n == 0 {
        bail!("no live admin token named {name:?}");
    }
    state
        .audit(
            jiff::Timestamp::now(),
            "cli",
            "admin_token.revoke",
            &serde_json::json!({"name": name}),
        )
        .await?;
    Ok(n)
}
