//! Fleet figures read from device records: versions in the field, rollout outcomes, installs.

use async_trait::async_trait;
use sqlx::Row;

use super::sql::{count, from_ms, ms, SqlState, StateError};

/// Devices on one (version, security version), by their last check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionCount {
    pub version: String,
    pub security_version: u64,
    pub devices: u64,
}

/// Queries over check-ins and reports (rollout health, fleet reports).
#[async_trait]
pub trait FleetQueries: Send + Sync {
    /// Devices of `product` that reported `version` installed / failed since `since`.
    async fn outcome_counts(
        &self,
        product: &str,
        version: &str,
        since: jiff::Timestamp,
    ) -> Result<(u64, u64), StateError>;
    /// Devices of `product` counted by the version and security version of their last
    /// check-in.
    async fn fleet_versions(&self, product: &str) -> Result<Vec<VersionCount>, StateError>;
    /// The first `installed` report of each device for each version of `product`:
    /// (version, when), one row per device and version.
    async fn first_installs(
        &self,
        product: &str,
    ) -> Result<Vec<(String, jiff::Timestamp)>, StateError>;
    /// Every `installed` report of `product`, oldest first: (device, version, when).
    async fn installed_reports(
        &self,
        product: &str,
    ) -> Result<Vec<(String, String, jiff::Timestamp)>, StateError>;
}

#[async_trait]
impl FleetQueries for SqlState {
    async fn outcome_counts(
        &self,
        product: &str,
        version: &str,
        since: jiff::Timestamp,
    ) -> Result<(u64, u64), StateError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(DISTINCT device_id) AS devices FROM reports
             WHERE product = $1 AND version = $2 AND at_ms >= $3
               AND status IN ('installed', 'failed')
             GROUP BY status",
        )
        .bind(product)
        .bind(version)
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        let (mut installed, mut failed) = (0u64, 0u64);
        for row in rows {
            let status: String = row.try_get("status")?;
            let n = count(&row, "devices")?;
            match status.as_str() {
                "installed" => installed = n,
                "failed" => failed = n,
                _ => {}
            }
        }
        Ok((installed, failed))
    }

    async fn fleet_versions(&self, product: &str) -> Result<Vec<VersionCount>, StateError> {
        self.fetch_all_as(
            sqlx::query(
                "SELECT version, security_version, COUNT(*) AS devices FROM devices
                 WHERE product = $1
                 GROUP BY version, security_version",
            )
            .bind(product),
            |r| {
                Ok(VersionCount {
                    version: r.try_get("version")?,
                    security_version: count(r, "security_version")?,
                    devices: count(r, "devices")?,
                })
            },
        )
        .await
    }

    async fn first_installs(
        &self,
        product: &str,
    ) -> Result<Vec<(String, jiff::Timestamp)>, StateError> {
        self.fetch_all_as(
            sqlx::query(
                "SELECT version, device_id, MIN(at_ms) AS first_ms FROM reports
                 WHERE product = $1 AND status = 'installed'
                 GROUP BY version, device_id",
            )
            .bind(product),
            |r| Ok((r.try_get("version")?, from_ms(r.try_get("first_ms")?))),
        )
        .await
    }

    async fn installed_reports(
        &self,
        product: &str,
    ) -> Result<Vec<(String, String, jiff::Timestamp)>, StateError> {
        // device and version break ties of the same millisecond, so the order is repeatable
        self.fetch_all_as(
            sqlx::query(
                "SELECT device_id, version, at_ms FROM reports
                 WHERE product = $1 AND status = 'installed'
                 ORDER BY at_ms, device_id, version",
            )
            .bind(product),
            |r| {
                Ok((
                    r.try_get("device_id")?,
                    r.try_get("version")?,
                    from_ms(r.try_get("at_ms")?),
                ))
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_db::{postgres_db, sqlite};
    use crate::storage::{CheckInRecord, DeviceRecords};
    use airlock_core::api::DeviceReport;

    /// Fleet figures read the last check-in of each device and each device's first install.
    async fn fleet_rules(db: &SqlState) {
        let t0 = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let check_in = |id: &str, version: &str, security_version: u64| CheckInRecord {
            device_id: id.into(),
            product: "acme-cam".into(),
            version: version.into(),
            security_version,
            decision: "up_to_date".into(),
            at: t0,
            policy: None,
        };
        db.record_check_ins(&[
            check_in("cam-1", "1.0.0", 1),
            check_in("cam-2", "1.0.0", 1),
            check_in("cam-3", "1.1.0", 2),
            // cam-1 moved on: only its last check-in counts
            check_in("cam-1", "1.1.0", 2),
            CheckInRecord {
                product: "acme-other".into(),
                ..check_in("other-1", "9.0.0", 9)
            },
        ])
        .await
        .unwrap();
        let mut versions = db.fleet_versions("acme-cam").await.unwrap();
        versions.sort_by(|a, b| a.version.cmp(&b.version));
        assert_eq!(
            versions,
            vec![
                VersionCount {
                    version: "1.0.0".into(),
                    security_version: 1,
                    devices: 1
                },
                VersionCount {
                    version: "1.1.0".into(),
                    security_version: 2,
                    devices: 2
                },
            ]
        );
        let report = |status: &str| -> DeviceReport {
            serde_json::from_value(serde_json::json!({"status": status, "version": "1.1.0"}))
                .unwrap()
        };
        let later = |s: i64| t0.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        db.record_report("cam-1", &report("installed"), later(60))
            .await
            .unwrap();
        db.record_report("cam-1", &report("installed"), later(600))
            .await
            .unwrap();
        db.record_report("cam-3", &report("failed"), later(30))
            .await
            .unwrap();
        db.record_report("cam-3", &report("installed"), later(120))
            .await
            .unwrap();
        let mut first = db.first_installs("acme-cam").await.unwrap();
        first.sort();
        assert_eq!(
            first,
            vec![("1.1.0".into(), later(60)), ("1.1.0".into(), later(120))]
        );
        assert!(db.first_installs("acme-other").await.unwrap().is_empty());
        let ms = |s: i64| later(s).as_millisecond();
        let installed: Vec<(String, String, i64)> = db
            .installed_reports("acme-cam")
            .await
            .unwrap()
            .into_iter()
            .map(|(d, v, at)| (d, v, at.as_millisecond()))
            .collect();
        assert_eq!(
            installed,
            vec![
                ("cam-1".into(), "1.1.0".into(), ms(60)),
                ("cam-3".into(), "1.1.0".into(), ms(120)),
                ("cam-1".into(), "1.1.0".into(), ms(600)),
            ],
            "installed reports only, oldest first"
        );
        assert!(db.installed_reports("acme-other").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn fleet_counts_last_check_ins_and_first_installs() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        fleet_rules(&db).await;
    }

    #[tokio::test]
    async fn postgres_fleet_counts_last_check_ins_and_first_installs() {
        let Some(url) =
            postgres_db("postgres_fleet_counts_last_check_ins_and_first_installs").await
        else {
            return;
        };
        let db = SqlState::open_url(&url, 4).await.unwrap();
        fleet_rules(&db).await;
    }
}
