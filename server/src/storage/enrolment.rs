//! Device enrolment as stored: enrolment tokens and each device's credential (digests only).
//! A token is used up in the same transaction that stores the credential it pays for, so two
//! racing enrolments with a one-use token give exactly one credential.

use async_trait::async_trait;
use sqlx::Row;

use super::changes::Change;
use super::sql::{flag, from_ms, ms, SqlState, StateError};

/// An enrolment token as stored (the token itself only as its sha256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentToken {
    /// Names the token in lists and revocations: the start of its digest.
    pub id: String,
    pub token_sha256: String,
    pub product: String,
    /// Set for a per-device token; `None` for a per-product (factory) token.
    pub device_id: Option<String>,
    pub created: jiff::Timestamp,
    pub expires: jiff::Timestamp,
    /// Enrolments left; `None` for unlimited (until it expires).
    pub uses_left: Option<u64>,
    pub revoked: bool,
    /// A token for attack drills: the devices it enrols are drill devices.
    pub drill: bool,
}

/// A device's credential as stored (its sha256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCredential {
    pub device_id: String,
    pub product: String,
    pub credential_sha256: String,
    pub revoked: bool,
    /// Enrolled with a drill token: the server records none of its check-ins or reports.
    pub drill: bool,
}

/// What became of an enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolOutcome {
    /// Enrolled; `drill` when the token was a drill token (so is the credential).
    Enrolled { drill: bool },
    /// No live token with this digest admits this product and device now (unknown, expired,
    /// used up, revoked, for another product or device): nothing was changed.
    NoUsableToken,
    /// The device id is enrolled or revoked: nothing was changed (the token keeps its use).
    DeviceKnown,
    /// The device is enrolled, for this product, with this very credential and not revoked: a
    /// repeat of its own enrolment whose answer was lost. Nothing was changed (no token use).
    Repeated { drill: bool },
}

/// Enrolment tokens and device credentials.
#[async_trait]
pub trait EnrolmentStore: Send + Sync {
    async fn insert_enrolment_token(&self, token: &EnrolmentToken) -> Result<(), StateError>;
    /// Every enrolment token, oldest first.
    async fn enrolment_tokens(&self) -> Result<Vec<EnrolmentToken>, StateError>;
    /// Revokes the token with this id; the token as it is now, `None` if there is none.
    async fn revoke_enrolment_token(&self, id: &str) -> Result<Option<EnrolmentToken>, StateError>;
    /// Uses the token with digest `token_sha256` once and stores `credential`, in one
    /// transaction: either both happen or neither. The credential is a drill credential when
    /// the token is a drill token (whatever `credential.drill` says).
    async fn enrol_with_token(
        &self,
        token_sha256: &str,
        credential: &DeviceCredential,
        at: jiff::Timestamp,
    ) -> Result<EnrolOutcome, StateError>;
    async fn credentials(&self) -> Result<Vec<DeviceCredential>, StateError>;
    /// One device's credential (revoked or not), `None` if the device is not enrolled.
    async fn credential(&self, device_id: &str) -> Result<Option<DeviceCredential>, StateError>;
    /// A live (not revoked) credential whose SHA-256 is `credential_sha256`, if any: `/tuf/`
    /// access (`--tuf-access enrolled`) for a credential this replica does not know yet.
    async fn live_credential(
        &self,
        credential_sha256: &str,
    ) -> Result<Option<DeviceCredential>, StateError>;
    /// Marks a device's credential revoked; false if the device is not enrolled.
    async fn revoke_device(&self, device_id: &str) -> Result<bool, StateError>;
    /// Forgets a revoked device's credential, so its id may enrol again (with a new token);
    /// false if the device is not revoked.
    async fn reinstate_device(&self, device_id: &str) -> Result<bool, StateError>;
    /// Records a device id as revoked whether or not it enrolled (devices authenticated by
    /// their certificate never do); false if it was already.
    async fn revoke_device_id(
        &self,
        device_id: &str,
        at: jiff::Timestamp,
    ) -> Result<bool, StateError>;
    /// Lifts [`EnrolmentStore::revoke_device_id`]; false if the id was not revoked so.
    async fn reinstate_device_id(&self, device_id: &str) -> Result<bool, StateError>;
    /// Whether the id was revoked by [`EnrolmentStore::revoke_device_id`] (a device credential
    /// marked revoked does not count: its check is the credential's).
    async fn is_device_id_revoked(&self, device_id: &str) -> Result<bool, StateError>;
}

const TOKEN_COLUMNS: &str =
    "id, token_sha256, product, device_id, created_ms, expires_ms, uses_left, revoked, drill";

fn read_token(r: &sqlx::any::AnyRow) -> Result<EnrolmentToken, sqlx::Error> {
    let uses_left: Option<i64> = r.try_get("uses_left")?;
    Ok(EnrolmentToken {
        id: r.try_get("id")?,
        token_sha256: r.try_get("token_sha256")?,
        product: r.try_get("product")?,
        device_id: r.try_get("device_id")?,
        created: from_ms(r.try_get("created_ms")?),
        expires: from_ms(r.try_get("expires_ms")?),
        uses_left: uses_left.map(|n| n.max(0) as u64),
        revoked: flag(r, "revoked")?,
        drill: flag(r, "drill")?,
    })
}

#[async_trait]
impl EnrolmentStore for SqlState {
    async fn insert_enrolment_token(&self, t: &EnrolmentToken) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO enrolment_tokens
                (id, token_sha256, product, device_id, created_ms, expires_ms, uses_left, revoked,
                 drill)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&t.id)
        .bind(&t.token_sha256)
        .bind(&t.product)
        .bind(&t.device_id)
        .bind(ms(t.created))
        .bind(ms(t.expires))
        .bind(t.uses_left.map(super::sql::to_i64))
        .bind(i64::from(t.revoked))
        .bind(i64::from(t.drill))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn enrolment_tokens(&self) -> Result<Vec<EnrolmentToken>, StateError> {
        self.fetch_all_as(
            sqlx::query(&format!(
                "SELECT {TOKEN_COLUMNS} FROM enrolment_tokens ORDER BY created_ms, id"
            )),
            read_token,
        )
        .await
    }

    async fn revoke_enrolment_token(&self, id: &str) -> Result<Option<EnrolmentToken>, StateError> {
        sqlx::query("UPDATE enrolment_tokens SET revoked = 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM enrolment_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(read_token).transpose()?)
    }

    async fn enrol_with_token(
        &self,
        token_sha256: &str,
        c: &DeviceCredential,
        at: jiff::Timestamp,
    ) -> Result<EnrolOutcome, StateError> {
        let mut tx = self.begin_write().await?;
        // The check and the use are one statement: a racing enrolment sees the use (PostgreSQL
        // re-checks the row after the other's commit; SQLite serialises writers). Writing
        // first also means SQLite never has to upgrade a read lock inside the transaction.
        let used = sqlx::query(
            "UPDATE enrolment_tokens SET uses_left = uses_left - 1
             WHERE token_sha256 = $1 AND revoked = 0 AND expires_ms > $2 AND product = $3
               AND (device_id IS NULL OR device_id = $4)
               AND (uses_left IS NULL OR uses_left > 0)",
        )
        .bind(token_sha256)
        .bind(ms(at))
        .bind(&c.product)
        .bind(&c.device_id)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() == 0 {
            tx.rollback().await?;
            // a one-use token the lost first answer used up: the repeat is still answered
            return Ok(match self.repeated_enrolment(c).await? {
                Some(drill) => EnrolOutcome::Repeated { drill },
                None => EnrolOutcome::NoUsableToken,
            });
        }
        let drill = sqlx::query("SELECT drill FROM enrolment_tokens WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| flag(&row, "drill"))?;
        // an enrolled or revoked id is never taken over: a revoked device stays revoked until
        // an operator reinstates it
        let inserted = sqlx::query(
            "INSERT INTO device_credentials
                (device_id, product, credential_sha256, enrolled_ms, revoked, drill)
             VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (device_id) DO NOTHING",
        )
        .bind(&c.device_id)
        .bind(&c.product)
        .bind(&c.credential_sha256)
        .bind(ms(at))
        .bind(i64::from(drill))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(match self.repeated_enrolment(c).await? {
                Some(drill) => EnrolOutcome::Repeated { drill },
                None => EnrolOutcome::DeviceKnown,
            });
        }
        self.announce(&mut *tx, &Change::Device(c.device_id.clone()))
            .await?;
        tx.commit().await?;
        Ok(EnrolOutcome::Enrolled { drill })
    }

    async fn credentials(&self) -> Result<Vec<DeviceCredential>, StateError> {
        self.fetch_all_as(
            sqlx::query(
                "SELECT device_id, product, credential_sha256, revoked, drill
                 FROM device_credentials",
            ),
            read_credential,
        )
        .await
    }

    async fn credential(&self, device_id: &str) -> Result<Option<DeviceCredential>, StateError> {
        let row = sqlx::query(
            "SELECT device_id, product, credential_sha256, revoked, drill
             FROM device_credentials WHERE device_id = $1",
        )
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(read_credential).transpose()?)
    }

    async fn live_credential(
        &self,
        credential_sha256: &str,
    ) -> Result<Option<DeviceCredential>, StateError> {
        // migration 13's index by digest
        let row = sqlx::query(
            "SELECT device_id, product, credential_sha256, revoked, drill
             FROM device_credentials WHERE credential_sha256 = $1 AND revoked = 0",
        )
        .bind(credential_sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(read_credential).transpose()?)
    }

    async fn revoke_device(&self, device_id: &str) -> Result<bool, StateError> {
        let done = sqlx::query("UPDATE device_credentials SET revoked = 1 WHERE device_id = $1")
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() > 0 {
            self.announce_committed(&Change::Device(device_id.to_string()))
                .await;
        }
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_device_id(
        &self,
        device_id: &str,
        at: jiff::Timestamp,
    ) -> Result<bool, StateError> {
        let done = sqlx::query(
            "INSERT INTO revoked_device_ids (device_id, revoked_ms) VALUES ($1, $2)
             ON CONFLICT (device_id) DO NOTHING",
        )
        .bind(device_id)
        .bind(ms(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn reinstate_device_id(&self, device_id: &str) -> Result<bool, StateError> {
        let done = sqlx::query("DELETE FROM revoked_device_ids WHERE device_id = $1")
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn is_device_id_revoked(&self, device_id: &str) -> Result<bool, StateError> {
        let row = sqlx::query("SELECT 1 AS revoked FROM revoked_device_ids WHERE device_id = $1")
            .bind(device_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn reinstate_device(&self, device_id: &str) -> Result<bool, StateError> {
        let done =
            sqlx::query("DELETE FROM device_credentials WHERE device_id = $1 AND revoked = 1")
                .bind(device_id)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() > 0 {
            self.announce_committed(&Change::Device(device_id.to_string()))
                .await;
        }
        Ok(done.rows_affected() > 0)
    }
}

impl SqlState {
    /// Whether enrolling `c` repeats the enrolment already stored: the same device, product and
    /// credential digest, not revoked (then the drill flag it was enrolled with). Only the
    /// device knows its credential, so nobody else can make a repeat.
    async fn repeated_enrolment(&self, c: &DeviceCredential) -> Result<Option<bool>, StateError> {
        Ok(self.credential(&c.device_id).await?.and_then(|stored| {
            (stored.product == c.product
                && !stored.revoked
                && crate::deviceauth::same(&stored.credential_sha256, &c.credential_sha256))
            .then_some(stored.drill)
        }))
    }
}

fn read_credential(r: &sqlx::any::AnyRow) -> Result<DeviceCredential, sqlx::Error> {
    Ok(DeviceCredential {
        device_id: r.try_get("device_id")?,
        product: r.try_get("product")?,
        credential_sha256: r.try_get("credential_sha256")?,
        revoked: flag(r, "revoked")?,
        drill: flag(r, "drill")?,
    })
}
