//! Outbound `call_webhook` delivery to a real receiver on loopback.

mod common;

use std::time::Duration;

use common::receiver::Receiver;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use ucrm_actors::signing::verify;
use ucrm_actors::Secret;

/// Loopback allowed, fast retries: 4 attempts 100 ms apart, no jitter.
const FAST: &str = "[outbound]\nallow_private_networks = [\"127.0.0.0/8\"]\n\
                    retry_schedule_ms = [0, 100, 100, 100]\nretry_jitter = 0.0\ntick_ms = 20\n";

async fn queue(server: &TestServer, url: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({
        "journey_id": "journey-1", "run_id": "run-1", "node_id": "node-1", "url": url,
        "body_template": "{\"player\":\"{{name}}\",\"raw\":\"{{{name}}}\",\"level\":{{level}}}",
        "context": {"name": "<Ann & \"Bo\">", "level": 3},
        "secret": "demo-casino",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    admin(Method::POST, &server.at("/v1/webhook-calls"), Some(body)).await
}

async fn wait_for(server: &TestServer, id: &str, status: &str) -> Value {
    let mut call = Value::Null;
    for _ in 0..250 {
        call = admin(
            Method::GET,
            &server.at(&format!("/v1/webhook-calls/{id}")),
            None,
        )
        .await
        .1["data"]
            .clone();
        if call["status"] == status {
            return call;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("call {id} never became {status}: {call}");
}

#[actix_rt::test]
async fn retries_until_success_with_one_delivery_id_and_a_verifiable_signature() {
    let receiver = Receiver::start(&[(500, None), (500, None)]);
    let server = TestServer::start_with(FAST);
    let (status, queued) = queue(&server, &format!("{}/hook", receiver.url), json!({})).await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["data"]["status"], "pending");
    let id = queued["data"]["id"].as_str().unwrap();

    let call = wait_for(&server, id, "succeeded").await;
    assert_eq!(call["outcome"], "success");
    let attempts = call["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["status_code"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert_eq!(attempts[2]["response"], "answer 200");

    let seen = receiver.seen();
    assert_eq!(seen.len(), 3);
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s.header("x-ucrm-delivery-id"), Some(id));
        assert_eq!(
            s.header("x-ucrm-attempt"),
            Some((i + 1).to_string().as_str())
        );
        let ok = verify(
            &[Secret::new(SECRET)],
            s.header("x-ucrm-timestamp"),
            s.header("x-ucrm-signature"),
            s.body.as_bytes(),
            now(),
            300,
        );
        assert_eq!(ok, Ok(()), "attempt {} signature", i + 1);
        assert!(s
            .header("user-agent")
            .unwrap()
            .starts_with("ucrm-webhooks/"));
    }
    assert_eq!(
        seen[0].body,
        r#"{"player":"&lt;Ann &amp; &quot;Bo&quot;&gt;","raw":"<Ann & "Bo">","level":3}"#
    );
}

#[actix_rt::test]
async fn a_4xx_fails_at_once() {
    let receiver = Receiver::start(&[(400, None)]);
    let server = TestServer::start_with(FAST);
    let (_, queued) = queue(&server, &format!("{}/hook", receiver.url), json!({})).await;
    let call = wait_for(&server, queued["data"]["id"].as_str().unwrap(), "failed").await;
    assert_eq!(call["outcome"], "failure");
    assert_eq!(call["attempts"].as_array().unwrap().len(), 1);
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.seen().len(), 1);
}

#[actix_rt::test]
async fn a_429_retry_after_is_honoured() {
    let receiver = Receiver::start(&[(429, Some("1"))]);
    let server = TestServer::start_with(FAST);
    let (_, queued) = queue(&server, &format!("{}/hook", receiver.url), json!({})).await;
    wait_for(&server, queued["data"]["id"].as_str().unwrap(), "succeeded").await;
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at.duration_since(seen[0].at);
    assert!(
        gap >= Duration::from_millis(950),
        "waited only {gap:?} after Retry-After: 1"
    );
}

#[actix_rt::test]
async fn exhausted_calls_are_dead_and_an_operator_retry_sends_them_again() {
    let receiver = Receiver::start(&[(503, None), (502, None), (500, None), (504, None)]);
    let server = TestServer::start_with(FAST);
    let (_, queued) = queue(
        &server,
        &format!("{}/hook", receiver.url),
        json!({"timeout_ms": 2000}),
    )
    .await;
    let id = queued["data"]["id"].as_str().unwrap().to_owned();
    let dead = wait_for(&server, &id, "dead").await;
    assert_eq!(
        (
            dead["outcome"].as_str(),
            dead["attempts"].as_array().unwrap().len()
        ),
        (Some("failure"), 4)
    );

    let (_, list) = admin(
        Method::GET,
        &server.at("/v1/webhook-calls?status=dead&journey_id=journey-1"),
        None,
    )
    .await;
    assert_eq!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(id)]
    );
    let (status, b) = admin(
        Method::POST,
        &server.at(&format!("/v1/webhook-calls/{id}/retry")),
        None,
    )
    .await;
    assert_eq!(status, 202, "{b}");
    let done = wait_for(&server, &id, "succeeded").await;
    assert_eq!(done["attempts"].as_array().unwrap().len(), 5);
    assert_eq!(receiver.seen().len(), 5);
    assert_eq!(
        receiver.seen()[4].header("x-ucrm-delivery-id"),
        Some(id.as_str())
    );
    let (status, _) = admin(
        Method::POST,
        &server.at(&format!("/v1/webhook-calls/{id}/retry")),
        None,
    )
    .await;
    assert_eq!(status, 422, "only dead calls are retried");
}

#[actix_rt::test]
async fn without_a_private_allowance_the_loopback_receiver_is_refused_and_sees_nothing() {
    let receiver = Receiver::start(&[]);
    let server = TestServer::start_with("[outbound]\ntick_ms = 20\n");
    let (status, b) = queue(&server, &format!("{}/hook", receiver.url), json!({})).await;
    assert_eq!(
        (status, b["error"]["details"]["field"].as_str()),
        (422, Some("url")),
        "{b}"
    );

    // A host name that resolves to loopback is refused at delivery, finally, without a retry.
    let port = receiver.url.rsplit(':').next().unwrap();
    let (status, queued) =
        queue(&server, &format!("http://localhost:{port}/hook"), json!({})).await;
    assert_eq!(status, 202);
    let call = wait_for(&server, queued["data"]["id"].as_str().unwrap(), "failed").await;
    assert!(
        call["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("SSRF"),
        "{call}"
    );
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.seen().is_empty());
}

#[actix_rt::test]
async fn a_call_pending_while_the_receiver_is_down_is_delivered_after_a_restart() {
    let parked = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", parked.local_addr().unwrap());
    drop(parked); // Nothing listens there yet: connection refused.
    let slow = "[outbound]\nallow_private_networks = [\"127.0.0.0/8\"]\n\
                retry_schedule_ms = [0, 1500, 200, 200, 200]\nretry_jitter = 0.0\ntick_ms = 20\n";
    let server = TestServer::start_with(slow);
    let (_, queued) = queue(&server, &url, json!({})).await;
    let id = queued["data"]["id"].as_str().unwrap().to_owned();
    let mut first = Value::Null;
    for _ in 0..100 {
        first = get_call(&server, &id).await;
        if !first["attempts"].as_array().unwrap().is_empty() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        first["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("connection"),
        "{first}"
    );

    let mut server = server;
    server.stop();
    let listener =
        std::net::TcpListener::bind(url.trim_start_matches("http://").trim_end_matches("/hook"))
            .unwrap();
    let receiver = Receiver::start_on(listener, &[]);
    let server = server.restart();
    let done = wait_for(&server, &id, "succeeded").await;
    assert_eq!(done["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(receiver.seen().len(), 1);
}

async fn get_call(server: &TestServer, id: &str) -> Value {
    admin(
        Method::GET,
        &server.at(&format!("/v1/webhook-calls/{id}")),
        None,
    )
    .await
    .1["data"]
        .clone()
}

#[actix_rt::test]
async fn bad_call_requests_are_422_naming_the_field() {
    let server = TestServer::start_with(FAST);
    for (extra, field) in [
        (json!({"body_template": "{{#unclosed}}"}), "body_template"),
        (json!({"url": "not a url"}), "url"),
        (json!({"secret": "no-such-secret"}), "secret"),
        (json!({"method": "TRACE"}), "method"),
        (json!({"journey_id": 5}), "journey_id"),
    ] {
        let (status, b) = queue(&server, "http://127.0.0.1:9/x", extra).await;
        assert_eq!(
            (status, b["error"]["details"]["field"].as_str()),
            (422, Some(field)),
            "{b}"
        );
    }
}
