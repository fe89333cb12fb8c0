//! Postmark webhook records: what each one says about a message and about suppression.
//!
//! [`parse_postmark_event`] reads one record tolerantly. Postmark omits fields or sends them as
//! `null` depending on the record type, the webhook's options and the origin of the change, so
//! every field past `RecordType` and `MessageID` is optional, and one of the wrong type reads as
//! absent rather than refusing a record whose meaning is otherwise clear.

use serde_json::{Map, Value};

use super::status::MessageStatus;
use crate::fields::{self, MAX_ID_BYTES};
use crate::DomainError;

/// The kinds of Postmark webhook record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostmarkRecordType {
    /// The recipient's server accepted the message.
    Delivery,
    /// The message bounced.
    Bounce,
    /// The recipient marked the message as spam.
    SpamComplaint,
    /// The recipient opened the message.
    Open,
    /// The recipient clicked a tracked link.
    Click,
    /// Sending to an address was suppressed or reactivated.
    SubscriptionChange,
}

impl PostmarkRecordType {
    /// Every record type.
    pub const ALL: [PostmarkRecordType; 6] = [
        PostmarkRecordType::Delivery,
        PostmarkRecordType::Bounce,
        PostmarkRecordType::SpamComplaint,
        PostmarkRecordType::Open,
        PostmarkRecordType::Click,
        PostmarkRecordType::SubscriptionChange,
    ];

    /// The `RecordType` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PostmarkRecordType::Delivery => "Delivery",
            PostmarkRecordType::Bounce => "Bounce",
            PostmarkRecordType::SpamComplaint => "SpamComplaint",
            PostmarkRecordType::Open => "Open",
            PostmarkRecordType::Click => "Click",
            PostmarkRecordType::SubscriptionChange => "SubscriptionChange",
        }
    }

    /// Parses a `RecordType` value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The message status this record reports, if any.
    ///
    /// A spam complaint reports none: the message was delivered (the recipient saw it), so
    /// calling it bounced would be wrong, and `bounced` could not replace `delivered` anyway.
    /// Its effect is the suppression. A subscription change is about the address, not the
    /// message, and reports none either.
    pub fn status(self) -> Option<MessageStatus> {
        match self {
            PostmarkRecordType::Delivery => Some(MessageStatus::Delivered),
            PostmarkRecordType::Bounce => Some(MessageStatus::Bounced),
            PostmarkRecordType::Open => Some(MessageStatus::Opened),
            PostmarkRecordType::Click => Some(MessageStatus::Clicked),
            PostmarkRecordType::SpamComplaint | PostmarkRecordType::SubscriptionChange => None,
        }
    }

    /// The field holding the time of the event for this record type.
    fn time_field(self) -> &'static str {
        match self {
            PostmarkRecordType::Delivery => "DeliveredAt",
            PostmarkRecordType::Bounce | PostmarkRecordType::SpamComplaint => "BouncedAt",
            PostmarkRecordType::Open | PostmarkRecordType::Click => "ReceivedAt",
            PostmarkRecordType::SubscriptionChange => "ChangedAt",
        }
    }
}

/// What a record does to sending email to its recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuppressionChange {
    /// Stop sending email to the recipient.
    Suppress {
        /// Why, in Postmark's words where it gives them (`HardBounce`, `SpamComplaint`,
        /// `ManualSuppression`, or the bounce `Type` of an inactive address).
        reason: String,
    },
    /// Sending to the recipient may resume.
    Lift,
}

/// Details of a `Bounce` or `SpamComplaint` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceInfo {
    /// Postmark's bounce id (`ID`); it needs all 64 bits.
    pub id: Option<i64>,
    /// The bounce type (`Type`), e.g. `HardBounce`, `SoftBounce`, `SpamComplaint`.
    pub kind: Option<String>,
    /// The numeric bounce type (`TypeCode`); 1 is a hard bounce.
    pub type_code: Option<i64>,
    /// Whether Postmark deactivated the address (`Inactive`); absent reads as false.
    pub inactive: bool,
    /// Whether the address may be reactivated (`CanActivate`).
    pub can_activate: Option<bool>,
    /// Postmark's description of the bounce (`Description`).
    pub description: Option<String>,
}

impl BounceInfo {
    /// Whether this is a hard bounce: `Type` `HardBounce` or `TypeCode` 1.
    pub fn is_hard(&self) -> bool {
        self.kind.as_deref() == Some("HardBounce") || self.type_code == Some(1)
    }
}

/// One Postmark webhook record, reduced to what UCRM acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostmarkEvent {
    /// What kind of record this is.
    pub record_type: PostmarkRecordType,
    /// The message the record is about (`MessageID`), as returned by Postmark's send API.
    ///
    /// Always present except on a `SubscriptionChange`, where Postmark sends `null` for manual
    /// suppressions and reactivations; such a record names its address in `recipient` instead.
    pub message_id: Option<String>,
    /// The address concerned (`Recipient`, or `Email` on bounces and complaints).
    pub recipient: Option<String>,
    /// When the event happened, as sent (`DeliveredAt`, `BouncedAt`, `ReceivedAt`, `ChangedAt`).
    pub occurred_at: Option<String>,
    /// The message status the record reports, if any.
    pub status: Option<MessageStatus>,
    /// What the record does to sending email to the recipient, if anything.
    pub suppression: Option<SuppressionChange>,
    /// Bounce details, on `Bounce` and `SpamComplaint` records.
    pub bounce: Option<BounceInfo>,
    /// A stable key for dropping redelivered records; see [`dedupe_key`].
    pub dedupe_key: String,
}

/// Parses and validates one Postmark webhook body.
///
/// Refused, naming the field: a body that is not a JSON object (`body`), a missing or unknown
/// `RecordType`, a missing `MessageID` (except on a `SubscriptionChange` that names its
/// `Recipient`), and an id, address or time longer than [`MAX_ID_BYTES`], since they make up
/// the dedupe key.
pub fn parse_postmark_event(body: &[u8]) -> Result<PostmarkEvent, DomainError> {
    let obj = fields::object(body)?;
    let name = fields::required_str(&obj, "", "RecordType")?;
    let record_type = PostmarkRecordType::parse(&name).ok_or_else(|| {
        DomainError::invalid(
            "RecordType",
            format!("unknown Postmark record type {name:?}"),
        )
    })?;

    let message_id = bounded(&obj, "MessageID")?;
    let (recipient_field, fallback) = match record_type {
        PostmarkRecordType::Bounce | PostmarkRecordType::SpamComplaint => ("Email", "Recipient"),
        _ => ("Recipient", "Email"),
    };
    let recipient = match bounded(&obj, recipient_field)? {
        Some(r) => Some(r),
        None => bounded(&obj, fallback)?,
    };
    let occurred_at = bounded(&obj, record_type.time_field())?;
    match (&message_id, record_type, &recipient) {
        (Some(_), _, _) | (None, PostmarkRecordType::SubscriptionChange, Some(_)) => {}
        (None, PostmarkRecordType::SubscriptionChange, None) => {
            return Err(DomainError::invalid(
                "MessageID",
                "or Recipient is required",
            ));
        }
        (None, _, _) => return Err(DomainError::invalid("MessageID", "is required")),
    }

    let bounce = match record_type {
        PostmarkRecordType::Bounce | PostmarkRecordType::SpamComplaint => Some(read_bounce(&obj)),
        _ => None,
    };
    let suppression = suppression(record_type, &obj, bounce.as_ref());
    let dedupe_key = dedupe_key(
        record_type,
        message_id.as_deref(),
        recipient.as_deref(),
        occurred_at.as_deref(),
    );
    Ok(PostmarkEvent {
        record_type,
        message_id,
        recipient,
        occurred_at,
        status: record_type.status(),
        suppression,
        bounce,
        dedupe_key,
    })
}

/// The dedupe key of a record: its type, message id, recipient and event time.
///
/// Each part is length-prefixed, so no two different records share a key whatever characters
/// their parts contain; an absent part counts as empty. Postmark resends a record unchanged
/// when a delivery attempt fails, so a resent record has the same key.
pub fn dedupe_key(
    record_type: PostmarkRecordType,
    message_id: Option<&str>,
    recipient: Option<&str>,
    occurred_at: Option<&str>,
) -> String {
    let mut key = format!("postmark/{}", record_type.as_str());
    for part in [message_id, recipient, occurred_at] {
        let part = part.unwrap_or("");
        key.push_str(&format!("/{}:{part}", part.len()));
    }
    key
}

/// What the record does to suppression, per SPEC §6.
fn suppression(
    record_type: PostmarkRecordType,
    obj: &Map<String, Value>,
    bounce: Option<&BounceInfo>,
) -> Option<SuppressionChange> {
    let suppress = |reason: &str| {
        Some(SuppressionChange::Suppress {
            reason: reason.to_owned(),
        })
    };
    match record_type {
        PostmarkRecordType::SpamComplaint => suppress("SpamComplaint"),
        PostmarkRecordType::Bounce => match bounce {
            Some(b) if b.is_hard() => suppress("HardBounce"),
            Some(b) if b.inactive => suppress(b.kind.as_deref().unwrap_or("Inactive")),
            _ => None,
        },
        PostmarkRecordType::SubscriptionChange => match obj.get("SuppressSending") {
            Some(Value::Bool(true)) => suppress(
                opt_str(obj, "SuppressionReason")
                    .as_deref()
                    .unwrap_or("ManualSuppression"),
            ),
            Some(Value::Bool(false)) => Some(SuppressionChange::Lift),
            _ => None,
        },
        PostmarkRecordType::Delivery | PostmarkRecordType::Open | PostmarkRecordType::Click => None,
    }
}

fn read_bounce(obj: &Map<String, Value>) -> BounceInfo {
    BounceInfo {
        id: obj.get("ID").and_then(Value::as_i64),
        kind: opt_str(obj, "Type"),
        type_code: obj.get("TypeCode").and_then(Value::as_i64),
        inactive: obj
            .get("Inactive")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        can_activate: obj.get("CanActivate").and_then(Value::as_bool),
        description: opt_str(obj, "Description"),
    }
}

/// A string field; absent, `null`, empty or of another type reads as `None`.
fn opt_str(obj: &Map<String, Value>, name: &str) -> Option<String> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Like [`opt_str`], but refuses a value longer than [`MAX_ID_BYTES`].
fn bounded(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, DomainError> {
    match opt_str(obj, name) {
        Some(s) if s.len() > MAX_ID_BYTES => Err(DomainError::invalid(
            name,
            format!("must be at most {MAX_ID_BYTES} bytes"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLES: &str = include_str!("../../../../shared/data/postmark-webhook-examples.json");

    /// The verbatim body of the documented example for `record_type`.
    fn example(record_type: &str) -> String {
        let all: Vec<Value> = serde_json::from_str(EXAMPLES).expect("examples file is JSON");
        all.iter()
            .find(|e| e["record_type"] == record_type)
            .and_then(|e| e["raw_json"].as_str())
            .unwrap_or_else(|| panic!("no example for {record_type}"))
            .to_owned()
    }

    fn parse(body: &str) -> PostmarkEvent {
        parse_postmark_event(body.as_bytes()).expect("a valid record")
    }

    fn field_of(body: &str) -> String {
        match parse_postmark_event(body.as_bytes()) {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn suppressed(reason: &str) -> Option<SuppressionChange> {
        Some(SuppressionChange::Suppress {
            reason: reason.to_owned(),
        })
    }

    #[test]
    fn every_documented_record_type_parses() {
        let all: Vec<Value> = serde_json::from_str(EXAMPLES).unwrap();
        assert_eq!(all.len(), PostmarkRecordType::ALL.len());
        for t in PostmarkRecordType::ALL {
            let event = parse(&example(t.as_str()));
            assert_eq!(event.record_type, t);
            assert_eq!(event.status, t.status());
            assert!(event.message_id.is_some());
            assert!(event.recipient.is_some());
            assert!(event.occurred_at.is_some());
        }
    }

    #[test]
    fn delivery_reports_delivered() {
        let event = parse(&example("Delivery"));
        assert_eq!(event.status, Some(MessageStatus::Delivered));
        assert_eq!(
            event.message_id.as_deref(),
            Some("883953f4-6105-42a2-a16a-77a8eac79483")
        );
        assert_eq!(event.recipient.as_deref(), Some("john@example.com"));
        assert_eq!(
            event.occurred_at.as_deref(),
            Some("2019-11-05T16:33:54.9070259Z")
        );
        assert_eq!(event.suppression, None);
        assert_eq!(event.bounce, None);
    }

    #[test]
    fn hard_bounce_reports_bounced_and_suppresses() {
        let event = parse(&example("Bounce"));
        assert_eq!(event.status, Some(MessageStatus::Bounced));
        assert_eq!(event.recipient.as_deref(), Some("john@example.com"));
        assert_eq!(event.suppression, suppressed("HardBounce"));
        let bounce = event.bounce.expect("bounce details");
        assert_eq!(bounce.kind.as_deref(), Some("HardBounce"));
        assert_eq!(bounce.type_code, Some(1));
        assert!(bounce.inactive);
        assert!(bounce.is_hard());
    }

    #[test]
    fn bounce_id_beyond_two_to_the_53_parses_exactly() {
        let event = parse(&example("Bounce"));
        let id = event.bounce.and_then(|b| b.id).expect("bounce id");
        assert_eq!(id, 4_323_372_036_854_775_807);
        // A double would have rounded it.
        assert_ne!(id as f64 as i64, id);
        let odd = example("Bounce").replace("4323372036854775807", "9007199254740993");
        assert_eq!(
            parse(&odd).bounce.and_then(|b| b.id),
            Some(9_007_199_254_740_993)
        );
    }

    #[test]
    fn hard_bounce_is_recognised_by_type_code_alone() {
        let body = example("Bounce")
            .replace(r#""Type": "HardBounce""#, r#""Type": null"#)
            .replace(r#""Inactive": true"#, r#""Inactive": false"#);
        assert_eq!(parse(&body).suppression, suppressed("HardBounce"));
    }

    #[test]
    fn soft_bounce_suppresses_only_when_inactive() {
        let soft = example("Bounce")
            .replace(r#""Type": "HardBounce""#, r#""Type": "SoftBounce""#)
            .replace(r#""TypeCode": 1"#, r#""TypeCode": 4096"#);
        assert_eq!(parse(&soft).suppression, suppressed("SoftBounce"));
        let active = soft.replace(r#""Inactive": true"#, r#""Inactive": false"#);
        let event = parse(&active);
        assert_eq!(event.suppression, None);
        assert_eq!(event.status, Some(MessageStatus::Bounced));
    }

    #[test]
    fn spam_complaint_suppresses_without_a_status() {
        let event = parse(&example("SpamComplaint"));
        assert_eq!(event.status, None);
        assert_eq!(event.suppression, suppressed("SpamComplaint"));
        assert_eq!(event.bounce.and_then(|b| b.id), Some(42));
    }

    #[test]
    fn open_and_click_report_their_status() {
        let open = parse(&example("Open"));
        assert_eq!(open.status, Some(MessageStatus::Opened));
        assert_eq!(open.recipient.as_deref(), Some("john@example.com"));
        assert_eq!(
            open.occurred_at.as_deref(),
            Some("2019-11-05T16:33:54.9070259Z")
        );
        let click = parse(&example("Click"));
        assert_eq!(click.status, Some(MessageStatus::Clicked));
        assert_eq!(
            click.occurred_at.as_deref(),
            Some("2017-10-25T15:21:11.9065619Z")
        );
        assert_eq!((open.suppression, click.suppression), (None, None));
    }

    #[test]
    fn subscription_change_suppresses_and_reactivation_lifts() {
        let body = example("SubscriptionChange");
        let event = parse(&body);
        assert_eq!(event.status, None);
        assert_eq!(
            event.recipient.as_deref(),
            Some("bounced-address@wildbit.com")
        );
        assert_eq!(event.suppression, suppressed("HardBounce"));

        let lifted = body
            .replace(r#""SuppressSending": true"#, r#""SuppressSending": false"#)
            .replace(
                r#""SuppressionReason": "HardBounce""#,
                r#""SuppressionReason": null"#,
            )
            .replace(
                r#""MessageID": "883953f4-6105-42a2-a16a-77a8eac79483""#,
                r#""MessageID": null"#,
            );
        let event = parse(&lifted);
        assert_eq!(event.suppression, Some(SuppressionChange::Lift));
        assert_eq!(event.message_id, None);
    }

    #[test]
    fn nulls_and_missing_optional_fields_read_as_absent() {
        let body = r#"{"RecordType":"Bounce","MessageID":"m","Email":null,"BouncedAt":null,
            "ID":null,"Type":null,"TypeCode":null,"Inactive":null,"Description":null}"#;
        let event = parse(body);
        assert_eq!(event.recipient, None);
        assert_eq!(event.occurred_at, None);
        assert_eq!(event.suppression, None);
        let bounce = event.bounce.expect("bounce details");
        assert_eq!(
            (bounce.id, bounce.type_code, bounce.inactive),
            (None, None, false)
        );
        let bare = parse(r#"{"RecordType":"Delivery","MessageID":"m"}"#);
        assert_eq!(bare.status, Some(MessageStatus::Delivered));
        let untyped = parse(r#"{"RecordType":"Open","MessageID":"m","Recipient":7}"#);
        assert_eq!(untyped.recipient, None);
    }

    #[test]
    fn malformed_records_name_the_field() {
        assert_eq!(field_of("not json"), "body");
        assert_eq!(field_of("[1, 2]"), "body");
        assert_eq!(field_of(r#"{"MessageID":"m"}"#), "RecordType");
        assert_eq!(
            field_of(r#"{"RecordType":null,"MessageID":"m"}"#),
            "RecordType"
        );
        assert_eq!(
            field_of(r#"{"RecordType":"Inbound","MessageID":"m"}"#),
            "RecordType"
        );
        assert_eq!(field_of(r#"{"RecordType":"Delivery"}"#), "MessageID");
        assert_eq!(
            field_of(r#"{"RecordType":"Open","MessageID":null}"#),
            "MessageID"
        );
        assert_eq!(
            field_of(r#"{"RecordType":"SubscriptionChange","SuppressSending":false}"#),
            "MessageID"
        );
        let long = format!(
            r#"{{"RecordType":"Delivery","MessageID":"{}"}}"#,
            "m".repeat(300)
        );
        assert_eq!(field_of(&long), "MessageID");
    }

    #[test]
    fn dedupe_key_is_stable_and_tells_records_apart() {
        let body = example("Open");
        assert_eq!(parse(&body).dedupe_key, parse(&body).dedupe_key);
        assert_eq!(
            parse(&body).dedupe_key,
            "postmark/Open/36:883953f4-6105-42a2-a16a-77a8eac79483/16:john@example.com\
             /28:2019-11-05T16:33:54.9070259Z"
        );
        let later = body.replace("16:33:54", "16:34:54");
        assert_ne!(parse(&body).dedupe_key, parse(&later).dedupe_key);
        let click = body.replace(r#""RecordType": "Open""#, r#""RecordType": "Click""#);
        assert_ne!(parse(&body).dedupe_key, parse(&click).dedupe_key);
        let t = PostmarkRecordType::Open;
        assert_ne!(
            dedupe_key(t, Some("a/1:b"), Some("c"), None),
            dedupe_key(t, Some("a"), Some("b/1:c"), None)
        );
    }

    proptest! {
        #[test]
        fn parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_postmark_event(&body);
        }

        #[test]
        fn parser_never_panics_on_objects(
            record_type in prop::sample::select(vec![
                "Delivery", "Bounce", "SpamComplaint", "Open", "Click", "SubscriptionChange", "x",
            ]),
            values in proptest::collection::vec(
                prop::sample::select(vec![
                    "null", "true", "false", "1", "-1", "18446744073709551615", "1.5",
                    "\"HardBounce\"", "\"\"", "{}", "[]",
                ]),
                8,
            ),
        ) {
            let names = [
                "MessageID", "Recipient", "Email", "Type", "TypeCode", "Inactive", "ID",
                "SuppressSending",
            ];
            let pairs: Vec<String> = names
                .iter()
                .zip(&values)
                .map(|(n, v)| format!("\"{n}\":{v}"))
                .collect();
            let body = format!("{{\"RecordType\":\"{record_type}\",{}}}", pairs.join(","));
            let _ = parse_postmark_event(body.as_bytes());
        }
    }
}
