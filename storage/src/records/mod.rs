//! The records the store keeps.
//!
//! These types are the persistence schema: they are encoded with postcard behind a version byte
//! (see [`crate::codec`]), so fields are only ever appended in a new format version, and no
//! serde attribute that changes the wire shape (`flatten`, `skip_serializing_if`) is used. Times
//! are milliseconds since the Unix epoch.

use serde::{Deserialize, Serialize};

/// The life-cycle state of a bonus grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GrantStatus {
    /// Registered, not yet credited by the platform.
    Pending,
    /// Credited; wagering may be under way.
    Active,
    /// Wagering requirement met (terminal).
    Completed,
    /// Ran out of time (terminal).
    Expired,
    /// Cancelled by the platform or the CRM (terminal).
    Cancelled,
    /// Forfeited by the player or the platform (terminal).
    Forfeited,
}

impl GrantStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [GrantStatus; 6] = [
        GrantStatus::Pending,
        GrantStatus::Active,
        GrantStatus::Completed,
        GrantStatus::Expired,
        GrantStatus::Cancelled,
        GrantStatus::Forfeited,
    ];

    /// Whether the grant can never change again.
    pub fn is_terminal(self) -> bool {
        !matches!(self, GrantStatus::Pending | GrantStatus::Active)
    }

    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Pending => "pending",
            GrantStatus::Active => "active",
            GrantStatus::Completed => "completed",
            GrantStatus::Expired => "expired",
            GrantStatus::Cancelled => "cancelled",
            GrantStatus::Forfeited => "forfeited",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Where an applied transition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A signed webhook from the platform.
    Webhook,
    /// The reconciler, replaying what the platform reported.
    Reconciler,
    /// The admin API.
    Admin,
}

impl Source {
    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Reconciler => "reconciler",
            Source::Admin => "admin",
        }
    }
}

/// One applied transition of a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantHistoryEntry {
    /// The event name, such as `bonus.credited`.
    pub event: String,
    /// The event id that caused it.
    pub event_id: String,
    /// Who caused it.
    pub source: Source,
    /// Status before.
    pub from: GrantStatus,
    /// Status after.
    pub to: GrantStatus,
    /// When it was applied.
    pub at_ms: i64,
}

/// A bonus grant and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// UCRM's id of the grant.
    pub id: String,
    /// The adapter (platform) the grant lives on.
    pub adapter_slug: String,
    /// UCRM's id of the player.
    pub player_id: String,
    /// Current status.
    pub status: GrantStatus,
    /// The platform's id, once known.
    pub platform_bonus_id: Option<String>,
    /// Amount in minor units of `currency`.
    pub amount_subunit: i64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// The bonus template it was granted from, if any.
    pub template_id: Option<String>,
    /// When the grant was registered.
    pub created_at_ms: i64,
    /// When it became active.
    pub activated_at_ms: Option<i64>,
    /// The platform's completion time, as it sent it.
    pub completed_at: Option<String>,
    /// Wagering progress in minor units.
    pub total_wagered: i64,
    /// The forfeit or cancel reason, when given.
    pub reason: Option<String>,
    /// Last change.
    pub updated_at_ms: i64,
    /// How many transitions were applied; the entries themselves are stored apart (`gh/`) so
    /// that a grant with a long wagering history stays a small record to rewrite.
    pub history_len: u32,
}

/// What kind of subject a ledger entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerSubject {
    /// A bonus grant.
    Grant,
    /// A player's KYC state.
    Player,
    /// A message (provider feedback, deduplicated by the provider's own key).
    Message,
}

/// One processed inbound event in the idempotency ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// What the event was about.
    pub subject: LedgerSubject,
    /// The grant or player id.
    pub subject_id: String,
    /// Whether the event changed state.
    pub applied: bool,
    /// When it was recorded.
    pub recorded_at_ms: i64,
}

/// The verification state of a player's KYC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KycStatus {
    /// Nothing known.
    None,
    /// A submission is under review.
    Pending,
    /// Verified at `level`.
    Verified,
    /// The last submission was rejected.
    Rejected,
    /// The verification expired.
    Expired,
}

impl KycStatus {
    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            KycStatus::None => "none",
            KycStatus::Pending => "pending",
            KycStatus::Verified => "verified",
            KycStatus::Rejected => "rejected",
            KycStatus::Expired => "expired",
        }
    }
}

/// A player's KYC state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KycState {
    /// Current status.
    pub status: KycStatus,
    /// Highest verified level, 0 when none.
    pub level: u32,
    /// The level under review, if any.
    pub pending_level: Option<u32>,
    /// When the verification expires, as the platform sent it.
    pub expires_at: Option<String>,
    /// The rejection reason, if any.
    pub reason: Option<String>,
    /// When the state last changed.
    pub updated_at_ms: Option<i64>,
    /// The `ts` of the last applied event, to detect stale events.
    pub last_event_ts_ms: Option<i64>,
}

impl Default for KycState {
    fn default() -> Self {
        KycState {
            status: KycStatus::None,
            level: 0,
            pending_level: None,
            expires_at: None,
            reason: None,
            updated_at_ms: None,
            last_event_ts_ms: None,
        }
    }
}

/// One applied KYC event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KycHistoryEntry {
    /// The event name, such as `kyc.approved`.
    pub event: String,
    /// The event id.
    pub event_id: String,
    /// The adapter that sent it.
    pub adapter_slug: String,
    /// The level the event named.
    pub level: u32,
    /// Status before.
    pub from: KycStatus,
    /// Status after.
    pub to: KycStatus,
    /// When it was applied.
    pub at_ms: i64,
}

/// A player known to UCRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Player {
    /// UCRM's id.
    pub id: String,
    /// The tenant (casino brand) the player belongs to.
    pub tenant_id: String,
    /// The platform's id of the player, unique within the tenant.
    pub external_id: String,
    /// Email address, if known.
    pub email: Option<String>,
    /// Phone number, if known.
    pub phone: Option<String>,
    /// When the player was created.
    pub created_at_ms: i64,
    /// KYC state.
    pub kyc: KycState,
    /// Applied KYC events, oldest first.
    pub kyc_history: Vec<KycHistoryEntry>,
}

/// Whether UCRM may send on a channel to a player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Sending is suppressed.
    pub suppressed: bool,
    /// Why (the provider's words), when suppressed.
    pub reason: Option<String>,
    /// Which provider or API said so.
    pub source: String,
    /// When it changed.
    pub at_ms: i64,
}

mod calls;
mod messages;

pub use calls::{CallAttempt, CallStatus, WebhookCall};
pub use messages::{
    Channel, IdempotentAnswer, Message, MessageEvent, MessageStatus, Provider, ProviderReport,
    SuppressionUpdate, TrackedEvent,
};
