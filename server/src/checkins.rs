//! Check-in records are written in batches by one task: a check-in answer never waits for a
//! database commit (an fsync per check-in would cap the server at a few thousand decisions a
//! second). A crash loses at most the last batch of *records*; answers never depend on them.
//! Device reports go through the same writer: each is written in the next batch's transaction
//! (after the check-ins, so it always finds its device's record) and acknowledged once that
//! transaction committed, so concurrent reports share one fsync instead of one each.
//! A check-in that offers a release is the exception to fire-and-forget: its answer waits
//! until the offer is committed ([`CheckInWriter::offer`]), because a report counts only for a
//! release the server offered that device, and the device may report to another replica (or
//! after this one crashed) as soon as it has the answer. Offers share a batch's fsync too.

use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use crate::storage::CheckInRecord;
use crate::storage::{StateError, StateStore};
use airlock_core::api::DeviceReport;

/// A report waiting to be written, and who waits for it.
struct PendingReport {
    device_id: String,
    report: DeviceReport,
    at: jiff::Timestamp,
    /// Whether the release was offered to the device (the report counts).
    done: oneshot::Sender<Result<bool, WriteFailed>>,
}

/// Why a batch was not written, as each waiter of the batch gets it: whether the database is
/// unavailable for now (the waiter's request is answered 503 and may be retried) keeps its
/// class.
#[derive(Debug, Clone)]
struct WriteFailed {
    unavailable: bool,
    message: String,
}

impl WriteFailed {
    fn of(e: &StateError) -> Self {
        WriteFailed {
            unavailable: e.is_unavailable(),
            message: e.to_string(),
        }
    }

    fn into_state_error(self, what: &str) -> StateError {
        let message = format!("{what}: {}", self.message);
        if self.unavailable {
            StateError::Unavailable(message)
        } else {
            StateError::Corrupt(message)
        }
    }
}

/// Largest batch written in one transaction.
const BATCH: usize = 2000;
/// Pending records before new ones are dropped (and counted) instead of queued.
const QUEUE: usize = 100_000;

enum Command {
    Record(CheckInRecord),
    /// A check-in that offered a release: acknowledged once committed.
    Offer(CheckInRecord, oneshot::Sender<Result<(), WriteFailed>>),
    Report(PendingReport),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct CheckInWriter {
    tx: mpsc::Sender<Command>,
}

impl CheckInWriter {
    /// Starts the writer task (needs a tokio runtime).
    pub fn spawn(state: Arc<dyn StateStore>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Command>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            let mut reports: Vec<PendingReport> = Vec::new();
            let mut waiting = Vec::new();
            let mut offers: Vec<oneshot::Sender<Result<(), WriteFailed>>> = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(cmd) = next.take() {
                    match cmd {
                        Command::Record(r) => batch.push(r),
                        Command::Offer(r, done) => {
                            batch.push(r);
                            offers.push(done);
                        }
                        Command::Report(r) => reports.push(r),
                        Command::Flush(done) => waiting.push(done),
                    }
                    if batch.len() + reports.len() < BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if !batch.is_empty() {
                    let result = state.record_check_ins(&batch).await;
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, records = batch.len(), "could not record check-ins");
                    }
                    let result = result.map_err(|e| WriteFailed::of(&e));
                    for done in offers.drain(..) {
                        let _ = done.send(result.clone());
                    }
                    batch.clear();
                }
                if !reports.is_empty() {
                    let rows: Vec<(String, DeviceReport, jiff::Timestamp)> = reports
                        .iter()
                        .map(|r| (r.device_id.clone(), r.report.clone(), r.at))
                        .collect();
                    match state.record_reports(&rows).await {
                        Ok(offered) => {
                            for (r, offered) in reports.drain(..).zip(offered) {
                                let _ = r.done.send(Ok(offered));
                            }
                        }
                        Err(e) => {
                            let failed = WriteFailed::of(&e);
                            for r in reports.drain(..) {
                                let _ = r.done.send(Err(failed.clone()));
                            }
                        }
                    }
                }
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
            }
        });
        CheckInWriter { tx }
    }

    /// Queues a record; false if the queue is full (the record is dropped).
    pub fn record(&self, record: CheckInRecord) -> bool {
        self.tx.try_send(Command::Record(record)).is_ok()
    }

    /// Queues the record of a check-in that offered a release and waits until it is committed
    /// (never dropped: a full queue makes it wait).
    pub async fn offer(&self, record: CheckInRecord) -> Result<(), StateError> {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Offer(record, done)).await.is_err() {
            return Err(StateError::Corrupt("the record writer has stopped".into()));
        }
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into_state_error("recording the offer")),
            Err(_) => Err(StateError::Corrupt("the record writer has stopped".into())),
        }
    }

    /// Writes a device report (after every check-in queued before it) and waits until it is
    /// committed; true if its release was offered to the device (the report counts).
    pub async fn report(
        &self,
        device_id: &str,
        report: &DeviceReport,
        at: jiff::Timestamp,
    ) -> Result<bool, StateError> {
        let (done, wait) = oneshot::channel();
        let pending = PendingReport {
            device_id: device_id.to_string(),
            report: report.clone(),
            at,
            done,
        };
        if self.tx.send(Command::Report(pending)).await.is_err() {
            return Err(StateError::Corrupt("the record writer has stopped".into()));
        }
        match wait.await {
            Ok(Ok(offered)) => Ok(offered),
            Ok(Err(e)) => Err(e.into_state_error("recording the report")),
            Err(_) => Err(StateError::Corrupt("the record writer has stopped".into())),
        }
    }

    /// Waits until everything queued so far is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SqlState;
    use airlock_core::api::{DeviceReport, ReportStatus};

    #[tokio::test]
    async fn batched_records_are_written_before_a_report_needs_them() {
        let dir = tempfile::tempdir().unwrap();
        let state: Arc<dyn StateStore> = Arc::new(
            SqlState::open_sqlite(&dir.path().join("s.db"))
                .await
                .unwrap(),
        );
        let writer = CheckInWriter::spawn(state.clone());
        let since = jiff::Timestamp::now();
        for i in 0..5000 {
            assert!(writer.record(CheckInRecord {
                device_id: format!("d{i}"),
                product: "acme-cam".into(),
                version: "1.0.0".into(),
                security_version: 1,
                decision: "update".into(),
                at: since,
                policy: None,
                offered: Some("1.1.0".into()),
            }));
        }
        // reports queued right behind the check-ins, concurrently: each acknowledged once
        // committed, each finding its device's product
        let mut tasks = Vec::new();
        for i in 0..300 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let report = DeviceReport {
                    status: if i % 3 == 0 {
                        ReportStatus::Failed
                    } else {
                        ReportStatus::Installed
                    },
                    version: "1.1.0".into(),
                    code: None,
                    delta: None,
                };
                writer.report(&format!("d{i}"), &report, since).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(
            state
                .outcome_counts("acme-cam", "1.1.0", since)
                .await
                .unwrap(),
            (200, 100)
        );
    }
}
