//! Crash test: events answered 200 survive `kill -9` of the real binary, and apply once.
//!
//! Each round starts the `ucrm-webhooks` binary on one store, registers grants, fires signed
//! events from concurrent senders, kills the process with SIGKILL mid-burst, restarts it and
//! checks every acknowledged event: its grant shows the change, and a redelivery is a replay.
//! `UCRM_CRASH_ROUNDS` sets the number of rounds (default 2; the long mode uses 20).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::Process;
use common::*;
use reqwest::Method;
use serde_json::json;

async fn admin_post(url: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, b) = admin(Method::POST, url, Some(body)).await;
    assert!(status == 200 || status == 201, "{status} {b}");
    b["data"].clone()
}

#[actix_rt::test]
async fn events_acknowledged_before_kill_9_survive_and_apply_once() {
    let rounds: usize = std::env::var("UCRM_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let tmp = tempfile::tempdir().unwrap();
    let config_path = tmp.path().join("config.toml");
    std::fs::write(&config_path, config_text(&tmp.path().join("store"), "")).unwrap();
    let mut total_acked = 0;

    for round in 0..rounds {
        let process = Process::spawn(&config_path, "info");
        let player = admin_post(
            &format!("{}/v1/players", process.url),
            json!({"tenant_id": "demo", "external_id": format!("crash-{round}")}),
        )
        .await;
        let mut grants = Vec::new();
        for _ in 0..120 {
            let g = admin_post(&format!("{}/v1/bonus-grants", process.url), json!({
                "adapter_slug": "demo-casino", "player_id": player["id"], "amount_subunit": 100, "currency": "EUR"
            })).await;
            grants.push(g["id"].as_str().unwrap().to_owned());
        }

        // Sixteen senders share the grants; the process is killed while they send.
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!(
            "{}/v1/adapters/demo-casino/webhooks/bonus-events",
            process.url
        );
        let mut senders = Vec::new();
        for chunk in grants.chunks(grants.len() / 16) {
            let (chunk, url, acked, stop) =
                (chunk.to_vec(), url.clone(), acked.clone(), stop.clone());
            senders.push(actix_rt::spawn(async move {
                for grant in chunk {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let body = bonus_event(
                        "bonus.credited",
                        &format!("crash-{grant}"),
                        &grant,
                        json!({}),
                    );
                    let sig = ucrm_actors::signing::sign(
                        &ucrm_actors::Secret::new(SECRET),
                        now(),
                        body.as_bytes(),
                    );
                    let sent = client()
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("X-UCRM-Timestamp", now().to_string())
                        .header("X-UCRM-Signature", sig)
                        .body(body)
                        .send()
                        .await;
                    if let Ok(resp) = sent {
                        if resp.status() == 200 {
                            acked.lock().unwrap().push(grant);
                        }
                    }
                }
            }));
        }
        let mut process = process;
        while acked.lock().unwrap().len() < 40 {
            actix_rt::time::sleep(Duration::from_millis(2)).await;
        }
        process.kill_9();
        stop.store(true, Ordering::SeqCst);
        for s in senders {
            let _ = s.await;
        }

        let acked = acked.lock().unwrap().clone();
        let mut restarted = Process::spawn(&config_path, "info");
        let url = format!(
            "{}/v1/adapters/demo-casino/webhooks/bonus-events",
            restarted.url
        );
        for grant in &acked {
            let (status, g) = admin(
                Method::GET,
                &format!("{}/v1/bonus-grants/{grant}", restarted.url),
                None,
            )
            .await;
            assert_eq!(
                status, 200,
                "round {round}: acknowledged grant {grant} lost"
            );
            assert_eq!(
                g["data"]["status"], "active",
                "round {round}: grant {grant} lost its event"
            );
            assert_eq!(g["data"]["history"].as_array().unwrap().len(), 1);
            let body = bonus_event(
                "bonus.credited",
                &format!("crash-{grant}"),
                grant,
                json!({}),
            );
            let (status, b) = read(post_signed(&url, &body, SECRET).await).await;
            assert_eq!(
                (status, b["replay"].as_bool()),
                (200, Some(true)),
                "round {round}: {b}"
            );
        }
        total_acked += acked.len();
        restarted.kill_9();
    }
    println!(
        "crash test: {rounds} rounds, {total_acked} acknowledged events, 0 lost, 0 applied twice"
    );
}
