//! Scoped admin tokens as stored (digests only).

use async_trait::async_trait;
use sqlx::Row;

use super::sql::{flag, ms, SqlState, StateError};

/// Scoped admin tokens made by `airlock-server token create`.
#[async_trait]
pub trait AdminTokenStore: Send + Sync {
    /// Stores a scoped admin token (its digest); `scopes` is a comma-separated list.
    async fn insert_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        scopes: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StateError>;
    /// The scopes and name of a live admin token, by digest.
    async fn admin_token(&self, token_sha256: &str)
        -> Result<Option<(String, String)>, StateError>;
    /// (name, scopes, revoked) of every admin token.
    async fn admin_tokens(&self) -> Result<Vec<(String, String, bool)>, StateError>;
    /// Revokes the admin tokens called `name`; the number revoked.
    async fn revoke_admin_token(&self, name: &str) -> Result<u64, StateError>;
}

#[async_trait]
impl AdminTokenStore for SqlState {
    async fn insert_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        scopes: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StateError> {
        sqlx::query("INSERT INTO admin_tokens (token_sha256, name, scopes, created_ms, revoked) VALUES ($1, $2, $3, $4, 0)")
            .bind(token_sha256)
            .bind(name)
            .bind(scopes)
            .bind(ms(at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn admin_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<(String, String)>, StateError> {
        let row = sqlx::query(
            "SELECT name, scopes FROM admin_tokens WHERE token_sha256 = $1 AND revoked = 0",
        )
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("name")?, r.try_get("scopes")?)),
            None => None,
        })
    }

    async fn admin_tokens(&self) -> Result<Vec<(String, String, bool)>, StateError> {
        self.fetch_all_as(
            sqlx::query("SELECT name, scopes, revoked FROM admin_tokens ORDER BY created_ms"),
            |r| {
                Ok((
                    r.try_get("name")?,
                    r.try_get("scopes")?,
                    flag(r, "revoked")?,
                ))
            },
        )
        .await
    }

    async fn revoke_admin_token(&self, name: &str) -> Result<u64, StateError> {
        let done =
            sqlx::query("UPDATE admin_tokens SET revoked = 1 WHERE name = $1 AND revoked = 0")
                .bind(name)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }
}
