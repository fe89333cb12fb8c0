//! Fuzzes the Mustache template compiler and renderer: any text compiles to a template or a
//! `DomainError`, and a compiled template renders against an empty context without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ucrm_actors::outbound::template::Template;

fuzz_target!(|data: &[u8]| {
    // Templates arrive inside JSON request bodies, so they are always valid UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(template) = Template::compile(text) {
        let _ = template.render(&serde_json::json!({}));
    }
});
