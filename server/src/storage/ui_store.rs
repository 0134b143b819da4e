//! What the operator dashboard (`/ui`, [`crate::ui`]) keeps and asks beyond the admin API's
//! queries: its sessions (digests only, shared by every replica) and device look-ups (search,
//! one device's history, a product's last check-in).

use airlock_core::api::CheckInRunInfo;
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

/// How many ended runs of check-ins the store keeps per device (migration 13's trigger).
pub const KEPT_CHECK_IN_RUNS: usize = 100;

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
    /// Runs of check-ins with the same answer, newest (the current one) first, at most the
    /// asked number.
    pub check_ins: Vec<CheckInRunInfo>,
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
    /// One device's last check-in, enrolment, offers, and its newest `rows` reports and runs of
    /// check-ins.
    async fn device_history(&self, device_id: &str, rows: u32)
        -> Result<DeviceHistory, StateError>;
    /// The newest check-in of any device of `product`, to the second (migration 13).
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

fn check_in_run(r: &sqlx::any::AnyRow, current: bool) -> Result<CheckInRunInfo, sqlx::Error> {
    Ok(CheckInRunInfo {
        since: from_ms(r.try_get("since_ms")?),
        until: from_ms(r.try_get("until_ms")?),
        check_ins: count(r, "check_ins")?,
        product: r.try_get("product")?,
        version: r.try_get("version")?,
        security_version: count(r, "security_version")?,
        decision: r.try_get("decision")?,
        offered: r.try_get("offered")?,
        current,
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
        rows: u32,
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
                .bind(to_i64(u64::from(rows))),
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
        let mut check_ins = Vec::new();
        if let Some(row) = sqlx::query(
            "SELECT COALESCE(run_since_ms, last_seen_ms) AS since_ms, last_seen_ms AS until_ms,
                    run_check_ins AS check_ins, product, version, security_version,
                    last_decision AS decision, last_offered AS offered
             FROM devices WHERE id = $1",
        )
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?
        {
            check_ins.push(check_in_run(&row, true)?);
        }
        let ended = self
            .fetch_all_as(
                sqlx::query(
                    "SELECT since_ms, until_ms, check_ins, product, version, security_version,
                            decision, offered
                     FROM check_in_runs WHERE device_id = $1 ORDER BY since_ms DESC LIMIT $2",
                )
                .bind(device_id)
                .bind(to_i64(u64::from(rows.saturating_sub(1)))),
                |r| check_in_run(r, false),
            )
            .await?;
        check_ins.extend(ended);
        Ok(DeviceHistory {
            device,
            enrolled,
            offers,
            reports,
            check_ins,
        })
    }

    async fn last_check_in(&self, product: &str) -> Result<Option<jiff::Timestamp>, StateError> {
        let row = sqlx::query("SELECT last_ms FROM product_check_ins WHERE product = $1")
            .bind(product)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64, _>("last_ms"))
            .transpose()?
            .map(from_ms))
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

    fn check_in(
        device: &str,
        answer: (&str, u64, &str, Option<&str>),
        at_ms: i64,
    ) -> CheckInRecord {
        let (version, security_version, decision, offered) = answer;
        CheckInRecord {
            device_id: device.into(),
            product: "acme-cam".into(),
            version: version.into(),
            security_version,
            decision: decision.into(),
            at: from_ms(at_ms),
            policy: None,
            offered: offered.map(Into::into),
        }
    }

    /// (since, until, check-ins, version, decision, offered, current) of each run, newest first.
    type Run = (i64, i64, u64, String, String, Option<String>, bool);

    async fn runs(db: &SqlState, device: &str, rows: u32) -> Vec<Run> {
        db.device_history(device, rows)
            .await
            .unwrap()
            .check_ins
            .into_iter()
            .map(|r| {
                (
                    r.since.as_millisecond(),
                    r.until.as_millisecond(),
                    r.check_ins,
                    r.version,
                    r.decision,
                    r.offered,
                    r.current,
                )
            })
            .collect()
    }

    fn run(
        since: i64,
        until: i64,
        n: u64,
        version: &str,
        decision: &str,
        offered: Option<&str>,
        current: bool,
    ) -> Run {
        (
            since,
            until,
            n,
            version.into(),
            decision.into(),
            offered.map(Into::into),
            current,
        )
    }

    /// Migration 13: a device's check-ins as runs of the same answer, the newest 100 ended ones
    /// kept; a steady device adds no row.
    async fn check_in_runs_rules(db: &SqlState) {
        const T: i64 = 1_800_000_000_000;
        let waiting = ("1.0.0", 1, "up_to_date", None);
        let offered = ("1.0.0", 1, "update", Some("1.1.0"));
        assert_eq!(runs(db, "cam-1", 10).await, vec![], "never checked in");
        // three check-ins with the same answer, one of them in a batch with another device's
        db.record_check_in(&check_in("cam-1", waiting, T))
            .await
            .unwrap();
        db.record_check_ins(&[
            check_in("cam-2", waiting, T + 5),
            check_in("cam-1", waiting, T + 10),
        ])
        .await
        .unwrap();
        db.record_check_in(&check_in("cam-1", waiting, T + 20))
            .await
            .unwrap();
        assert_eq!(
            runs(db, "cam-1", 10).await,
            vec![run(T, T + 20, 3, "1.0.0", "up_to_date", None, true)]
        );
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM check_in_runs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(rows, 0, "steady devices write no run rows");
        // an offer ends the run; a second offer of another release ends that one; then the
        // device installs it (its version changes); several changes in one batch
        db.record_check_ins(&[
            check_in("cam-1", offered, T + 30),
            check_in("cam-1", offered, T + 40),
            check_in("cam-1", ("1.0.0", 1, "update", Some("1.2.0")), T + 50),
        ])
        .await
        .unwrap();
        db.record_check_in(&check_in("cam-1", ("1.2.0", 2, "up_to_date", None), T + 60))
            .await
            .unwrap();
        assert_eq!(
            runs(db, "cam-1", 10).await,
            vec![
                run(T + 60, T + 60, 1, "1.2.0", "up_to_date", None, true),
                run(T + 50, T + 50, 1, "1.0.0", "update", Some("1.2.0"), false),
                run(T + 30, T + 40, 2, "1.0.0", "update", Some("1.1.0"), false),
                run(T, T + 20, 3, "1.0.0", "up_to_date", None, false),
            ]
        );
        assert_eq!(
            runs(db, "cam-1", 2).await.len(),
            2,
            "at most the asked rows"
        );
        assert_eq!(
            runs(db, "cam-2", 10).await,
            vec![run(T + 5, T + 5, 1, "1.0.0", "up_to_date", None, true)]
        );
        // the newest 100 ended runs are kept: 110 more changes
        let flapping: Vec<CheckInRecord> = (0..110)
            .map(|i| {
                let answer = if i % 2 == 0 { waiting } else { offered };
                check_in("cam-1", answer, T + 100 + i)
            })
            .collect();
        db.record_check_ins(&flapping).await.unwrap();
        let all = runs(db, "cam-1", 500).await;
        assert_eq!(all.len(), 1 + KEPT_CHECK_IN_RUNS);
        assert_eq!(all[0].0, T + 209, "the current run is the last check-in's");
        assert!(all[0].6 && all[1..].iter().all(|r| !r.6));
        assert_eq!(all[1].0, T + 208);
        assert_eq!(
            all.last().unwrap().0,
            T + 209 - i64::try_from(KEPT_CHECK_IN_RUNS).unwrap(),
            "the oldest kept"
        );
        let kept: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM check_in_runs WHERE device_id = 'cam-1'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(kept, i64::try_from(KEPT_CHECK_IN_RUNS).unwrap());
    }

    /// Migration 13: each product's newest check-in, moved forward by batches to the second.
    async fn product_last_check_in_rules(db: &SqlState) {
        const T: i64 = 1_900_000_000_000;
        let answer = ("1.0.0", 1, "up_to_date", None);
        let door = |id: &str, at_ms: i64| CheckInRecord {
            product: "acme-door".into(),
            ..check_in(id, answer, at_ms)
        };
        assert_eq!(db.last_check_in("acme-door").await.unwrap(), None);
        db.record_check_in(&door("door-1", T)).await.unwrap();
        assert_eq!(
            db.last_check_in("acme-door").await.unwrap(),
            Some(from_ms(T))
        );
        // within the second: not moved (no write to the shared row)
        db.record_check_ins(&[door("door-1", T + 400), door("door-2", T + 999)])
            .await
            .unwrap();
        assert_eq!(
            db.last_check_in("acme-door").await.unwrap(),
            Some(from_ms(T))
        );
        // a batch's newest, whatever its order; an older check-in never moves it back
        db.record_check_ins(&[door("door-2", T + 2500), door("door-1", T + 1200)])
            .await
            .unwrap();
        assert_eq!(
            db.last_check_in("acme-door").await.unwrap(),
            Some(from_ms(T + 2500))
        );
        db.record_check_in(&door("door-3", T + 100)).await.unwrap();
        assert_eq!(
            db.last_check_in("acme-door").await.unwrap(),
            Some(from_ms(T + 2500))
        );
        assert_eq!(db.last_check_in("acme-none").await.unwrap(), None);
    }

    #[tokio::test]
    async fn check_ins_are_kept_as_runs_of_the_same_answer() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::tests::sqlite(&dir).await;
        check_in_runs_rules(&db).await;
        product_last_check_in_rules(&db).await;
    }

    #[tokio::test]
    async fn postgres_check_ins_are_kept_as_runs_of_the_same_answer() {
        let Some(url) =
            crate::storage::tests::postgres_db("postgres_check_ins_are_kept_as_runs").await
        else {
            return;
        };
        let db = SqlState::open_url(&url, 2).await.unwrap();
        check_in_runs_rules(&db).await;
        product_last_check_in_rules(&db).await;
        db.pool.close().await;
    }

    /// Two writers (two replicas' batches) recording check-ins of the same devices at once, in
    /// opposite orders: each upsert locks its device's row to the commit, so without the
    /// writer's device order PostgreSQL finds a deadlock and aborts a batch.
    #[tokio::test]
    async fn postgres_concurrent_batches_of_the_same_devices_do_not_deadlock() {
        let Some(url) = crate::storage::tests::postgres_db(
            "postgres_concurrent_batches_of_the_same_devices_do_not_deadlock",
        )
        .await
        else {
            return;
        };
        let db = std::sync::Arc::new(SqlState::open_url(&url, 4).await.unwrap());
        let batch = |round: i64, reversed: bool| {
            let mut b: Vec<CheckInRecord> = (0..40)
                .map(|i| {
                    let answer = if (i + round) % 3 == 0 {
                        ("1.0.0", 1, "update", Some("1.1.0"))
                    } else {
                        ("1.0.0", 1, "up_to_date", None)
                    };
                    check_in(&format!("cam-{i:02}"), answer, 1_800_000_000_000 + round)
                })
                .collect();
            if reversed {
                b.reverse();
            }
            b
        };
        let writers: Vec<_> = [false, true]
            .into_iter()
            .map(|reversed| {
                let db = db.clone();
                tokio::spawn(async move {
                    for round in 0..25 {
                        db.record_check_ins(&batch(round, reversed)).await?;
                    }
                    Ok::<_, StateError>(())
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        db.pool.close().await;
    }

    /// The runs as a model computes them from the check-ins: a new run at each change of
    /// answer, the current one and the newest [`KEPT_CHECK_IN_RUNS`] ended ones, newest first.
    fn model_runs(check_ins: &[CheckInRecord], device: &str) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        for c in check_ins.iter().filter(|c| c.device_id == device) {
            let at = c.at.as_millisecond();
            let offered = c.offered.clone();
            match runs.last_mut() {
                Some(r) if r.3 == c.version && r.4 == c.decision && r.5 == offered => {
                    r.1 = at;
                    r.2 += 1;
                }
                _ => runs.push((
                    at,
                    at,
                    1,
                    c.version.clone(),
                    c.decision.clone(),
                    offered,
                    false,
                )),
            }
        }
        if let Some(r) = runs.last_mut() {
            r.6 = true;
        }
        runs.into_iter()
            .rev()
            .take(1 + KEPT_CHECK_IN_RUNS)
            .collect()
    }

    const ANSWERS: [(&str, u64, &str, Option<&str>); 4] = [
        ("1.0.0", 1, "up_to_date", None),
        ("1.0.0", 1, "update", Some("1.1.0")),
        ("1.0.0", 1, "update", Some("1.2.0")),
        ("1.1.0", 2, "end_of_support", None),
    ];

    /// Check-ins of three devices at increasing instants, and a batch size to write them in.
    fn check_ins_strategy() -> impl proptest::strategy::Strategy<Value = (Vec<CheckInRecord>, usize)>
    {
        use proptest::prelude::*;
        (
            // mostly one device, so that its ended runs pass the number kept
            proptest::collection::vec(
                (
                    prop_oneof![6 => Just(0usize), 1 => 1usize..3],
                    0usize..4,
                    1i64..1000,
                ),
                0..300,
            ),
            1usize..40,
        )
            .prop_map(|(steps, batch)| {
                let mut at = 1_800_000_000_000;
                let check_ins = steps
                    .into_iter()
                    .map(|(device, answer, gap)| {
                        at += gap;
                        check_in(&format!("dev-{device}"), ANSWERS[answer], at)
                    })
                    .collect();
                (check_ins, batch)
            })
    }

    async fn runs_equal_the_model(db: &SqlState, check_ins: &[CheckInRecord], batch: usize) {
        for chunk in check_ins.chunks(batch) {
            db.record_check_ins(chunk).await.unwrap();
        }
        for device in ["dev-0", "dev-1", "dev-2"] {
            assert_eq!(
                runs(db, device, 1000).await,
                model_runs(check_ins, device),
                "{device}"
            );
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        #[test]
        fn check_in_runs_equal_a_run_length_model_on_sqlite((check_ins, batch) in check_ins_strategy()) {
            runtime().block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let db = crate::storage::tests::sqlite(&dir).await;
                runs_equal_the_model(&db, &check_ins, batch).await;
            });
        }

        #[test]
        fn check_in_runs_equal_a_run_length_model_on_postgres((check_ins, batch) in check_ins_strategy()) {
            runtime().block_on(async {
                let Some(url) = crate::storage::tests::postgres_db(
                    "check_in_runs_equal_a_run_length_model_on_postgres",
                )
                .await
                else {
                    return;
                };
                let db = SqlState::open_url(&url, 2).await.unwrap();
                runs_equal_the_model(&db, &check_ins, batch).await;
                db.pool.close().await;
            });
        }
    }
}
