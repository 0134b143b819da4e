//! Device enrolment as stored: enrolment tokens and each device's credential (digests only).

use async_trait::async_trait;
use sqlx::Row;

use super::sql::{flag, ms, SqlState, StateError};

/// An enrolment token as stored (the token itself only as its sha256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentToken {
    pub token_sha256: String,
    pub product: String,
    /// Set for a per-device token; `None` for a per-product token.
    pub device_id: Option<String>,
    pub revoked: bool,
}

/// A device's credential as stored (its sha256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCredential {
    pub device_id: String,
    pub product: String,
    pub credential_sha256: String,
    pub revoked: bool,
}

/// Enrolment tokens and device credentials.
#[async_trait]
pub trait EnrolmentStore: Send + Sync {
    async fn insert_enrolment_token(
        &self,
        token: &EnrolmentToken,
        at: jiff::Timestamp,
    ) -> Result<(), StateError>;
    async fn enrolment_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<EnrolmentToken>, StateError>;
    /// Stores a device's credential; fails with `DeviceEnrolled` if the device is enrolled
    /// already.
    async fn insert_credential(
        &self,
        credential: &DeviceCredential,
        at: jiff::Timestamp,
    ) -> Result<(), StateError>;
    async fn credentials(&self) -> Result<Vec<DeviceCredential>, StateError>;
    /// Marks a device's credential revoked; false if the device is not enrolled.
    async fn revoke_device(&self, device_id: &str) -> Result<bool, StateError>;
}

#[async_trait]
impl EnrolmentStore for SqlState {
    async fn insert_enrolment_token(
        &self,
        t: &EnrolmentToken,
        at: jiff::Timestamp,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO enrolment_tokens (token_sha256, product, device_id, created_ms, revoked)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.token_sha256)
        .bind(&t.product)
        .bind(&t.device_id)
        .bind(ms(at))
        .bind(i64::from(t.revoked))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn enrolment_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<EnrolmentToken>, StateError> {
        let row = sqlx::query(
            "SELECT token_sha256, product, device_id, revoked FROM enrolment_tokens WHERE token_sha256 = $1",
        )
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => None,
            Some(r) => Some(EnrolmentToken {
                token_sha256: r.try_get("token_sha256")?,
                product: r.try_get("product")?,
                device_id: r.try_get("device_id")?,
                revoked: flag(&r, "revoked")?,
            }),
        })
    }

    async fn insert_credential(
        &self,
        c: &DeviceCredential,
        at: jiff::Timestamp,
    ) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT revoked FROM device_credentials WHERE device_id = $1")
                .bind(&c.device_id)
                .fetch_optional(&mut *tx)
                .await?;
        match existing {
            Some(0) => return Err(StateError::DeviceEnrolled(c.device_id.clone())),
            Some(_) => {
                // a revoked device may enrol again (a repaired or re-provisioned unit)
                sqlx::query("DELETE FROM device_credentials WHERE device_id = $1")
                    .bind(&c.device_id)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {}
        }
        sqlx::query(
            "INSERT INTO device_credentials (device_id, product, credential_sha256, enrolled_ms, revoked)
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(&c.device_id)
        .bind(&c.product)
        .bind(&c.credential_sha256)
        .bind(ms(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn credentials(&self) -> Result<Vec<DeviceCredential>, StateError> {
        self.fetch_all_as(
            sqlx::query(
                "SELECT device_id, product, credential_sha256, revoked FROM device_credentials",
            ),
            |r| {
                Ok(DeviceCredential {
                    device_id: r.try_get("device_id")?,
                    product: r.try_get("product")?,
                    credential_sha256: r.try_get("credential_sha256")?,
                    revoked: flag(r, "revoked")?,
                })
            },
        )
        .await
    }

    async fn revoke_device(&self, device_id: &str) -> Result<bool, StateError> {
        let done = sqlx::query("UPDATE device_credentials SET revoked = 1 WHERE device_id = $1")
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
