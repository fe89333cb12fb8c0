//! Stored records of messages, provider reports, product events and idempotency answers.
//!
//! The enums here are stored with postcard, which encodes a variant by its index: variants may
//! be appended but never reordered or removed.

use serde::{Deserialize, Serialize};

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
