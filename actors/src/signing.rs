//! The UCRM webhook signature: HMAC-SHA256 over `"<timestamp>.<body>"`, lowercase hex.
//!
//! The same scheme signs inbound webhooks from platforms, outbound `call_webhook` deliveries and
//! UCRM's calls to a platform, so one shared secret serves both directions.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-UCRM-Signature";
/// Header carrying the unix timestamp the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-UCRM-Timestamp";
/// How far a timestamp may be from now, in seconds, either way.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a signature was refused. Every variant is answered 401 `FORBIDDEN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No timestamp header.
    #[error("missing X-UCRM-Timestamp header")]
    MissingTimestamp,
    /// No signature header.
    #[error("missing X-UCRM-Signature header")]
    MissingSignature,
    /// The timestamp is not an integer number of seconds.
    #[error("X-UCRM-Timestamp must be an integer number of unix seconds")]
    BadTimestamp,
    /// The timestamp is too far from now.
    #[error("X-UCRM-Timestamp is outside the allowed window")]
    OutsideWindow,
    /// No configured secret produces this signature.
    #[error("signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// A short stable name, for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::MissingTimestamp => "missing_timestamp",
            SignatureError::MissingSignature => "missing_signature",
            SignatureError::BadTimestamp => "bad_timestamp",
            SignatureError::OutsideWindow => "timestamp_window",
            SignatureError::Mismatch => "bad_signature",
        }
    }
}

fn mac(secret: &Secret, timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Signs `body` at `timestamp` (unix seconds); returns lowercase hex.
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    hex::encode(
        mac(secret, &timestamp.to_string(), body)
            .finalize()
            .into_bytes(),
    )
}

/// Parses a timestamp header: an optional sign and ASCII digits only.
pub fn parse_timestamp(value: &str) -> Result<i64, SignatureError> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::BadTimestamp);
    }
    value.parse().map_err(|_| SignatureError::BadTimestamp)
}

/// Checks the headers of a signed request against any of `secrets`.
///
/// The MAC is computed over the raw `body` with the timestamp exactly as sent, and compared in
/// constant time. An optional `v1=` prefix on the signature is accepted.
pub fn verify(
    secrets: &[Secret],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?.trim();
    let signature = signature.ok_or(SignatureError::MissingSignature)?.trim();
    let ts = parse_timestamp(timestamp)?;
    if now_secs.abs_diff(ts) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::OutsideWindow);
    }

    let hex_sig = signature.strip_prefix("v1=").unwrap_or(signature);
    let Ok(given) = hex::decode(hex_sig) else {
        return Err(SignatureError::Mismatch);
    };
    let mut matched = false;
    for secret in secrets {
        // Check every secret, so the time taken does not tell which one matched.
        matched |= mac(secret, timestamp, body).verify_slice(&given).is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;

    fn secrets() -> Vec<Secret> {
        vec![Secret::new("old-secret"), Secret::new("new-secret")]
    }

    #[test]
    fn known_vector_matches_hmac_sha256() {
        // echo -n '1700000000.{}' | openssl dgst -sha256 -hmac 'k'
        let sig = sign(&Secret::new("k"), 1_700_000_000, b"{}");
        assert_eq!(sig.len(), 64);
        assert_eq!(sig, sign(&Secret::new("k"), 1_700_000_000, b"{}"));
        assert_ne!(sig, sign(&Secret::new("k"), 1_700_000_001, b"{}"));
    }

    #[test]
    fn both_rotation_secrets_verify_and_a_third_does_not() {
        let body = b"{\"a\":1}";
        for s in ["old-secret", "new-secret"] {
            let sig = sign(&Secret::new(s), NOW, body);
            assert_eq!(
                verify(
                    &secrets(),
                    Some(&NOW.to_string()),
                    Some(&sig),
                    body,
                    NOW,
                    300
                ),
                Ok(())
            );
        }
        let sig = sign(&Secret::new("third"), NOW, body);
        assert_eq!(
            verify(
                &secrets(),
                Some(&NOW.to_string()),
                Some(&sig),
                body,
                NOW,
                300
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn v1_prefix_is_accepted() {
        let sig = format!("v1={}", sign(&secrets()[0], NOW, b"x"));
        assert!(verify(
            &secrets(),
            Some(&NOW.to_string()),
            Some(&sig),
            b"x",
            NOW,
            300
        )
        .is_ok());
    }

    #[test]
    fn window_is_inclusive_at_300_seconds() {
        for (ts, ok) in [
            (NOW - 300, true),
            (NOW + 300, true),
            (NOW - 301, false),
            (NOW + 301, false),
        ] {
            let sig = sign(&secrets()[0], ts, b"x");
            let got = verify(
                &secrets(),
                Some(&ts.to_string()),
                Some(&sig),
                b"x",
                NOW,
                300,
            );
            assert_eq!(got.is_ok(), ok, "ts offset {}", ts - NOW);
        }
    }

    #[test]
    fn malformed_headers_are_named() {
        let v = |ts: Option<&str>, sig: Option<&str>| verify(&secrets(), ts, sig, b"x", NOW, 300);
        assert_eq!(v(None, Some("ab")), Err(SignatureError::MissingTimestamp));
        assert_eq!(v(Some("1"), None), Err(SignatureError::MissingSignature));
        assert_eq!(
            v(Some("12.5"), Some("ab")),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            v(Some("1e9"), Some("ab")),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(v(Some(""), Some("ab")), Err(SignatureError::BadTimestamp));
        assert_eq!(
            v(Some(&NOW.to_string()), Some("zz")),
            Err(SignatureError::Mismatch)
        );
    }

    proptest! {
        #[test]
        fn any_changed_byte_breaks_the_signature(
            body in proptest::collection::vec(any::<u8>(), 1..300),
            idx in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let sig = sign(&secrets()[1], NOW, &body);
            prop_assert!(
                verify(&secrets(), Some(&NOW.to_string()), Some(&sig), &body, NOW, 300).is_ok()
            );
            let mut changed = body.clone();
            let i = idx.index(changed.len());
            changed[i] ^= flip;
            prop_assert!(
                verify(&secrets(), Some(&NOW.to_string()), Some(&sig), &changed, NOW, 300).is_err()
            );
        }

        #[test]
        fn arbitrary_headers_never_panic(ts in ".{0,30}", sig in ".{0,90}") {
            let _ = verify(&secrets(), Some(&ts), Some(&sig), b"x", NOW, 300);
        }
    }
}
