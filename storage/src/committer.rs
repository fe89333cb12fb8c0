//! The group-commit writer: the only code that writes to sled.
//!
//! Callers queue their changes on a bounded channel. One thread takes everything waiting (up to
//! a cap), applies it as one atomic `apply_batch`, calls sled's `flush` and then `fsync` on the
//! log file, and only then answers every caller of that round. Many events therefore share one
//! disk sync, and no caller is answered before its change is durable.
//!
//! sled's `flush_async` was measured to stall when many callers flush at once, and its flush
//! alone does not persist metadata or the device cache; this single writer avoids both.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::backend::{Op, StoreOptions};
use crate::StoreError;

/// Work for the writer thread.
pub(crate) enum Job {
    /// Apply these changes durably, then answer.
    Write {
        ops: Vec<Op>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Finish what is queued and stop.
    Shutdown,
}

/// Handle to the writer thread.
pub(crate) struct Committer {
    tx: SyncSender<Job>,
    running: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Starts the writer thread for `db`.
pub(crate) fn start(
    db: sled::Db,
    log: File,
    options: &StoreOptions,
) -> Result<Committer, StoreError> {
    let (tx, rx) = mpsc::sync_channel(options.commit_queue_capacity.max(1));
    let running = Arc::new(AtomicBool::new(true));
    let limits = RoundLimits {
        max_ops: options.max_batch_ops.max(1),
        max_commits: options.max_batch_commits.max(1),
        sync: options.sync,
    };
    let flag = running.clone();
    let thread = std::thread::Builder::new()
        .name("ucrm-committer".into())
        .spawn(move || {
            write_loop(&db, &log, &rx, limits);
            flag.store(false, Ordering::SeqCst);
        })?;
    Ok(Committer {
        tx,
        running,
        thread: Mutex::new(Some(thread)),
    })
}

impl Committer {
    pub(crate) fn try_send(&self, job: Job) -> Result<(), StoreError> {
        if !self.is_running() {
            return Err(StoreError::Closed);
        }
        self.tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => StoreError::Busy,
            TrySendError::Disconnected(_) => StoreError::Closed,
        })
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    pub(crate) fn shutdown(&self) {
        let handle = self.thread.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(handle) = handle {
            // A blocking send: shutdown waits for room behind the queued commits.
            let _ = self.tx.send(Job::Shutdown);
            let _ = handle.join();
        }
    }
}

/// How much one round may take, and whether it is made durable.
#[derive(Clone, Copy)]
struct RoundLimits {
    max_ops: usize,
    max_commits: usize,
    sync: bool,
}

fn write_loop(db: &sled::Db, log: &File, rx: &Receiver<Job>, limits: RoundLimits) {
    let mut stop = false;
    while !stop {
        let Ok(first) = rx.recv() else { break };
        let mut round = Vec::new();
        let mut op_count = 0;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Shutdown => stop = true,
                Job::Write { ops, reply } => {
                    op_count += ops.len();
                    round.push((ops, reply));
                }
            }
            if stop || op_count >= limits.max_ops || round.len() >= limits.max_commits {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !round.is_empty() && !commit_round(db, log, round, limits.sync) {
            // After a failed fsync the page cache may no longer match the disk; keep nothing
            // more in doubt: stop writing, so that readiness fails and callers get 503.
            stop = true;
        }
    }
    // Answer anything that raced the shutdown rather than leaving it waiting.
    while let Ok(job) = rx.try_recv() {
        if let Job::Write { reply, .. } = job {
            let _ = reply.send(Err(StoreError::Closed));
        }
    }
    if let Err(e) = db.flush() {
        log::error!(error:display = e; "final flush of the store failed");
    }
    let _ = log.sync_all();
}

type Round = Vec<(Vec<Op>, oneshot::Sender<Result<(), StoreError>>)>;

/// Applies one round durably and answers its callers; returns whether it succeeded.
fn commit_round(db: &sled::Db, log: &File, round: Round, sync: bool) -> bool {
    let started = Instant::now();
    let mut batch = sled::Batch::default();
    let mut ops = 0usize;
    for (changes, _) in &round {
        for op in changes {
            ops += 1;
            match op {
                Op::Put(k, v) => batch.insert(k.as_slice(), v.as_slice()),
                Op::Delete(k) => batch.remove(k.as_slice()),
            }
        }
    }

    let result = db
        .apply_batch(batch)
        .map_err(StoreError::from)
        .and_then(|()| {
            if sync {
                db.flush()?;
                log.sync_all()?;
            }
            Ok(())
        });
    if let Err(e) = &result {
        log::error!(error:display = e, events = round.len(); "group commit failed");
    }

    metrics::histogram!("ucrm_commit_batch_events").record(round.len() as f64);
    metrics::histogram!("ucrm_commit_batch_ops").record(ops as f64);
    metrics::histogram!("ucrm_commit_duration_seconds").record(started.elapsed().as_secs_f64());
    let ok = result.is_ok();
    for (_, reply) in round {
        let _ = reply.send(result.clone());
    }
    ok
}
