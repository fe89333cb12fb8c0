//! One delivery attempt of an outbound call over HTTP.
//!
//! The client follows no redirects, uses no proxy, has a connect timeout and a per-call total
//! timeout, and resolves names through the [`GuardedResolver`], so it connects only to
//! addresses the SSRF guard accepted. A literal IP in the URL is checked directly, since it
//! never reaches a resolver, and a name is pre-checked so that a refusal is final rather than
//! retried like a network error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue, RETRY_AFTER};
use ucrm_storage::WebhookCall;

use super::retry::parse_retry_after;
use super::ssrf::{GuardedResolver, SsrfGuard};
use crate::adapter_client::error_chain;
use crate::signing::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::Secret;

/// Header carrying the call id, the same on every attempt.
pub const DELIVERY_ID_HEADER: &str = "X-UCRM-Delivery-Id";
/// Header carrying the attempt number, from 1.
pub const ATTEMPT_HEADER: &str = "X-UCRM-Attempt";
/// How much of a response body is kept.
pub const RESPONSE_SNIPPET_BYTES: usize = 4096;

/// What one attempt came to.
#[derive(Debug, Clone, Default)]
pub struct AttemptOutcome {
    /// The receiver's status, if it answered.
    pub status_code: Option<u16>,
    /// Time to the answer or the failure.
    pub latency_ms: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// The first 4 KiB of the response body.
    pub response: String,
    /// The receiver's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
    /// The SSRF guard refused the target: final, never retried.
    pub refused: bool,
}

/// The shared HTTP client of the dispatcher.
#[derive(Clone)]
pub struct DeliveryClient {
    http: reqwest::Client,
    guard: Arc<SsrfGuard>,
}

impl DeliveryClient {
    /// Builds the client around `guard`.
    pub fn new(guard: SsrfGuard, connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        let guard = Arc::new(guard);
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("ucrm-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(DeliveryClient { http, guard })
    }

    /// The guard, for checks at creation time.
    pub fn guard(&self) -> &SsrfGuard {
        &self.guard
    }

    /// Makes attempt number `attempt` of `call`, signing with `secret` when given.
    pub async fn attempt(
        &self,
        call: &WebhookCall,
        attempt: u32,
        secret: Option<&Secret>,
    ) -> AttemptOutcome {
        let started = Instant::now();
        let refused = |why: String| AttemptOutcome {
            error: Some(format!("refused by the SSRF guard: {why}")),
            refused: true,
            ..AttemptOutcome::default()
        };
        let url = match reqwest::Url::parse(&call.url) {
            Ok(u) => u,
            Err(e) => return refused(format!("bad URL: {e}")),
        };
        if let Err(why) = self.guard.check_url(&url) {
            return refused(why);
        }
        if let Some(domain) = url.domain() {
            if let Err(why) = self.guard.resolve(domain).await {
                if why.contains("forbidden") {
                    return refused(why);
                }
            }
        }

        let request = self.build(call, url, attempt, secret);
        let result = match request {
            Ok(req) => req.send().await,
            Err(e) => {
                return AttemptOutcome {
                    error: Some(e),
                    refused: true,
                    ..AttemptOutcome::default()
                }
            }
        };
        let mut outcome = AttemptOutcome::default();
        match result {
            Ok(mut resp) => {
                outcome.status_code = Some(resp.status().as_u16());
                outcome.retry_after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
                let mut body = Vec::new();
                while body.len() < RESPONSE_SNIPPET_BYTES {
                    match resp.chunk().await {
                        Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                        Ok(None) => break,
                        Err(e) => {
                            outcome.error = Some(format!("reading the response failed: {e}"));
                            break;
                        }
                    }
                }
                body.truncate(RESPONSE_SNIPPET_BYTES);
                outcome.response = String::from_utf8_lossy(&body).into_owned();
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else {
                    "connection error"
                };
                outcome.error = Some(format!("{kind}: {}", error_chain(&e)));
            }
        }
        outcome.latency_ms = started.elapsed().as_millis() as u64;
        outcome
    }

    fn build(
        &self,
        call: &WebhookCall,
        url: reqwest::Url,
        attempt: u32,
        secret: Option<&Secret>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let method =
            reqwest::Method::from_bytes(call.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self
            .http
            .request(method, url)
            .timeout(Duration::from_millis(call.timeout_ms))
            .header("content-type", "application/json");
        for (name, value) in &call.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
            let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
            req = req.header(name, value);
        }
        let ts = chrono::Utc::now().timestamp();
        req = req
            .header(DELIVERY_ID_HEADER, &call.id)
            .header(ATTEMPT_HEADER, attempt.to_string())
            .header(TIMESTAMP_HEADER, ts.to_string());
        // A GET carries no body, so its signature covers the empty body.
        let body = if call.method == "GET" {
            ""
        } else {
            call.body.as_str()
        };
        if let Some(secret) = secret {
            req = req.header(SIGNATURE_HEADER, sign(secret, ts, body.as_bytes()));
        }
        if !body.is_empty() {
            req = req.body(body.to_owned());
        }
        Ok(req)
    }
}
