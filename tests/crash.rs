//! Crash test: events answered 200 survive `kill -9` of the real binary, and apply once.
//!
//! Each round starts the `ucrm-webhooks` binary on one store, registers grants and players,
//! fires signed bonus and KYC events from concurrent senders, kills the process with SIGKILL
//! after a random number of acknowledgements, restarts it on the same store and checks every
//! acknowledged event: its grant or player shows it exactly once, and a redelivery is a
//! replay. `UCRM_CRASH_ROUNDS` sets the number of rounds (default 2; the long mode uses 20):
//! `UCRM_CRASH_ROUNDS=20 cargo test --release --test crash -- --nocapture`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::Process;
use common::*;
use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};

const GRANTS: usize = 160;
const KYC_PLAYERS: usize = 4;

async fn admin_post(url: &str, body: Value) -> Value {
    let (status, b) = admin(Method::POST, url, Some(body)).await;
    assert!(status == 200 || status == 201, "{status} {b}");
    b["data"].clone()
}

/// Sends one signed body; true when answered 200.
async fn send(url: &str, body: &str) -> bool {
    let ts = now();
    let sig = ucrm_actors::signing::sign(&ucrm_actors::Secret::new(SECRET), ts, body.as_bytes());
    let sent = client()
        .post(url)
        .header("content-type", "application/json")
        .header("X-UCRM-Timestamp", ts.to_string())
        .header("X-UCRM-Signature", sig)
        .body(body.to_owned())
        .send()
        .await;
    matches!(sent, Ok(r) if r.status() == 200)
}

fn kyc_body(event_id: &str, external_id: &str, level: u32) -> String {
    let ts = chrono::DateTime::from_timestamp(1_700_000_000 + i64::from(level), 0)
        .unwrap()
        .to_rfc3339();
    json!({"event": "kyc.submitted", "event_id": event_id, "ts": ts,
           "player_external_id": external_id, "level": level, "data": {}})
    .to_string()
}

#[derive(Default)]
struct Acked {
    grants: Vec<String>,
    kyc: Vec<(String, String, u32)>,
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
    let (mut total_bonus, mut total_kyc) = (0, 0);

    for round in 0..rounds {
        let mut process = Process::spawn(&config_path, "warn");
        let player = admin_post(
            &format!("{}/v1/players", process.url),
            json!({"tenant_id": "demo", "external_id": format!("crash-{round}")}),
        )
        .await;
        let mut grants = Vec::new();
        for _ in 0..GRANTS {
            let g = admin_post(
                &format!("{}/v1/bonus-grants", process.url),
                json!({
                    "adapter_slug": "demo-casino", "player_id": player["id"], "amount_subunit": 100,
                    "currency": "EUR"
                }),
            )
            .await;
            grants.push(g["id"].as_str().unwrap().to_owned());
        }
        let mut kyc_players = Vec::new();
        for i in 0..KYC_PLAYERS {
            let external = format!("kyc-{round}-{i}");
            let p = admin_post(
                &format!("{}/v1/players", process.url),
                json!({"tenant_id": "demo", "external_id": external}),
            )
            .await;
            kyc_players.push((p["id"].as_str().unwrap().to_owned(), external));
        }

        let acked = Arc::new(Mutex::new(Acked::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let bonus_url = format!(
            "{}/v1/adapters/demo-casino/webhooks/bonus-events",
            process.url
        );
        let kyc_url = format!(
            "{}/v1/adapters/demo-casino/webhooks/kyc-events",
            process.url
        );
        let mut senders = Vec::new();
        for chunk in grants.chunks(GRANTS / 16) {
            let (chunk, url, acked, stop) = (
                chunk.to_vec(),
                bonus_url.clone(),
                acked.clone(),
                stop.clone(),
            );
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
                    if send(&url, &body).await {
                        acked.lock().unwrap().grants.push(grant);
                    }
                }
            }));
        }
        for (player_id, external) in kyc_players.clone() {
            let (url, acked, stop) = (kyc_url.clone(), acked.clone(), stop.clone());
            senders.push(actix_rt::spawn(async move {
                for level in 1..=40u32 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let event_id = format!("kyc-{player_id}-{level}");
                    if send(&url, &kyc_body(&event_id, &external, level)).await {
                        acked
                            .lock()
                            .unwrap()
                            .kyc
                            .push((player_id.clone(), event_id, level));
                    }
                }
            }));
        }

        // Kill at a random moment: after 10 to 100 acknowledgements.
        let kill_after = rand::rng().random_range(10..100);
        let count = |a: &Mutex<Acked>| {
            let a = a.lock().unwrap();
            a.grants.len() + a.kyc.len()
        };
        while count(&acked) < kill_after {
            actix_rt::time::sleep(Duration::from_millis(1)).await;
        }
        process.kill_9();
        stop.store(true, Ordering::SeqCst);
        for s in senders {
            let _ = s.await;
        }

        let acked = std::mem::take(&mut *acked.lock().unwrap());
        let mut restarted = Process::spawn(&config_path, "warn");
        let bonus_url = format!(
            "{}/v1/adapters/demo-casino/webhooks/bonus-events",
            restarted.url
        );
        let kyc_url = format!(
            "{}/v1/adapters/demo-casino/webhooks/kyc-events",
            restarted.url
        );
        for grant in &acked.grants {
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
            let body = bonus_event(
                "bonus.credited",
                &format!("crash-{grant}"),
                grant,
                json!({}),
            );
            let (status, b) = read(post_signed(&bonus_url, &body, SECRET).await).await;
            assert_eq!(
                (status, b["replay"].as_bool()),
                (200, Some(true)),
                "round {round}: {b}"
            );
        }
        // Applied exactly once: no grant of the round has two entries, acknowledged or not.
        for grant in &grants {
            let (_, g) = admin(
                Method::GET,
                &format!("{}/v1/bonus-grants/{grant}", restarted.url),
                None,
            )
            .await;
            assert!(
                g["data"]["history"].as_array().unwrap().len() <= 1,
                "round {round}: {grant} applied twice"
            );
        }
        for (player_id, event_id, level) in &acked.kyc {
            let (_, p) = admin(
                Method::GET,
                &format!("{}/v1/players/{player_id}", restarted.url),
                None,
            )
            .await;
            let history = p["data"]["kyc"]["history"].as_array().unwrap();
            let times = history
                .iter()
                .filter(|h| h["event_id"] == event_id.as_str())
                .count();
            assert_eq!(
                times, 1,
                "round {round}: KYC event {event_id} applied {times} times"
            );
            let external = &kyc_players
                .iter()
                .find(|(id, _)| id == player_id)
                .unwrap()
                .1;
            let (status, b) =
                read(post_signed(&kyc_url, &kyc_body(event_id, external, *level), SECRET).await)
                    .await;
            assert_eq!(
                (status, b["replay"].as_bool()),
                (200, Some(true)),
                "round {round}: {b}"
            );
        }
        total_bonus += acked.grants.len();
        total_kyc += acked.kyc.len();
        restarted.kill_9();
    }
    println!(
        "crash test: {rounds} rounds, {total_bonus} bonus and {total_kyc} KYC events acknowledged, \
         0 lost, 0 applied twice"
    );
}
