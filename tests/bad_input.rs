//! The bad-input matrix: every kind of malformed request against every endpoint, through the real
//! server.
//!
//! Requests go over a plain TCP socket, byte for byte as written here, so that nothing (a client
//! library's URL normaliser or header checks) cleans them up on the way. Every answer to a bad
//! input must be a 4xx with the error envelope `{"error": {"code", "message", …}}` (a 405 may
//! have an empty body), never a 5xx and never a dropped connection. An event accepted before the
//! matrix must still be there, applied once, after it.
//!
//! The endpoints come from `/openapi.json`, which is generated from the same tables that register
//! the routes: an endpoint added later gets the generic cases (no or garbage credentials, wrong
//! method, garbage path segments) without a change here. Body cases are written per endpoint.

#[path = "bad_input/admin.rs"]
mod admin;
mod common;
#[path = "bad_input/endpoints.rs"]
mod endpoints;
#[path = "bad_input/inputs.rs"]
mod inputs;
#[path = "bad_input/raw.rs"]
mod raw;
#[path = "bad_input/webhooks.rs"]
mod webhooks;

use std::collections::BTreeMap;

use common::*;
use raw::{exchange, show, Answer, Raw};
use serde_json::{json, Value};

/// The body limit of the matrix's server: large enough that deeply nested JSON reaches the
/// parsers instead of being refused for its size.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a case's answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A 4xx with the error envelope (a 405 may be empty).
    Rejected,
    /// Odd but acceptable input (a cursor naming nothing, say): any answer but a 5xx, and a 4xx
    /// still carries the envelope.
    Tolerated,
}

/// One request of the matrix, as raw bytes.
struct Case {
    label: String,
    request: Vec<u8>,
    expect: Expect,
}

/// The matrix under construction.
#[derive(Default)]
struct Matrix {
    cases: Vec<Case>,
}

impl Matrix {
    fn reject(&mut self, label: impl Into<String>, raw: Raw) {
        self.push(label, raw.bytes(), Expect::Rejected);
    }

    fn tolerate(&mut self, label: impl Into<String>, raw: Raw) {
        self.push(label, raw.bytes(), Expect::Tolerated);
    }

    fn push(&mut self, label: impl Into<String>, request: Vec<u8>, expect: Expect) {
        self.cases.push(Case {
            label: label.into(),
            request,
            expect,
        });
    }
}

/// Why an answer breaks the rule of its case, if it does.
fn judge(expect: Expect, answer: &Answer) -> Option<String> {
    let status = answer.status;
    if status >= 500 {
        return Some(format!("answered {status}"));
    }
    if expect == Expect::Rejected && !(400..500).contains(&status) {
        return Some(format!("answered {status}, not a 4xx"));
    }
    if !(400..500).contains(&status) || (status == 405 && answer.body.is_empty()) {
        return None;
    }
    let envelope = serde_json::from_slice::<Value>(&answer.body).ok();
    let error = envelope.as_ref().and_then(|v| v.get("error"));
    let has_fields = error.is_some_and(|e| e["code"].is_string() && e["message"].is_string());
    if has_fields {
        None
    } else {
        Some(format!(
            "answered {status} without the error envelope: {:?}",
            String::from_utf8_lossy(&answer.body)
        ))
    }
}

/// Reads the endpoint list from `/openapi.json`: (method, path template, auth kind).
fn served_endpoints(addr: &str) -> Vec<(String, String, String)> {
    let answer = exchange(addr, &Raw::new("GET", "/openapi.json").bytes()).unwrap();
    assert_eq!(answer.status, 200);
    let doc: Value = serde_json::from_slice(&answer.body).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let security = op["security"].to_string();
            let auth = if security.contains("adminToken") {
                "admin"
            } else if security.contains("ucrmSignature") {
                "signature"
            } else if security == "[]" {
                "none"
            } else {
                "other"
            };
            out.push((method.clone(), path.clone(), auth.to_owned()));
        }
    }
    out
}

#[actix_rt::test]
async fn every_bad_input_to_every_endpoint_is_a_4xx_with_the_error_envelope() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let config = config_text(&dir, "").replace(
        "max_body_bytes = 4096",
        &format!("max_body_bytes = {MAX_BODY_BYTES}"),
    );
    assert!(config.contains(&MAX_BODY_BYTES.to_string()));
    let server = TestServer::start_config(config, dir);
    let addr = server.url.trim_start_matches("http://").to_owned();

    // An event accepted before the matrix, to look for afterwards.
    let grant = create_grant(&server, "demo-casino").await;
    let kept = bonus_event("bonus.credited", "evt-kept", &grant, json!({}));
    let (status, body) =
        read(post_signed(&bonus_url(&server, "demo-casino"), &kept, SECRET).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"], true);

    let endpoints = served_endpoints(&addr);
    for (method, path) in [
        ("post", "/v1/adapters/{slug}/webhooks/bonus-events"),
        ("post", "/v1/adapters/{slug}/webhooks/kyc-events"),
        ("post", "/v1/players"),
        ("get", "/v1/players/{id}"),
        ("post", "/v1/bonus-grants"),
        ("get", "/v1/bonus-grants/{id}"),
        ("post", "/v1/admin/reconcile"),
        ("post", "/v1/webhook-calls"),
        ("get", "/healthz"),
    ] {
        assert!(
            endpoints.iter().any(|(m, p, _)| m == method && p == path),
            "/openapi.json does not list {method} {path}: {endpoints:?}"
        );
    }

    let mut m = Matrix::default();
    webhooks::webhook_cases(&mut m);
    admin::admin_body_cases(&mut m);
    admin::query_cases(&mut m);
    endpoints::endpoint_cases(&mut m, &endpoints);
    endpoints::route_and_framing_cases(&mut m);

    let mut failures = Vec::new();
    let mut statuses = BTreeMap::<u16, usize>::new();
    for case in &m.cases {
        let verdict = match exchange(&addr, &case.request) {
            Ok(answer) => {
                *statuses.entry(answer.status).or_default() += 1;
                judge(case.expect, &answer)
            }
            Err(e) => Some(e),
        };
        if let Some(why) = verdict {
            failures.push(format!(
                "{}: {why}\n    request: {}",
                case.label,
                show(&case.request)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs were mishandled:\n{}",
        failures.len(),
        m.cases.len(),
        failures.join("\n")
    );
    println!(
        "bad-input matrix: {} requests over {} endpoints, answers by status {statuses:?}",
        m.cases.len(),
        endpoints.len()
    );

    // The server still serves, and the event accepted before the matrix is there, applied once.
    let health = exchange(&addr, &Raw::new("GET", "/healthz").bytes()).unwrap();
    assert_eq!(health.status, 200);
    let g = get_grant(&server, &grant).await;
    assert_eq!(g["status"], "active", "{g}");
    let history = g["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{g}");
    assert_eq!(history[0]["event_id"], "evt-kept");
    let (status, again) =
        read(post_signed(&bonus_url(&server, "demo-casino"), &kept, SECRET).await).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["replay"], true, "{again}");
}
