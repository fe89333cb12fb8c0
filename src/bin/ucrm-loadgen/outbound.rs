//! The outbound mode: queue calls through `POST /v1/webhook-calls` to a built-in receiver and
//! measure deliveries per second end to end, from the first call queued to the last delivery
//! received.
//!
//! Each call's body carries the microsecond it was queued at (on this process's clock, which
//! the receiver shares), so the receiver measures every delivery's latency from queueing to
//! arrival.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context as _;
use serde_json::{json, Value};

use crate::admin::Api;
use crate::driver::{self, Auth, Credentials, Limits, Outgoing, Worker};
use crate::report::{per_sec, Latency, Report, Verification};
use crate::target::Target;

/// How long deliveries may make no progress before the run gives up on the rest.
const STALL_TIMEOUT_SECS: u64 = 30;
/// How often progress is polled.
const POLL_MS: u64 = 10;
/// The delivery id header UCRM sends.
const DELIVERY_ID_HEADER: &str = "x-ucrm-delivery-id";

/// Microseconds since this process first asked, on the clock queueing and receipt share.
fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    deliveries: AtomicU64,
    ids: Mutex<HashSet<String>>,
    latencies_us: Mutex<Vec<u32>>,
    last_at: Mutex<Option<Instant>>,
}

/// A receiver on loopback answering 200 to everything and counting deliveries.
pub struct Receiver {
    /// `http://ADDR`.
    pub url: String,
    seen: Arc<Seen>,
}

impl Receiver {
    /// Starts the receiver on `bind` (such as `127.0.0.1:0`) on a thread of its own.
    pub fn start(bind: &str) -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let seen = Arc::new(Seen::default());
        let data = web::Data::from(seen.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .default_service(web::to(receive))
                })
                .workers(1)
                .listen(listener);
                match server {
                    Ok(server) => {
                        let _ = tx.send(Ok(()));
                        let _ = server.run().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
        });
        rx.recv()
            .context("the receiver thread stopped")?
            .context("starting the receiver")?;
        Ok(Receiver { url, seen })
    }

    fn deliveries(&self) -> u64 {
        self.seen.deliveries.load(Ordering::Relaxed)
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, seen: web::Data<Seen>) -> HttpResponse {
    let arrived = now_us();
    let sent = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["sent_us"].as_u64());
    if let Some(sent) = sent {
        let micros = arrived.saturating_sub(sent).min(u64::from(u32::MAX)) as u32;
        lock(&seen.latencies_us).push(micros);
    }
    if let Some(id) = req
        .headers()
        .get(DELIVERY_ID_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        lock(&seen.ids).insert(id.to_owned());
    }
    *lock(&seen.last_at) = Some(Instant::now());
    seen.deliveries.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok().body("ok")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queues calls numbered `first`, `first + stride`, … until the driver's budget runs out.
struct CallWorker {
    url: Arc<str>,
    hook: String,
    journey: String,
    next: u64,
    stride: u64,
}

impl Worker for CallWorker {
    fn next(&mut self) -> Option<Outgoing> {
        let seq = self.next;
        self.next += self.stride;
        let call = json!({
            "journey_id": self.journey, "run_id": format!("run-{seq}"), "node_id": "loadgen",
            "url": self.hook, "body_template": "{\"seq\":{{seq}},\"sent_us\":{{sent_us}}}",
            "context": {"seq": seq, "sent_us": now_us()},
        });
        Some(Outgoing {
            url: self.url.clone(),
            auth: Auth::Admin,
            body: Some(call.to_string().into_bytes()),
        })
    }

    fn answered(&mut self, _status: Option<u16>, _body: &[u8]) {}
}

/// What the outbound mode needs besides the target.
pub struct OutboundRun<'a> {
    /// The server.
    pub target: &'a Target,
    /// The admin API.
    pub api: &'a Api<'a>,
    /// The receiver the calls go to.
    pub receiver: &'a Receiver,
    /// The run id, which names the journey of its calls.
    pub run: &'a str,
    /// Calls to queue.
    pub calls: u64,
    /// Connections queueing them.
    pub concurrency: usize,
    /// Driver threads.
    pub threads: usize,
}

impl OutboundRun<'_> {
    /// Queues the calls, waits for their deliveries and for all to be marked succeeded.
    pub async fn run(&self, credentials: &Credentials) -> anyhow::Result<Report> {
        let journey = format!("lg-{}", self.run);
        let url: Arc<str> = self.target.at("/v1/webhook-calls").into();
        let workers: Vec<CallWorker> = (0..self.concurrency.max(1) as u64)
            .map(|i| CallWorker {
                url: url.clone(),
                hook: format!("{}/hook", self.receiver.url),
                journey: journey.clone(),
                next: i,
                stride: self.concurrency.max(1) as u64,
            })
            .collect();
        let limits = Limits {
            duration: None,
            requests: Some(self.calls),
            threads: self.threads,
        };

        let before = self.receiver.deliveries();
        let started = Instant::now();
        let (_, stats) = driver::drive(workers, credentials, limits)?;
        let queued = stats.ok;
        eprintln!(
            "queued {queued} calls in {:.2} s ({:.0} calls/s); waiting for deliveries",
            stats.elapsed.as_secs_f64(),
            per_sec(queued, stats.elapsed)
        );
        let delivered = self.wait_for_deliveries(before, queued).await;
        let last = (*lock(&self.receiver.seen.last_at)).unwrap_or_else(Instant::now);
        let elapsed = last.saturating_duration_since(started);
        let succeeded = self.succeeded(&journey, queued).await?;

        let distinct = lock(&self.receiver.seen.ids).len() as u64;
        let mut failures = Vec::new();
        if delivered < queued {
            failures.push(format!("{delivered} of {queued} queued calls delivered"));
        }
        if succeeded < queued {
            failures.push(format!(
                "{succeeded} of {queued} queued calls marked succeeded"
            ));
        }
        let verification = Verification {
            ok: failures.is_empty(),
            summary: format!(
                "{delivered} deliveries of {queued} queued calls ({distinct} distinct delivery \
                 ids); {succeeded} calls of the run listed as succeeded"
            ),
            failures,
        };

        let queue_rate = per_sec(queued, stats.elapsed).round();
        let mut stats = stats;
        let queue_latency = Latency::of(&mut stats.latencies_us);
        let mut latencies = std::mem::take(&mut *lock(&self.receiver.seen.latencies_us));
        let mut report = Report {
            elapsed_secs: elapsed.as_secs_f64(),
            rate_per_sec: per_sec(delivered, elapsed),
            rate_unit: "deliveries/s",
            latency: Latency::of(&mut latencies),
            ..Report::from_stats(
                "outbound",
                &self.target.info,
                self.concurrency,
                stats,
                "deliveries/s",
                verification,
            )
        };
        report.extra.insert("delivered".into(), json!(delivered));
        report
            .extra
            .insert("queue_rate_per_sec".into(), json!(queue_rate));
        report
            .extra
            .insert("queue_latency".into(), json!(queue_latency));
        report
            .extra
            .insert("latency_is".into(), json!("from queueing to receipt"));
        Ok(report)
    }

    /// Waits until `queued` deliveries beyond `before` arrived, or progress stalls; answers
    /// how many arrived.
    async fn wait_for_deliveries(&self, before: u64, queued: u64) -> u64 {
        let mut last = (self.receiver.deliveries(), Instant::now());
        loop {
            let now = self.receiver.deliveries();
            if now - before >= queued {
                return now - before;
            }
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(STALL_TIMEOUT_SECS) {
                return now - before;
            }
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        }
    }

    /// Counts the run's calls listed as succeeded, waiting while the count still grows.
    async fn succeeded(&self, journey: &str, queued: u64) -> anyhow::Result<u64> {
        let path = format!("/v1/webhook-calls?status=succeeded&journey_id={journey}");
        let deadline = Instant::now() + Duration::from_secs(STALL_TIMEOUT_SECS);
        loop {
            let count = self.api.list_all(&path).await?.len() as u64;
            if count >= queued || Instant::now() > deadline {
                return Ok(count);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
