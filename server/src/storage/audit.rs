//! The audit log of admin actions (append only).

use async_trait::async_trait;

use super::sql::{ms, SqlState, StateError};

/// Appends to the audit log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends to the audit log of admin actions.
    async fn audit(
        &self,
        at: jiff::Timestamp,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StateError>;
}

#[async_trait]
impl AuditLog for SqlState {
    async fn audit(
        &self,
        at: jiff::Timestamp,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StateError> {
        sqlx::query("INSERT INTO audit (at_ms, actor, action, detail) VALUES ($1, $2, $3, $4)")
            .bind(ms(at))
            .bind(actor)
            .bind(action)
            .bind(detail.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
