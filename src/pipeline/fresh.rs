//! Messages just stored, processed with group commit: their starts were counted with their
//! storage ([`Store::store_fetched`]); their analyses (MIME, ZIP, XML) run ahead on the bounded
//! pool, a few messages in advance, while earlier ones are written; and their writes share one
//! transaction per batch (up to [`BATCH_MESSAGES`] messages or [`BATCH_TIME`]), each message in
//! a savepoint of its own so that one failure is that message's alone. A restart replays pending messages one at a time
//! ([`Desk::process`]), so a message that stops the process is still caught alone.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::{Analysis, Desk, MAX_PROCESSING_ATTEMPTS, Outcome, bounded};
use super::{analysis_failed, quarantine, unfinished_attempts};
use crate::store::raw::Origin;
use crate::store::{Batch, Store, StoreError};

/// At most this many messages share one commit.
const BATCH_MESSAGES: usize = 64;

/// A batch is committed once it has been open this long: it holds the desk's write lock, and
/// the answers it queued wait for its commit. Measured (`cargo bench --bench pipeline`, 2 cores):
/// 10 ms gave 338 messages/s, 50 ms 371, 200 ms 425 (a batch of 64 takes ~150 ms).
const BATCH_TIME: Duration = Duration::from_millis(200);

/// A message just stored, to be processed.
#[derive(Debug)]
pub struct Fresh {
    pub raw_id: i64,
    pub origin: Origin,
    pub raw: Vec<u8>,
}

/// What a message processed gave, by raw id, in the order given.
pub type Processed = (i64, Result<Outcome, StoreError>);

/// A message read (or not) before its writes.
pub(super) enum Started {
    /// Another worker processed it first.
    Taken,
    /// To quarantine, for this reason.
    Unreadable(String),
    Read(Box<Analysis>),
}

/// A message whose analysis runs ahead.
struct Ahead {
    raw_id: i64,
    origin: Origin,
    analysis: JoinHandle<Started>,
}

/// Why a message's writes in a batch failed.
enum Failed {
    /// The message's own writes (taken back by its savepoint).
    Message(StoreError),
    /// Opening or closing its savepoint: the batch as a whole is in doubt.
    Batch(StoreError),
}

/// A batch being written, with the outcomes that wait for its commit.
struct OpenBatch {
    batch: Batch,
    opened: Instant,
    kept: Vec<(i64, Outcome)>,
}

impl Desk {
    /// Processes messages just stored by [`Store::store_fetched`] (which counted their first
    /// starts), in order: see the module.
    pub async fn process_fresh(
        self: &Arc<Self>,
        store: &Store,
        fresh: Vec<Fresh>,
    ) -> Vec<Processed> {
        let mut done = Vec::with_capacity(fresh.len());
        let mut waiting = VecDeque::from(fresh);
        let mut ahead: VecDeque<Ahead> = VecDeque::new();
        let mut open: Option<OpenBatch> = None;
        // One analysis per core, and one more read and waiting: bounded memory.
        let lookahead = bounded::slots() + 1;
        loop {
            while ahead.len() < lookahead {
                let Some(fresh) = waiting.pop_front() else { break };
                ahead.push_back(self.run_ahead(fresh));
            }
            let Some(next) = ahead.pop_front() else { break };
            let started = self.await_analysis(store, &mut open, next.analysis, &mut done).await;
            if open.is_none() {
                match store.begin_batch().await {
                    Ok(batch) => {
                        open = Some(OpenBatch { batch, opened: Instant::now(), kept: Vec::new() })
                    }
                    Err(failure) => {
                        done.push((next.raw_id, after_failure(store, next.raw_id, failure).await));
                        continue;
                    }
                }
            }
            let Some(batch) = open.as_mut() else { continue };
            let failure =
                match self.write_in_batch(&batch.batch, next.raw_id, &next.origin, started).await {
                    Ok(outcome) => {
                        batch.kept.push((next.raw_id, outcome));
                        None
                    }
                    // Its writes were taken back; the batch keeps what came before it.
                    Err(Failed::Message(failure)) => {
                        commit(store, open.take(), &mut done).await;
                        Some(failure)
                    }
                    // The savepoint itself failed: what the batch holds is not known, so none of it
                    // is kept.
                    Err(Failed::Batch(failure)) => {
                        if let Some(OpenBatch { batch, kept, .. }) = open.take() {
                            drop(batch);
                            lost(store, kept, &failure, &mut done).await;
                        }
                        Some(failure)
                    }
                };
            if let Some(failure) = failure {
                done.push((next.raw_id, after_failure(store, next.raw_id, failure).await));
            }
            let full =
                |b: &OpenBatch| b.kept.len() >= BATCH_MESSAGES || b.opened.elapsed() >= BATCH_TIME;
            if open.as_ref().is_some_and(full) {
                commit(store, open.take(), &mut done).await;
            }
        }
        commit(store, open.take(), &mut done).await;
        done
    }

    fn run_ahead(self: &Arc<Self>, mut fresh: Fresh) -> Ahead {
        let desk = Arc::clone(self);
        let origin = fresh.origin.clone();
        let raw = std::mem::take(&mut fresh.raw);
        // The first start, counted when it was stored.
        let analysis = tokio::spawn(async move { desk.start(Some(0), &origin, raw).await });
        Ahead { raw_id: fresh.raw_id, origin: fresh.origin, analysis }
    }

    /// The analysis of the next message. An open batch does not wait for it past its time (it
    /// holds the write lock): it is committed first.
    async fn await_analysis(
        &self,
        store: &Store,
        open: &mut Option<OpenBatch>,
        mut analysis: JoinHandle<Started>,
        done: &mut Vec<Processed>,
    ) -> Started {
        let joined = match open.as_ref().map(|b| BATCH_TIME.saturating_sub(b.opened.elapsed())) {
            Some(left) => match tokio::time::timeout(left, &mut analysis).await {
                Ok(joined) => joined,
                Err(_) => {
                    commit(store, open.take(), done).await;
                    analysis.await
                }
            },
            None => analysis.await,
        };
        // A panic outside the bounded analysis (which catches its own) is quarantined like one.
        joined
            .unwrap_or_else(|_| Started::Unreadable(analysis_failed(bounded::Unfinished::Panicked)))
    }

    /// One message's writes, in a savepoint of the batch: kept, or all taken back on failure.
    async fn write_in_batch(
        &self,
        batch: &Batch,
        raw_id: i64,
        origin: &Origin,
        started: Started,
    ) -> Result<Outcome, Failed> {
        batch.begin_message().await.map_err(Failed::Batch)?;
        let written = self.finish(batch.store(), raw_id, origin, started).await;
        batch.end_message(written.is_ok()).await.map_err(Failed::Batch)?;
        written.map_err(Failed::Message)
    }

    /// Reads the message (MIME, ZIP, XML) on the bounded pool, once its start is counted
    /// (`earlier`: the starts before this one; `None`: another worker has it).
    pub(super) async fn start(
        self: &Arc<Self>,
        earlier: Option<u32>,
        origin: &Origin,
        raw: Vec<u8>,
    ) -> Started {
        let Some(earlier) = earlier else { return Started::Taken };
        if earlier >= MAX_PROCESSING_ATTEMPTS {
            return Started::Unreadable(unfinished_attempts(earlier));
        }
        match self.analyze_bounded(origin, raw).await {
            Ok(analysis) => Started::Read(Box::new(analysis)),
            Err(unfinished) => Started::Unreadable(analysis_failed(unfinished)),
        }
    }

    /// Writes what a started message causes (in one transaction, or in a batch's savepoint).
    pub(super) async fn finish(
        &self,
        store: &Store,
        raw_id: i64,
        origin: &Origin,
        started: Started,
    ) -> Result<Outcome, StoreError> {
        match started {
            Started::Taken => {
                Ok(Outcome::Duplicate { of: raw_id, case: store.case_of_raw(raw_id).await? })
            }
            Started::Unreadable(reason) => quarantine(store, raw_id, reason).await,
            Started::Read(analysis) => {
                self.process_analysis(store, raw_id, origin, *analysis).await
            }
        }
    }
}

/// What a message whose writes failed (and were taken back) reports: a duplicate when another
/// worker had processed it; for a passing store error, its start is taken back (the desk's
/// failure, not the message's).
pub(super) async fn after_failure(
    store: &Store,
    raw_id: i64,
    failure: StoreError,
) -> Result<Outcome, StoreError> {
    match failure {
        StoreError::AlreadyProcessed => {
            Ok(Outcome::Duplicate { of: raw_id, case: store.case_of_raw(raw_id).await? })
        }
        failure if failure.is_retriable() => {
            // Best effort: a store that just failed may fail this too, and then the start
            // stays counted (one of the two allowed).
            let _ = store.undo_attempt(raw_id).await;
            Err(failure)
        }
        failure => Err(failure),
    }
}

/// Commits a batch and reports its messages; see [`lost`] when the commit fails.
async fn commit(store: &Store, open: Option<OpenBatch>, done: &mut Vec<Processed>) {
    let Some(open) = open else { return };
    match open.batch.commit().await {
        Ok(()) => done.extend(open.kept.into_iter().map(|(raw_id, outcome)| (raw_id, Ok(outcome)))),
        Err(failure) => lost(store, open.kept, &failure, done).await,
    }
}

/// The messages of a batch that was not committed: none of them was written, so they stay
/// pending with their starts taken back, each reporting [`StoreError::Uncommitted`] (retried,
/// never quarantined: the failure was the batch's; a damaged database still shows through its
/// fault).
async fn lost(
    store: &Store,
    kept: Vec<(i64, Outcome)>,
    failure: &StoreError,
    done: &mut Vec<Processed>,
) {
    let detail = failure.to_string();
    for (raw_id, _) in kept {
        let _ = store.undo_attempt(raw_id).await;
        let error = StoreError::Uncommitted { detail: detail.clone(), fault: failure.fault() };
        done.push((raw_id, Err(error)));
    }
}
