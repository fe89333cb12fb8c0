//! Messaging delivery feedback: status rules, Postmark records, Twilio callbacks (SPEC §6).
//!
//! Plain code, no actors: [`status`] holds the message status, channel and provider enums and
//! [`next_status`], the rule that merges a provider's report into a message's status;
//! [`postmark`] reads Postmark webhook records; [`twilio`] checks Twilio's request signature
//! and reads its status callbacks.

pub mod postmark;
pub mod status;
pub mod twilio;

pub use postmark::{parse_postmark_event, PostmarkEvent, PostmarkRecordType, SuppressionChange};
pub use status::{next_status, Channel, MessageStatus, Provider};
pub use twilio::TwilioCallback;
