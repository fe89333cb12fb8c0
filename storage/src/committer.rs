//! The group-commit writer: the only code that writes to sled.
//!
//! Callers queue their changes on a bounded channel. Two threads share the work as a two-stage
//! pipeline:
//!
//! - the applier takes everything waiting (up to a cap) as one round, under load lingering
//!   briefly for more, and applies it as one atomic `apply_batch`, in queue order;
//! - the syncer makes applied rounds durable: sled's `flush`, `fsync` of any blob file sled
//!   wrote since the last round, then `fsync` of the log file, and only then answers every
//!   caller of those rounds.
//!
//! While the syncer waits on the disk for round `n`, the applier already applies round `n + 1`,
//! so the CPU work of a round and the disk wait of the one before it overlap instead of adding
//! up. The hand-over is a rendezvous: the applier is at most one round ahead, and jobs that
//! arrive while it waits make its next round larger. sled's flush covers everything applied
//! before it was called, so a round is durable once a flush and fsync started after its apply
//! have finished; an `apply_batch` cut short by a crash is rolled back whole by sled's recovery.
//!
//! Changes are readable as soon as they are applied, a little before they are durable.
//! [`Durability`] lets a reader that is about to acknowledge something it read (a replayed
//! event) wait until everything it could have seen is durable.
//!
//! sled's `flush_async` was measured to stall when many callers flush at once, and its flush
//! alone does not persist metadata or the device cache; this single writer avoids both. sled
//! writes an item too large for a quarter of a log segment (about 128 KiB: a large outbound call
//! body, or a leaf of large values) to its own file under `blobs/` and never fsyncs it, so the
//! syncer does.
//!
//! If either thread dies, the [`Durability`] is marked failed and the writer stops, so that no
//! reader waits forever on a round that will never become durable.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::backend::{Op, StoreOptions};
use crate::StoreError;

mod blobs;
mod durability;
mod guard;

use blobs::BlobSync;
pub use durability::Durability;
use guard::{spawn_guarded, FailOnPanic};

/// Work for the writer.
pub(crate) enum Job {
    /// Apply these changes durably, then answer.
    Write {
        ops: Vec<Op>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Finish what is queued and stop.
    Shutdown,
}

/// Handle to the writer threads.
pub(crate) struct Committer {
    tx: SyncSender<Job>,
    running: Arc<AtomicBool>,
    durability: Arc<Durability>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Starts the writer threads for `db`, whose log file is `log` and whose blob files are in
/// `blobs`.
pub(crate) fn start(
    db: sled::Db,
    log: File,
    blobs: PathBuf,
    options: &StoreOptions,
) -> Result<Committer, StoreError> {
    let (tx, rx) = mpsc::sync_channel(options.commit_queue_capacity.max(1));
    let running = Arc::new(AtomicBool::new(true));
    let durability = Arc::new(Durability::default());
    let limits = RoundLimits {
        max_ops: options.max_batch_ops.max(1),
        max_commits: options.max_batch_commits.max(1),
        linger: options.group_commit_linger,
    };
    let mut threads = Vec::new();

    // With `sync` off (benchmarks only) the applier answers each round itself.
    let to_syncer = if options.sync {
        let (to_syncer, applied) = mpsc::sync_channel::<Applied>(0);
        let mut syncer = Syncer {
            db: db.clone(),
            log,
            blobs: BlobSync::new(blobs),
            running: running.clone(),
            durability: durability.clone(),
        };
        let guard = FailOnPanic::new(&running, &durability);
        threads.push(spawn_guarded("ucrm-syncer", guard, move || {
            syncer.run(&applied)
        })?);
        Some(to_syncer)
    } else {
        None
    };

    let applier = Applier {
        db,
        limits,
        running: running.clone(),
        durability: durability.clone(),
        to_syncer,
    };
    let guard = FailOnPanic::new(&running, &durability);
    threads.push(spawn_guarded("ucrm-committer", guard, move || {
        applier.run(&rx)
    })?);
    Ok(Committer {
        tx,
        running,
        durability,
        threads: Mutex::new(threads),
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

    pub(crate) fn durability(&self) -> &Durability {
        &self.durability
    }

    pub(crate) fn shutdown(&self) {
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        if threads.is_empty() {
            return;
        }
        // A blocking send: shutdown waits for room behind the queued commits.
        let _ = self.tx.send(Job::Shutdown);
        for handle in threads {
            let _ = handle.join();
        }
    }
}

/// How much one round may take, and how long it may wait for more.
#[derive(Clone, Copy)]
struct RoundLimits {
    max_ops: usize,
    max_commits: usize,
    linger: Duration,
}

type Replies = Vec<oneshot::Sender<Result<(), StoreError>>>;

/// A round that is applied and waits to be made durable.
struct Applied {
    round: u64,
    replies: Replies,
    started: Instant,
}

fn answer(replies: Replies, result: &Result<(), StoreError>) {
    for reply in replies {
        let _ = reply.send(result.clone());
    }
}

/// The first stage: gathers rounds from the queue and applies each as one atomic batch.
struct Applier {
    db: sled::Db,
    limits: RoundLimits,
    running: Arc<AtomicBool>,
    durability: Arc<Durability>,
    to_syncer: Option<SyncSender<Applied>>,
}

impl Applier {
    fn run(self, rx: &Receiver<Job>) {
        let mut round = 0u64;
        let mut stop = false;
        let mut under_load = false;
        while !stop && self.running.load(Ordering::SeqCst) {
            let Ok(first) = rx.recv() else { break };
            let (batch, replies, ops, shutdown) = self.gather(first, rx, under_load);
            stop = shutdown;
            under_load = replies.len() > 1;
            if replies.is_empty() {
                continue;
            }
            if !self.running.load(Ordering::SeqCst) {
                // The syncer failed while this round was gathered: write nothing more.
                answer(replies, &Err(StoreError::Closed));
                break;
            }
            round += 1;
            if !self.apply(round, batch, replies, ops) {
                // The store can no longer be trusted to match what callers were told: stop
                // writing, so that readiness fails and callers get 503.
                stop = true;
            }
        }
        self.running.store(false, Ordering::SeqCst);
        // Answer anything that raced the shutdown rather than leaving it waiting.
        while let Ok(job) = rx.try_recv() {
            if let Job::Write { reply, .. } = job {
                let _ = reply.send(Err(StoreError::Closed));
            }
        }
        // Dropping the hand-over lets the syncer finish the last round, flush and stop.
        if self.to_syncer.is_none() {
            final_flush(&self.db);
        }
    }

    /// Takes `first` and whatever else is waiting, up to the limits, as one batch.
    ///
    /// Under load (the previous round held more than one commit) it also waits up to the
    /// linger for commits still on their way, as long as they keep coming: a quarter of the
    /// linger without one ends the wait. Every round costs a fixed amount of CPU besides
    /// its events (sled's log write, flush and fsync, thread wake-ups), and on two cores the
    /// CPU, not the disk, is what bounds the rate; fewer, larger rounds leave more of it to
    /// requests. After a round of one commit, that is, outside load, nothing is held back.
    fn gather(
        &self,
        first: Job,
        rx: &Receiver<Job>,
        under_load: bool,
    ) -> (sled::Batch, Replies, usize, bool) {
        let linger_until = (under_load && !self.limits.linger.is_zero())
            .then(|| Instant::now() + self.limits.linger);
        // Lingering stops early once commits stop coming: a few callers in a closed loop (the
        // reconciler's eight workers) would otherwise pay the whole linger on every round.
        let quiet = self.limits.linger / 4;
        let mut batch = sled::Batch::default();
        let mut replies = Vec::new();
        let mut ops = 0usize;
        let mut shutdown = false;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Shutdown => shutdown = true,
                Job::Write {
                    ops: changes,
                    reply,
                } => {
                    ops += changes.len();
                    for op in changes {
                        match op {
                            Op::Put(k, v) => batch.insert(k, v),
                            Op::Delete(k) => batch.remove(k),
                        }
                    }
                    replies.push(reply);
                }
            }
            if shutdown || ops >= self.limits.max_ops || replies.len() >= self.limits.max_commits {
                break;
            }
            next = match rx.try_recv() {
                Ok(job) => Some(job),
                Err(_) => linger_until.and_then(|until| {
                    let left = until.saturating_duration_since(Instant::now());
                    rx.recv_timeout(left.min(quiet)).ok()
                }),
            };
        }
        (batch, replies, ops, shutdown)
    }

    /// Applies one round and passes it on; returns whether the writer may go on.
    fn apply(&self, round: u64, batch: sled::Batch, replies: Replies, ops: usize) -> bool {
        let started = Instant::now();
        metrics::histogram!("ucrm_commit_batch_events").record(replies.len() as f64);
        metrics::histogram!("ucrm_commit_batch_ops").record(ops as f64);

        self.durability.begin(round);
        if let Err(e) = self.db.apply_batch(batch) {
            let e = StoreError::from(e);
            log::error!(error:display = e, events = replies.len(); "group commit failed");
            self.durability.failed();
            answer(replies, &Err(e));
            return false;
        }
        record_phase("apply", started);

        let Some(to_syncer) = &self.to_syncer else {
            self.durability.made_durable(round);
            record_duration(started);
            answer(replies, &Ok(()));
            return true;
        };
        let applied = Applied {
            round,
            replies,
            started,
        };
        if let Err(mpsc::SendError(applied)) = to_syncer.send(applied) {
            // The syncer is gone; nothing applied since is known durable.
            self.durability.failed();
            answer(applied.replies, &Err(StoreError::Closed));
            return false;
        }
        true
    }
}

/// The second stage: makes applied rounds durable and answers their callers.
struct Syncer {
    db: sled::Db,
    log: File,
    blobs: BlobSync,
    running: Arc<AtomicBool>,
    durability: Arc<Durability>,
}

impl Syncer {
    fn run(&mut self, applied: &Receiver<Applied>) {
        while let Ok(first) = applied.recv() {
            let mut rounds = vec![first];
            rounds.extend(applied.try_iter());
            if !self.sync(rounds) {
                break;
            }
        }
        // After a failure, refuse whatever the applier still hands over.
        for round in applied.iter() {
            answer(round.replies, &Err(StoreError::Closed));
        }
        final_flush(&self.db);
        let _ = self.log.sync_all();
    }

    /// Makes `rounds` durable and answers them; returns whether it succeeded.
    fn sync(&mut self, rounds: Vec<Applied>) -> bool {
        let started = Instant::now();
        let result = self.db.flush().map_err(StoreError::from).and_then(|_| {
            let flushed = record_phase("flush", started);
            let blobs = self.blobs.sync_new()?;
            if blobs > 0 {
                metrics::counter!("ucrm_commit_blobs_synced_total").increment(blobs as u64);
            }
            self.log.sync_all()?;
            record_phase("fsync", flushed);
            Ok(())
        });
        match &result {
            Ok(()) => {
                let last = rounds.iter().map(|r| r.round).max().unwrap_or(0);
                self.durability.made_durable(last);
            }
            Err(e) => {
                let events: usize = rounds.iter().map(|r| r.replies.len()).sum();
                log::error!(error:display = e, events; "group commit failed");
                // After a failed fsync the page cache may no longer match the disk; keep
                // nothing more in doubt.
                self.running.store(false, Ordering::SeqCst);
                self.durability.failed();
            }
        }
        for round in rounds {
            record_duration(round.started);
            answer(round.replies, &result);
        }
        result.is_ok()
    }
}

fn final_flush(db: &sled::Db) {
    if let Err(e) = db.flush() {
        log::error!(error:display = e; "final flush of the store failed");
    }
}

fn record_phase(name: &'static str, since: Instant) -> Instant {
    metrics::histogram!("ucrm_commit_phase_seconds", "phase" => name)
        .record(since.elapsed().as_secs_f64());
    Instant::now()
}

fn record_duration(started: Instant) {
    metrics::histogram!("ucrm_commit_duration_seconds").record(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::durability::tests::block_on;
    use super::*;
    use crate::{Store, StoreOptions, WriteSet};

    fn write_job(key: &str) -> (Job, oneshot::Receiver<Result<(), StoreError>>) {
        let (reply, rx) = oneshot::channel();
        let ops = vec![Op::Put(key.as_bytes().to_vec(), vec![1])];
        (Job::Write { ops, reply }, rx)
    }

    /// An applier over a fresh database, which lives as long as the returned directory.
    fn applier(linger: Duration) -> (tempfile::TempDir, Applier) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let applier = Applier {
            db,
            limits: RoundLimits {
                max_ops: 4096,
                max_commits: 4096,
                linger,
            },
            running: Arc::new(AtomicBool::new(true)),
            durability: Arc::new(Durability::default()),
            to_syncer: None,
        };
        (dir, applier)
    }

    /// Gathers a round from one commit with nothing else coming: its size and how long it took.
    fn gather_alone(linger: Duration, under_load: bool) -> (usize, Duration) {
        let (_dir, applier) = applier(linger);
        let (_tx, rx) = mpsc::sync_channel::<Job>(16);
        let (first, _reply) = write_job("a");
        let started = Instant::now();
        let (_, replies, _, _) = applier.gather(first, &rx, under_load);
        (replies.len(), started.elapsed())
    }

    #[test]
    fn under_load_a_round_lingers_for_commits_on_their_way() {
        let (_dir, applier) = applier(Duration::from_millis(500));
        let (tx, rx) = mpsc::sync_channel(16);
        let (first, _a) = write_job("a");
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let (job, rx) = write_job("b");
            tx.send(job).expect("send");
            rx
        });
        let (_, replies, _, _) = applier.gather(first, &rx, true);
        assert_eq!(
            replies.len(),
            2,
            "the commit sent 20 ms later joined the round"
        );
        drop(late.join());
    }

    #[test]
    fn lingering_ends_once_commits_stop_coming() {
        let (events, waited) = gather_alone(Duration::from_secs(4), true);
        assert_eq!(events, 1);
        // A quarter of the linger without a commit ends the wait, long before the linger.
        assert!(waited >= Duration::from_millis(900), "waited {waited:?}");
        assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    }

    #[test]
    fn a_round_after_a_lone_commit_does_not_wait() {
        let (events, waited) = gather_alone(Duration::from_secs(5), false);
        assert_eq!(events, 1);
        assert!(waited < Duration::from_secs(1), "no linger without load");
    }

    #[test]
    fn a_value_sled_keeps_as_a_blob_is_committed_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = StoreOptions::at(dir.path());
        let store = Store::open(&options).expect("open");
        let big = vec![7u8; 300 * 1024];
        let mut w = WriteSet::new();
        w.push(Op::Put(b"test/big".to_vec(), big.clone()));
        store.commit_blocking(w).expect("commit");
        let blobs = std::fs::read_dir(dir.path().join("blobs"))
            .expect("blobs dir")
            .count();
        assert!(blobs > 0, "sled wrote the 300 KiB value to its own file");
        store.close();
        drop(store);

        let store = Store::open(&options).expect("reopen");
        let rows = store.scan_raw(b"test/", None, 10).expect("scan");
        assert_eq!(rows, vec![(b"test/big".to_vec(), big)]);
    }

    #[test]
    fn concurrent_commits_are_all_durable_and_readable_after_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = StoreOptions::at(dir.path());
        let store = Store::open(&options).expect("open");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let mut w = WriteSet::new();
                        let key = format!("test/{t}/{i:04}").into_bytes();
                        w.push(Op::Put(key, vec![t as u8]));
                        store.commit_blocking(w).expect("commit");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("writer thread");
        }
        block_on(store.settled()).expect("settled");
        store.close();
        drop(store);

        let store = Store::open(&options).expect("reopen");
        for t in 0..8u8 {
            let rows = store
                .scan_raw(format!("test/{t}/").as_bytes(), None, 1000)
                .expect("scan");
            assert_eq!(rows.len(), 200, "writer {t}");
            assert!(rows.iter().all(|(_, v)| v == &[t]));
        }
    }

    #[test]
    fn a_closed_writer_refuses_new_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&StoreOptions::at(dir.path())).expect("open");
        store.close();
        assert!(!store.is_open());
        let mut w = WriteSet::new();
        w.push(Op::Put(b"test/x".to_vec(), Vec::new()));
        assert!(matches!(store.commit_blocking(w), Err(StoreError::Closed)));
    }
}
