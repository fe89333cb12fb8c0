//! Messaging feedback through the real server: Postmark, Twilio, and `/v1/events`.

mod common;

use base64::Engine;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{json, Value};

const PROVIDERS: &str = "[messaging.postmark]\nbasic_auth_user = \"postmark\"\n\
                         basic_auth_password = \"pm-secret\"\n\
                         [messaging.twilio]\nauth_token = \"tw-token\"\n";
const EXAMPLES: &str = include_str!("../../shared/data/postmark-webhook-examples.json");
const API_KEY: &str = "ucrm_pk_test_demo_0123456789";
/// `public_base_url` of the test config (the default): Twilio signs this, not the socket address.
const TWILIO_URL: &str = "http://127.0.0.1:8080/v1/messaging-webhooks/twilio";

/// Postmark's documented example of `record_type`, with its MessageID and addresses replaced.
fn postmark_example(record_type: &str, message_id: &str, email: &str) -> String {
    let all: Vec<Value> = serde_json::from_str(EXAMPLES).unwrap();
    let example = all
        .iter()
        .find(|e| e["record_type"] == record_type)
        .unwrap();
    let mut payload: Value = serde_json::from_str(example["raw_json"].as_str().unwrap()).unwrap();
    payload["MessageID"] = json!(message_id);
    for field in ["Recipient", "Email"] {
        if payload.get(field).is_some() {
            payload[field] = json!(email);
        }
    }
    payload.to_string()
}

async fn postmark(server: &TestServer, body: &str, password: &str) -> (u16, Value) {
    let resp = client()
        .post(server.at("/v1/messaging-webhooks/postmark"))
        .basic_auth("postmark", Some(password))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    read(resp).await
}

/// Signs as Twilio's documentation describes: HMAC-SHA1 over the URL followed by each
/// parameter name and value in name order, base64.
fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"tw-token").unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn twilio(server: &TestServer, params: &[(&str, &str)], signature: &str) -> (u16, Value) {
    let body = serde_urlencoded::to_string(params).unwrap();
    let resp = client()
        .post(server.at("/v1/messaging-webhooks/twilio"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    read(resp).await
}

fn sms_status(sid: &str, status: &str, error: Option<&str>) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("MessageSid", sid.to_owned()),
        ("MessageStatus", status.to_owned()),
        ("To", "+15550001111".to_owned()),
        ("From", "+15559990000".to_owned()),
        (
            "AccountSid",
            "AC00000000000000000000000000000000".to_owned(),
        ),
    ];
    if let Some(code) = error {
        p.push(("ErrorCode", code.to_owned()));
    }
    p
}

async fn send_sms_status(
    server: &TestServer,
    sid: &str,
    status: &str,
    error: Option<&str>,
) -> (u16, Value) {
    let owned = sms_status(sid, status, error);
    let params: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    twilio(server, &params, &twilio_signature(TWILIO_URL, &params)).await
}

async fn register(
    server: &TestServer,
    player: &str,
    channel: &str,
    provider: &str,
    pmid: &str,
) -> Value {
    let (status, b) = admin(Method::POST, &server.at("/v1/messages"), Some(json!({
        "channel": channel, "provider": provider, "provider_message_id": pmid, "player_id": player,
        "journey_id": "welcome", "status": "sent",
    })))
    .await;
    assert_eq!(status, 201, "{b}");
    b["data"].clone()
}

async fn message(server: &TestServer, id: &str) -> Value {
    admin(Method::GET, &server.at(&format!("/v1/messages/{id}")), None)
        .await
        .1["data"]
        .clone()
}

async fn player(server: &TestServer, id: &str) -> Value {
    admin(Method::GET, &server.at(&format!("/v1/players/{id}")), None)
        .await
        .1["data"]
        .clone()
}

async fn player_with(server: &TestServer, external: &str, email: &str, phone: &str) -> String {
    let (_, b) = admin(
        Method::POST,
        &server.at("/v1/players"),
        Some(json!({
            "tenant_id": "demo", "external_id": external, "email": email, "phone": phone,
        })),
    )
    .await;
    b["data"]["id"].as_str().unwrap().to_owned()
}

#[actix_rt::test]
async fn postmark_records_move_the_message_forward_and_suppress_email() {
    let server = TestServer::start_with(PROVIDERS);
    let p = player_with(&server, "pm-1", "ann@example.com", "+15550001111").await;
    let m = register(&server, &p, "email", "postmark", "pm-msg-1").await;
    let id = m["id"].as_str().unwrap();

    let (status, b) = postmark(
        &server,
        &postmark_example("Delivery", "pm-msg-1", "ann@example.com"),
        "bad",
    )
    .await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );

    for (record, expected) in [
        ("Delivery", "delivered"),
        ("Open", "opened"),
        ("Click", "clicked"),
    ] {
        let (status, b) = postmark(
            &server,
            &postmark_example(record, "pm-msg-1", "ann@example.com"),
            "pm-secret",
        )
        .await;
        assert_eq!(status, 200, "{record}: {b}");
        assert_eq!(b["status"], expected, "{record}");
    }
    // A late Delivery after Open and Click does not move the status back; a duplicate applies once.
    let late = postmark_example("Delivery", "pm-msg-1", "ann@example.com");
    let (_, b) = postmark(&server, &late, "pm-secret").await;
    assert_eq!(
        (b["duplicate"].as_bool(), b["status"].as_str()),
        (Some(true), None)
    );
    let mut later = serde_json::from_str::<Value>(&late).unwrap();
    later["DeliveredAt"] = json!("2019-11-05T17:00:00Z");
    let (_, b) = postmark(&server, &later.to_string(), "pm-secret").await;
    assert_eq!(
        (b["applied"].as_bool(), b["status"].as_str()),
        (Some(false), Some("clicked"))
    );
    let msg = message(&server, id).await;
    assert_eq!(msg["status"], "clicked");
    assert_eq!(
        msg["history"].as_array().unwrap().len(),
        4,
        "every distinct report is kept"
    );

    // A hard bounce suppresses email; a SubscriptionChange lifting it reactivates.
    let (_, b) = postmark(
        &server,
        &postmark_example("Bounce", "pm-msg-1", "ann@example.com"),
        "pm-secret",
    )
    .await;
    assert_eq!(b["status"], "clicked", "a bounce never replaces a click");
    let pl = player(&server, &p).await;
    assert_eq!(pl["suppressions"]["email"]["suppressed"], true, "{pl}");
    assert_eq!(pl["suppressions"]["sms"]["suppressed"], false);

    let mut lift: Value = serde_json::from_str(&postmark_example(
        "SubscriptionChange",
        "pm-msg-1",
        "ann@example.com",
    ))
    .unwrap();
    lift["SuppressSending"] = json!(false);
    lift["MessageID"] = Value::Null;
    lift["SuppressionReason"] = Value::Null;
    let (status, b) = postmark(&server, &lift.to_string(), "pm-secret").await;
    assert_eq!(status, 200, "{b}");
    let pl = player(&server, &p).await;
    assert_eq!(pl["suppressions"]["email"]["suppressed"], false, "{b} {pl}");

    let (_, b) = postmark(
        &server,
        &postmark_example("SpamComplaint", "pm-msg-1", "ann@example.com"),
        "pm-secret",
    )
    .await;
    assert_eq!(b["received"], true);
    assert_eq!(
        player(&server, &p).await["suppressions"]["email"]["suppressed"],
        true
    );

    let (status, b) = postmark(&server, r#"{"hello":"world"}"#, "pm-secret").await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (422, Some("VALIDATION_ERROR"))
    );
}

#[actix_rt::test]
async fn postmark_test_posts_get_200_and_wait_for_their_message() {
    let server = TestServer::start_with(PROVIDERS);
    let (status, b) = postmark(
        &server,
        &postmark_example("Open", "not-yet-registered", "bo@example.com"),
        "pm-secret",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(b["waiting_for_message"], true);

    let p = player_with(&server, "pm-2", "bo@example.com", "+15550002222").await;
    let m = register(&server, &p, "email", "postmark", "not-yet-registered").await;
    assert_eq!(
        m["status"], "opened",
        "the waiting report is applied on registration: {m}"
    );
}

#[actix_rt::test]
async fn twilio_callbacks_are_verified_ordered_and_stop_suppresses_sms() {
    let server = TestServer::start_with(PROVIDERS);
    let p = player_with(&server, "tw-1", "cy@example.com", "+15550001111").await;
    let m = register(&server, &p, "sms", "twilio", "SM0001").await;
    let id = m["id"].as_str().unwrap();

    let (status, b) = send_sms_status(&server, "SM0001", "delivered", None).await;
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("delivered")),
        "{b}"
    );
    // Out of order: `sent` after `delivered` does not downgrade.
    let (_, b) = send_sms_status(&server, "SM0001", "sent", None).await;
    assert_eq!(
        (b["applied"].as_bool(), b["status"].as_str()),
        (Some(false), Some("delivered"))
    );

    // One changed parameter breaks the signature.
    let owned = sms_status("SM0001", "read", None);
    let params: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let signature = twilio_signature(TWILIO_URL, &params);
    let mut tampered = params.clone();
    tampered[1] = ("MessageStatus", "failed");
    let (status, b) = twilio(&server, &tampered, &signature).await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (401, Some("FORBIDDEN"))
    );
    // Signed with the default port in the URL, as some Twilio setups do: accepted too.
    let with_port = twilio_signature(
        "http://127.0.0.1:8080/v1/messaging-webhooks/twilio",
        &params,
    );
    let (status, b) = twilio(&server, &params, &with_port).await;
    assert_eq!((status, b["status"].as_str()), (200, Some("opened")), "{b}");

    // A STOP reply (21610) suppresses SMS for the player.
    let (status, _) = send_sms_status(&server, "SM0001", "undelivered", Some("21610")).await;
    assert_eq!(status, 200);
    let pl = player(&server, &p).await;
    assert_eq!(pl["suppressions"]["sms"]["suppressed"], true, "{pl}");
    assert_eq!(message(&server, id).await["status"], "opened");
}

#[actix_rt::test]
async fn a_twilio_callback_before_registration_is_applied_on_registration() {
    let server = TestServer::start_with(PROVIDERS);
    let (status, b) = send_sms_status(&server, "SM0002", "delivered", None).await;
    assert_eq!(
        (status, b["waiting_for_message"].as_bool()),
        (200, Some(true))
    );
    let p = player_with(&server, "tw-2", "di@example.com", "+15550003333").await;
    let m = register(&server, &p, "sms", "twilio", "SM0002").await;
    assert_eq!(m["status"], "delivered");
    assert_eq!(m["history"][0]["source"], "twilio");
}

async fn track(
    server: &TestServer,
    path: &str,
    body: Value,
    key: Option<&str>,
    token: &str,
) -> reqwest::Response {
    let mut req = client()
        .post(server.at(path))
        .bearer_auth(token)
        .json(&body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().await.unwrap()
}

#[actix_rt::test]
async fn events_upsert_players_update_push_messages_and_honour_idempotency_keys() {
    let server = TestServer::start_with(PROVIDERS);
    let signup = json!({"event": "signup", "external_id": "ev-1",
                        "timestamp": "2026-05-08T12:00:00Z",
                        "properties": {"email": "ev@example.com"}});
    let (status, b) =
        read(track(&server, "/v1/events", signup.clone(), Some("k-1"), API_KEY).await).await;
    assert_eq!(status, 202, "{b}");
    let first = b["data"]["ingestion_id"].clone();
    assert!(b["data"]["received_at"].is_string());
    let (_, again) = read(track(&server, "/v1/events", signup, Some("k-1"), API_KEY).await).await;
    assert_eq!(
        again["data"]["ingestion_id"], first,
        "the retry gets the first answer"
    );

    let (status, created) = admin(
        Method::POST,
        &server.at("/v1/players"),
        Some(json!({"tenant_id": "demo", "external_id": "ev-1"})),
    )
    .await;
    assert_eq!(status, 200, "the signup created the player: {created}");
    let p = created["data"]["id"].as_str().unwrap().to_owned();

    let m = register(&server, &p, "push", "fcm", "fcm-1").await;
    let mid = m["id"].as_str().unwrap();
    let opened = json!({"event": "push_opened", "external_id": "ev-1",
                        "timestamp": "2026-05-08T12:01:00Z",
                        "properties": {"message_id": mid}});
    assert_eq!(
        track(&server, "/v1/events", opened, None, API_KEY)
            .await
            .status(),
        202
    );
    assert_eq!(message(&server, mid).await["status"], "opened");

    let batch = json!({"events": [
        {"event": "push_clicked", "external_id": "ev-1", "timestamp": "2026-05-08T12:02:00Z",
         "properties": {"message_id": mid}},
        {"event": "custom_level_up", "external_id": "ev-1", "timestamp": "2026-05-08T12:03:00Z",
         "properties": {"level": 7}},
    ]});
    let (status, b) = read(track(&server, "/v1/events/batch", batch, None, API_KEY).await).await;
    assert_eq!(status, 202, "{b}");
    assert_eq!(b["data"].as_array().unwrap().len(), 2);
    assert_eq!(message(&server, mid).await["status"], "clicked");

    let unknown =
        json!({"event": "level_up", "external_id": "ev-1", "timestamp": "2026-05-08T12:00:00Z"});
    let (status, b) = read(track(&server, "/v1/events", unknown, None, API_KEY).await).await;
    assert_eq!(
        (status, b["error"]["details"]["field"].as_str()),
        (422, Some("event"))
    );
    let any = json!({"event": "login", "external_id": "ev-1", "timestamp": "2026-05-08T12:00:00Z"});
    let (status, b) =
        read(track(&server, "/v1/events", any, None, "ucrm_pk_wrong_key_000000").await).await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
}
