//! Encoding of stored values: one format-version byte, then postcard.
//!
//! The version byte lets a later release read values written by this one and migrate them; a
//! value with an unknown version is reported as corrupt rather than misread.

use serde::{de::DeserializeOwned, Serialize};

use crate::StoreError;

/// The format version written in front of every value by this release.
pub const FORMAT_VERSION: u8 = 1;

/// Encodes a value with the current format version in front.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    // Serializing plain structs of owned data into a Vec cannot fail with postcard.
    let body = postcard::to_stdvec(value).expect("postcard encodes plain records");
    out.extend_from_slice(&body);
    out
}

/// Decodes a value written by [`encode`]; `key` only names the value in the error.
pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    match bytes.split_first() {
        Some((&FORMAT_VERSION, body)) => {
            postcard::from_bytes(body).map_err(|e| corrupt(e.to_string()))
        }
        Some((v, _)) => Err(corrupt(format!("unknown format version {v}"))),
        None => Err(corrupt("empty value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Grant, GrantStatus};
    use proptest::prelude::*;

    fn grant(amount: i64, pid: Option<String>) -> Grant {
        Grant {
            id: "g1".into(),
            adapter_slug: "demo".into(),
            player_id: "p1".into(),
            status: GrantStatus::Active,
            platform_bonus_id: pid,
            amount_subunit: amount,
            currency: "EUR".into(),
            template_id: None,
            created_at_ms: 1,
            activated_at_ms: Some(2),
            completed_at: None,
            total_wagered: 7,
            reason: None,
            updated_at_ms: 3,
            history_len: 0,
        }
    }

    #[test]
    fn unknown_version_is_reported_not_misread() {
        let mut bytes = encode(&grant(1, None));
        bytes[0] = 9;
        let err = decode::<Grant>(b"g/g1", &bytes).unwrap_err();
        assert!(err.to_string().contains("unknown format version 9"));
        assert!(decode::<Grant>(b"g/g1", &[]).is_err());
    }

    proptest! {
        #[test]
        fn grants_round_trip(
            amount in any::<i64>(),
            pid in proptest::option::of("[a-z0-9-]{0,40}"),
        ) {
            let g = grant(amount, pid);
            let back: Grant = decode(b"k", &encode(&g)).unwrap();
            prop_assert_eq!(back, g);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode::<Grant>(b"k", &bytes);
        }
    }
}
