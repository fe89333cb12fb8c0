//! Durable store of ucrm-webhooks.
//!
//! Layout of this crate:
//! - [`records`]: the stored record types (grants, players, ledger entries);
//! - [`codec`]: postcard encoding with a leading format-version byte;
//! - [`keys`]: every key prefix, in one keyspace so that one group commit is one atomic batch;
//! - [`backend`]: the [`Backend`] interface and its sled implementation;
//! - [`committer`]: the single group-commit writer that makes batches durable;
//! - [`store`]: [`Store`], the typed API the actors use, and [`WriteSet`], one atomic change;
//! - [`calls`]: outbound calls with their due and status indexes;
//! - [`messages`]: messages, waiting reports, suppressions, tracked events.
//!
//! This crate knows nothing of actix or HTTP.

pub mod backend;
pub mod calls;
pub mod codec;
pub mod committer;
pub mod error;
pub mod keys;
pub mod messages;
pub mod records;
pub mod store;

pub use backend::{Backend, SledBackend, StoreOptions};
pub use committer::Durability;
pub use error::StoreError;
pub use records::*;
pub use store::{Page, Store, WriteSet};

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
