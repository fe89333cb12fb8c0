//! Inbound bonus events through the real server: signatures, ledger, state machine, restart.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

#[actix_rt::test]
async fn applied_event_answers_new_status_and_replay_is_not_applied() {
    let server = TestServer::start();
    let grant = create_grant(&server, "demo-casino").await;
    let body = bonus_event("bonus.credited", "evt-1", &grant, json!({}));

    let (status, first) =
        read(post_signed(&bonus_url(&server, "demo-casino"), &body, SECRET).await).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first,
        json!({"received": true, "applied": true, "new_status": "active"})
    );

    let (status, again) =
        read(post_signed(&bonus_url(&server, "demo-casino"), &body, SECRET).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        again,
        json!({"received": true, "applied": false, "replay": true, "new_status": "active"})
    );

    let g = get_grant(&server, &grant).await;
    assert_eq!(g["status"], "active");
    assert_eq!(g["platform_bonus_id"], "pb-1");
    assert_eq!(g["history"].as_array().unwrap().len(), 1);
    assert_eq!(g["history"][0]["event_id"], "evt-1");
    assert_eq!(g["history"][0]["source"], "webhook");
}

#[actix_rt::test]
async fn twenty_concurrent_deliveries_of_one_event_apply_it_once() {
    let server = TestServer::start();
    let grant = create_grant(&server, "demo-casino").await;
    let body = bonus_event(
        "bonus.wagered",
        "evt-race",
        &grant,
        json!({"total_wagered": 500}),
    );
    let url = bonus_url(&server, "demo-casino");

    let sends = (0..20).map(|_| {
        let (url, body) = (url.clone(), body.clone());
        async move { read(post_signed(&url, &body, SECRET).await).await }
    });
    let answers = futures_util::future::join_all(sends).await;
    let applied = answers
        .iter()
        .filter(|(s, b)| *s == 200 && b["applied"] == true)
        .count();
    let replays = answers
        .iter()
        .filter(|(s, b)| *s == 200 && b["replay"] == true)
        .count();
    assert_eq!(applied, 1, "{answers:?}");
    assert_eq!(replays, 19, "{answers:?}");

    let g = get_grant(&server, &grant).await;
    assert_eq!(g["history"].as_array().unwrap().len(), 1);
    assert_eq!(g["total_wagered"], 500);
}

#[actix_rt::test]
async fn every_signature_failure_is_401_forbidden() {
    let server = TestServer::start();
    let grant = create_grant(&server, "demo-casino").await;
    let url = bonus_url(&server, "demo-casino");
    let body = bonus_event("bonus.credited", "evt-sig", &grant, json!({}));
    let post = |headers: Vec<(&'static str, String)>| {
        let (url, body) = (url.clone(), body.clone());
        async move {
            let mut req = client()
                .post(&url)
                .header("content-type", "application/json")
                .body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            read(req.send().await.unwrap()).await
        }
    };
    let sig_at = |ts: i64| {
        ucrm_actors::signing::sign(&ucrm_actors::Secret::new(SECRET), ts, body.as_bytes())
    };
    // Each case is built at a moment early in a second, so the server's clock reads the same
    // second: otherwise "301 s late" could be judged 300 s late.
    let cases = [
        "bad signature",
        "wrong secret",
        "missing signature",
        "missing timestamp",
        "301 s early",
        "301 s late",
        "non-integer timestamp",
    ];
    for name in cases {
        let ts = second_start().await;
        let headers = match name {
            "bad signature" => vec![
                ("X-UCRM-Timestamp", ts.to_string()),
                ("X-UCRM-Signature", "ab".repeat(32)),
            ],
            "wrong secret" => vec![
                ("X-UCRM-Timestamp", ts.to_string()),
                (
                    "X-UCRM-Signature",
                    ucrm_actors::signing::sign(
                        &ucrm_actors::Secret::new("nope"),
                        ts,
                        body.as_bytes(),
                    ),
                ),
            ],
            "missing signature" => vec![("X-UCRM-Timestamp", ts.to_string())],
            "missing timestamp" => vec![("X-UCRM-Signature", sig_at(ts))],
            "301 s early" => vec![
                ("X-UCRM-Timestamp", (ts - 301).to_string()),
                ("X-UCRM-Signature", sig_at(ts - 301)),
            ],
            "301 s late" => vec![
                ("X-UCRM-Timestamp", (ts + 301).to_string()),
                ("X-UCRM-Signature", sig_at(ts + 301)),
            ],
            _ => vec![
                ("X-UCRM-Timestamp", format!("{ts}.5")),
                ("X-UCRM-Signature", sig_at(ts)),
            ],
        };
        let (status, body) = post(headers).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["error"]["code"], "FORBIDDEN", "{name}");
    }
    assert_eq!(get_grant(&server, &grant).await["status"], "pending");

    let ts = now();
    let (status, _) = post(vec![
        ("X-UCRM-Timestamp", ts.to_string()),
        ("X-UCRM-Signature", format!("v1={}", sig_at(ts))),
    ])
    .await;
    assert_eq!(status, 200, "v1= prefix is accepted");
}

#[actix_rt::test]
async fn unknown_adapter_grant_or_another_adapters_grant_is_404() {
    let server = TestServer::start();
    let grant = create_grant(&server, "demo-casino").await;
    let body = bonus_event("bonus.credited", "evt-404", &grant, json!({}));

    let (status, b) =
        read(post_signed(&bonus_url(&server, "no-such-casino"), &body, SECRET).await).await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );

    let unknown = bonus_event("bonus.credited", "evt-404b", "no-such-grant", json!({}));
    let (status, b) =
        read(post_signed(&bonus_url(&server, "demo-casino"), &unknown, SECRET).await).await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );

    let (status, b) =
        read(post_signed(&bonus_url(&server, "other-casino"), &body, OTHER_SECRET).await).await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );

    // A 4xx is not recorded: the same event id is accepted once it is sent right.
    let (status, b) =
        read(post_signed(&bonus_url(&server, "demo-casino"), &body, SECRET).await).await;
    assert_eq!((status, b["applied"].as_bool()), (200, Some(true)));
}

#[actix_rt::test]
async fn malformed_payloads_are_422_naming_the_field() {
    let server = TestServer::start();
    let grant = create_grant(&server, "demo-casino").await;
    let url = bonus_url(&server, "demo-casino");
    let good: serde_json::Value = serde_json::from_str(&bonus_event(
        "bonus.wagered",
        "evt-422",
        &grant,
        json!({"total_wagered": 5}),
    ))
    .unwrap();
    let without = |field: &str| {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(field);
        v.to_string()
    };
    let with = |field: &str, value: serde_json::Value| {
        let mut v = good.clone();
        v[field] = value;
        v.to_string()
    };
    let cases = vec![
        ("{not json".to_owned(), "body"),
        ("[1,2]".to_owned(), "body"),
        (without("event_id"), "event_id"),
        (without("grant_id"), "grant_id"),
        (without("ts"), "ts"),
        (with("event", json!("bonus.exploded")), "event"),
        (with("event_id", json!(42)), "event_id"),
        (with("ts", json!("yesterday")), "ts"),
        (
            with("data", json!({"total_wagered": "lots"})),
            "data.total_wagered",
        ),
    ];
    for (body, field) in cases {
        let (status, b) = read(post_signed(&url, &body, SECRET).await).await;
        assert_eq!(status, 422, "{body}: {b}");
        assert_eq!(b["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(b["error"]["details"]["field"], field, "{body}");
    }
    assert_eq!(get_grant(&server, &grant).await["status"], "pending");
}

#[actix_rt::test]
async fn oversized_and_wrongly_typed_bodies_get_413_and_415() {
    let server = TestServer::start();
    let url = bonus_url(&server, "demo-casino");
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(5000));
    let (status, b) = read(post_signed(&url, &big, SECRET).await).await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );

    let (status, b) = read(
        client()
            .post(&url)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (415, Some("UNSUPPORTED_MEDIA_TYPE"))
    );
}

#[actix_rt::test]
async fn terminal_grants_never_change() {
    let server = TestServer::start();
    let grant = create_grant(&server, "demo-casino").await;
    let url = bonus_url(&server, "demo-casino");
    let done = bonus_event(
        "bonus.completed",
        "evt-done",
        &grant,
        json!({"total_wagered": 900, "completed_at": "2026-05-08T12:00:00Z"}),
    );
    let (_, b) = read(post_signed(&url, &done, SECRET).await).await;
    assert_eq!(b["new_status"], "completed");

    for (i, event) in [
        "bonus.credited",
        "bonus.expired",
        "bonus.cancelled",
        "bonus.forfeited",
    ]
    .iter()
    .enumerate()
    {
        let body = bonus_event(event, &format!("evt-late-{i}"), &grant, json!({}));
        let (status, b) = read(post_signed(&url, &body, SECRET).await).await;
        assert_eq!(status, 200);
        assert_eq!(
            (b["applied"].as_bool(), b["new_status"].as_str()),
            (Some(false), Some("completed"))
        );
    }
    let body = bonus_event(
        "bonus.wagered",
        "evt-late-w",
        &grant,
        json!({"total_wagered": 99999}),
    );
    let (_, b) = read(post_signed(&url, &body, SECRET).await).await;
    assert_eq!(b["applied"], false);

    let g = get_grant(&server, &grant).await;
    assert_eq!(
        (g["status"].as_str(), g["total_wagered"].as_i64()),
        (Some("completed"), Some(900))
    );
    assert_eq!(g["history"].as_array().unwrap().len(), 1);
}

#[actix_rt::test]
async fn restart_on_the_same_store_keeps_grants_history_and_ledger() {
    let server = TestServer::start();
    let grant = create_grant(&server, "demo-casino").await;
    let url = bonus_url(&server, "demo-casino");
    let credited = bonus_event("bonus.credited", "evt-r1", &grant, json!({}));
    let wagered = bonus_event(
        "bonus.wagered",
        "evt-r2",
        &grant,
        json!({"total_wagered": 300}),
    );
    read(post_signed(&url, &credited, SECRET).await).await;
    read(post_signed(&url, &wagered, SECRET).await).await;

    let server = server.restart();
    let url = bonus_url(&server, "demo-casino");
    let g = get_grant(&server, &grant).await;
    assert_eq!(
        (g["status"].as_str(), g["total_wagered"].as_i64()),
        (Some("active"), Some(300))
    );
    assert_eq!(g["history"].as_array().unwrap().len(), 2);
    let (status, b) = read(post_signed(&url, &wagered, SECRET).await).await;
    assert_eq!((status, b["replay"].as_bool()), (200, Some(true)));
}

#[actix_rt::test]
async fn admin_api_needs_the_bearer_token() {
    let server = TestServer::start();
    for token in [None, Some("wrong-token")] {
        let mut req = client().get(server.at("/v1/bonus-grants"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, b) = read(req.send().await.unwrap()).await;
        assert_eq!(
            (status, b["error"]["code"].as_str()),
            (401, Some("UNAUTHORIZED"))
        );
    }
    let (status, b) = admin(Method::GET, &server.at("/v1/bonus-grants?limit=501"), None).await;
    assert_eq!(
        (status, b["error"]["details"]["field"].as_str()),
        (422, Some("limit"))
    );
}

#[actix_rt::test]
async fn grants_list_filters_by_adapter_and_status_and_pages() {
    let server = TestServer::start();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create_grant(&server, "demo-casino").await);
    }
    let other = create_grant(&server, "other-casino").await;
    let body = bonus_event("bonus.credited", "evt-l1", &ids[0], json!({}));
    read(post_signed(&bonus_url(&server, "demo-casino"), &body, SECRET).await).await;

    let (_, page) = admin(
        Method::GET,
        &server.at("/v1/bonus-grants?adapter=demo-casino&limit=2"),
        None,
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["meta"]["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = admin(
        Method::GET,
        &server.at(&format!(
            "/v1/bonus-grants?adapter=demo-casino&cursor={cursor}"
        )),
        None,
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["meta"]["next_cursor"].is_null());

    let (_, active) = admin(
        Method::GET,
        &server.at("/v1/bonus-grants?status=active"),
        None,
    )
    .await;
    let active: Vec<_> = active["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].clone())
        .collect();
    assert_eq!(active, vec![json!(ids[0])]);
    let (_, others) = admin(
        Method::GET,
        &server.at("/v1/bonus-grants?adapter=other-casino"),
        None,
    )
    .await;
    assert_eq!(others["data"][0]["id"], json!(other));
}

/// Now in unix seconds, after waiting until the current second has at least 700 ms left.
async fn second_start() -> i64 {
    loop {
        let now = chrono::Utc::now();
        if now.timestamp_subsec_millis() < 300 {
            return now.timestamp();
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
