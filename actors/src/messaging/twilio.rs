//! Twilio status callbacks: the `X-Twilio-Signature` check and the callback's parameters.
//!
//! The flow for one callback: [`parse_form`] reads the body, [`verify_signature`] checks the
//! header against the configured auth token and the public URL, then
//! [`TwilioCallback::from_params`] reads what the callback says.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use super::status::MessageStatus;
use crate::fields::MAX_ID_BYTES;
use crate::DomainError;

type HmacSha1 = Hmac<Sha1>;

/// Header carrying Twilio's signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// The error code Twilio reports when the recipient has replied STOP.
pub const UNSUBSCRIBED_ERROR_CODE: &str = "21610";

/// The signature Twilio sends for a request to `url` with form parameters `params`.
///
/// It is the base64 of HMAC-SHA1, keyed with the auth token, over the URL followed by each
/// parameter's name and value. Parameters are sorted by name, then by value, and a repeated
/// name/value pair counts once, as in Twilio's own libraries.
pub fn expected_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(signing_mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `given_signature` is Twilio's signature for a request to `url` with `params`.
///
/// Like Twilio's own libraries, this also accepts the signature of `url` with its port removed
/// (any port) or, when it has none, with the scheme's default port added (443 for https, 80 for
/// http), and of `url` with its apostrophes percent-encoded or decoded, which URL libraries
/// disagree about. Each comparison runs in constant time; an attacker without the auth token
/// can produce none of these signatures, so accepting several forms of our own URL costs
/// nothing.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    given_signature: &str,
) -> bool {
    let Ok(given) = STANDARD.decode(given_signature) else {
        return false;
    };
    if given.is_empty() {
        return false;
    }
    url_variants(url).iter().any(|candidate| {
        signing_mac(auth_token, candidate, params)
            .verify_slice(&given)
            .is_ok()
    })
}

/// Parses a form-encoded body into its name/value pairs, in order, repeats kept.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, DomainError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| DomainError::invalid("body", format!("is not a valid form: {e}")))
}

/// The message status a Twilio `MessageStatus` value reports, if it is one Twilio documents.
pub fn map_status(raw: &str) -> Option<MessageStatus> {
    match raw {
        "accepted" | "queued" | "scheduled" => Some(MessageStatus::Queued),
        "sending" => Some(MessageStatus::Sending),
        "sent" => Some(MessageStatus::Sent),
        "delivered" => Some(MessageStatus::Delivered),
        "read" => Some(MessageStatus::Opened),
        "undelivered" | "failed" | "canceled" => Some(MessageStatus::Failed),
        _ => None,
    }
}

/// One Twilio message status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioCallback {
    /// The message (`MessageSid`), as returned by Twilio's send API.
    pub message_sid: String,
    /// The status the callback reports, mapped from `MessageStatus`.
    pub status: MessageStatus,
    /// `MessageStatus` as sent.
    pub raw_status: String,
    /// `ErrorCode`, when the message failed.
    pub error_code: Option<String>,
    /// `To`, the recipient.
    pub to: Option<String>,
    /// `From`, the sender.
    pub from: Option<String>,
    /// `AccountSid`, the Twilio account.
    pub account_sid: Option<String>,
}

impl TwilioCallback {
    /// Reads a callback from its form parameters.
    ///
    /// A missing or overlong `MessageSid`, or a missing or unknown `MessageStatus`, is refused
    /// naming the field. When a name repeats, its first value is used; an empty optional value
    /// reads as absent.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, DomainError> {
        let message_sid = param(params, "MessageSid")
            .ok_or_else(|| DomainError::invalid("MessageSid", "is required"))?;
        if message_sid.len() > MAX_ID_BYTES {
            return Err(DomainError::invalid(
                "MessageSid",
                format!("must be at most {MAX_ID_BYTES} bytes"),
            ));
        }
        let raw_status = param(params, "MessageStatus")
            .ok_or_else(|| DomainError::invalid("MessageStatus", "is required"))?;
        let status = map_status(&raw_status).ok_or_else(|| {
            DomainError::invalid(
                "MessageStatus",
                format!("unknown Twilio status {raw_status:?}"),
            )
        })?;

        Ok(TwilioCallback {
            message_sid,
            status,
            raw_status,
            error_code: param(params, "ErrorCode"),
            to: param(params, "To"),
            from: param(params, "From"),
            account_sid: param(params, "AccountSid"),
        })
    }

    /// Whether this callback means SMS to the recipient must stop: the recipient replied STOP.
    pub fn suppresses_sms(&self) -> bool {
        self.error_code.as_deref() == Some(UNSUBSCRIBED_ERROR_CODE)
    }
}

/// The first non-empty value of `name`.
fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The HMAC over `url` and the sorted parameters, ready to finalize or verify.
fn signing_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();

    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The forms of `url` a signature is checked against, without repeats.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = Vec::new();
    for quoted in [
        url.to_owned(),
        url.replace('\'', "%27"),
        url.replace("%27", "'"),
    ] {
        for form in [Some(quoted.clone()), toggle_port(&quoted)]
            .into_iter()
            .flatten()
        {
            if !variants.contains(&form) {
                variants.push(form);
            }
        }
    }
    variants
}

/// `url` with its port removed, or with the scheme's default port added when it has none.
///
/// `None` when `url` has no `scheme://` or has no port and a scheme other than http(s).
fn toggle_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_start = scheme.len() + 3;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority_end = authority_start + authority_len;
    let authority = &url[authority_start..authority_end];

    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    let after_bracket = host_port.rfind(']').map_or(0, |b| b + 1);
    let port_colon = host_port[after_bracket..]
        .rfind(':')
        .map(|c| after_bracket + c)
        .filter(|&c| host_port[c + 1..].bytes().all(|b| b.is_ascii_digit()));

    match port_colon {
        Some(colon) => {
            let colon_at = authority_start + host_start + colon;
            Some(format!("{}{}", &url[..colon_at], &url[authority_end..]))
        }
        None => {
            let default_port = match scheme.to_ascii_lowercase().as_str() {
                "https" => 443,
                "http" => 80,
                _ => return None,
            };
            Some(format!(
                "{}:{default_port}{}",
                &url[..authority_end],
                &url[authority_end..]
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const VECTORS: &str = include_str!("../../../../shared/data/twilio-signature-vectors.json");

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn canonical_params() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    /// A vector's `params`: a name maps to a value or to a list of values.
    fn vector_params(v: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, value) in v["params"].as_object().expect("params is an object") {
            match value {
                Value::Array(values) => {
                    for value in values {
                        out.push((name.clone(), value.as_str().unwrap().to_owned()));
                    }
                }
                value => out.push((name.clone(), value.as_str().unwrap().to_owned())),
            }
        }
        out
    }

    fn field_of(params: &[(String, String)]) -> String {
        match TwilioCallback::from_params(params) {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    /// The vectors with a JSON body sign only the URL (which carries the body's SHA-256); this
    /// checks that URL signature, which is what a form callback uses too.
    #[test]
    fn every_library_vector_verifies_as_documented() {
        let vectors: Vec<Value> = serde_json::from_str(VECTORS).expect("vectors file is JSON");
        assert!(vectors.len() > 20);
        for v in &vectors {
            let id = v["id"].as_str().unwrap();
            let token = v["auth_token"].as_str().unwrap();
            let url = v["url"].as_str().unwrap();
            let signature = v["expected_signature"].as_str().unwrap();
            let params = vector_params(v);
            let valid = v["valid"].as_bool().unwrap();
            assert_eq!(
                verify_signature(token, url, &params, signature),
                valid,
                "vector {id}"
            );
            if valid {
                let signed = v["signed_url"].as_str().unwrap();
                assert_eq!(
                    expected_signature(token, signed, &params),
                    signature,
                    "{id}"
                );
            }
        }
    }

    #[test]
    fn canonical_vector_matches() {
        assert_eq!(
            expected_signature("12345", URL, &canonical_params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut params = canonical_params();
        params.reverse();
        assert!(verify_signature(
            "12345",
            URL,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn a_changed_parameter_or_token_fails() {
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        let mut params = canonical_params();
        params[2].1 = "1235".into();
        assert!(!verify_signature("12345", URL, &params, good));
        let mut extra = canonical_params();
        extra.push(("ErrorCode".into(), "21610".into()));
        assert!(!verify_signature("12345", URL, &extra, good));
        assert!(!verify_signature("12346", URL, &canonical_params(), good));
        assert!(!verify_signature(
            "12345",
            URL,
            &canonical_params(),
            "not base64!"
        ));
        assert!(!verify_signature("12345", URL, &canonical_params(), ""));
    }

    #[test]
    fn default_port_is_accepted_either_way() {
        let params = pairs(&[("MessageSid", "SM1"), ("MessageStatus", "delivered")]);
        for (signed, received) in [
            ("https://h.example/p", "https://h.example:443/p"),
            ("https://h.example:443/p", "https://h.example/p"),
            ("http://h.example/p?a=1", "http://h.example:80/p?a=1"),
            ("http://h.example:80/p?a=1", "http://h.example/p?a=1"),
            ("https://u:p@h.example/p", "https://u:p@h.example:443/p"),
            ("https://[::1]/p", "https://[::1]:443/p"),
        ] {
            let sig = expected_signature("t", signed, &params);
            assert!(verify_signature("t", received, &params, &sig), "{received}");
        }
        let sig = expected_signature("t", "https://h.example:8443/p", &params);
        assert!(!verify_signature(
            "t",
            "https://h.example:443/p",
            &params,
            &sig
        ));
        assert!(!verify_signature(
            "t",
            "https://other.example/p",
            &params,
            &sig
        ));
    }

    #[test]
    fn port_toggle_handles_odd_urls() {
        assert_eq!(
            toggle_port("https://h:1/p:2"),
            Some("https://h/p:2".to_owned())
        );
        assert_eq!(
            toggle_port("HTTP://h?x=:80"),
            Some("HTTP://h:80?x=:80".to_owned())
        );
        assert_eq!(
            toggle_port("https://[::1]"),
            Some("https://[::1]:443".to_owned())
        );
        assert_eq!(toggle_port("ftp://h/p"), None);
        assert_eq!(toggle_port("no scheme"), None);
    }

    #[test]
    fn callback_maps_every_documented_status() {
        let cases = [
            ("accepted", MessageStatus::Queued),
            ("queued", MessageStatus::Queued),
            ("scheduled", MessageStatus::Queued),
            ("sending", MessageStatus::Sending),
            ("sent", MessageStatus::Sent),
            ("delivered", MessageStatus::Delivered),
            ("read", MessageStatus::Opened),
            ("undelivered", MessageStatus::Failed),
            ("failed", MessageStatus::Failed),
            ("canceled", MessageStatus::Failed),
        ];
        for (raw, status) in cases {
            let cb = TwilioCallback::from_params(&pairs(&[
                ("MessageSid", "SM1"),
                ("MessageStatus", raw),
            ]))
            .unwrap();
            assert_eq!((cb.status, cb.raw_status.as_str()), (status, raw));
        }
    }

    #[test]
    fn form_callback_reads_its_fields_and_stop_suppresses() {
        let body = b"SmsSid=SM1&SmsStatus=undelivered&MessageStatus=undelivered&To=%2B15558675310\
            &MessageSid=SM1&AccountSid=AC1&From=%2B15017122661&ErrorCode=21610\
            &ApiVersion=2010-04-01";
        let params = parse_form(body).unwrap();
        let cb = TwilioCallback::from_params(&params).unwrap();
        assert_eq!(cb.message_sid, "SM1");
        assert_eq!(cb.status, MessageStatus::Failed);
        assert_eq!(cb.to.as_deref(), Some("+15558675310"));
        assert_eq!(cb.from.as_deref(), Some("+15017122661"));
        assert_eq!(cb.account_sid.as_deref(), Some("AC1"));
        assert!(cb.suppresses_sms());

        let sig = expected_signature("tok", "https://crm.example/hook", &params);
        assert!(verify_signature(
            "tok",
            "https://crm.example/hook",
            &params,
            &sig
        ));

        let delivered = parse_form(b"MessageSid=SM2&MessageStatus=delivered&ErrorCode=").unwrap();
        let cb = TwilioCallback::from_params(&delivered).unwrap();
        assert_eq!(cb.error_code, None);
        assert!(!cb.suppresses_sms());
    }

    #[test]
    fn bad_callbacks_name_the_field() {
        assert_eq!(field_of(&pairs(&[("MessageStatus", "sent")])), "MessageSid");
        assert_eq!(
            field_of(&pairs(&[("MessageSid", ""), ("MessageStatus", "sent")])),
            "MessageSid"
        );
        assert_eq!(field_of(&pairs(&[("MessageSid", "SM1")])), "MessageStatus");
        assert_eq!(
            field_of(&pairs(&[
                ("MessageSid", "SM1"),
                ("MessageStatus", "Delivered")
            ])),
            "MessageStatus"
        );
        let long = "S".repeat(MAX_ID_BYTES + 1);
        assert_eq!(
            field_of(&pairs(&[("MessageSid", &long), ("MessageStatus", "sent")])),
            "MessageSid"
        );
    }

    proptest! {
        #[test]
        fn form_parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(params) = parse_form(&body) {
                let _ = TwilioCallback::from_params(&params);
                let _ = verify_signature("t", "https://h/p", &params, "AAAA");
            }
        }

        #[test]
        fn url_handling_never_panics(url in ".{0,60}", sig in ".{0,40}") {
            let _ = verify_signature("t", &url, &[], &sig);
        }

        #[test]
        fn own_signature_always_verifies(
            params in proptest::collection::vec(("[A-Za-z]{1,4}", "[ -~]{0,6}"), 0..6),
            path in "[a-z/]{0,10}",
        ) {
            let url = format!("https://h.example/{path}");
            let sig = expected_signature("t", &url, &params);
            prop_assert!(verify_signature("t", &url, &params, &sig));
        }
    }
}
