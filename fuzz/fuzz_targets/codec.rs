//! Fuzzes the stored-value decoder: any bytes decode to a record or a `StoreError`, never a
//! panic or an allocation the input does not pay for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ucrm_storage::codec::decode;
use ucrm_storage::{Grant, Player};

fuzz_target!(|bytes: &[u8]| {
    let _ = decode::<Grant>(b"g/fuzz", bytes);
    let _ = decode::<Player>(b"p/fuzz", bytes);
});
