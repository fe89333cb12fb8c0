//! Fuzzes signature verification with arbitrary header values.
//!
//! The input is split on its first two newlines into the timestamp header, the signature header
//! and the body, so the fuzzer controls all three. An empty header line reads as an absent
//! header, the other case `verify` must refuse cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ucrm_actors::signing::{verify, DEFAULT_TOLERANCE_SECS};
use ucrm_actors::Secret;

/// A fixed "now", inside the window of the seed corpus' timestamps.
const NOW_SECS: i64 = 1_778_241_600;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let timestamp = parts.next().unwrap_or_default();
    let signature = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    // Header values reach the handler as text; bytes that are not UTF-8 never get this far.
    let header = |raw: &[u8]| {
        let text = String::from_utf8_lossy(raw).into_owned();
        (!text.is_empty()).then_some(text)
    };
    let (timestamp, signature) = (header(timestamp), header(signature));
    let secrets = [
        Secret::new("fuzz-secret"),
        Secret::new("fuzz-secret-previous"),
    ];

    for now in [NOW_SECS, i64::MIN, i64::MAX] {
        let _ = verify(
            &secrets,
            timestamp.as_deref(),
            signature.as_deref(),
            body,
            now,
            DEFAULT_TOLERANCE_SECS,
        );
    }
});
