//! Logs and metrics: the `log` backend (text or JSON lines) and the Prometheus recorder.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Starts the logger: level from `RUST_LOG` (default `info`), `json` for one JSON object a line.
pub fn init_logging(format: &str) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == "json" {
        builder.format(|buf, record| {
            let mut line = serde_json::Map::new();
            line.insert("ts".into(), chrono::Utc::now().to_rfc3339().into());
            line.insert("level".into(), record.level().as_str().into());
            line.insert("target".into(), record.target().into());
            line.insert("msg".into(), record.args().to_string().into());
            let mut fields = JsonFields(&mut line);
            let _ = record.key_values().visit(&mut fields);
            writeln!(buf, "{}", serde_json::Value::Object(line))
        });
    }
    // A second call (tests start several servers in one process) keeps the first logger.
    let _ = builder.try_init();
}

struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        self.0
            .insert(key.as_str().to_owned(), value.to_string().into());
        Ok(())
    }
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets(&buckets)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Only fails when another recorder is installed; ours then just records nothing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Middleware: request count and latency by route pattern and status.
pub async fn observe_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    let route = res
        .request()
        .app_data::<RouteLabel>()
        .map_or("unmatched", |label| label.0);
    let (duration, count) = request_metrics(method, route, res.status().as_u16());
    duration.record(started.elapsed().as_secs_f64());
    count.increment(1);
    Ok(res)
}

/// The path pattern of the endpoint that served a request, the `route` label of its metrics.
/// Set on each resource when it is registered, so that no request pays for a second route match.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

type RequestKey = (&'static str, &'static str, u16);

thread_local! {
    /// Each HTTP worker's handles to its request metrics, so that a request neither builds
    /// label strings nor looks up the registry once its (method, route, status) has been seen.
    static REQUEST_METRICS: RefCell<HashMap<RequestKey, (Histogram, Counter)>> =
        RefCell::new(HashMap::new());
}

/// The `method` label: the standard methods by name, any extension method as `OTHER`, so that
/// made-up methods cannot grow the label set.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("OTHER", |known| known.as_str())
}

fn request_metrics(method: &'static str, route: &'static str, status: u16) -> (Histogram, Counter) {
    REQUEST_METRICS.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache
            .entry((method, route, status))
            .or_insert_with_key(|(method, route, status)| {
                let labels = [
                    ("method", (*method).to_owned()),
                    ("route", (*route).to_owned()),
                    ("status", status.to_string()),
                ];
                (
                    metrics::histogram!("ucrm_http_request_duration_seconds", &labels),
                    metrics::counter!("ucrm_http_requests_total", &labels),
                )
            })
            .clone()
    })
}

/// Installs the process-wide TLS crypto provider (ring) used by outbound HTTP clients.
pub fn install_crypto_provider() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
