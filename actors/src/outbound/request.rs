//! Validation of a `POST /v1/webhook-calls` body into a stored [`WebhookCall`].

use serde_json::Value;
use ucrm_storage::{now_ms, CallStatus, WebhookCall};

use super::ssrf::SsrfGuard;
use super::template::Template;
use crate::fields;
use crate::DomainError;

/// The longest a single attempt may take.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// What the checks need to know about the service.
pub struct CallLimits<'a> {
    /// Whether a secret of this name exists.
    pub secret_exists: &'a dyn Fn(&str) -> bool,
    /// The SSRF guard, for literal addresses.
    pub guard: &'a SsrfGuard,
    /// The attempt timeout when the request names none.
    pub default_timeout_ms: u64,
}

/// Validates a call request, renders its body and returns the pending call.
pub fn build_call(body: &[u8], limits: &CallLimits<'_>) -> Result<WebhookCall, DomainError> {
    let obj = fields::object(body)?;
    let journey_id = fields::required_id(&obj, "journey_id")?;
    let run_id = fields::required_id(&obj, "run_id")?;
    let node_id = fields::required_id(&obj, "node_id")?;

    let url = fields::required_str(&obj, "", "url")?;
    let parsed = reqwest::Url::parse(&url)
        .map_err(|e| DomainError::invalid("url", format!("is not a URL: {e}")))?;
    limits
        .guard
        .check_url(&parsed)
        .map_err(|why| DomainError::invalid("url", why))?;

    let method = fields::optional_str(&obj, "", "method")?
        .unwrap_or_else(|| "POST".into())
        .to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
        return Err(DomainError::invalid(
            "method",
            "must be GET, POST, PUT, PATCH or DELETE",
        ));
    }
    let headers = headers(obj.get("headers"))?;

    let template = Template::compile(&fields::required_str(&obj, "", "body_template")?)?;
    let context = match obj.get("context") {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(DomainError::invalid("context", "must be an object")),
    };
    let rendered = template.render(&context)?;

    let secret = fields::optional_str(&obj, "", "secret")?;
    let sign = match obj.get("sign") {
        None | Some(Value::Null) => secret.is_some(),
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(DomainError::invalid("sign", "must be a boolean")),
    };
    let secret_name = match (sign, secret) {
        (false, _) => None,
        (true, None) => {
            return Err(DomainError::invalid(
                "secret",
                "is required when sign is true",
            ))
        }
        (true, Some(name)) if (limits.secret_exists)(&name) => Some(name),
        (true, Some(_)) => {
            return Err(DomainError::invalid(
                "secret",
                "names no adapter or configured outbound secret",
            ))
        }
    };

    let timeout_ms = match fields::optional_i64(&obj, "", "timeout_ms")? {
        None => limits.default_timeout_ms,
        Some(ms) if (1..=MAX_TIMEOUT_MS as i64).contains(&ms) => ms as u64,
        Some(_) => {
            return Err(DomainError::invalid(
                "timeout_ms",
                format!("must be between 1 and {MAX_TIMEOUT_MS}"),
            ))
        }
    };

    let now = now_ms();
    Ok(WebhookCall {
        id: uuid::Uuid::now_v7().to_string(),
        journey_id,
        run_id,
        node_id,
        url,
        method,
        headers,
        body: rendered,
        secret_name,
        timeout_ms,
        status: CallStatus::Pending,
        attempts: Vec::new(),
        round_start: 0,
        next_attempt_at_ms: now,
        created_at_ms: now,
        updated_at_ms: now,
    })
}

fn headers(value: Option<&Value>) -> Result<Vec<(String, String)>, DomainError> {
    let map = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(DomainError::invalid(
                "headers",
                "must be an object of strings",
            ))
        }
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, value) in map {
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("x-ucrm-")
            || matches!(
                lower.as_str(),
                "host" | "content-length" | "transfer-encoding"
            )
        {
            return Err(DomainError::invalid(
                field,
                "is set by UCRM and cannot be overridden",
            ));
        }
        let Value::String(v) = value else {
            return Err(DomainError::invalid(field, "must be a string"));
        };
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || reqwest::header::HeaderValue::from_str(v).is_err()
        {
            return Err(DomainError::invalid(field, "is not a valid HTTP header"));
        }
        out.push((name.clone(), v.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(v: Value) -> Result<WebhookCall, DomainError> {
        let guard = SsrfGuard::default();
        let limits = CallLimits {
            secret_exists: &|n| n == "demo-casino",
            guard: &guard,
            default_timeout_ms: 5000,
        };
        build_call(v.to_string().as_bytes(), &limits)
    }

    fn base() -> Value {
        json!({"journey_id": "j", "run_id": "r", "node_id": "n", "url": "https://example.com/hook",
               "body_template": "{\"name\":\"{{name}}\",\"raw\":\"{{{name}}}\"}",
               "context": {"name": "<b>"},
               "secret": "demo-casino"})
    }

    fn field(v: Value) -> String {
        match build(v) {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_is_rendered_and_signed_by_default_when_a_secret_is_named() {
        let call = build(base()).unwrap();
        assert_eq!(call.body, "{\"name\":\"&lt;b&gt;\",\"raw\":\"<b>\"}");
        assert_eq!(call.secret_name.as_deref(), Some("demo-casino"));
        assert_eq!((call.method.as_str(), call.timeout_ms), ("POST", 5000));
    }

    #[test]
    fn bad_fields_are_named() {
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            b
        };
        assert_eq!(field(with("url", json!("http://127.0.0.1/x"))), "url");
        assert_eq!(field(with("url", json!("ftp://example.com"))), "url");
        assert_eq!(field(with("method", json!("TRACE"))), "method");
        assert_eq!(field(with("secret", json!("nope"))), "secret");
        assert_eq!(field(with("timeout_ms", json!(0))), "timeout_ms");
        assert_eq!(
            field(with("headers", json!({"X-UCRM-Signature": "x"}))),
            "headers.X-UCRM-Signature"
        );
        assert_eq!(
            field(with("body_template", json!("{{#open}}"))),
            "body_template"
        );
        let mut unsigned = base();
        unsigned["sign"] = json!(true);
        unsigned.as_object_mut().unwrap().remove("secret");
        assert_eq!(field(unsigned), "secret");
    }
}
