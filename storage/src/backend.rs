//! The key-value interface the typed store is written against, and its sled implementation.
//!
//! [`Backend`] is deliberately small: point reads, ordered prefix scans and atomic durable
//! batches. A second implementation (PostgreSQL, for running several nodes) needs only a table of
//! `(key bytea primary key, value bytea)` and a transaction per batch; the typed layer in
//! [`crate::store`] would not change.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::committer::{self, Committer, Durability, Job};
use crate::StoreError;

/// One change in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Remove `key`.
    Delete(Vec<u8>),
}

/// Key-value pairs read by a scan, in key order.
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// A pending commit: resolves once the batch holding these changes is durable.
pub type CommitTicket = oneshot::Receiver<Result<(), StoreError>>;

/// A key-value store with durable atomic batches.
pub trait Backend: Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Reads up to `limit` pairs whose keys start with `prefix`, in key order, strictly after
    /// `after` when given.
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError>;

    /// Queues `ops` to be applied as one atomic, durable change.
    ///
    /// Fails at once with [`StoreError::Busy`] when the commit queue is full.
    fn submit(&self, ops: Vec<Op>) -> Result<CommitTicket, StoreError>;

    /// Finishes every queued commit and stops the writer; later submits fail with `Closed`.
    fn close(&self);

    /// Whether the writer is running.
    fn is_open(&self) -> bool;

    /// How far the writer has made applied changes durable.
    fn durability(&self) -> &Durability;
}

/// Options of the sled store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Directory of the database.
    pub path: PathBuf,
    /// sled's page cache, in bytes.
    pub cache_capacity_bytes: u64,
    /// How many commits may wait for the writer before submits are refused.
    pub commit_queue_capacity: usize,
    /// The most operations one group commit takes from the queue.
    pub max_batch_ops: usize,
    /// The most commits one group commit takes from the queue; 1 means one fsync per commit.
    pub max_batch_commits: usize,
    /// How long a round may wait for more commits once the previous round held more than one,
    /// that is, under load; the wait ends early after a quarter of it without a new commit.
    /// Zero never waits. After a round of one commit nothing waits.
    pub group_commit_linger: std::time::Duration,
    /// Whether a commit waits for `flush` and `fsync`. Only benchmarks turn this off, to
    /// measure the ceiling of a write without the durability step.
    pub sync: bool,
}

impl StoreOptions {
    /// Options with the defaults for a store at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        StoreOptions {
            path: path.into(),
            cache_capacity_bytes: 256 * 1024 * 1024,
            commit_queue_capacity: 8192,
            max_batch_ops: 4096,
            max_batch_commits: 4096,
            group_commit_linger: std::time::Duration::ZERO,
            sync: true,
        }
    }
}

/// The sled implementation of [`Backend`], with one group-commit writer thread.
pub struct SledBackend {
    db: sled::Db,
    committer: Committer,
}

impl SledBackend {
    /// Opens (or creates) the database and starts its writer.
    pub fn open(options: &StoreOptions) -> Result<Arc<Self>, StoreError> {
        std::fs::create_dir_all(&options.path)?;
        let db = sled::Config::new()
            .path(&options.path)
            .cache_capacity(options.cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()?;

        // sled's own flush uses sync_file_range, which persists neither metadata nor the
        // device cache; the writer follows every flush with fsync of the log file itself.
        let log = open_log_file(&options.path)?;
        sync_dir(&options.path)?;
        let blobs = options.path.join("blobs");
        let committer = committer::start(db.clone(), log, blobs, options)?;
        Ok(Arc::new(SledBackend { db, committer }))
    }
}

fn open_log_file(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join("db");
    File::open(&path).map_err(|e| StoreError::Io(format!("open {}: {e}", path.display())))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

impl Backend for SledBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Rows, StoreError> {
        use std::ops::Bound;
        let start = match after {
            Some(a) if a > prefix => Bound::Excluded(a.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        let end = match crate::keys::prefix_end(prefix) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for item in self.db.range::<Vec<u8>, _>((start, end)).take(limit) {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn submit(&self, ops: Vec<Op>) -> Result<CommitTicket, StoreError> {
        let (reply, ticket) = oneshot::channel();
        self.committer.try_send(Job::Write { ops, reply })?;
        Ok(ticket)
    }

    fn close(&self) {
        self.committer.shutdown();
    }

    fn is_open(&self) -> bool {
        self.committer.is_running()
    }

    fn durability(&self) -> &Durability {
        self.committer.durability()
    }
}
