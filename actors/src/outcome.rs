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
    /// The answer to an already processed event whose subject is now at `new_status`.
    pub fn replay_at(new_status: &'static str) -> Self {
        EventOutcome {
            applied: false,
            replay: true,
            new_status,
        }
    }

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

/// The replay answer for an event the ledger already holds for a `subject` of that kind, read
/// straight from the store; `None` when the ledger does not hold it.
///
/// An entry is written in the same atomic batch as its state change, so any reader that finds
/// it may answer the replay without asking the subject's owner, once the entry is durable: it
/// becomes readable a moment before its group commit reaches the disk, so the answer waits for
/// [`ucrm_storage::Store::settled`] (immediate unless a commit is under way). The HTTP routes use
/// this to answer replays without an actor hop; an event not found here still goes to its
/// supervisor, which checks again.
pub async fn ledger_replay(
    store: &ucrm_storage::Store,
    slug: &str,
    event_id: &str,
    subject: ucrm_storage::LedgerSubject,
) -> Result<Option<EventOutcome>, DomainError> {
    let Some(entry) = store.ledger(slug, event_id)? else {
        return Ok(None);
    };
    if entry.subject != subject {
        return Ok(None);
    }
    let status = subject_status(store, subject, &entry.subject_id)?;
    store.settled().await?;
    Ok(status.map(EventOutcome::replay_at))
}

/// The current status of a ledger subject, as a replay answers it; `None` when it is gone.
pub fn subject_status(
    store: &ucrm_storage::Store,
    subject: ucrm_storage::LedgerSubject,
    id: &str,
) -> Result<Option<&'static str>, DomainError> {
    use ucrm_storage::LedgerSubject;

    Ok(match subject {
        LedgerSubject::Grant => store.grant(id)?.map(|g| g.status.as_str()),
        LedgerSubject::Player => store.player(id)?.map(|p| p.kyc.status.as_str()),
        LedgerSubject::Message => None,
    })
}
