//! The load driver: worker tasks spread over a few threads, each sending one request at a time
//! over a keep-alive connection and recording every latency.
//!
//! A [`Worker`] decides what to send next and judges each answer; the driver only moves bytes,
//! signs webhook bodies, counts statuses and keeps time. The root package's tokio has no
//! multi-threaded runtime, so each driver thread runs a current-thread runtime of its own with
//! its own connection pool, and the tasks of one thread are polled together.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use anyhow::Context as _;
use http_body_util::{BodyExt, Full};
use ucrm_actors::signing::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use ucrm_actors::Secret;

/// How long one request may take before it counts as a `timeout` error.
pub const REQUEST_TIMEOUT_SECS: u64 = 60;

/// How a request authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No credentials (`/healthz`).
    None,
    /// The admin bearer token.
    Admin,
    /// The adapter's webhook signature over the body, made at send time.
    Signed,
}

/// One request a worker wants sent: a JSON `POST` when it has a body, else a `GET`.
pub struct Outgoing {
    /// The full URL.
    pub url: Arc<str>,
    /// Its credentials.
    pub auth: Auth,
    /// The exact body bytes.
    pub body: Option<Vec<u8>>,
}

/// One connection's worth of load: picks the next request and judges its answer.
pub trait Worker: Send + 'static {
    /// The next request, or `None` when this worker has nothing more to send.
    fn next(&mut self) -> Option<Outgoing>;

    /// The answer to the request last returned by [`Worker::next`]: its status, or `None`
    /// when the request failed below HTTP, and its body.
    fn answered(&mut self, status: Option<u16>, body: &[u8]);
}

/// What the driver needs to authenticate requests.
#[derive(Clone)]
pub struct Credentials {
    /// Bearer token of the admin API.
    pub admin_token: String,
    /// The adapter's webhook secret.
    pub secret: Secret,
}

/// When a run stops: at a deadline, after a number of requests, or when the workers run dry.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Stop starting requests after this long.
    pub duration: Option<Duration>,
    /// Stop after this many requests in all.
    pub requests: Option<u64>,
    /// Driver threads.
    pub threads: usize,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent.
    pub sent: u64,
    /// Requests answered with a 2xx status.
    pub ok: u64,
    /// Other answers by status, and failures below HTTP (`timeout`, `connect`, `transport`).
    pub errors: BTreeMap<String, u64>,
    /// Every request's latency in microseconds, unsorted.
    pub latencies_us: Vec<u32>,
    /// From the first request started to the last one answered.
    pub elapsed: Duration,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.sent += other.sent;
        self.ok += other.ok;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.latencies_us.extend(other.latencies_us);
    }
}

/// How long an idle pooled connection is reused: below the server's keep-alive (actix closes
/// idle connections after 5 s), since a client whose runtime was parked meanwhile would not
/// have seen the close and would send on a dead connection.
const POOL_IDLE_SECS: u64 = 2;

/// Builds the HTTP client every part of the load generator uses: keep-alive, no proxy, and
/// `timeout` for a whole request.
pub fn http_client(concurrency: usize, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency.max(1))
        .pool_idle_timeout(Duration::from_secs(POOL_IDLE_SECS))
        .timeout(timeout)
        .build()
        .context("building the HTTP client")
}

/// Runs every worker as one task until the limits say stop; gives the workers back with the
/// merged statistics.
pub fn drive<W: Worker>(
    workers: Vec<W>,
    credentials: &Credentials,
    limits: Limits,
) -> anyhow::Result<(Vec<W>, Stats)> {
    let threads = limits.threads.clamp(1, workers.len().max(1));
    let mut groups: Vec<Vec<W>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, w) in workers.into_iter().enumerate() {
        groups[i % threads].push(w);
    }

    let barrier = Arc::new(Barrier::new(threads + 1));
    let claimed = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for group in groups {
        let (barrier, claimed, credentials) =
            (barrier.clone(), claimed.clone(), credentials.clone());
        let handle = std::thread::Builder::new()
            .name("loadgen-driver".into())
            .spawn(move || drive_thread(group, &credentials, limits, &barrier, &claimed))
            .context("starting a driver thread")?;
        handles.push(handle);
    }

    barrier.wait();
    let started = Instant::now();
    let mut workers = Vec::new();
    let mut stats = Stats::default();
    for handle in handles {
        let (group, group_stats) = handle
            .join()
            .map_err(|_| anyhow::anyhow!("a driver thread panicked"))??;
        workers.extend(group);
        stats.merge(group_stats);
    }
    stats.elapsed = started.elapsed();
    Ok((workers, stats))
}

fn drive_thread<W: Worker>(
    group: Vec<W>,
    credentials: &Credentials,
    limits: Limits,
    barrier: &Barrier,
    claimed: &AtomicU64,
) -> anyhow::Result<(Vec<W>, Stats)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    // Every thread reaches the barrier, even a failing one, so the others are not stranded.
    barrier.wait();
    let runtime = runtime.context("starting a runtime")?;

    let deadline = limits.duration.map(|d| Instant::now() + d);
    let stop = Stop {
        deadline,
        budget: limits.requests,
        claimed,
    };
    let tasks = group.into_iter().map(|w| run_worker(w, credentials, &stop));
    let done = runtime.block_on(futures_util::future::join_all(tasks));

    let mut stats = Stats::default();
    let mut workers = Vec::with_capacity(done.len());
    for (w, s) in done {
        workers.push(w);
        stats.merge(s);
    }
    Ok((workers, stats))
}

/// The shared stop conditions of one run.
struct Stop<'a> {
    deadline: Option<Instant>,
    budget: Option<u64>,
    claimed: &'a AtomicU64,
}

impl Stop<'_> {
    /// Whether another request may start; claims one from the budget when it may.
    fn claim(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        match self.budget {
            Some(max) => self.claimed.fetch_add(1, Ordering::Relaxed) < max,
            None => true,
        }
    }
}

async fn run_worker<W: Worker>(
    mut worker: W,
    credentials: &Credentials,
    stop: &Stop<'_>,
) -> (W, Stats) {
    let mut stats = Stats::default();
    let mut connection = Connection::new();
    let timeout = Duration::from_secs(REQUEST_TIMEOUT_SECS);
    while stop.claim() {
        let Some(out) = worker.next() else { break };

        let started = Instant::now();
        let answer = tokio::time::timeout(timeout, send(&mut connection, credentials, out))
            .await
            .unwrap_or(Err("timeout"));
        let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        stats.sent += 1;
        stats.latencies_us.push(micros);

        match answer {
            Ok((status, body)) => {
                if (200..300).contains(&status) {
                    stats.ok += 1;
                } else {
                    *stats.errors.entry(status.to_string()).or_default() += 1;
                }
                worker.answered(Some(status), &body);
            }
            Err(kind) => {
                *stats.errors.entry(kind.to_owned()).or_default() += 1;
                worker.answered(None, b"");
            }
        }
    }
    (worker, stats)
}

/// Sends one request and reads its whole answer; a failure below HTTP is named by its kind.
async fn send(
    connection: &mut Connection,
    credentials: &Credentials,
    out: Outgoing,
) -> Result<(u16, Bytes), &'static str> {
    let (authority, path) = split_url(&out.url)?;
    let mut request = hyper::Request::builder()
        .uri(path)
        .header(hyper::header::HOST, authority);
    let body = match out.body {
        Some(body) => {
            request = request
                .method(hyper::Method::POST)
                .header(hyper::header::CONTENT_TYPE, "application/json");
            if out.auth == Auth::Signed {
                let ts = chrono::Utc::now().timestamp();
                request = request
                    .header(TIMESTAMP_HEADER, ts)
                    .header(SIGNATURE_HEADER, sign(&credentials.secret, ts, &body));
            }
            Bytes::from(body)
        }
        None => Bytes::new(),
    };
    if out.auth == Auth::Admin {
        let bearer = format!("Bearer {}", credentials.admin_token);
        request = request.header(hyper::header::AUTHORIZATION, bearer);
    }
    let request = request.body(Full::new(body)).map_err(|_| "transport")?;

    let sender = connection.ready(authority).await?;
    let response = sender.send_request(request).await.map_err(|e| {
        connection.sender = None;
        if e.is_timeout() {
            "timeout"
        } else {
            "transport"
        }
    })?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|_| {
            connection.sender = None;
            "transport"
        })?
        .to_bytes();
    Ok((status, body))
}

/// One keep-alive HTTP/1.1 connection of a worker, opened on first use and again after a
/// failure. A bare hyper connection per worker keeps the generator's own cost per request low,
/// so that more of the machine is left to the server it measures.
struct Connection {
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Connection {
    fn new() -> Self {
        Connection { sender: None }
    }

    /// The open connection to `authority`, opening one when there is none or it closed.
    async fn ready(
        &mut self,
        authority: &str,
    ) -> Result<&mut hyper::client::conn::http1::SendRequest<Full<Bytes>>, &'static str> {
        if self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
        }
        if self.sender.is_none() {
            let stream = tokio::net::TcpStream::connect(authority)
                .await
                .map_err(|_| "connect")?;
            let _ = stream.set_nodelay(true);
            let (sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|_| "connect")?;
            tokio::spawn(async move {
                // Ends when the server or the worker closes the connection.
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().ok_or("connect")?;
        sender.ready().await.map_err(|_| "transport")?;
        Ok(sender)
    }
}

/// Splits `http://host:port/path?query` into its authority and its path with the query.
fn split_url(url: &str) -> Result<(&str, &str), &'static str> {
    let rest = url.strip_prefix("http://").ok_or("transport")?;
    Ok(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}
