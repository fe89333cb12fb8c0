//! Reading typed fields out of a JSON object, with errors that name the field.
//!
//! Inbound payloads are parsed through `serde_json::Value` rather than derived structs so that
//! a 422 can say exactly which field was missing or of the wrong type, with its dotted path.

use serde_json::{Map, Value};

use crate::DomainError;

/// The most bytes an id field (event id, grant id, …) may have; ids become store keys.
pub const MAX_ID_BYTES: usize = 256;

/// Parses a request body as a JSON object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, DomainError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(DomainError::invalid("body", "must be a JSON object")),
        Err(e) => Err(DomainError::invalid(
            "body",
            format!("is not valid JSON: {e}"),
        )),
    }
}

/// A required non-empty string.
pub fn required_str(
    obj: &Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<String, DomainError> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(DomainError::invalid(join(path, name), "must not be empty")),
        None | Some(Value::Null) => Err(DomainError::invalid(join(path, name), "is required")),
        Some(_) => Err(DomainError::invalid(join(path, name), "must be a string")),
    }
}

/// A required id: a non-empty string of at most [`MAX_ID_BYTES`] bytes.
pub fn required_id(obj: &Map<String, Value>, name: &str) -> Result<String, DomainError> {
    let id = required_str(obj, "", name)?;
    if id.len() > MAX_ID_BYTES {
        return Err(DomainError::invalid(
            name,
            format!("must be at most {MAX_ID_BYTES} bytes"),
        ));
    }
    Ok(id)
}

/// An optional string; `null` counts as absent.
pub fn optional_str(
    obj: &Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<Option<String>, DomainError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(DomainError::invalid(join(path, name), "must be a string")),
    }
}

/// An optional integer; `null` counts as absent.
pub fn optional_i64(
    obj: &Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<Option<i64>, DomainError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| DomainError::invalid(join(path, name), "must be an integer")),
    }
}

/// An optional object; absent or `null` reads as an empty object.
pub fn optional_object(
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Map<String, Value>, DomainError> {
    match obj.get(name) {
        Some(Value::Object(map)) => Ok(map.clone()),
        None | Some(Value::Null) => Ok(Map::new()),
        Some(_) => Err(DomainError::invalid(name, "must be an object")),
    }
}

/// A required non-negative integer that fits in `u32`.
pub fn required_u32(obj: &Map<String, Value>, name: &str) -> Result<u32, DomainError> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(DomainError::invalid(name, "is required")),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| DomainError::invalid(name, "must be a non-negative integer")),
    }
}

/// A required RFC 3339 time; returns the text and its unix milliseconds.
pub fn required_time(obj: &Map<String, Value>, name: &str) -> Result<(String, i64), DomainError> {
    let text = required_str(obj, "", name)?;
    let parsed = chrono::DateTime::parse_from_rfc3339(&text)
        .map_err(|_| DomainError::invalid(name, "must be an RFC 3339 time"))?;
    Ok((text, parsed.timestamp_millis()))
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}
