//! What the operator dashboard (`/ui`, [`crate::ui`]) keeps and asks beyond the admin API's
//! queries: its sessions (digests only, shared by every replica) and device look-ups (search,
//! one device's history, a product's last check-in).

use async_trait::async_trait;
use sqlx::Row;

use super::sql::{count, flag, from_ms, ms, to_i64, SqlState, StateError};

/// A live dashboard session as stored: who opened it (the admin token's digest and name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSession {
    /// SHA-256 (hex) of the admin token the session was opened with.
    pub token_sha256: String,
    /// The token's name: the audit log's actor for what the session does.
    pub actor: String,
    pub expires: jiff::Timestamp,
}

/// A device as the dashboard lists it: its last check-in and whether it is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    pub id: String,
    pub product: String,
    pub version: String,
    pub security_version: u64,
    pub last_decision: String,
    pub last_seen: jiff::Timestamp,
    /// `None`: never enrolled (or `--device-auth open`).
    pub revoked: Option<bool>,
}

/// One report of a device, newest first in [`DeviceHistory::reports`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub at: jiff::Timestamp,
    pub status: String,
    pub version: String,
    pub code: Option<String>,
    /// Whether the release was offered to the device (a report of one that was not counts
    /// nowhere).
    pub offered: bool,
}

/// What the store knows of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceHistory {
    /// The last check-in; `None` if it never checked in.
    pub device: Option<DeviceRow>,
    /// Enrolled for this product; `None` when it never enrolled.
    pub enrolled: Option<(String, bool)>,
    /// (version, first offered), oldest first.
    pub offers: Vec<(String, jiff::Timestamp)>,
    /// Newest first, at most the asked number.
    pub reports: Vec<ReportRow>,
}

/// Dashboard sessions and device look-ups.
#[async_trait]
pub trait UiStore: Send + Sync {
    async fn insert_ui_session(
        &self,
        id_sha256: &str,
        session: &UiSession,
        at: jiff::Timestamp,
    ) -> Result<(), StateError>;
    /// The session with this id digest, unless it has expired by `now`.
    async fn ui_session(
        &self,
        id_sha256: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<UiSession>, StateError>;
    /// Ends a session (sign-out); whether there was one.
    async fn delete_ui_session(&self, id_sha256: &str) -> Result<bool, StateError>;
    /// Forgets sessions expired before `now`; how many.
    async fn delete_expired_ui_sessions(&self, now: jiff::Timestamp) -> Result<u64, StateError>;
    /// Devices whose id starts with `text` or whose version is `text`, by id, at most `limit`.
    async fn search_devices(&self, text: &str, limit: u32) -> Result<Vec<DeviceRow>, StateError>;
    /// One device's last check-in, enrolment, offers and its newest `reports` reports.
    async fn device_history(
        &self,
        device_id: &str,
        reports: u32,
    ) -> Result<DeviceHistory, StateError>;
    /// The newest check-in of any device of `product`.
    async fn last_check_in(&self, product: &str) -> Result<Option<jiff::Timestamp>, StateError>;
}

const DEVICE_COLUMNS: &str = "d.id, d.product, d.version, d.security_version, d.last_decision,
     d.last_seen_ms, c.revoked AS revoked
     FROM devices d LEFT JOIN device_credentials c ON c.device_id = d.id";

fn device_row(r: &sqlx::any::AnyRow) -> Result<DeviceRow, sqlx::Error> {
    Ok(DeviceRow {
        id: r.try_get("id")?,
        product: r.try_get("product")?,
        version: r.try_get("version")?,
        security_version: count(r, "security_version")?,
        last_decision: r.try_get("last_decision")?,
        last_seen: from_ms(r.try_get("last_seen_ms")?),
        revoked: r.try_get::<Option<i64>, _>("revoked")?.map(|v| v != 0),
    })
}

#[async_trait]
impl UiStore for SqlState {
    async fn insert_ui_session(
        &self,
        id_sha256: &str,
        s: &UiSession,
        at: jiff::Timestamp,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO ui_sessions (id_sha256, token_sha256, actor, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_sha256)
        .bind(&s.token_sha256)
        .bind(&s.actor)
        .bind(ms(at))
        .bind(ms(s.expires))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn ui_session(
        &self,
        id_sha256: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<UiSession>, StateError> {
        let row = sqlx::query(
            "SELECT token_sha256, actor, expires_ms FROM ui_sessions
             WHERE id_sha256 = $1 AND expires_ms > $2",
        )
        .bind(id_sha256)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(UiSession {
                token_sha256: r.try_get("token_sha256")?,
                actor: r.try_get("actor")?,
                expires: from_ms(r.try_get("expires_ms")?),
            }),
            None => None,
        })
    }

    async fn delete_ui_session(&self, id_sha256: &str) -> Result<bool, StateError> {
        let done = sqlx::query("DELETE FROM ui_sessions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_expired_ui_sessions(&self, now: jiff::Timestamp) -> Result<u64, StateError> {
        let done = sqlx::query("DELETE FROM ui_sessions WHERE expires_ms <= $1")
            .bind(ms(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn search_devices(&self, text: &str, limit: u32) -> Result<Vec<DeviceRow>, StateError> {
        // a prefix as a range of the primary key (LIKE would not use the index everywhere)
        let upper = format!("{text}\u{10FFFF}");
        self.fetch_all_as(
            sqlx::query(&format!(
                "SELECT {DEVICE_COLUMNS}
                 WHERE (d.id >= $1 AND d.id < $2) OR d.version = $1
                 ORDER BY d.id LIMIT $3"
            ))
            .bind(text)
            .bind(upper)
            .bind(i64::from(limit)),
            device_row,
        )
        .await
    }

    async fn device_history(
        &self,
        device_id: &str,
        reports: u32,
    ) -> Result<DeviceHistory, StateError> {
        let device = sqlx::query(&format!("SELECT {DEVICE_COLUMNS} WHERE d.id = $1"))
            .bind(device_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| device_row(&r))
            .transpose()?;
        let enrolled =
            sqlx::query("SELECT product, revoked FROM device_credentials WHERE device_id = $1")
                .bind(device_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| -> Result<(String, bool), sqlx::Error> {
                    Ok((r.try_get("product")?, flag(&r, "revoked")?))
                })
                .transpose()?;
        let offers = self
            .fetch_all_as(
                sqlx::query(
                    "SELECT version, first_ms FROM offers WHERE device_id = $1 ORDER BY first_ms",
                )
                .bind(device_id),
                |r| Ok((r.try_get("version")?, from_ms(r.try_get("first_ms")?))),
            )
            .await?;
        let reports = self
            .fetch_all_as(
                sqlx::query(
                    "SELECT at_ms, status, version, code, offered FROM reports
                     WHERE device_id = $1 ORDER BY at_ms DESC LIMIT $2",
                )
                .bind(device_id)
                .bind(to_i64(u64::from(reports))),
                |r| {
                    Ok(ReportRow {
                        at: from_ms(r.try_get("at_ms")?),
                        status: r.try_get("status")?,
                        version: r.try_get("version")?,
                        code: r.try_get("code")?,
                        offered: flag(r, "offered")?,
                    })
                },
            )
            .await?;
        Ok(DeviceHistory {
            device,
            enrolled,
            offers,
            reports,
        })
    }

    async fn last_check_in(&self, product: &str) -> Result<Option<jiff::Timestamp>, StateError> {
        let row = sqlx::query("SELECT MAX(last_seen_ms) AS last FROM devices WHERE product = $1")
            .bind(product)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("last")?.map(from_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{CheckInRecord, DeviceRecords};

    #[tokio::test]
    async fn sessions_expire_and_end_and_devices_are_found_by_id_start_or_version() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::tests::sqlite(&dir).await;
        let at = |s: i64| jiff::Timestamp::from_second(1_800_000_000 + s).unwrap();
        let session = UiSession {
            token_sha256: "t".repeat(64),
            actor: "ops".into(),
            expires: at(100),
        };
        db.insert_ui_session("s1", &session, at(0)).await.unwrap();
        assert_eq!(db.ui_session("s1", at(99)).await.unwrap(), Some(session));
        assert_eq!(db.ui_session("s1", at(100)).await.unwrap(), None, "expired");
        assert_eq!(db.ui_session("s2", at(0)).await.unwrap(), None);
        assert_eq!(db.delete_expired_ui_sessions(at(100)).await.unwrap(), 1);
        assert!(!db.delete_ui_session("s1").await.unwrap());

        for (id, version) in [("cam-1", "1.0.0"), ("cam-10", "1.1.0"), ("door-1", "1.1.0")] {
            db.record_check_in(&CheckInRecord {
                device_id: id.into(),
                product: "acme-cam".into(),
                version: version.into(),
                security_version: 1,
                decision: "up_to_date".into(),
                at: at(5),
                policy: None,
                offered: None,
            })
            .await
            .unwrap();
        }
        let ids = |rows: Vec<DeviceRow>| rows.into_iter().map(|d| d.id).collect::<Vec<_>>();
        assert_eq!(
            ids(db.search_devices("cam-1", 10).await.unwrap()),
            ["cam-1", "cam-10"]
        );
        assert_eq!(
            ids(db.search_devices("1.1.0", 10).await.unwrap()),
            ["cam-10", "door-1"]
        );
        assert_eq!(ids(db.search_devices("", 1).await.unwrap()), ["cam-1"]);
        let history = db.device_history("cam-1", 10).await.unwrap();
        assert_eq!(history.device.unwrap().version, "1.0.0");
        assert_eq!(history.enrolled, None);
        assert_eq!(db.last_check_in("acme-cam").await.unwrap(), Some(at(5)));
        assert_eq!(db.last_check_in("none").await.unwrap(), None);
    }
}
