//! Crash test of the outbound outbox: no accepted call is lost across `kill -9`.
//!
//! Each round queues calls to a loopback receiver from concurrent clients, kills the binary
//! with SIGKILL at a random moment, restarts it on the same store and waits until every call
//! that was answered 202 has succeeded. The receiver must have seen each accepted call at
//! least once, always under its own delivery id; a repeat is allowed (delivery is at least
//! once) and counted. `UCRM_CRASH_ROUNDS` sets the rounds (default 2).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::Process;
use common::receiver::Receiver;
use common::*;
use rand::Rng;
use reqwest::Method;
use serde_json::json;

#[actix_rt::test]
async fn calls_accepted_before_kill_9_are_all_delivered_after_restart() {
    let rounds: usize = std::env::var("UCRM_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let receiver = Receiver::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let config_path = tmp.path().join("config.toml");
    let outbound = "[outbound]\nallow_private_networks = [\"127.0.0.0/8\"]\n\
                    retry_schedule_ms = [0, 100, 200, 400, 800, 1600]\n\
                    retry_jitter = 0.0\ntick_ms = 10\n";
    std::fs::write(
        &config_path,
        config_text(&tmp.path().join("store"), outbound),
    )
    .unwrap();
    let mut all_accepted: Vec<String> = Vec::new();

    for round in 0..rounds {
        let mut process = Process::spawn(&config_path, "warn");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for c in 0..8 {
            let (url, hook, accepted, stop) = (
                format!("{}/v1/webhook-calls", process.url),
                receiver.url.clone(),
                accepted.clone(),
                stop.clone(),
            );
            clients.push(actix_rt::spawn(async move {
                for i in 0..200 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let body = json!({"journey_id": format!("crash-{round}"),
                        "run_id": format!("{c}-{i}"), "node_id": "n", "url": format!("{hook}/hook"),
                        "body_template": "{\"i\":{{i}}}",
                        "context": {"i": i}, "secret": "demo-casino"});
                    let sent = client()
                        .post(&url)
                        .bearer_auth(ADMIN)
                        .json(&body)
                        .send()
                        .await;
                    if let Ok(resp) = sent {
                        if resp.status() == 202 {
                            let (_, b) = read(resp).await;
                            accepted
                                .lock()
                                .unwrap()
                                .push(b["data"]["id"].as_str().unwrap().to_owned());
                        }
                    }
                }
            }));
        }
        let kill_after = rand::rng().random_range(20..150);
        while accepted.lock().unwrap().len() < kill_after {
            actix_rt::time::sleep(Duration::from_millis(1)).await;
        }
        process.kill_9();
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            let _ = c.await;
        }

        let accepted = accepted.lock().unwrap().clone();
        let mut restarted = Process::spawn(&config_path, "warn");
        let deadline = Instant::now() + Duration::from_secs(60);
        for id in &accepted {
            loop {
                let (status, b) = admin(
                    Method::GET,
                    &format!("{}/v1/webhook-calls/{id}", restarted.url),
                    None,
                )
                .await;
                assert_eq!(status, 200, "round {round}: accepted call {id} lost");
                if b["data"]["status"] == "succeeded" {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "round {round}: call {id} never delivered: {b}"
                );
                actix_rt::time::sleep(Duration::from_millis(20)).await;
            }
        }
        restarted.kill_9();
        all_accepted.extend(accepted);
    }

    let mut seen: HashMap<String, usize> = HashMap::new();
    for s in receiver.seen() {
        *seen
            .entry(s.header("x-ucrm-delivery-id").unwrap_or("").to_owned())
            .or_default() += 1;
    }
    for id in &all_accepted {
        assert!(
            seen.contains_key(id),
            "accepted call {id} never reached the receiver"
        );
    }
    let repeats: usize = seen.values().map(|n| n - 1).sum();
    println!(
        "outbox crash test: {rounds} rounds, {} calls accepted, 0 lost, \
         {repeats} repeated deliveries (at least once, same delivery id)",
        all_accepted.len()
    );
}
