//! [`LedgerPruner`]: removes idempotency-ledger entries older than the retention.
//!
//! It runs on a timer and sweeps the ledger in key order, a batch at a time, through the same
//! group-commit writer as everything else, so it never holds a lock a request needs; each batch
//! is one small atomic write. There is no time index to walk instead: keeping one cost every
//! fresh event a second key, about a tenth of the commit rate, while a sweep reads each entry
//! once per run (0.7 s of one core per million entries, measured, once an hour). Each run first
//! removes what is left of the time index earlier builds wrote (`lt/`). An event
//! redelivered after its entry was pruned is decided again by its state machine, which answers
//! "not applied" for anything already applied; the retention (30 days by default) is far longer
//! than any sender's retry window.

use std::time::Duration;

use actix::prelude::*;
use ucrm_storage::{now_ms, Store, StoreError};

/// How many ledger entries one batch reads.
const BATCH: usize = 1000;
/// How long the sweep waits before it tries a batch again when the commit queue is full.
const BUSY_BACKOFF: Duration = Duration::from_millis(100);

/// Prunes now and answers with the number of entries removed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PruneNow {
    /// Where the count goes.
    pub reply: tokio::sync::oneshot::Sender<Result<usize, crate::DomainError>>,
}

/// The pruner actor.
pub struct LedgerPruner {
    store: Store,
    retention: Duration,
    interval: Duration,
}

impl LedgerPruner {
    /// Starts a pruner keeping entries for `retention`, running every `interval`.
    pub fn start_with(store: Store, retention: Duration, interval: Duration) -> Addr<Self> {
        LedgerPruner {
            store,
            retention,
            interval,
        }
        .start()
    }
}

/// Sweeps the whole ledger once, batch by batch, removing every entry recorded before
/// `cutoff_ms`.
async fn prune(store: Store, cutoff_ms: i64) -> Result<usize, crate::DomainError> {
    let mut total = 0;
    while store.remove_legacy_ledger_time_index(BATCH).await? == BATCH {
        tokio::task::yield_now().await;
    }
    let mut after: Option<Vec<u8>> = None;
    loop {
        let (removed, next) = match store.prune_ledger(cutoff_ms, after.as_deref(), BATCH).await {
            Ok(done) => done,
            // Requests come first: wait and try the same batch again, keeping the place.
            Err(StoreError::Busy) => {
                tokio::time::sleep(BUSY_BACKOFF).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        total += removed;
        let Some(next) = next else { break };
        after = Some(next);
        // Let queued requests through between batches.
        tokio::task::yield_now().await;
    }
    metrics::counter!("ucrm_ledger_pruned_total").increment(total as u64);
    if total > 0 {
        log::info!(removed = total; "pruned idempotency ledger entries past retention");
    }
    Ok(total)
}

impl LedgerPruner {
    fn cutoff(&self) -> i64 {
        now_ms() - self.retention.as_millis() as i64
    }
}

impl Actor for LedgerPruner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.interval, |act, ctx| {
            // `wait` keeps runs from overlapping when one takes longer than the interval.
            let run = prune(act.store.clone(), act.cutoff());
            ctx.wait(run.into_actor(act).map(|result, _, _| {
                if let Err(e) = result {
                    log::warn!(error:% = e; "ledger pruning failed; will retry on the next tick");
                }
            }));
        });
    }
}

impl Handler<PruneNow> for LedgerPruner {
    type Result = ();

    fn handle(&mut self, msg: PruneNow, ctx: &mut Self::Context) {
        let run = prune(self.store.clone(), self.cutoff());
        ctx.wait(run.into_actor(self).map(|result, _, _| {
            let _ = msg.reply.send(result);
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ucrm_storage::{LedgerEntry, LedgerSubject, StoreOptions, WriteSet};

    #[actix_rt::test]
    async fn pruning_removes_only_entries_past_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions::at(dir.path())).unwrap();
        let hour_ms = 3_600_000;
        let mut writes = WriteSet::new();
        for (id, age_hours) in [("old-a", 50), ("old-b", 25), ("fresh", 1)] {
            let entry = LedgerEntry {
                subject: LedgerSubject::Grant,
                subject_id: "g".into(),
                applied: true,
                recorded_at_ms: now_ms() - age_hours * hour_ms,
            };
            writes.record_event("demo", id, &entry);
        }
        store.commit(writes).await.unwrap();

        let day = Duration::from_secs(24 * 3600);
        let pruner = LedgerPruner::start_with(store.clone(), day, Duration::from_secs(3600));
        let (reply, rx) = tokio::sync::oneshot::channel();
        pruner.send(PruneNow { reply }).await.unwrap();
        assert_eq!(rx.await.unwrap().unwrap(), 2);
        assert!(store.ledger("demo", "old-a").unwrap().is_none());
        assert!(store.ledger("demo", "old-b").unwrap().is_none());
        assert!(store.ledger("demo", "fresh").unwrap().is_some());
    }
}
