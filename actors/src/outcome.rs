//! [`EventOutcome`], what an inbound event did, and the reply channel that carries it.

use tokio::sync::oneshot;

use crate::DomainError;

/// What an inbound event did; the route turns it into the 200 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    /// Whether state changed.
    pub applied: bool,
    /// Whether the event had been processed before (or was in flight).
    pub replay: bool,
    /// The subject's status after the event.
    pub new_status: &'static str,
}

impl EventOutcome {
    /// The answer to a duplicate delivery of an event whose first delivery gave `self`.
    pub fn as_replay(&self) -> Self {
        EventOutcome {
            applied: false,
            replay: true,
            new_status: self.new_status,
        }
    }
}

/// The result an actor sends back for one event.
pub type EventResult = Result<EventOutcome, DomainError>;

/// The channel an actor answers one event on.
pub type EventReply = oneshot::Sender<EventResult>;

/// Answers a duplicate with the replay form of the first answer; errors pass through.
pub fn replay_of(result: &EventResult) -> EventResult {
    result
        .as_ref()
        .map(EventOutcome::as_replay)
        .map_err(Clone::clone)
}
