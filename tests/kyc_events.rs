//! Inbound KYC events through the real server: tenant models, the state machine, ordering.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn kyc_url(server: &TestServer, adapter: &str) -> String {
    server.at(&format!("/v1/adapters/{adapter}/webhooks/kyc-events"))
}

fn kyc_event(event: &str, id: &str, player: &str, level: u32, ts: &str, data: Value) -> String {
    json!({"event": event, "event_id": id, "ts": ts, "player_external_id": player,
           "level": level, "data": data})
    .to_string()
}

async fn player(server: &TestServer, id: &str) -> Value {
    let (status, body) = admin(Method::GET, &server.at(&format!("/v1/players/{id}")), None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

#[actix_rt::test]
async fn tenants_that_own_kyc_refuse_platform_events_with_403() {
    let server = TestServer::start();
    for (tenant, adapter, expected) in [
        ("demo", "demo-casino", 200),
        ("dual", "dual-casino", 200),
        ("crm", "crm-casino", 403),
        ("nokyc", "nokyc-casino", 403),
    ] {
        create_player(&server, tenant, "kyc-player").await;
        let body = kyc_event(
            "kyc.submitted",
            &format!("k-{tenant}"),
            "kyc-player",
            1,
            "2026-05-08T12:00:00Z",
            json!({}),
        );
        let (status, b) = read(post_signed(&kyc_url(&server, adapter), &body, SECRET).await).await;
        assert_eq!(status, expected, "{tenant}: {b}");
        if expected == 403 {
            assert_eq!(b["error"]["code"], "FORBIDDEN");
        } else {
            assert_eq!(
                (b["applied"].as_bool(), b["new_status"].as_str()),
                (Some(true), Some("pending"))
            );
        }
    }
}

#[actix_rt::test]
async fn unknown_player_is_404_player_not_found() {
    let server = TestServer::start();
    let body = kyc_event(
        "kyc.submitted",
        "k-404",
        "nobody",
        1,
        "2026-05-08T12:00:00Z",
        json!({}),
    );
    let (status, b) =
        read(post_signed(&kyc_url(&server, "demo-casino"), &body, SECRET).await).await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (404, Some("PLAYER_NOT_FOUND"))
    );
}

#[actix_rt::test]
async fn full_path_stale_replay_expiry_and_restart() {
    let server = TestServer::start();
    let id = create_player(&server, "demo", "p-path").await;
    let url = kyc_url(&server, "demo-casino");
    let steps = [
        (
            "kyc.submitted",
            2,
            "2026-05-08T12:00:00Z",
            json!({}),
            "pending",
        ),
        (
            "kyc.approved",
            2,
            "2026-05-08T12:01:00Z",
            json!({"expires_at": "2027-05-08T00:00:00Z"}),
            "verified",
        ),
        (
            "kyc.level_upgraded",
            3,
            "2026-05-08T12:02:00Z",
            json!({}),
            "pending",
        ),
        (
            "kyc.rejected",
            3,
            "2026-05-08T12:03:00Z",
            json!({"reason": "document unreadable"}),
            "rejected",
        ),
    ];
    for (i, (event, level, ts, data, status)) in steps.iter().enumerate() {
        let body = kyc_event(
            event,
            &format!("path-{i}"),
            "p-path",
            *level,
            ts,
            data.clone(),
        );
        let (code, b) = read(post_signed(&url, &body, SECRET).await).await;
        assert_eq!(code, 200, "{event}: {b}");
        assert_eq!(
            (b["applied"].as_bool(), b["new_status"].as_str()),
            (Some(true), Some(*status)),
            "{event}"
        );
    }
    let p = player(&server, &id).await;
    assert_eq!(p["kyc"]["status"], "rejected");
    assert_eq!(p["kyc"]["level"], 2);
    assert_eq!(p["kyc"]["expires_at"], "2027-05-08T00:00:00Z");
    assert_eq!(p["kyc"]["reason"], "document unreadable");
    let ids: Vec<_> = p["kyc"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event_id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![
            json!("path-0"),
            json!("path-1"),
            json!("path-2"),
            json!("path-3")
        ]
    );

    // Older than the last applied event: stale, not applied.
    let stale = kyc_event(
        "kyc.approved",
        "path-stale",
        "p-path",
        3,
        "2026-05-08T11:00:00Z",
        json!({}),
    );
    let (_, b) = read(post_signed(&url, &stale, SECRET).await).await;
    assert_eq!(
        (b["applied"].as_bool(), b["new_status"].as_str()),
        (Some(false), Some("rejected"))
    );
    // The same event again: a replay.
    let again = kyc_event(
        "kyc.rejected",
        "path-3",
        "p-path",
        3,
        "2026-05-08T12:03:00Z",
        json!({}),
    );
    let (_, b) = read(post_signed(&url, &again, SECRET).await).await;
    assert_eq!(b["replay"], true);

    let expired = kyc_event(
        "kyc.expired",
        "path-exp",
        "p-path",
        2,
        "2026-05-08T12:04:00Z",
        json!({}),
    );
    let (_, b) = read(post_signed(&url, &expired, SECRET).await).await;
    assert_eq!(b["new_status"], "expired");

    let server = server.restart();
    let p = player(&server, &id).await;
    assert_eq!(
        (p["kyc"]["status"].as_str(), p["kyc"]["level"].as_u64()),
        (Some("expired"), Some(0))
    );
    assert_eq!(p["kyc"]["history"].as_array().unwrap().len(), 5);
    let (_, b) = read(post_signed(&kyc_url(&server, "demo-casino"), &expired, SECRET).await).await;
    assert_eq!(b["replay"], true);
}

#[actix_rt::test]
async fn concurrent_events_for_one_player_apply_in_a_consistent_order() {
    let server = TestServer::start();
    let id = create_player(&server, "demo", "p-race").await;
    let url = kyc_url(&server, "demo-casino");
    let sends = (1..=20u32).map(|level| {
        let url = url.clone();
        let ts = format!("2026-05-08T12:00:{level:02}Z");
        let body = kyc_event(
            "kyc.submitted",
            &format!("race-{level}"),
            "p-race",
            level,
            &ts,
            json!({}),
        );
        async move { read(post_signed(&url, &body, SECRET).await).await }
    });
    let answers = futures_util::future::join_all(sends).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");

    let p = player(&server, &id).await;
    let levels: Vec<u64> = p["kyc"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["level"].as_u64().unwrap())
        .collect();
    let applied = answers.iter().filter(|(_, b)| b["applied"] == true).count();
    assert_eq!(levels.len(), applied);
    assert!(
        levels.windows(2).all(|w| w[0] < w[1]),
        "applied out of order: {levels:?}"
    );
    assert_eq!(p["kyc"]["pending_level"].as_u64(), levels.last().copied());
    assert_eq!(levels.last(), Some(&20), "the newest event always applies");
}

#[actix_rt::test]
async fn malformed_kyc_events_are_422_naming_the_field() {
    let server = TestServer::start();
    create_player(&server, "demo", "p-bad").await;
    let url = kyc_url(&server, "demo-casino");
    for (body, field) in [
        (
            kyc_event(
                "kyc.maybe",
                "b1",
                "p-bad",
                1,
                "2026-05-08T12:00:00Z",
                json!({}),
            ),
            "event",
        ),
        (
            json!({"event": "kyc.approved", "event_id": "b2", "ts": "2026-05-08T12:00:00Z",
                   "player_external_id": "p-bad"})
            .to_string(),
            "level",
        ),
        (
            kyc_event(
                "kyc.approved",
                "b3",
                "p-bad",
                1,
                "2026-05-08T12:00:00Z",
                json!({"expires_at": 5}),
            ),
            "data.expires_at",
        ),
    ] {
        let (status, b) = read(post_signed(&url, &body, SECRET).await).await;
        assert_eq!(
            (status, b["error"]["details"]["field"].as_str()),
            (422, Some(field)),
            "{b}"
        );
    }
}
