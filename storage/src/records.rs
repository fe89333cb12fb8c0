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

// Messaging. These enums are stored with postcard, which encodes a variant by its index:
// variants may be appended but never reordered or removed.

/// Where a message stands, as reported by its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageStatus {
    /// Registered or accepted by the provider, not yet handed on.
    Queued,
    /// The provider is handing it to the carrier or mail server.
    Sending,
    /// Handed to the carrier or mail server.
    Sent,
    /// The recipient's server or handset accepted it.
    Delivered,
    /// The recipient opened (or, for SMS, read) it.
    Opened,
    /// The recipient clicked a link in it.
    Clicked,
    /// The recipient's mail server refused it.
    Bounced,
    /// The provider or carrier gave up on it.
    Failed,
}

impl MessageStatus {
    /// Every status, in declaration order.
    pub const ALL: [MessageStatus; 8] = [
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Opened,
        MessageStatus::Clicked,
        MessageStatus::Bounced,
        MessageStatus::Failed,
    ];

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Opened => "opened",
            MessageStatus::Clicked => "clicked",
            MessageStatus::Bounced => "bounced",
            MessageStatus::Failed => "failed",
        }
    }

    /// Parses a lowercase wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The rank used to merge reports; the higher rank wins in [`next_status`].
    ///
    /// The progress statuses rank `queued < sending < sent < delivered < opened < clicked`.
    /// `failed` and `bounced` rank just above `sent`, so they replace only statuses below
    /// `delivered`, and a report of delivery, opening or clicking replaces them. `bounced` ranks
    /// above `failed` only so that the two never tie; one provider never reports both.
    pub fn precedence(self) -> u8 {
        match self {
            MessageStatus::Queued => 0,
            MessageStatus::Sending => 1,
            MessageStatus::Sent => 2,
            MessageStatus::Failed => 3,
            MessageStatus::Bounced => 4,
            MessageStatus::Delivered => 5,
            MessageStatus::Opened => 6,
            MessageStatus::Clicked => 7,
        }
    }
}

/// The medium a message travels by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    /// An email.
    Email,
    /// A text message.
    Sms,
    /// A push notification.
    Push,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }

    /// Parses a lowercase wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|channel| channel.as_str() == s)
    }
}

/// The service that sends a message and reports on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// Postmark, for email.
    Postmark,
    /// Twilio, for SMS.
    Twilio,
    /// Firebase Cloud Messaging, for push.
    Fcm,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 3] = [Provider::Postmark, Provider::Twilio, Provider::Fcm];

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Postmark => "postmark",
            Provider::Twilio => "twilio",
            Provider::Fcm => "fcm",
        }
    }

    /// Parses a lowercase wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|provider| provider.as_str() == s)
    }

    /// The channel this provider carries.
    pub fn channel(self) -> Channel {
        match self {
            Provider::Postmark => Channel::Email,
            Provider::Twilio => Channel::Sms,
            Provider::Fcm => Channel::Push,
        }
    }
}

/// One provider report kept in a message's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEvent {
    /// Who reported: `postmark`, `twilio`, `events`.
    pub source: String,
    /// The report's own name (`Delivery`, `delivered`, `push_opened`, …).
    pub event: String,
    /// The status it reported, if any.
    pub reported: Option<MessageStatus>,
    /// Status before.
    pub from: MessageStatus,
    /// Status after.
    pub to: MessageStatus,
    /// The provider's error code, if any.
    pub error_code: Option<String>,
    /// When the provider says it happened.
    pub occurred_at: Option<String>,
    /// When UCRM received it.
    pub received_at_ms: i64,
}

/// A message UCRM sent, registered by the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// UCRM's id.
    pub id: String,
    /// Email, SMS or push.
    pub channel: Channel,
    /// Who carried it.
    pub provider: Provider,
    /// The provider's id of the message.
    pub provider_message_id: String,
    /// The player it went to.
    pub player_id: String,
    /// The journey that sent it, if any.
    pub journey_id: Option<String>,
    /// Current status.
    pub status: MessageStatus,
    /// Every provider report, in arrival order.
    pub history: Vec<MessageEvent>,
    /// When it was registered.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
}

/// A change to a player's permission to receive on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SuppressionUpdate {
    /// Stop sending on the channel.
    Suppress {
        /// The channel.
        channel: Channel,
        /// Why.
        reason: String,
    },
    /// Sending is allowed again.
    Lift {
        /// The channel.
        channel: Channel,
    },
}

/// A provider report about one message, as applied (or kept until the message is registered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderReport {
    /// Who reported.
    pub source: String,
    /// The report's own name.
    pub event: String,
    /// The status it reports, if any.
    pub status: Option<MessageStatus>,
    /// Its effect on the player's suppressions, if any.
    pub suppression: Option<SuppressionUpdate>,
    /// The recipient address or number, to find the player without a message.
    pub recipient: Option<String>,
    /// The provider's error code.
    pub error_code: Option<String>,
    /// When the provider says it happened.
    pub occurred_at: Option<String>,
    /// When UCRM received it.
    pub received_at_ms: i64,
}

/// A tracked product event from `/v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedEvent {
    /// UCRM's id of this ingestion.
    pub ingestion_id: String,
    /// The API key's tenant.
    pub tenant_id: String,
    /// The event name.
    pub event: String,
    /// The player's platform id, if known.
    pub external_id: Option<String>,
    /// An anonymous id, before the player is known.
    pub anonymous_id: Option<String>,
    /// When it happened, as sent.
    pub timestamp: String,
    /// `properties`, as JSON text.
    pub properties_json: String,
    /// `context`, as JSON text.
    pub context_json: Option<String>,
    /// When UCRM received it.
    pub received_at_ms: i64,
}

/// The first answer given for an `Idempotency-Key`, returned again on a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotentAnswer {
    /// The answer's JSON text.
    pub body_json: String,
    /// When it was first given.
    pub at_ms: i64,
}
