//! The OpenAPI document lists every route, and every route it lists is served.

mod common;

use common::*;

/// Every endpoint of SPEC §3–§8 that this build serves.
const EXPECTED: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/v1/adapters/{slug}/webhooks/bonus-events"),
    ("post", "/v1/adapters/{slug}/webhooks/kyc-events"),
    ("post", "/v1/players"),
    ("get", "/v1/players/{id}"),
    ("post", "/v1/bonus-grants"),
    ("get", "/v1/bonus-grants"),
    ("get", "/v1/bonus-grants/{id}"),
    ("post", "/v1/bonus-grants/{id}/cancel"),
    ("post", "/v1/admin/reconcile"),
    ("get", "/v1/admin/reconcile/last"),
    ("post", "/v1/webhook-calls"),
    ("get", "/v1/webhook-calls"),
    ("get", "/v1/webhook-calls/{id}"),
    ("post", "/v1/webhook-calls/{id}/retry"),
    ("post", "/v1/messages"),
    ("get", "/v1/messages/{id}"),
    ("post", "/v1/messaging-webhooks/postmark"),
    ("post", "/v1/messaging-webhooks/twilio"),
    ("post", "/v1/events"),
    ("post", "/v1/events/batch"),
];

#[actix_rt::test]
async fn every_route_is_in_the_document_and_every_documented_route_is_served() {
    let server = TestServer::start();
    let (status, doc) = read(
        client()
            .get(server.at("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in EXPECTED {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing"
        );
    }

    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{slug}", "demo-casino").replace("{id}", "x");
            let req = match method.as_str() {
                "get" => client().get(server.at(&concrete)),
                "post" => client().post(server.at(&concrete)),
                other => panic!("unexpected method {other}"),
            };
            let (_, body) = read(req.send().await.unwrap()).await;
            assert_ne!(
                body["error"]["message"], "route not found",
                "{method} {path} is documented but not served"
            );
        }
    }
}
