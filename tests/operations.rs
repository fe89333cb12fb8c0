//! Operating the service: metrics, rate limits, secret rotation, secrets kept out of logs,
//! graceful shutdown under load.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::Process;
use common::*;
use reqwest::Method;
use serde_json::json;

/// The value of the first metric line starting with `prefix`, or 0.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_text(server: &TestServer) -> String {
    client()
        .get(server.at("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[actix_rt::test]
async fn metrics_counters_move_after_signed_events() {
    let server = TestServer::start();
    let grant = create_grant(&server, "demo-casino").await;
    let applied = r#"ucrm_inbound_events_total{endpoint="bonus",outcome="applied""#;
    let replay = r#"ucrm_inbound_events_total{endpoint="bonus",outcome="replay""#;
    let before = metrics_text(&server).await;

    let body = bonus_event("bonus.credited", "m-1", &grant, json!({}));
    for _ in 0..2 {
        read(post_signed(&bonus_url(&server, "demo-casino"), &body, SECRET).await).await;
    }
    let brew = Method::from_bytes(b"BREW").unwrap();
    let res = client()
        .request(brew, server.at("/coffee"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let after = metrics_text(&server).await;
    assert!(
        metric(&after, applied) >= metric(&before, applied) + 1.0,
        "{after}"
    );
    assert!(metric(&after, replay) >= metric(&before, replay) + 1.0);
    assert!(
        after.contains("ucrm_commit_batch_events"),
        "group commit is measured"
    );
    assert!(after.contains("ucrm_http_request_duration_seconds_bucket"));
    let served = concat!(
        r#"ucrm_http_requests_total{method="POST","#,
        r#"route="/v1/adapters/{slug}/webhooks/bonus-events",status="200"}"#
    );
    assert!(metric(&after, served) >= 2.0, "{after}");
    let unmatched = r#"ucrm_http_requests_total{method="OTHER",route="unmatched",status="404"}"#;
    assert!(
        metric(&after, unmatched) >= 1.0,
        "made-up methods share one label: {after}"
    );
    assert!(after.contains("ucrm_live_grant_actors"));
}

#[actix_rt::test]
async fn a_burst_over_the_rate_limit_gets_429_with_retry_after() {
    let extra = format!(
        "[[adapters]]\nslug = \"slow-casino\"\ntenant = \"demo\"\nwebhook_secret = \"{SECRET}\"\n\
         rate_limit_per_sec = 1\nrate_limit_burst = 3\n"
    );
    let server = TestServer::start_with(&extra);
    let url = bonus_url(&server, "slow-casino");
    let mut limited = None;
    for i in 0..6 {
        let body = bonus_event("bonus.credited", &format!("rl-{i}"), "no-grant", json!({}));
        let resp = post_signed(&url, &body, SECRET).await;
        if resp.status() == 429 {
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            limited = Some((i, retry, read(resp).await.1));
            break;
        }
    }
    let (i, retry_after, body) = limited.expect("the burst is limited");
    assert_eq!(i, 3, "the bucket holds three");
    assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // Other adapters are not affected.
    let grant = create_grant(&server, "demo-casino").await;
    let body = bonus_event("bonus.credited", "rl-other", &grant, json!({}));
    assert_eq!(
        post_signed(&bonus_url(&server, "demo-casino"), &body, SECRET)
            .await
            .status(),
        200
    );
}

#[actix_rt::test]
async fn both_rotation_secrets_verify_and_a_third_does_not() {
    let extra = "[[adapters]]\nslug = \"rot-casino\"\ntenant = \"demo\"\n\
                 webhook_secret = [\"new-secret\", \"old-secret\"]\n";
    let server = TestServer::start_with(extra);
    let url = bonus_url(&server, "rot-casino");
    for (i, secret) in ["new-secret", "old-secret"].iter().enumerate() {
        let body = bonus_event("bonus.credited", &format!("rot-{i}"), "no-grant", json!({}));
        let (status, b) = read(post_signed(&url, &body, secret).await).await;
        assert_eq!(
            status, 404,
            "{secret} verifies (then the grant is unknown): {b}"
        );
    }
    let body = bonus_event("bonus.credited", "rot-3", "no-grant", json!({}));
    let (status, _) = read(post_signed(&url, &body, "third-secret").await).await;
    assert_eq!(status, 401);
}

#[actix_rt::test]
async fn logs_never_carry_the_secret_or_the_signature() {
    let tmp = tempfile::tempdir().unwrap();
    let config_path = tmp.path().join("config.toml");
    std::fs::write(&config_path, config_text(&tmp.path().join("store"), "")).unwrap();
    let process = Process::spawn(&config_path, "trace");

    let ts = now();
    let body = bonus_event("bonus.credited", "log-1", "no-grant", json!({}));
    let signature =
        ucrm_actors::signing::sign(&ucrm_actors::Secret::new(SECRET), ts, body.as_bytes());
    let url = format!(
        "{}/v1/adapters/demo-casino/webhooks/bonus-events",
        process.url
    );
    let resp = client()
        .post(&url)
        .header("content-type", "application/json")
        .header("X-UCRM-Timestamp", ts.to_string())
        .header("X-UCRM-Signature", &signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let bad = client()
        .post(&url)
        .header("content-type", "application/json")
        .header("X-UCRM-Timestamp", ts.to_string())
        .header("X-UCRM-Signature", "deadbeef")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let (status, _) = admin(
        Method::GET,
        &format!("{}/v1/bonus-grants", process.url),
        None,
    )
    .await;
    assert_eq!(status, 200);
    actix_rt::time::sleep(Duration::from_millis(200)).await;

    let log = process.log_text();
    assert!(
        log.contains("inbound event rejected"),
        "the log was captured: {log}"
    );
    for secret in [SECRET, signature.as_str(), "deadbeef", ADMIN] {
        assert!(!log.contains(secret), "{secret:?} leaked into the log");
    }
}

#[actix_rt::test]
async fn sigterm_under_a_burst_exits_promptly_and_keeps_every_acknowledged_event() {
    let tmp = tempfile::tempdir().unwrap();
    let config_path = tmp.path().join("config.toml");
    std::fs::write(&config_path, config_text(&tmp.path().join("store"), "")).unwrap();
    let mut process = Process::spawn(&config_path, "info");
    let player = admin(
        Method::POST,
        &format!("{}/v1/players", process.url),
        Some(json!({"tenant_id": "demo", "external_id": "term"})),
    )
    .await
    .1["data"]["id"]
        .clone();
    let mut grants = Vec::new();
    for _ in 0..200 {
        let (_, g) = admin(
            Method::POST,
            &format!("{}/v1/bonus-grants", process.url),
            Some(json!({
                "adapter_slug": "demo-casino", "player_id": player, "amount_subunit": 100,
                "currency": "EUR"
            })),
        )
        .await;
        grants.push(g["data"]["id"].as_str().unwrap().to_owned());
    }

    let acked = Arc::new(Mutex::new(Vec::new()));
    let url = format!(
        "{}/v1/adapters/demo-casino/webhooks/bonus-events",
        process.url
    );
    let mut senders = Vec::new();
    for chunk in grants.chunks(25) {
        let (chunk, url, acked) = (chunk.to_vec(), url.clone(), acked.clone());
        senders.push(actix_rt::spawn(async move {
            for grant in chunk {
                let body = bonus_event(
                    "bonus.credited",
                    &format!("term-{grant}"),
                    &grant,
                    json!({}),
                );
                match client()
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("X-UCRM-Timestamp", now().to_string())
                    .header(
                        "X-UCRM-Signature",
                        ucrm_actors::signing::sign(
                            &ucrm_actors::Secret::new(SECRET),
                            now(),
                            body.as_bytes(),
                        ),
                    )
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().push(grant),
                    _ => {}
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 30 {
        actix_rt::time::sleep(Duration::from_millis(2)).await;
    }
    let signalled = Instant::now();
    process.terminate();
    let status = process.child.wait().unwrap();
    let took = signalled.elapsed();
    for s in senders {
        let _ = s.await;
    }
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    assert!(
        status.success(),
        "clean exit: {status:?}\n{}",
        process.log_text()
    );
    assert!(process.log_text().contains("store closed"));

    let acked = acked.lock().unwrap().clone();
    let restarted = Process::spawn(&config_path, "info");
    for grant in &acked {
        let (_, g) = admin(
            Method::GET,
            &format!("{}/v1/bonus-grants/{grant}", restarted.url),
            None,
        )
        .await;
        assert_eq!(
            g["data"]["status"], "active",
            "acknowledged event for {grant} was lost"
        );
    }
    println!(
        "SIGTERM: exited in {took:?}; {} acknowledged events all kept",
        acked.len()
    );
}
