//! What devices tell the server: their check-ins (the last one per device, and runs of the same
//! answer: migration 13) and their reports.

use async_trait::async_trait;

use airlock_core::api::DeviceReport;

use super::sql::{ms, to_i64, SqlState, StateError};

/// One device check-in, as recorded.
#[derive(Debug, Clone)]
pub struct CheckInRecord {
    pub device_id: String,
    pub product: String,
    pub version: String,
    pub security_version: u64,
    pub decision: String,
    pub at: jiff::Timestamp,
    /// The device's update policy (JSON), when it sent one.
    pub policy: Option<String>,
    /// The version the server offered in this check-in's answer: a report counts only for a
    /// release the device was offered.
    pub offered: Option<String>,
}

/// A report's version as offers record it (semver's own form, so `1.2.0` and `1.2.0+b` differ
/// only where semver says they do).
fn offer_key(version: &str) -> String {
    semver::Version::parse(version.trim()).map_or_else(|_| version.to_string(), |v| v.to_string())
}

/// A check-in gives the same answer as the device's current run: the run goes on.
const SAME_ANSWER: &str =
    "devices.product = excluded.product AND devices.version = excluded.version
     AND devices.security_version = excluded.security_version
     AND devices.last_decision = excluded.last_decision
     AND devices.last_offered IS NOT DISTINCT FROM excluded.last_offered";

/// A check-in's upsert of its device's row: the current run of the same answer goes on, or a new
/// one starts (migration 13's trigger keeps the one that ended).
static UPSERT_DEVICE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    "INSERT INTO devices (id, product, version, security_version, last_decision, last_seen_ms,
                          policy, last_offered, run_since_ms, run_check_ins)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $6, 1)
     ON CONFLICT (id) DO UPDATE SET
         run_since_ms = CASE WHEN {SAME_ANSWER}
             THEN COALESCE(devices.run_since_ms, devices.last_seen_ms)
             ELSE excluded.last_seen_ms END,
         run_check_ins = CASE WHEN {SAME_ANSWER} THEN devices.run_check_ins + 1 ELSE 1 END,
         product = excluded.product, version = excluded.version,
         security_version = excluded.security_version, last_decision = excluded.last_decision,
         last_seen_ms = excluded.last_seen_ms, policy = excluded.policy,
         last_offered = excluded.last_offered"
        .replace("{SAME_ANSWER}", SAME_ANSWER)
});

/// Check-ins and reports, written in batches.
#[async_trait]
pub trait DeviceRecords: Send + Sync {
    async fn record_check_in(&self, record: &CheckInRecord) -> Result<(), StateError> {
        self.record_check_ins(std::slice::from_ref(record)).await
    }
    /// Records several check-ins in one transaction.
    async fn record_check_ins(&self, records: &[CheckInRecord]) -> Result<(), StateError>;
    async fn record_report(
        &self,
        device_id: &str,
        report: &DeviceReport,
        at: jiff::Timestamp,
    ) -> Result<bool, StateError> {
        let offered = self
            .record_reports(&[(device_id.to_string(), report.clone(), at)])
            .await?;
        Ok(offered.first().copied().unwrap_or(false))
    }
    /// Records several reports in one transaction; for each, whether its release was offered
    /// to its device (one that was not is recorded with `offered = 0` and counted nowhere).
    async fn record_reports(
        &self,
        reports: &[(String, DeviceReport, jiff::Timestamp)],
    ) -> Result<Vec<bool>, StateError>;
}

#[async_trait]
impl DeviceRecords for SqlState {
    async fn record_check_ins(&self, records: &[CheckInRecord]) -> Result<(), StateError> {
        let mut tx = self.begin_write().await?;
        // in device order (a stable sort: one device's check-ins stay in their order): on
        // PostgreSQL each upsert locks its device's row until the commit, and two batches (two
        // replicas, or a batch and an offer) locking rows in one order never wait on each
        // other in a cycle
        let mut in_order: Vec<&CheckInRecord> = records.iter().collect();
        in_order.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        for r in in_order {
            sqlx::query(UPSERT_DEVICE.as_str())
                .bind(&r.device_id)
                .bind(&r.product)
                .bind(&r.version)
                .bind(to_i64(r.security_version))
                .bind(&r.decision)
                .bind(ms(r.at))
                .bind(&r.policy)
                .bind(r.offered.as_deref().map(offer_key))
                .execute(&mut *tx)
                .await?;
            if let Some(version) = &r.offered {
                sqlx::query(
                    "INSERT INTO offers (device_id, version, product, first_ms)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (device_id, version) DO NOTHING",
                )
                .bind(&r.device_id)
                .bind(offer_key(version))
                .bind(&r.product)
                .bind(ms(r.at))
                .execute(&mut *tx)
                .await?;
            }
        }
        // each product's newest check-in, moved forward at most once a second (a write to a
        // row every replica's batches share), last so that its row lock is held for the
        // commit only
        let mut newest: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
        for r in records {
            let at = newest.entry(r.product.as_str()).or_insert(i64::MIN);
            *at = (*at).max(ms(r.at));
        }
        for (product, at) in newest {
            let moved = sqlx::query(
                "UPDATE product_check_ins SET last_ms = $2
                 WHERE product = $1 AND last_ms <= $2 - 1000",
            )
            .bind(product)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO product_check_ins (product, last_ms) VALUES ($1, $2)
                     ON CONFLICT (product) DO NOTHING",
                )
                .bind(product)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_reports(
        &self,
        reports: &[(String, DeviceReport, jiff::Timestamp)],
    ) -> Result<Vec<bool>, StateError> {
        let mut tx = self.begin_write().await?;
        let mut offered = vec![false; reports.len()];
        // in device order: migration 11's trigger locks each device's fleet history on
        // PostgreSQL until the commit, and two batches taking locks in one order never wait
        // on each other in a cycle
        let mut order: Vec<usize> = (0..reports.len()).collect();
        order.sort_by(|&a, &b| reports[a].0.cmp(&reports[b].0));
        for i in order {
            let (device_id, report, at) = &reports[i];
            let was_offered =
                sqlx::query("SELECT 1 FROM offers WHERE device_id = $1 AND version = $2")
                    .bind(device_id)
                    .bind(offer_key(&report.version))
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            let delta = report.delta.as_ref();
            sqlx::query(
                "INSERT INTO reports (device_id, product, status, version, code, at_ms, offered,
                                      delta_name, delta_applied, delta_reason)
                 VALUES ($1, (SELECT product FROM devices WHERE id = $1), $2, $3, $4, $5, $6,
                         $7, $8, $9)",
            )
            .bind(device_id)
            .bind(report.status.as_str())
            .bind(&report.version)
            .bind(&report.code)
            .bind(ms(*at))
            .bind(i32::from(was_offered))
            .bind(delta.map(|d| d.name.clone()))
            .bind(delta.map(|d| i32::from(d.applied)))
            .bind(delta.and_then(|d| d.reason.clone()))
            .execute(&mut *tx)
            .await?;
            offered[i] = was_offered;
        }
        tx.commit().await?;
        Ok(offered)
    }
}
