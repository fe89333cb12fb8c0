//! Fault injection for outbound delivery and adapter calls: peers that hang, reset, send huge
//! or slow answers, redirect, or speak garbage. The dispatcher and the reconciler stay within
//! their timeouts and keep going.

mod common;

use std::time::{Duration, Instant};

use common::receiver::Receiver;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How a misbehaving peer answers every connection.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Reads the request and never answers.
    Hang,
    /// Closes the connection at once.
    Reset,
    /// Answers 200 with a 20 MiB body.
    Huge,
    /// Sends 200 headers, then one body byte a second.
    Slow,
    /// Answers 302 to another address.
    Redirect,
    /// Answers bytes that are not HTTP.
    Garbage,
}

/// Starts a raw TCP peer with `fault` on its own thread; returns its base URL.
fn faulty_peer(fault: Fault) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { continue };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let _ = sock.read(&mut buf).await;
                    match fault {
                        Fault::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
                        Fault::Reset => drop(sock),
                        Fault::Huge => {
                            let head = "HTTP/1.1 200 OK\r\ncontent-length: 20971520\r\n\r\n";
                            let _ = sock.write_all(head.as_bytes()).await;
                            let chunk = vec![b'x'; 65536];
                            for _ in 0..320 {
                                if sock.write_all(&chunk).await.is_err() {
                                    break;
                                }
                            }
                        }
                        Fault::Slow => {
                            let _ = sock
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
                                .await;
                            for _ in 0..100 {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                if sock.write_all(b"x").await.is_err() {
                                    break;
                                }
                            }
                        }
                        Fault::Redirect => {
                            let head = "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\n\r\n";
                            let _ = sock.write_all(head.as_bytes()).await;
                        }
                        Fault::Garbage => {
                            let _ = sock.write_all(b"\x00\x01HELLO not http at all\r\n\r\n").await;
                        }
                    }
                });
            }
        });
    });
    url
}

/// Loopback allowed, two quick attempts, short timeouts, small concurrency.
const FAULTS: &str = "[outbound]\nallow_private_networks = [\"127.0.0.0/8\"]\n\
                      retry_schedule_ms = [0, 50]\nretry_jitter = 0.0\ntick_ms = 20\n\
                      concurrency = 4\nper_host_concurrency = 2\nconnect_timeout_ms = 500\n";

async fn queue(server: &TestServer, url: &str) -> String {
    let body = json!({"journey_id": "faults", "run_id": "r", "node_id": "n", "url": url,
                      "body_template": "{}", "timeout_ms": 700});
    let (status, b) = admin(Method::POST, &server.at("/v1/webhook-calls"), Some(body)).await;
    assert_eq!(status, 202, "{b}");
    b["data"]["id"].as_str().unwrap().to_owned()
}

async fn settle(server: &TestServer, id: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (_, b) = admin(
            Method::GET,
            &server.at(&format!("/v1/webhook-calls/{id}")),
            None,
        )
        .await;
        let call = b["data"].clone();
        if !matches!(call["status"].as_str(), Some("pending" | "delivering")) {
            return call;
        }
        assert!(
            started.elapsed() < limit,
            "call {id} still open after {limit:?}: {call}"
        );
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    }
}

#[actix_rt::test]
async fn misbehaving_receivers_are_bounded_by_timeouts_and_do_not_stall_the_dispatcher() {
    let server = TestServer::start_with(FAULTS);
    let healthy = Receiver::start(&[]);
    let cases = [
        (Fault::Hang, "dead"),
        (Fault::Reset, "dead"),
        (Fault::Huge, "succeeded"),
        // The 200 arrived, so the receiver took the call; the body read stops at the timeout.
        (Fault::Slow, "succeeded"),
        (Fault::Redirect, "failed"),
        (Fault::Garbage, "dead"),
    ];
    let mut ids = Vec::new();
    for (fault, _) in cases {
        // Several calls per peer, more than the concurrency bounds, to load them.
        let url = format!("{}/hook", faulty_peer(fault));
        for _ in 0..3 {
            ids.push((fault, queue(&server, &url).await));
        }
    }
    // A healthy receiver keeps being served while the faulty ones hold their slots.
    let good = queue(&server, &format!("{}/ok", healthy.url)).await;
    let call = settle(&server, &good, Duration::from_secs(10)).await;
    assert_eq!(call["status"], "succeeded");

    for (fault, id) in &ids {
        let expected = cases
            .iter()
            .find(|(f, _)| std::mem::discriminant(f) == std::mem::discriminant(fault))
            .unwrap()
            .1;
        let call = settle(&server, id, Duration::from_secs(30)).await;
        assert_eq!(call["status"], expected, "{fault:?}: {call}");
        for attempt in call["attempts"].as_array().unwrap() {
            assert!(
                attempt["latency_ms"].as_u64().unwrap() < 3_000,
                "{fault:?} attempt overran its timeout: {attempt}"
            );
            assert!(attempt["response"].as_str().unwrap().len() <= 4096);
        }
        if matches!(fault, Fault::Huge) {
            assert_eq!(
                call["attempts"][0]["response"].as_str().unwrap().len(),
                4096
            );
        }
    }
}

#[actix_rt::test]
async fn a_hanging_platform_is_counted_as_errors_within_the_timeout() {
    let peer = faulty_peer(Fault::Hang);
    let extra = format!(
        "[[adapters]]\nslug = \"hang-casino\"\ntenant = \"demo\"\nwebhook_secret = \"{SECRET}\"\n\
         platform_base_url = \"{peer}\"\n[reconciler]\nplatform_timeout_ms = 300\n"
    );
    let server = TestServer::start_with(&extra);
    // Registered with a platform id, so no grant call is needed; the grant call itself hangs.
    let player = create_player(&server, "demo", "hang-player").await;
    let (status, b) = admin(
        Method::POST,
        &server.at("/v1/bonus-grants"),
        Some(json!({
            "adapter_slug": "hang-casino", "player_id": player, "amount_subunit": 100,
            "currency": "EUR",
        })),
    )
    .await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (503, Some("ADAPTER_UNAVAILABLE")),
        "{b}"
    );

    let started = Instant::now();
    let (status, run) = admin(Method::POST, &server.at("/v1/admin/reconcile"), None).await;
    assert_eq!(status, 200, "{run}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _) = admin(Method::GET, &server.at("/healthz"), None).await;
    assert_eq!(status, 200, "the server keeps serving");
}
