//! [`AdapterClient`]: UCRM's signed calls to a casino platform (SPEC §8).
//!
//! Grant, cancel and status calls go to the adapter's `platform_base_url`, signed like inbound
//! webhooks (`X-UCRM-Timestamp`, `X-UCRM-Signature` over `"<ts>.<body>"`, an empty body for a
//! GET). A platform 4xx is final ([`PlatformError::Rejected`]); a 5xx, a timeout or a network
//! error is retryable ([`PlatformError::Unavailable`]). Calls per adapter are bounded by a
//! semaphore so a slow platform cannot absorb every connection.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use ucrm_storage::GrantStatus;

use crate::signing::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::Secret;

/// Why a platform call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The platform answered 4xx: final, do not retry.
    #[error("platform refused the call with {status}: {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The start of the platform's answer.
        message: String,
    },
    /// 5xx, timeout or network error: may succeed later.
    #[error("platform unavailable: {0}")]
    Unavailable(String),
}

/// Options of every adapter client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Calls in flight per adapter.
    pub concurrency: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            concurrency: 8,
        }
    }
}

/// What the platform answered to a grant call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlatformGrant {
    /// The platform's id of the bonus.
    pub platform_bonus_id: String,
    /// `credited` or `pending`.
    pub status: String,
}

/// What the platform reports about one bonus.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformBonus {
    /// The status, mapped to UCRM's (`credited` and `active` are both active).
    pub status: GrantStatus,
    /// Event data the platform sent along (`total_wagered`, `completed_at`, `reason`).
    pub data: Value,
}

/// The fields of a grant call.
#[derive(Debug, Clone)]
pub struct GrantCall {
    /// UCRM's grant id, so the platform can refer to it in webhooks.
    pub grant_id: String,
    /// UCRM's player id.
    pub player_id: String,
    /// The player's id on the platform.
    pub player_external_id: String,
    /// Amount in minor units.
    pub amount_subunit: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The bonus template, if any.
    pub template_id: Option<String>,
}

/// A signed HTTP client for one adapter's platform.
#[derive(Clone)]
pub struct AdapterClient {
    slug: String,
    base_url: String,
    secret: Secret,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for AdapterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterClient")
            .field("slug", &self.slug)
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// Builds the HTTP client shared by the adapter clients: timeouts, no proxy, no redirects.
pub fn build_http_client(options: &ClientOptions) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .timeout(options.timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ucrm-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl AdapterClient {
    /// A client for adapter `slug` at `base_url`, signing with `secret`.
    pub fn new(
        slug: &str,
        base_url: &str,
        secret: Secret,
        http: reqwest::Client,
        concurrency: usize,
    ) -> Self {
        AdapterClient {
            slug: slug.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret,
            http,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// The adapter's slug.
    pub fn slug(&self) -> &str {
        &self.slug
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, PlatformError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PlatformError::Unavailable("client closed".into()))?;
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let ts = chrono::Utc::now().timestamp();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SIGNATURE_HEADER, sign(&self.secret, ts, &bytes));
        if !bytes.is_empty() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| PlatformError::Unavailable(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| PlatformError::Unavailable(error_chain(&e)))?;
        match status {
            200..=299 => serde_json::from_str(&text).or_else(|_| {
                if text.trim().is_empty() {
                    Ok(Value::Null)
                } else {
                    Err(PlatformError::Unavailable(
                        "platform answered with invalid JSON".into(),
                    ))
                }
            }),
            400..=499 => Err(PlatformError::Rejected {
                status,
                message: text.chars().take(200).collect(),
            }),
            _ => Err(PlatformError::Unavailable(format!(
                "platform answered {status}"
            ))),
        }
    }

    /// Asks the platform to issue a bonus.
    pub async fn grant(&self, call: &GrantCall) -> Result<PlatformGrant, PlatformError> {
        let body = json!({
            "grant_id": call.grant_id,
            "player_id": call.player_id,
            "player_external_id": call.player_external_id,
            "amount_subunit": call.amount_subunit,
            "currency": call.currency,
            "template_id": call.template_id,
        });
        let answer = self
            .call(reqwest::Method::POST, "/v1/bonuses/grant", Some(body))
            .await?;
        let grant: PlatformGrant = serde_json::from_value(answer)
            .map_err(|e| PlatformError::Unavailable(format!("unexpected grant answer: {e}")))?;
        if !matches!(grant.status.as_str(), "credited" | "pending") {
            return Err(PlatformError::Unavailable(format!(
                "unexpected grant status {:?}",
                grant.status
            )));
        }
        Ok(grant)
    }

    /// Asks the platform to cancel a bonus.
    pub async fn cancel(&self, platform_bonus_id: &str) -> Result<(), PlatformError> {
        let body = json!({ "platform_bonus_id": platform_bonus_id });
        self.call(reqwest::Method::POST, "/v1/bonuses/cancel", Some(body))
            .await
            .map(|_| ())
    }

    /// Asks the platform for a bonus's status.
    pub async fn status(&self, platform_bonus_id: &str) -> Result<PlatformBonus, PlatformError> {
        let path = format!("/v1/bonuses/{}", encode_segment(platform_bonus_id));
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        let status = answer.get("status").and_then(Value::as_str).unwrap_or("");
        let status = match status {
            "credited" | "active" => GrantStatus::Active,
            other => GrantStatus::parse(other).ok_or_else(|| {
                PlatformError::Unavailable(format!("unknown platform status {other:?}"))
            })?,
        };
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        Ok(PlatformBonus { status, data })
    }
}

/// Percent-encodes one path segment.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error and its sources, joined with `: `.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("pb-1_x.y~z"), "pb-1_x.y~z");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}
