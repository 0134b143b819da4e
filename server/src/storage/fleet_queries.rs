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

/// What a rollout's figures are about: a release and the rollout's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutKey {
    pub product: String,
    pub version: String,
    pub since: jiff::Timestamp,
}

/// One rollout's figures: outcome votes as [`FleetQueries::outcome_counts`] counts them, the
/// devices the release was offered to, and the product's devices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RolloutFigures {
    pub installed: u64,
    pub failed: u64,
    pub offered: u64,
    pub fleet: u64,
}

/// Queries over check-ins and reports (rollout health, fleet reports).
#[async_trait]
pub trait FleetQueries: Send + Sync {
    /// The figures of many rollouts in one query (the rollout list, `/metrics`), in the order
    /// of `keys`.
    async fn rollout_figures(&self, keys: &[RolloutKey])
        -> Result<Vec<RolloutFigures>, StateError>;
    /// Devices of `product` whose vote on `version` since `since` is installed / failed: one
    /// vote per device, its latest `installed` or `failed` report of a release the server
    /// offered it (a device that reported both at the same instant votes failed).
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
    async fn rollout_figures(
        &self,
        keys: &[RolloutKey],
    ) -> Result<Vec<RolloutFigures>, StateError> {
        let mut out = Vec::with_capacity(keys.len());
        // bounded statements (SQLite allows 32766 parameters); one for any realistic number
        for chunk in keys.chunks(1000) {
            out.extend(self.rollout_figures_of(chunk).await?);
        }
        Ok(out)
    }

    async fn outcome_counts(
        &self,
        product: &str,
        version: &str,
        since: jiff::Timestamp,
    ) -> Result<(u64, u64), StateError> {
        // each device's latest counted report, then how many of those devices failed
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT r.device_id) AS voters,
                    COUNT(DISTINCT CASE WHEN r.status = 'failed' THEN r.device_id END) AS failed
             FROM reports r
             JOIN (SELECT device_id, MAX(at_ms) AS last_ms FROM reports
                   WHERE product = $1 AND version = $2 AND at_ms >= $3 AND offered = 1
                     AND status IN ('installed', 'failed')
                   GROUP BY device_id) latest
               ON latest.device_id = r.device_id AND latest.last_ms = r.at_ms
             WHERE r.product = $1 AND r.version = $2 AND r.offered = 1
               AND r.status IN ('installed', 'failed')",
        )
        .bind(product)
        .bind(version)
        .bind(ms(since))
        .fetch_one(&self.pool)
        .await?;
        let voters = count(&row, "voters")?;
        let failed = count(&row, "failed")?;
        Ok((voters.saturating_sub(failed), failed))
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
                 WHERE product = $1 AND status = 'installed' AND offered = 1
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
                 WHERE product = $1 AND status = 'installed' AND offered = 1
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

impl SqlState {
    /// [`FleetQueries::rollout_figures`] for at most a few thousand keys: one statement. The
    /// votes are [`FleetQueries::outcome_counts`]'s query with the wanted rollouts as a table.
    async fn rollout_figures_of(
        &self,
        keys: &[RolloutKey],
    ) -> Result<Vec<RolloutFigures>, StateError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<String> = (0..keys.len())
            .map(|i| {
                let p = 4 * i;
                format!(
                    "(CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS TEXT), CAST(${} AS BIGINT))",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4
                )
            })
            .collect();
        let sql = format!(
            "WITH wanted (idx, product, version, since_ms) AS (VALUES {}),
             ranked AS (
                 -- each device's latest counted report first; of several at that instant, a
                 -- failed one (one pass over the reports: no join back, no distinct counts)
                 SELECT w.idx, r.status,
                        ROW_NUMBER() OVER (PARTITION BY w.idx, r.device_id
                            ORDER BY r.at_ms DESC,
                                     CASE WHEN r.status = 'failed' THEN 0 ELSE 1 END) AS nth
                 FROM wanted w JOIN reports r ON r.product = w.product AND r.version = w.version
                 WHERE r.at_ms >= w.since_ms AND r.offered = 1
                   AND r.status IN ('installed', 'failed')),
             votes AS (
                 SELECT idx, COUNT(*) AS voters,
                        SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed
                 FROM ranked WHERE nth = 1
                 GROUP BY idx)
             SELECT w.idx,
                    COALESCE(v.voters, 0) AS voters,
                    COALESCE(v.failed, 0) AS failed,
                    (SELECT COUNT(*) FROM offers o
                     WHERE o.product = w.product AND o.version = w.version) AS offered,
                    (SELECT COUNT(*) FROM devices d WHERE d.product = w.product) AS fleet
             FROM wanted w LEFT JOIN votes v ON v.idx = w.idx",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (i, k) in keys.iter().enumerate() {
            query = query
                .bind(i as i64)
                .bind(k.product.clone())
                .bind(k.version.clone())
                .bind(ms(k.since));
        }
        let rows = self
            .fetch_all_as(query, |r| {
                let voters = count(r, "voters")?;
                let failed = count(r, "failed")?;
                Ok((
                    count(r, "idx")?,
                    RolloutFigures {
                        installed: voters.saturating_sub(failed),
                        failed,
                        offered: count(r, "offered")?,
                        fleet: count(r, "fleet")?,
                    },
                ))
            })
            .await?;
        let mut out = vec![RolloutFigures::default(); keys.len()];
        for (idx, figures) in rows {
            if let Some(slot) = out.get_mut(idx as usize) {
                *slot = figures;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::{postgres_db, sqlite};
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
            offered: Some("1.1.0".into()),
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
        // votes: cam-3's later install wins over its failure; cam-2 reported both at one
        // instant and votes failed; the rollout list's query and outcome_counts agree
        db.record_report("cam-2", &report("installed"), later(90))
            .await
            .unwrap();
        db.record_report("cam-2", &report("failed"), later(90))
            .await
            .unwrap();
        let key = RolloutKey {
            product: "acme-cam".into(),
            version: "1.1.0".into(),
            since: t0,
        };
        let figures = db.rollout_figures(&[key]).await.unwrap()[0];
        assert_eq!((figures.installed, figures.failed), (2, 1));
        assert_eq!(
            db.outcome_counts("acme-cam", "1.1.0", t0).await.unwrap(),
            (2, 1)
        );
    }

    /// Issue 12, item 5: only a report of a release the server offered that device counts, in
    /// the health rule's figures and the fleet's; each device votes once, by its latest report.
    async fn only_offered_reports_count(db: &SqlState) {
        let t0 = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let later = |s: i64| t0.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        let check_in = |id: &str, offered: Option<&str>| CheckInRecord {
            device_id: id.into(),
            product: "acme-cam".into(),
            version: "1.1.0".into(),
            security_version: 2,
            decision: if offered.is_some() {
                "update"
            } else {
                "up_to_date"
            }
            .into(),
            at: t0,
            policy: None,
            offered: offered.map(Into::into),
        };
        let mut records = vec![check_in("offered-1", Some("1.2.0"))];
        records.extend((0..40).map(|i| check_in(&format!("rogue-{i}"), None)));
        // offered another version only
        records.push(check_in("rogue-40", Some("1.1.5")));
        db.record_check_ins(&records).await.unwrap();
        let report = |status: &str, version: &str| -> DeviceReport {
            serde_json::from_value(serde_json::json!({"status": status, "version": version}))
                .unwrap()
        };
        for i in 0..=40 {
            let counted = db
                .record_report(&format!("rogue-{i}"), &report("failed", "1.2.0"), later(10))
                .await
                .unwrap();
            assert!(!counted, "rogue-{i}: not offered 1.2.0");
            db.record_report(
                &format!("rogue-{i}"),
                &report("installed", "1.2.0"),
                later(20),
            )
            .await
            .unwrap();
        }
        // the offered device failed, then installed on its next try: one vote, installed
        assert!(db
            .record_report("offered-1", &report("failed", "1.2.0"), later(30))
            .await
            .unwrap());
        assert!(db
            .record_report("offered-1", &report("installed", "1.2.0"), later(40))
            .await
            .unwrap());
        assert!(db
            .record_report("offered-1", &report("installed", "1.2.0"), later(50))
            .await
            .unwrap());
        assert_eq!(
            db.outcome_counts("acme-cam", "1.2.0", t0).await.unwrap(),
            (1, 0)
        );
        // the rollout list's one query agrees with outcome_counts, rollout by rollout
        let key = |product: &str, version: &str, since| RolloutKey {
            product: product.into(),
            version: version.into(),
            since,
        };
        let keys = [
            key("acme-cam", "1.2.0", t0),
            key("acme-cam", "1.2.0", later(45)),
            key("acme-cam", "1.2.0", later(60)),
            key("acme-cam", "1.1.5", t0),
            key("acme-gone", "1.0.0", t0),
        ];
        let figures = db.rollout_figures(&keys).await.unwrap();
        for (k, f) in keys.iter().zip(&figures) {
            let counts = db.outcome_counts(&k.product, &k.version, k.since).await;
            assert_eq!((f.installed, f.failed), counts.unwrap(), "{k:?}");
        }
        let reach: Vec<(u64, u64)> = figures.iter().map(|f| (f.offered, f.fleet)).collect();
        assert_eq!(reach, [(1, 42), (1, 42), (1, 42), (1, 42), (0, 0)]);
        assert_eq!(figures[0].installed, 1);
        assert_eq!(
            db.first_installs("acme-cam").await.unwrap(),
            vec![("1.2.0".to_string(), later(40))]
        );
        let installed = db.installed_reports("acme-cam").await.unwrap();
        assert_eq!(installed.len(), 2, "{installed:?}");
        assert!(installed.iter().all(|(d, _, _)| d == "offered-1"));
        // every report is kept, flagged
        let flagged: i64 = sqlx::query("SELECT COUNT(*) FROM reports WHERE offered = 0")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(flagged, 82);
    }

    #[tokio::test]
    async fn reports_of_releases_never_offered_count_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        only_offered_reports_count(&db).await;
    }

    #[tokio::test]
    async fn postgres_reports_of_releases_never_offered_count_nowhere() {
        let Some(url) =
            postgres_db("postgres_reports_of_releases_never_offered_count_nowhere").await
        else {
            return;
        };
        let db = SqlState::open_url(&url, 4).await.unwrap();
        only_offered_reports_count(&db).await;
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
