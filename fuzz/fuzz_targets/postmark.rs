//! Fuzzes the Postmark webhook parser: any bytes give an event or a `DomainError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = ucrm_actors::messaging::postmark::parse_postmark_event(body);
});
