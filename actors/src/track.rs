//! Product events from `/v1/events`: validation and their effect on messages.

use serde_json::{Map, Value};
use ucrm_storage::{MessageStatus, Provider};

use crate::fields;
use crate::DomainError;

/// The event names UCRM knows; any other name needs the `custom_` prefix.
pub const STANDARD_EVENTS: &[&str] = &[
    "signup",
    "login",
    "logout",
    "identify",
    "page_view",
    "deposit",
    "withdrawal",
    "bet_placed",
    "bet_settled",
    "bonus_claimed",
    "push_received",
    "push_opened",
    "push_clicked",
    "email_opened",
    "email_clicked",
    "sms_clicked",
];

/// The most events one batch may carry.
pub const MAX_BATCH: usize = 100;

/// A validated product event.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackEvent {
    /// The event name.
    pub event: String,
    /// The player's platform id.
    pub external_id: Option<String>,
    /// An anonymous visitor id.
    pub anonymous_id: Option<String>,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// Event properties.
    pub properties: Map<String, Value>,
    /// Client context.
    pub context: Option<Value>,
}

impl TrackEvent {
    /// The message report this event makes, if it is a message engagement event with a
    /// `properties.message_id`: the provider it concerns, the message id, the status.
    pub fn message_effect(&self) -> Option<(Provider, String, MessageStatus)> {
        let (provider, status) = match self.event.as_str() {
            "push_opened" => (Provider::Fcm, MessageStatus::Opened),
            "push_clicked" => (Provider::Fcm, MessageStatus::Clicked),
            "email_opened" => (Provider::Postmark, MessageStatus::Opened),
            "email_clicked" => (Provider::Postmark, MessageStatus::Clicked),
            "sms_clicked" => (Provider::Twilio, MessageStatus::Clicked),
            _ => return None,
        };
        let id = self.properties.get("message_id")?.as_str()?.to_owned();
        Some((provider, id, status))
    }
}

fn prefixed(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Validates one event object; `path` prefixes field names in errors (`events[3]`).
pub fn parse_track_event(value: &Value, path: &str) -> Result<TrackEvent, DomainError> {
    let Value::Object(obj) = value else {
        let field = if path.is_empty() { "body" } else { path };
        return Err(DomainError::invalid(field, "must be a JSON object"));
    };
    let at = |e: DomainError| match e {
        DomainError::Validation { field, message } => {
            DomainError::invalid(prefixed(path, &field), message)
        }
        other => other,
    };
    let event = fields::required_str(obj, "", "event").map_err(at)?;
    let known = STANDARD_EVENTS.contains(&event.as_str());
    let custom = event.strip_prefix("custom_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    });
    if !known && !custom {
        return Err(DomainError::invalid(
            prefixed(path, "event"),
            format!("{event:?} is not a standard event; custom events need the custom_ prefix"),
        ));
    }
    let external_id = fields::optional_str(obj, "", "external_id")
        .map_err(at)?
        .filter(|s| !s.is_empty());
    let anonymous_id = fields::optional_str(obj, "", "anonymous_id")
        .map_err(at)?
        .filter(|s| !s.is_empty());
    if external_id.is_none() && anonymous_id.is_none() {
        return Err(DomainError::invalid(
            prefixed(path, "external_id"),
            "or anonymous_id is required",
        ));
    }
    if external_id
        .as_ref()
        .is_some_and(|id| id.len() > fields::MAX_ID_BYTES)
    {
        return Err(DomainError::invalid(
            prefixed(path, "external_id"),
            "must be at most 256 bytes",
        ));
    }
    let (timestamp, _) = fields::required_time(obj, "timestamp").map_err(at)?;
    let properties = fields::optional_object(obj, "properties").map_err(at)?;
    let context = match obj.get("context") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => {
            return Err(DomainError::invalid(
                prefixed(path, "context"),
                "must be an object",
            ))
        }
    };
    Ok(TrackEvent {
        event,
        external_id,
        anonymous_id,
        timestamp,
        properties,
        context,
    })
}

/// Validates a batch body `{"events": [...]}` of at most [`MAX_BATCH`] events.
pub fn parse_batch(body: &[u8]) -> Result<Vec<TrackEvent>, DomainError> {
    let obj = fields::object(body)?;
    let Some(Value::Array(items)) = obj.get("events") else {
        return Err(DomainError::invalid("events", "must be an array of events"));
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(DomainError::invalid(
            "events",
            format!("must hold 1 to {MAX_BATCH} events"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| parse_track_event(v, &format!("events[{i}]")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(v: Value) -> String {
        match parse_track_event(&v, "") {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_need_to_be_standard_or_custom() {
        let base =
            json!({"event": "signup", "external_id": "p1", "timestamp": "2026-05-08T12:00:00Z"});
        assert!(parse_track_event(&base, "").is_ok());
        let mut custom = base.clone();
        custom["event"] = json!("custom_level_up");
        assert!(parse_track_event(&custom, "").is_ok());
        let mut unknown = base.clone();
        unknown["event"] = json!("level_up");
        assert_eq!(field(unknown), "event");
        let mut nobody = base.clone();
        nobody.as_object_mut().unwrap().remove("external_id");
        assert_eq!(field(nobody), "external_id");
    }

    #[test]
    fn batch_errors_name_the_event_index() {
        let body = json!({"events": [
            {"event": "login", "external_id": "p", "timestamp": "2026-05-08T12:00:00Z"},
            {"event": "login", "external_id": "p", "timestamp": "later"},
        ]});
        match parse_batch(body.to_string().as_bytes()) {
            Err(DomainError::Validation { field, .. }) => assert_eq!(field, "events[1].timestamp"),
            other => panic!("{other:?}"),
        }
        let too_many = json!({"events": vec![json!({}); 101]});
        assert!(parse_batch(too_many.to_string().as_bytes()).is_err());
    }

    #[test]
    fn engagement_events_name_their_message() {
        let e = parse_track_event(
            &json!({"event": "push_opened", "external_id": "p", "timestamp": "2026-05-08T12:00:00Z",
                    "properties": {"message_id": "m-1"}}),
            "",
        )
        .unwrap();
        assert_eq!(
            e.message_effect(),
            Some((Provider::Fcm, "m-1".into(), MessageStatus::Opened))
        );
    }
}
