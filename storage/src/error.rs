//! The error type of the storage crate.

/// What can go wrong when reading or writing the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The underlying database or file system failed.
    #[error("storage i/o failed: {0}")]
    Io(String),
    /// A stored value could not be decoded.
    #[error("stored value under {key} is unreadable: {reason}")]
    Corrupt {
        /// The key, printed lossily.
        key: String,
        /// What the decoder said.
        reason: String,
    },
    /// The commit queue is full; the caller should answer "try again later".
    #[error("the commit queue is full")]
    Busy,
    /// The writer has stopped (the store is shutting down).
    #[error("the store is closed")]
    Closed,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}
