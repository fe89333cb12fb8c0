//! Cases for the admin API: JSON bodies of the endpoints that create things, and queries.

use serde_json::json;

use crate::inputs::{malformed_bodies, mutations, shape_changes};
use crate::raw::Raw;
use crate::webhooks::size_cases;
use crate::Matrix;

/// Cases for the admin endpoints that take a JSON body.
pub fn admin_body_cases(m: &mut Matrix) {
    let bases = [
        // An unknown tenant: no variation of it can create a player.
        (
            "/v1/players",
            json!({"tenant_id": "no-such-tenant", "external_id": "matrix-player"}),
        ),
        // A player that does not exist: no variation of it can register a grant.
        (
            "/v1/bonus-grants",
            json!({"adapter_slug": "demo-casino", "player_id": "no-such-player",
                   "amount_subunit": 1000, "currency": "EUR"}),
        ),
        // Not a URL and an unclosed section: fixing either still leaves the other, so no
        // variation of it is ever queued or sent.
        (
            "/v1/webhook-calls",
            json!({"journey_id": "j-1", "run_id": "r-1", "node_id": "n-1",
                   "url": "not a url", "body_template": "{{#open}}"}),
        ),
    ];
    for (path, base) in bases {
        let post = || Raw::new("POST", path).admin();
        for (what, body) in malformed_bodies() {
            m.reject(format!("POST {path}: {what}"), post().json(body));
        }
        for (what, body) in mutations(&base).into_iter().chain(shape_changes(&base)) {
            m.reject(format!("POST {path}: {what}"), post().json(body));
        }
        for (what, ct) in [
            ("no content type", None),
            ("text/plain", Some(&b"text/plain"[..])),
            ("content type not UTF-8", Some(b"application/json\xff")),
        ] {
            let raw = post().body(base.to_string());
            let raw = match ct {
                Some(ct) => raw.header("Content-Type", ct),
                None => raw,
            };
            m.reject(format!("POST {path}: {what}"), raw);
        }
        size_cases(m, &format!("POST {path}"), path, post().json(""));
    }

    let grant = |amount: &str, currency: &str| {
        format!(
            "{{\"adapter_slug\":\"demo-casino\",\"player_id\":\"no-such-player\",\
             \"amount_subunit\":{amount},\"currency\":\"{currency}\"}}"
        )
    };
    for (amount, currency) in [
        ("1e400", "EUR"),
        ("-1e400", "EUR"),
        ("9223372036854775808", "EUR"),
        ("-9223372036854775809", "EUR"),
        ("0", "EUR"),
        ("-5", "EUR"),
        ("10.5", "EUR"),
        ("1000", "eur"),
        ("1000", "EURO"),
        ("1000", "\u{20ac}"),
    ] {
        m.reject(
            format!("POST /v1/bonus-grants: amount {amount} currency {currency}"),
            Raw::new("POST", "/v1/bonus-grants")
                .admin()
                .json(grant(amount, currency)),
        );
    }
    let unknown_adapter =
        r#"{"adapter_slug":"nope","player_id":"p","amount_subunit":1,"currency":"EUR"}"#;
    m.reject(
        "POST /v1/bonus-grants: unknown adapter",
        Raw::new("POST", "/v1/bonus-grants")
            .admin()
            .json(unknown_adapter),
    );
    m.reject(
        "POST /v1/players: external id of 300 bytes",
        Raw::new("POST", "/v1/players")
            .admin()
            .json(json!({"tenant_id": "demo", "external_id": "e".repeat(300)}).to_string()),
    );
    m.reject(
        "POST /v1/players: blank external id",
        Raw::new("POST", "/v1/players")
            .admin()
            .json(r#"{"tenant_id":"demo","external_id":"  "}"#),
    );

    let call = |extra: &str| {
        format!(
            r#"{{"journey_id":"j","run_id":"r","node_id":"n","url":"http://127.0.0.1:9/x","body_template":"{{{{x}}}}"{extra}}}"#
        )
    };
    for (what, body) in [
        ("loopback URL", call("")),
        ("method FOO", call(r#","method":"FOO""#)),
        ("timeout 0", call(r#","timeout_ms":0"#)),
        ("timeout 1e400", call(r#","timeout_ms":1e400"#)),
        ("sign without secret", call(r#","sign":true"#)),
        ("unknown secret", call(r#","sign":true,"secret":"nope""#)),
        ("context not an object", call(r#","context":[1]"#)),
        ("headers not an object", call(r#","headers":"x""#)),
    ] {
        m.reject(
            format!("POST /v1/webhook-calls: {what}"),
            Raw::new("POST", "/v1/webhook-calls").admin().json(body),
        );
    }
    for (what, template) in [
        ("unclosed section", "{{#a}}"),
        ("set delimiters", "{{=<% %>=}}"),
        ("unclosed tag", "{{name"),
        ("sections 1,000 deep", &"{{#a}}".repeat(1000)),
        ("closing without opening", "{{/a}}"),
    ] {
        let body = json!({"journey_id": "j", "run_id": "r", "node_id": "n",
            "url": "http://127.0.0.1:9/x", "body_template": template});
        m.reject(
            format!("POST /v1/webhook-calls: template {what}"),
            Raw::new("POST", "/v1/webhook-calls")
                .admin()
                .json(body.to_string()),
        );
    }
}

/// Garbage query strings on the listings and the reconciler.
pub fn query_cases(m: &mut Matrix) {
    for path in ["/v1/bonus-grants", "/v1/webhook-calls"] {
        for query in [
            "limit=0",
            "limit=-1",
            "limit=501",
            "limit=abc",
            "limit=99999999999999999999999999",
            "limit=1e3",
            "limit=%ff",
            "limit=1&limit=2",
            "status=nope",
            "status=%00",
            "status=",
        ] {
            m.reject(
                format!("GET {path}?{query}"),
                Raw::new("GET", &format!("{path}?{query}")).admin(),
            );
        }
        // A cursor or filter that names nothing is a valid question with an empty answer.
        for query in [
            "cursor=%ff%fe",
            &format!("cursor={}", "c".repeat(4000)),
            "cursor=%00",
            "adapter=%ff",
            "journey_id=%ff",
            "unknown=1",
            "&&&===&",
            "%",
        ] {
            m.tolerate(
                format!("GET {path}?{query:.40}"),
                Raw::new("GET", &format!("{path}?{query}")).admin(),
            );
        }
    }
    for query in [
        "adapter=nope",
        "adapter=%ff%fe",
        "adapter=%00",
        "adapter=&adapter=x",
    ] {
        m.tolerate(
            format!("POST /v1/admin/reconcile?{query}"),
            Raw::new("POST", &format!("/v1/admin/reconcile?{query}"))
                .admin()
                .json("not json"),
        );
    }
}
