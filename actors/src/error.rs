//! The error type of the domain and its actors.

use ucrm_storage::StoreError;

/// Why an event or command was not carried out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// The input is malformed; `field` names the culprit with its dotted path.
    #[error("{field} {message}")]
    Validation {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The named thing does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The player named by an event does not exist in the tenant.
    #[error("player not found")]
    PlayerNotFound,
    /// The operation is refused by configuration.
    #[error("{0}")]
    Forbidden(String),
    /// A queue (actor mailbox or commit queue) is full; try again later.
    #[error("the service is busy")]
    Busy,
    /// An actor or the store has stopped (shutdown in progress).
    #[error("the service is shutting down")]
    Unavailable,
    /// The platform refused a call (4xx): final.
    #[error("{0}")]
    AdapterRejected(String),
    /// The platform could not be reached or failed (5xx, timeout): retryable.
    #[error("{0}")]
    AdapterUnavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl DomainError {
    /// A validation error naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<crate::adapter_client::PlatformError> for DomainError {
    fn from(e: crate::adapter_client::PlatformError) -> Self {
        use crate::adapter_client::PlatformError;
        match e {
            PlatformError::Rejected { .. } => DomainError::AdapterRejected(e.to_string()),
            PlatformError::Unavailable(_) => DomainError::AdapterUnavailable(e.to_string()),
        }
    }
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy => DomainError::Busy,
            StoreError::Closed => DomainError::Unavailable,
            other => DomainError::Store(other),
        }
    }
}
