//! Stored records of outbound `call_webhook` requests.

use serde::{Deserialize, Serialize};

/// Where an outbound call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CallStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt is under way.
    Delivering,
    /// A 2xx was received.
    Succeeded,
    /// Failed for good without exhausting retries (a 4xx, or refused by the SSRF guard).
    Failed,
    /// Every attempt failed; an operator may retry it.
    Dead,
}

impl CallStatus {
    /// Every status.
    pub const ALL: [CallStatus; 5] = [
        CallStatus::Pending,
        CallStatus::Delivering,
        CallStatus::Succeeded,
        CallStatus::Failed,
        CallStatus::Dead,
    ];

    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Pending => "pending",
            CallStatus::Delivering => "delivering",
            CallStatus::Succeeded => "succeeded",
            CallStatus::Failed => "failed",
            CallStatus::Dead => "dead",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the dispatcher still owns the call.
    pub fn is_open(self) -> bool {
        matches!(self, CallStatus::Pending | CallStatus::Delivering)
    }
}

/// One delivery attempt of an outbound call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallAttempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started.
    pub at_ms: i64,
    /// The receiver's status code, if it answered.
    pub status_code: Option<u16>,
    /// Time to the answer (or the failure).
    pub latency_ms: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// The first 4 KiB of the response body.
    pub response: String,
}

/// An outbound `call_webhook` request and its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookCall {
    /// UCRM's id, also sent as `X-UCRM-Delivery-Id`.
    pub id: String,
    /// The journey that asked for it.
    pub journey_id: String,
    /// The journey run.
    pub run_id: String,
    /// The journey node.
    pub node_id: String,
    /// Target URL.
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// The rendered body.
    pub body: String,
    /// The name of the secret that signs it (an adapter slug or a named secret), if signed.
    pub secret_name: Option<String>,
    /// Whole-attempt timeout.
    pub timeout_ms: u64,
    /// Current status.
    pub status: CallStatus,
    /// Every attempt, oldest first.
    pub attempts: Vec<CallAttempt>,
    /// How many attempts came before the current round (an operator retry starts a round).
    pub round_start: u32,
    /// When the next attempt is due, while open.
    pub next_attempt_at_ms: i64,
    /// When it was created.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
}
