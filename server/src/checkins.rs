//! Check-in records are written in batches by one task: a check-in answer never waits for a
//! database commit (an fsync per check-in would cap the server at a few thousand decisions a
//! second). A crash loses at most the last batch of *records*; answers never depend on them.
//! Device reports flush the batch first, so a report always finds its device's record.

use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use crate::storage::state::CheckInRecord;
use crate::storage::StateStore;

/// Largest batch written in one transaction.
const BATCH: usize = 2000;
/// Pending records before new ones are dropped (and counted) instead of queued.
const QUEUE: usize = 100_000;

enum Command {
    Record(CheckInRecord),
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
            let mut waiting = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(cmd) = next.take() {
                    match cmd {
                        Command::Record(r) => batch.push(r),
                        Command::Flush(done) => waiting.push(done),
                    }
                    if batch.len() < BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if !batch.is_empty() {
                    if let Err(e) = state.record_check_ins(&batch).await {
                        tracing::warn!(error = %e, records = batch.len(), "could not record check-ins");
                    }
                    batch.clear();
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
            }));
        }
        writer.flush().await;
        for i in 0..3 {
            let report = DeviceReport {
                status: ReportStatus::Failed,
                version: "1.1.0".into(),
                code: None,
            };
            state
                .record_report(&format!("d{i}"), &report, since)
                .await
                .unwrap();
        }
        // the reports found their devices' product through the batched records
        assert_eq!(
            state
                .outcome_counts("acme-cam", "1.1.0", since)
                .await
                .unwrap(),
            (0, 3)
        );
    }
}
