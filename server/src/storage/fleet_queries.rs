//! Fleet figures read from device records: versions in the field, rollout outcomes, installs.

use async_trait::async_trait;
use sqlx::Row;

use super::sql::{count, from_ms, ms, to_i64, Backend, SqlState, StateError};

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
    /// How the devices that reported since the start got the release (docs/deltas.md).
    pub deltas: DeltaOutcomes,
}

/// Devices whose latest installed or failed report of a release (offered to them) says how a
/// delta went: rebuilt from the delta, or the delta refused and the full image downloaded
/// instead (migration 12's `delta_outcomes`). Devices offered no delta count in neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeltaOutcomes {
    pub applied: u64,
    pub fell_back: u64,
}

/// The instants of a fleet history: `steps + 1` evenly spaced from `start` (the product's
/// first installed report) to `start + span` (now, or `start` when now is not after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryInstants {
    pub start: i64,
    pub span: i64,
    pub steps: i64,
}

impl HistoryInstants {
    /// `points` instants from `start_ms` to `now_ms`; one when now is not after the start.
    pub fn new(start_ms: i64, now_ms: i64, points: usize) -> Self {
        let span = now_ms.saturating_sub(start_ms).max(0);
        let steps = if span == 0 {
            0
        } else {
            points.max(1) as i64 - 1
        };
        Self {
            start: start_ms,
            span,
            steps,
        }
    }

    /// The instant of step `step` (0..=steps) in milliseconds; the last is exactly now.
    pub fn at(&self, step: i64) -> i64 {
        if self.steps == 0 {
            return self.start;
        }
        // i128: span * step cannot overflow
        let offset = i128::from(self.span) * i128::from(step) / i128::from(self.steps);
        self.start.saturating_add(offset as i64)
    }
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
    /// How many devices first installed each version string of `product` (offered to them).
    async fn first_install_counts(&self, product: &str) -> Result<Vec<(String, u64)>, StateError>;
    /// The first installs of `product` under any of `versions`, in time order: `count` of them
    /// from `offset` on, when each was (milliseconds).
    async fn first_installs_in_order(
        &self,
        product: &str,
        versions: &[String],
        offset: u64,
        count: u64,
    ) -> Result<Vec<i64>, StateError>;
    /// When `product`'s first installed report (offered to the device) was, in milliseconds:
    /// the start of its fleet history.
    async fn history_start(&self, product: &str) -> Result<Option<i64>, StateError>;
    /// The kept changes of `product`'s devices by version (migration 11) up to the last of
    /// `instants`, summed by version and by the first instant at or after them: (version,
    /// step, change in devices).
    async fn history_changes(
        &self,
        product: &str,
        instants: &HistoryInstants,
    ) -> Result<Vec<(String, i64, i64)>, StateError>;
    /// Devices of `product` whose delta outcome for `version` was reported since `since`
    /// ([`DeltaOutcomes`]).
    async fn delta_outcomes(
        &self,
        product: &str,
        version: &str,
        since: jiff::Timestamp,
    ) -> Result<DeltaOutcomes, StateError>;
    /// Every `installed` report of `product`, oldest first: (device, version, when).
    async fn installed_reports(
        &self,
        product: &str,
    ) -> Result<Vec<(String, String, jiff::Timestamp)>, StateError>;
}

/// A product's fleet counts are folded into one row per version once they are spread over
/// more change rows than this (each check-in that moves a device adds two).
const FOLD_AT: u64 = 5_000;

#[async_trait]
impl FleetQueries for SqlState {
    async fn rollout_figures(
        &self,
        keys: &[RolloutKey],
    ) -> Result<Vec<RolloutFigures>, StateError> {
        let mut fleets: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for k in keys {
            if !fleets.contains_key(k.product.as_str()) {
                let devices = self.fleet_versions(&k.product).await?;
                fleets.insert(&k.product, devices.iter().map(|v| v.devices).sum());
            }
        }
        let mut out = Vec::with_capacity(keys.len());
        // bounded statements (SQLite allows 32766 parameters); one for any realistic number
        for chunk in keys.chunks(1000) {
            out.extend(self.rollout_figures_of(chunk).await?);
        }
        for (figures, k) in out.iter_mut().zip(keys) {
            figures.fleet = fleets.get(k.product.as_str()).copied().unwrap_or(0);
        }
        Ok(out)
    }

    async fn outcome_counts(
        &self,
        product: &str,
        version: &str,
        since: jiff::Timestamp,
    ) -> Result<(u64, u64), StateError> {
        // device_votes holds each device's latest vote (migration 10's triggers)
        let row = sqlx::query(
            "SELECT COUNT(*) AS voters, CAST(COALESCE(SUM(failed), 0) AS BIGINT) AS failed
             FROM device_votes WHERE product = $1 AND version = $2 AND last_ms >= $3",
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

    async fn delta_outcomes(
        &self,
        product: &str,
        version: &str,
        since: jiff::Timestamp,
    ) -> Result<DeltaOutcomes, StateError> {
        // delta_outcomes holds each device's latest outcome (migration 12's trigger)
        let row = sqlx::query(
            "SELECT COUNT(*) AS reported, CAST(COALESCE(SUM(applied), 0) AS BIGINT) AS applied
             FROM delta_outcomes WHERE product = $1 AND version = $2 AND last_ms >= $3",
        )
        .bind(product)
        .bind(version)
        .bind(ms(since))
        .fetch_one(&self.pool)
        .await?;
        let reported = count(&row, "reported")?;
        let applied = count(&row, "applied")?;
        Ok(DeltaOutcomes {
            applied,
            fell_back: reported.saturating_sub(applied),
        })
    }

    async fn fleet_versions(&self, product: &str) -> Result<Vec<VersionCount>, StateError> {
        let rows = self
            .fetch_all_as(
                sqlx::query(
                    "SELECT version, security_version,
                            CAST(SUM(devices) AS BIGINT) AS devices, COUNT(*) AS changes
                     FROM fleet_count_changes WHERE product = $1
                     GROUP BY version, security_version",
                )
                .bind(product),
                |r| {
                    Ok((
                        VersionCount {
                            version: r.try_get("version")?,
                            security_version: count(r, "security_version")?,
                            devices: count(r, "devices")?,
                        },
                        count(r, "changes")?,
                    ))
                },
            )
            .await?;
        let changes: u64 = rows.iter().map(|(_, n)| n).sum();
        if changes > FOLD_AT.max(2 * rows.len() as u64) {
            // the figures read are right either way: a failed fold only leaves them spread out
            if let Err(e) = self.fold_fleet_counts(product).await {
                tracing::warn!(error = %e, product, "could not fold the fleet counts");
            }
        }
        Ok(rows
            .into_iter()
            .map(|(v, _)| v)
            .filter(|v| v.devices > 0)
            .collect())
    }

    async fn first_installs(
        &self,
        product: &str,
    ) -> Result<Vec<(String, jiff::Timestamp)>, StateError> {
        self.fetch_all_as(
            sqlx::query("SELECT version, first_ms FROM first_installs WHERE product = $1")
                .bind(product),
            |r| Ok((r.try_get("version")?, from_ms(r.try_get("first_ms")?))),
        )
        .await
    }

    async fn first_install_counts(&self, product: &str) -> Result<Vec<(String, u64)>, StateError> {
        self.fetch_all_as(
            sqlx::query(
                "SELECT version, COUNT(*) AS devices FROM first_installs WHERE product = $1
                 GROUP BY version",
            )
            .bind(product),
            |r| Ok((r.try_get("version")?, count(r, "devices")?)),
        )
        .await
    }

    async fn first_installs_in_order(
        &self,
        product: &str,
        versions: &[String],
        offset: u64,
        count: u64,
    ) -> Result<Vec<i64>, StateError> {
        if versions.is_empty() || count == 0 {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> =
            (0..versions.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            "SELECT first_ms FROM first_installs WHERE product = $1 AND version IN ({})
             ORDER BY first_ms LIMIT $2 OFFSET $3",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(product)
            .bind(to_i64(count))
            .bind(to_i64(offset));
        for v in versions {
            query = query.bind(v);
        }
        self.fetch_all_as(query, |r| r.try_get("first_ms")).await
    }

    async fn history_start(&self, product: &str) -> Result<Option<i64>, StateError> {
        let row =
            sqlx::query("SELECT MIN(at_ms) AS start FROM fleet_history_changes WHERE product = $1")
                .bind(product)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get::<Option<i64>, _>("start")?)
    }

    async fn history_changes(
        &self,
        product: &str,
        instants: &HistoryInstants,
    ) -> Result<Vec<(String, i64, i64)>, StateError> {
        // a change at `at_ms` first counts at the smallest step k whose instant
        // start + floor(span * k / steps) is at or after it: k = ceil((at_ms - start) * steps / span)
        self.fetch_all_as(
            sqlx::query(
                "SELECT version, step, CAST(SUM(devices) AS BIGINT) AS devices FROM (
                     SELECT version, devices,
                            CAST(CASE WHEN $2 = 0 THEN 0
                                      ELSE ((at_ms - $3) * $4 + $2 - 1) / $2 END AS BIGINT) AS step
                     FROM fleet_history_changes WHERE product = $1 AND at_ms <= $5) changes
                 GROUP BY version, step",
            )
            .bind(product)
            // one instant (the start): every change up to it is in step 0
            .bind(if instants.steps == 0 {
                0
            } else {
                instants.span
            })
            .bind(instants.start)
            .bind(instants.steps)
            .bind(instants.at(instants.steps)),
            |r| {
                Ok((
                    r.try_get("version")?,
                    r.try_get("step")?,
                    r.try_get("devices")?,
                ))
            },
        )
        .await
    }

    async fn installed_reports(
        &self,
        product: &str,
    ) -> Result<Vec<(String, String, jiff::Timestamp)>, StateError> {
        let mut reports = self
            .fetch_all_as(
                sqlx::query(
                    "SELECT device_id, version, at_ms FROM reports
                     WHERE product = $1 AND status = 'installed' AND offered = 1",
                )
                .bind(product),
                |r| {
                    Ok((
                        r.try_get::<String, _>("device_id")?,
                        r.try_get::<String, _>("version")?,
                        r.try_get::<i64, _>("at_ms")?,
                    ))
                },
            )
            .await?;
        // device and version (in byte order, the same on both backends) break ties of the
        // same millisecond, so the order is repeatable
        reports.sort_unstable_by(|a, b| (a.2, &a.0, &a.1).cmp(&(b.2, &b.0, &b.1)));
        Ok(reports
            .into_iter()
            .map(|(device, version, at)| (device, version, from_ms(at)))
            .collect())
    }
}

impl SqlState {
    /// Replaces `product`'s fleet count changes by their sums, one row per version. On
    /// PostgreSQL one statement deletes the rows it sees and inserts what exactly those rows
    /// add up to, so rows that writers insert meanwhile are neither lost nor counted twice,
    /// and no writer ever waits for it (they only insert); SQLite has one writer at a time.
    pub(crate) async fn fold_fleet_counts(&self, product: &str) -> Result<(), StateError> {
        match self.backend() {
            Backend::Postgres => {
                sqlx::query(
                    "WITH gone AS (DELETE FROM fleet_count_changes WHERE product = $1
                                   RETURNING version, security_version, devices)
                     INSERT INTO fleet_count_changes (product, version, security_version, devices)
                     SELECT CAST($1 AS TEXT), version, security_version, SUM(devices) FROM gone
                     GROUP BY version, security_version HAVING SUM(devices) <> 0",
                )
                .bind(product)
                .execute(&self.pool)
                .await?;
            }
            Backend::Sqlite => {
                let mut tx = self.begin_write().await?;
                let last: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(rowid) FROM fleet_count_changes WHERE product = $1",
                )
                .bind(product)
                .fetch_one(&mut *tx)
                .await?;
                let Some(last) = last else {
                    return Ok(());
                };
                sqlx::query(
                    "INSERT INTO fleet_count_changes (product, version, security_version, devices)
                     SELECT product, version, security_version, SUM(devices)
                     FROM fleet_count_changes WHERE product = $1 AND rowid <= $2
                     GROUP BY product, version, security_version HAVING SUM(devices) <> 0",
                )
                .bind(product)
                .bind(last)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM fleet_count_changes WHERE product = $1 AND rowid <= $2")
                    .bind(product)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// [`FleetQueries::rollout_figures`] for at most a few thousand keys, without the fleet
    /// size: one statement, each rollout's votes read from `device_votes`.
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
            "WITH wanted (idx, product, version, since_ms) AS (VALUES {})
             SELECT w.idx,
                    (SELECT COUNT(*) FROM device_votes v
                     WHERE v.product = w.product AND v.version = w.version
                       AND v.last_ms >= w.since_ms) AS voters,
                    (SELECT CAST(COALESCE(SUM(v.failed), 0) AS BIGINT) FROM device_votes v
                     WHERE v.product = w.product AND v.version = w.version
                       AND v.last_ms >= w.since_ms) AS failed,
                    (SELECT COUNT(*) FROM offers o
                     WHERE o.product = w.product AND o.version = w.version) AS offered,
                    (SELECT COUNT(*) FROM delta_outcomes d
                     WHERE d.product = w.product AND d.version = w.version
                       AND d.last_ms >= w.since_ms) AS delta_reported,
                    (SELECT CAST(COALESCE(SUM(d.applied), 0) AS BIGINT) FROM delta_outcomes d
                     WHERE d.product = w.product AND d.version = w.version
                       AND d.last_ms >= w.since_ms) AS delta_applied
             FROM wanted w",
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
                let delta_reported = count(r, "delta_reported")?;
                let delta_applied = count(r, "delta_applied")?;
                Ok((
                    count(r, "idx")?,
                    RolloutFigures {
                        installed: voters.saturating_sub(failed),
                        failed,
                        offered: count(r, "offered")?,
                        fleet: 0,
                        deltas: DeltaOutcomes {
                            applied: delta_applied,
                            fell_back: delta_reported.saturating_sub(delta_applied),
                        },
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

    /// Migration 12: each device's latest delta outcome per release, from counted installed
    /// or failed reports only, in fleet and rollout figures; the report rows keep the delta.
    async fn delta_outcome_rules(db: &SqlState) {
        let t0 = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let later = |s: i64| t0.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        let offered = |id: &str| CheckInRecord {
            device_id: id.into(),
            product: "acme-cam".into(),
            version: "1.0.0".into(),
            security_version: 1,
            decision: "update".into(),
            at: t0,
            policy: None,
            offered: Some("1.1.0".into()),
        };
        let ids = ["d-1", "d-2", "d-3", "d-4", "d-5"];
        db.record_check_ins(&ids.map(offered)).await.unwrap();
        let report = |status: &str, delta: Option<(bool, Option<&str>)>| -> DeviceReport {
            let mut v = serde_json::json!({"status": status, "version": "1.1.0"});
            if let Some((applied, reason)) = delta {
                v["delta"] = serde_json::json!({
                    "name": "acme-cam/fw-1.1.0.bin.from-0123456789abcdef.zst",
                    "applied": applied,
                });
                if let Some(r) = reason {
                    v["delta"]["reason"] = r.into();
                }
            }
            serde_json::from_value(v).unwrap()
        };
        let record = |id: &'static str, r: DeviceReport, at: jiff::Timestamp| async move {
            assert!(db.record_report(id, &r, at).await.unwrap(), "{id}");
        };
        // d-1: rebuilt from the delta
        record("d-1", report("downloading", None), later(1)).await;
        record("d-1", report("installed", Some((true, None))), later(2)).await;
        // d-2: the delta refused (hash mismatch), the full image installed
        record(
            "d-2",
            report("installed", Some((false, Some("hash mismatch")))),
            later(3),
        )
        .await;
        // d-3: fell back and failed to boot, then applied a delta and installed: latest wins
        record(
            "d-3",
            report("failed", Some((false, Some("not the source")))),
            later(4),
        )
        .await;
        record("d-3", report("installed", Some((true, None))), later(9)).await;
        // d-4: the full image only (no delta offered): in neither count
        record("d-4", report("installed", None), later(5)).await;
        // d-5: both in one instant: the fallback wins
        record("d-5", report("installed", Some((true, None))), later(6)).await;
        record(
            "d-5",
            report("installed", Some((false, Some("x")))),
            later(6),
        )
        .await;
        // a device never offered 1.1.0 counts nowhere
        assert!(!db
            .record_report(
                "rogue",
                &report("installed", Some((false, Some("x")))),
                later(7)
            )
            .await
            .unwrap());

        let all = db
            .delta_outcomes("acme-cam", "1.1.0", jiff::Timestamp::UNIX_EPOCH)
            .await
            .unwrap();
        assert_eq!(
            all,
            DeltaOutcomes {
                applied: 2,
                fell_back: 2
            }
        );
        // since a rollout started at +5 s: d-3 (+9 s) and d-5 (+6 s)
        assert_eq!(
            db.delta_outcomes("acme-cam", "1.1.0", later(5))
                .await
                .unwrap(),
            DeltaOutcomes {
                applied: 1,
                fell_back: 1
            }
        );
        let keys = [
            RolloutKey {
                product: "acme-cam".into(),
                version: "1.1.0".into(),
                since: t0,
            },
            RolloutKey {
                product: "acme-cam".into(),
                version: "1.1.0".into(),
                since: later(5),
            },
            RolloutKey {
                product: "acme-cam".into(),
                version: "9.9.9".into(),
                since: t0,
            },
        ];
        let figures = db.rollout_figures(&keys).await.unwrap();
        assert_eq!(figures[0].deltas, all);
        assert_eq!((figures[0].installed, figures[0].failed), (5, 0));
        assert_eq!(
            figures[1].deltas,
            DeltaOutcomes {
                applied: 1,
                fell_back: 1
            }
        );
        assert_eq!(figures[2].deltas, DeltaOutcomes::default());
        // the report rows keep what the device said
        let rows = sqlx::query(
            "SELECT delta_name, delta_applied, delta_reason FROM reports
             WHERE device_id = 'd-2'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), 1);
        let name: Option<String> = rows[0].try_get("delta_name").unwrap();
        let applied: Option<i32> = rows[0].try_get("delta_applied").unwrap();
        let reason: Option<String> = rows[0].try_get("delta_reason").unwrap();
        assert_eq!(
            (name.as_deref(), applied, reason.as_deref()),
            (
                Some("acme-cam/fw-1.1.0.bin.from-0123456789abcdef.zst"),
                Some(0),
                Some("hash mismatch")
            )
        );
        let without: Option<i32> =
            sqlx::query("SELECT delta_applied FROM reports WHERE device_id = 'd-4'")
                .fetch_one(&db.pool)
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
        assert_eq!(without, None);
    }

    #[tokio::test]
    async fn delta_outcomes_are_kept_per_device_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        delta_outcome_rules(&db).await;
    }

    #[tokio::test]
    async fn postgres_delta_outcomes_are_kept_per_device_and_release() {
        let Some(url) =
            postgres_db("postgres_delta_outcomes_are_kept_per_device_and_release").await
        else {
            return;
        };
        let db = SqlState::open_url(&url, 4).await.unwrap();
        delta_outcome_rules(&db).await;
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

/// The figures kept by migration 10's triggers against the recount the server did before
/// (the straightforward queries over devices and reports), over random fleets.
#[cfg(test)]
pub(crate) mod kept_figures_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::storage::tests::{postgres_db, sqlite};
    use crate::storage::{CheckInRecord, DeviceRecords};
    use airlock_core::api::{DeviceReport, ReportStatus};
    use proptest::prelude::*;

    /// Devices by version of their last check-in, recounted.
    async fn recount_versions(db: &SqlState, product: &str) -> Vec<VersionCount> {
        let mut v = db
            .fetch_all_as(
                sqlx::query(
                    "SELECT version, security_version, COUNT(*) AS devices FROM devices
                     WHERE product = $1 GROUP BY version, security_version",
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
            .unwrap();
        v.sort_by(|a, b| (&a.version, a.security_version).cmp(&(&b.version, b.security_version)));
        v
    }

    /// Votes since `since`, recounted: each device's latest counted report, then how many of
    /// those devices failed.
    async fn recount_votes(db: &SqlState, product: &str, version: &str, since: i64) -> (u64, u64) {
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
        .bind(since)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let voters = count(&row, "voters").unwrap();
        let failed = count(&row, "failed").unwrap();
        (voters - failed, failed)
    }

    async fn recount_first_installs(db: &SqlState, product: &str) -> Vec<(String, i64)> {
        let mut v = db
            .fetch_all_as(
                sqlx::query(
                    "SELECT version, device_id, MIN(at_ms) AS first_ms FROM reports
                     WHERE product = $1 AND status = 'installed' AND offered = 1
                     GROUP BY version, device_id",
                )
                .bind(product),
                |r| Ok((r.try_get("version")?, r.try_get("first_ms")?)),
            )
            .await
            .unwrap();
        v.sort();
        v
    }

    async fn recount_offers_and_fleet(db: &SqlState, product: &str, version: &str) -> (u64, u64) {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM offers WHERE product = $1 AND version = $2) AS offered,
                    (SELECT COUNT(*) FROM devices WHERE product = $1) AS fleet",
        )
        .bind(product)
        .bind(version)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        (
            count(&row, "offered").unwrap(),
            count(&row, "fleet").unwrap(),
        )
    }

    const PRODUCTS: [&str; 2] = ["acme-cam", "acme-lock"];
    /// Reported versions, some not in semver's own form (offers record " 1.1.0" as "1.1.0";
    /// reports keep what the device sent).
    const VERSIONS: [&str; 5] = ["1.0.0", "1.1.0", "1.2.0", " 1.1.0", "1.2.0+b"];
    const T0: i64 = 1_800_000_000_000;

    #[derive(Debug, Clone)]
    enum Write {
        CheckIn {
            device: u8,
            product: usize,
            version: usize,
            security_version: u64,
            offered: Option<usize>,
            at: i64,
        },
        Report {
            device: u8,
            status: ReportStatus,
            version: usize,
            at: i64,
        },
        /// A reader folds the fleet counts now.
        Fold(usize),
    }

    fn write() -> impl Strategy<Value = Write> {
        let status = prop_oneof![
            Just(ReportStatus::Installed),
            Just(ReportStatus::Failed),
            Just(ReportStatus::Downloading)
        ];
        prop_oneof![
            4 => (0u8..6, 0usize..2, 0usize..5, 0u64..3, proptest::option::weighted(0.8, 0usize..5), 0i64..12)
                .prop_map(|(device, product, version, security_version, offered, at)| {
                    Write::CheckIn { device, product, version, security_version, offered, at }
                }),
            6 => (0u8..7, status, 0usize..5, 0i64..12)
                .prop_map(|(device, status, version, at)| Write::Report { device, status, version, at }),
            1 => (0usize..2).prop_map(Write::Fold),
        ]
    }

    /// Applies `writes` in batches of `batch` (as the server's writer does), then compares
    /// every figure with its recount; finally rebuilds the kept figures with the migration's
    /// backfill and compares again (an upgraded database starts from exactly these).
    async fn kept_equals_recount(db: &SqlState, writes: &[Write], batch: usize) {
        let mut check_ins = Vec::new();
        let mut reports = Vec::new();
        for w in writes {
            match w {
                Write::CheckIn {
                    device,
                    product,
                    version,
                    security_version,
                    offered,
                    at,
                } => {
                    check_ins.push(CheckInRecord {
                        device_id: format!("dev-{device}"),
                        product: PRODUCTS[*product].into(),
                        version: VERSIONS[*version].into(),
                        security_version: *security_version,
                        decision: "update".into(),
                        at: jiff::Timestamp::from_millisecond(T0 + at).unwrap(),
                        policy: None,
                        offered: offered.map(|v| VERSIONS[v].to_string()),
                    });
                }
                Write::Report {
                    device,
                    status,
                    version,
                    at,
                } => reports.push((
                    format!("dev-{device}"),
                    DeviceReport {
                        status: *status,
                        version: VERSIONS[*version].into(),
                        code: None,
                        delta: None,
                    },
                    jiff::Timestamp::from_millisecond(T0 + at).unwrap(),
                )),
                Write::Fold(p) => {
                    db.fold_fleet_counts(PRODUCTS[*p]).await.unwrap();
                }
            }
            if check_ins.len() + reports.len() >= batch {
                db.record_check_ins(&check_ins).await.unwrap();
                db.record_reports(&reports).await.unwrap();
                check_ins.clear();
                reports.clear();
            }
        }
        db.record_check_ins(&check_ins).await.unwrap();
        db.record_reports(&reports).await.unwrap();
        compare(db, &PRODUCTS, &VERSIONS, T0).await;
        // the backfill of migration 10 gives the same figures from the same rows
        for table in [
            "fleet_count_changes",
            "device_votes",
            "first_installs",
            "fleet_history_changes",
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&db.pool)
                .await
                .unwrap();
        }
        let migrations = match db.backend() {
            Backend::Sqlite => [
                include_str!("../../migrations/0010_fleet_figures.sqlite.sql"),
                include_str!("../../migrations/0011_fleet_history.sqlite.sql"),
            ],
            Backend::Postgres => [
                include_str!("../../migrations/0010_fleet_figures.postgres.sql"),
                include_str!("../../migrations/0011_fleet_history.postgres.sql"),
            ],
        };
        for migration in migrations {
            let backfill = migration.split("-- What the r").nth(1).unwrap();
            let backfill = backfill.split_once('\n').unwrap().1;
            sqlx::raw_sql(backfill).execute(&db.pool).await.unwrap();
        }
        compare(db, &PRODUCTS, &VERSIONS, T0).await;
    }

    /// Every kept figure of `products` (and their `versions`) equals its recount: the fleet
    /// by version, first installs, votes since several instants, and the rollout list's
    /// figures (votes, offers, fleet size).
    pub(crate) async fn compare(db: &SqlState, products: &[&str], versions: &[&str], t0: i64) {
        let since = [0, 3, 6, 11, 12, 1_000, 3_600_000];
        for &product in products {
            // the fleet history as migration 11 keeps it, against the replay of every report,
            // seen from several instants (before the first report: clock skew) and resolutions
            // the median time to install from the middle first installs, against all of them
            let all_first = db.first_installs(product).await.unwrap();
            let counts = db.first_install_counts(product).await.unwrap();
            for version in ["1.0.0", "1.1.0", "1.2.0", "2.0.0"] {
                for released in [-1_000_000, -1, 4_000, 8_000, 300_500] {
                    let release = release_at(product, version, t0 + released);
                    let kept =
                        crate::fleet::median_seconds_to_install(db, product, &release, &counts)
                            .await
                            .unwrap();
                    let all = crate::fleet::median(&mut crate::fleet::seconds_to_install(
                        &release, &all_first,
                    ));
                    assert_eq!(kept, all, "{product} {version} released at {released}");
                }
            }
            let installed = db.installed_reports(product).await.unwrap();
            for now in [-5, 0, 1, 5, 7, 11, 12, 23, 1_000, 3_600_000] {
                let now = jiff::Timestamp::from_millisecond(t0 + now).unwrap();
                for points in [1, 2, 3, 5, 24] {
                    let kept = crate::fleet::kept_history(db, product, now, points)
                        .await
                        .unwrap();
                    assert_eq!(
                        kept,
                        crate::fleet::history(&installed, now, points),
                        "{product} history at {now} in {points} points"
                    );
                }
            }
            let mut kept = db.fleet_versions(product).await.unwrap();
            kept.sort_by(|a, b| {
                (&a.version, a.security_version).cmp(&(&b.version, b.security_version))
            });
            assert_eq!(kept, recount_versions(db, product).await, "{product}");
            let mut first: Vec<(String, i64)> = db
                .first_installs(product)
                .await
                .unwrap()
                .into_iter()
                .map(|(v, at)| (v, at.as_millisecond()))
                .collect();
            first.sort();
            assert_eq!(
                first,
                recount_first_installs(db, product).await,
                "{product}"
            );
            let mut keys = Vec::new();
            for &version in versions {
                for s in since {
                    let at = jiff::Timestamp::from_millisecond(t0 + s).unwrap();
                    let kept = db.outcome_counts(product, version, at).await.unwrap();
                    let recount = recount_votes(db, product, version, t0 + s).await;
                    assert_eq!(kept, recount, "{product} {version:?} since {s}");
                    keys.push(RolloutKey {
                        product: product.into(),
                        version: version.into(),
                        since: at,
                    });
                }
            }
            let figures = db.rollout_figures(&keys).await.unwrap();
            for (k, f) in keys.iter().zip(figures) {
                let votes = recount_votes(db, product, &k.version, k.since.as_millisecond()).await;
                let (offered, fleet) = recount_offers_and_fleet(db, product, &k.version).await;
                assert_eq!(
                    (f.installed, f.failed, f.offered, f.fleet),
                    (votes.0, votes.1, offered, fleet),
                    "{k:?}"
                );
            }
        }
    }

    fn release_at(
        product: &str,
        version: &str,
        released_ms: i64,
    ) -> airlock_core::release::Release {
        use airlock_core::release::{Release, ReleaseInfo, ReleaseKind};
        Release {
            name: format!("{product}/fw-{version}.bin"),
            length: 1,
            sha256: "00".repeat(32),
            info: ReleaseInfo {
                product: product.into(),
                version: version.parse().unwrap(),
                security_version: 1,
                kind: ReleaseKind::Security,
                requires: None,
                released: jiff::Timestamp::from_millisecond(released_ms).unwrap(),
                advisories: Vec::new(),
            },
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn kept_figures_equal_a_recount_on_sqlite(
            writes in proptest::collection::vec(write(), 0..150),
            batch in 1usize..20,
        ) {
            runtime().block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let db = sqlite(&dir).await;
                kept_equals_recount(&db, &writes, batch).await;
            });
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn kept_figures_equal_a_recount_on_postgres(
            writes in proptest::collection::vec(write(), 0..150),
            batch in 1usize..20,
        ) {
            runtime().block_on(async {
                let Some(url) = postgres_db("kept_figures_equal_a_recount_on_postgres").await else {
                    return;
                };
                let db = SqlState::open_url(&url, 2).await.unwrap();
                kept_equals_recount(&db, &writes, batch).await;
                db.pool.close().await;
            });
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Installs spread over seconds (the random fleets above fit in one): the median time
        /// to install read from the middle first installs equals the median of all of them.
        #[test]
        fn median_time_to_install_from_the_middle_installs(
            installs in proptest::collection::vec((0u8..40, 0usize..5, 0i64..600_000), 0..60),
        ) {
            runtime().block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let db = sqlite(&dir).await;
                for (device, version, at) in &installs {
                    let at = jiff::Timestamp::from_millisecond(T0 + at).unwrap();
                    db.record_check_ins(&[CheckInRecord {
                        device_id: format!("dev-{device}"),
                        product: "acme-cam".into(),
                        version: "0.9.0".into(),
                        security_version: 1,
                        decision: "update".into(),
                        at,
                        policy: None,
                        offered: Some(VERSIONS[*version].to_string()),
                    }])
                    .await
                    .unwrap();
                    let report = DeviceReport {
                        status: ReportStatus::Installed,
                        version: VERSIONS[*version].into(),
                        code: None,
                        delta: None,
                    };
                    db.record_reports(&[(format!("dev-{device}"), report, at)]).await.unwrap();
                }
                compare(&db, &["acme-cam"], &VERSIONS, T0).await;
            });
        }
    }

    /// Replicas writing reports of the same devices at once (batches in separate
    /// transactions, out of time order): the history trigger's per-device lock makes each
    /// see the others', so the kept history still equals the replay.
    #[tokio::test]
    async fn postgres_concurrent_reports_of_the_same_devices_keep_the_history() {
        let Some(url) =
            postgres_db("postgres_concurrent_reports_of_the_same_devices_keep_the_history").await
        else {
            return;
        };
        let db = SqlState::open_url(&url, 8).await.unwrap();
        for device in 0..3 {
            for version in ["1.0.0", "1.1.0", "1.2.0"] {
                db.record_check_ins(&[CheckInRecord {
                    device_id: format!("dev-{device}"),
                    product: "acme-cam".into(),
                    version: "0.9.0".into(),
                    security_version: 1,
                    decision: "update".into(),
                    at: jiff::Timestamp::from_millisecond(T0).unwrap(),
                    policy: None,
                    offered: Some(version.into()),
                }])
                .await
                .unwrap();
            }
        }
        let mut writers = Vec::new();
        for writer in 0..8u32 {
            let db = db.clone();
            writers.push(tokio::spawn(async move {
                for round in 0..10u32 {
                    // each batch touches every device, in a time order that differs per writer
                    let batch: Vec<_> = (0..3u32)
                        .map(|device| {
                            let at = i64::from((writer * 7 + round * 13 + device * 5) % 50);
                            let version =
                                ["1.0.0", "1.1.0", "1.2.0"][((writer + round) % 3) as usize];
                            (
                                format!("dev-{device}"),
                                DeviceReport {
                                    status: ReportStatus::Installed,
                                    version: version.into(),
                                    code: None,
                                    delta: None,
                                },
                                jiff::Timestamp::from_millisecond(T0 + at).unwrap(),
                            )
                        })
                        .collect();
                    db.record_reports(&batch).await.unwrap();
                }
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        compare(&db, &["acme-cam"], &["1.0.0", "1.1.0", "1.2.0"], T0).await;
        db.pool.close().await;
    }

    /// Many check-ins moving devices between versions leave many change rows; a read folds
    /// them into one per version, and the figures do not change.
    #[tokio::test]
    async fn many_changes_are_folded_by_a_reader() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let records: Vec<CheckInRecord> = (0..3_000)
            .map(|i| CheckInRecord {
                device_id: format!("dev-{}", i % 100),
                product: "acme-cam".into(),
                version: format!("1.{}.0", i / 100),
                security_version: 1,
                decision: "update".into(),
                at: jiff::Timestamp::from_millisecond(T0 + i).unwrap(),
                policy: None,
                offered: None,
            })
            .collect();
        db.record_check_ins(&records).await.unwrap();
        let rows = |db: SqlState| async move {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM fleet_count_changes")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            n
        };
        assert!(rows(db.clone()).await > 5_000);
        let before = recount_versions(&db, "acme-cam").await;
        assert_eq!(
            before,
            vec![VersionCount {
                version: "1.29.0".into(),
                security_version: 1,
                devices: 100
            }]
        );
        assert_eq!(db.fleet_versions("acme-cam").await.unwrap(), before);
        assert_eq!(rows(db.clone()).await, 1, "folded");
        assert_eq!(db.fleet_versions("acme-cam").await.unwrap(), before);
    }
}
