//! Fuzzes the Twilio status callback path: the form decoder, then reading the callback from the
//! decoded pairs. Any bytes give a callback or a `DomainError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ucrm_actors::messaging::twilio::{parse_form, TwilioCallback};

fuzz_target!(|body: &[u8]| {
    if let Ok(params) = parse_form(body) {
        let _ = TwilioCallback::from_params(&params);
    }
});
