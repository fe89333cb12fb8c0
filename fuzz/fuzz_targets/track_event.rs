//! Fuzzes the `/v1/events` body parsers, single and batch: any bytes give events or a
//! `DomainError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = ucrm_actors::track::parse_batch(body);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Ok(event) = ucrm_actors::track::parse_track_event(&value, "") {
            let _ = event.message_effect();
        }
    }
});
