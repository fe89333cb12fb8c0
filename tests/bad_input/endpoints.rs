//! The generic cases of every endpoint `/openapi.json` lists (wrong methods, missing and garbage
//! credentials, garbage path segments), and requests that no route serves.

use crate::common::ADMIN;
use crate::inputs::garbage_segments;
use crate::raw::Raw;
use crate::webhooks::bonus_base;
use crate::{Matrix, MAX_BODY_BYTES};

/// The generic cases, for every endpoint the server lists.
pub fn endpoint_cases(m: &mut Matrix, endpoints: &[(String, String, String)]) {
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let mut templates_done = std::collections::HashSet::new();
    for (method, template, auth) in endpoints {
        let upper = method.to_ascii_uppercase();
        // A real adapter, so that credentials are what the request fails on; ids that name nothing.
        let concrete = template_with(template, "no-such-id")
            .replace("/adapters/no-such-id/", "/adapters/demo-casino/");
        let label = |what: &str| format!("{upper} {template}: {what}");

        // Wrong methods: whatever is not served on this path, once per path.
        let first_on_path = templates_done.insert(template.clone());
        for other in methods.into_iter().filter(|_| first_on_path) {
            let served = endpoints
                .iter()
                .any(|(m2, t2, _)| t2 == template && m2.eq_ignore_ascii_case(other));
            if !served {
                m.reject(
                    format!("{other} {template}: wrong method"),
                    Raw::new(other, &concrete).admin().json("{}"),
                );
            }
        }

        // Missing and garbage credentials: every protected endpoint refuses them.
        if auth != "none" {
            let raw = || Raw::new(&upper, &concrete).json("{}");
            m.reject(label("no credentials"), raw());
            for (what, value) in [
                ("wrong bearer token", b"Bearer wrong-token".to_vec()),
                (
                    "token with a suffix",
                    format!("Bearer {ADMIN}x").into_bytes(),
                ),
                ("token without a scheme", ADMIN.as_bytes().to_vec()),
                ("basic credentials", b"Basic dGVzdDp0ZXN0".to_vec()),
                ("empty bearer", b"Bearer ".to_vec()),
                (
                    "bearer of 8,000 bytes",
                    format!("Bearer {}", "t".repeat(8000)).into_bytes(),
                ),
                ("not UTF-8", b"Bearer \xff\xfe\xfd".to_vec()),
                (
                    "tab instead of space",
                    format!("Bearer\t{ADMIN}x").into_bytes(),
                ),
                (
                    "a list of tokens",
                    format!("Bearer wrong, Bearer {ADMIN}").into_bytes(),
                ),
                ("injected header", b"Bearer wrong\r\nX-Admin: true".to_vec()),
            ] {
                m.reject(label(what), raw().header("Authorization", value));
            }
            m.reject(
                label("wrong token first, right one second"),
                raw()
                    .header("Authorization", "Bearer wrong")
                    .header("Authorization", format!("Bearer {ADMIN}")),
            );
        }

        // Garbage in each path parameter, with valid admin credentials where they count.
        if template.contains('{') {
            for (what, segment) in garbage_segments() {
                let path = template_with(template, &segment);
                let raw = Raw::new(&upper, &path).admin();
                let raw = if auth == "signature" {
                    raw.signed_json(bonus_base().to_string())
                } else {
                    raw.json("{}")
                };
                m.reject(label(&format!("path {what}")), raw);
            }
        }
    }
}

/// `template` with every `{param}` replaced by `value`.
fn template_with(template: &str, value: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                value
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Requests that no route serves, and HTTP that is barely HTTP.
pub fn route_and_framing_cases(m: &mut Matrix) {
    for path in [
        "/",
        "/v1",
        "/v1/",
        "/v1/players/",
        "/v1/players/x/y/z",
        "/v1/bonus-grants/x/cancel/again",
        "/healthz/extra",
        "/%ff%fe",
        "/v1/%2e%2e/%2e%2e/etc/passwd",
        "/../../etc/passwd",
        "//v1//players",
        "/v1/players?%",
    ] {
        m.reject(
            format!("GET {path}: no route"),
            Raw::new("GET", path).admin(),
        );
    }
    m.reject(
        "GET an 8,000-byte path",
        Raw::new("GET", &format!("/v1/players/{}", "p".repeat(8000))).admin(),
    );
    m.reject(
        "unknown method BREW",
        Raw::new("BREW", "/v1/players/x").admin(),
    );
    m.reject(
        "POST with an Expect: 100-continue and a body over the limit",
        Raw::new("POST", "/v1/players")
            .admin()
            .header("Expect", "100-continue")
            .json(vec![b' '; MAX_BODY_BYTES + 10]),
    );
}
