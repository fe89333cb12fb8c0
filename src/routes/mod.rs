//! HTTP routes, one file per resource, each declaring its endpoints once with
//! [`crate::endpoints!`], which registers them and lists them for `/openapi.json`.

use actix_web::{web, HttpResponse};

use crate::error::ApiError;

pub mod events;
pub mod grants;
pub mod health;
pub mod messages;
pub mod players;
pub mod providers;
pub mod reconcile;
pub mod webhook_calls;
pub mod webhooks;

/// Every endpoint table, for the OpenAPI document.
pub fn endpoint_tables() -> Vec<&'static [crate::openapi::Endpoint]> {
    vec![
        health::ENDPOINTS,
        webhooks::ENDPOINTS,
        players::ENDPOINTS,
        grants::ENDPOINTS,
        reconcile::ENDPOINTS,
        webhook_calls::ENDPOINTS,
        messages::ENDPOINTS,
        providers::ENDPOINTS,
        events::ENDPOINTS,
    ]
}

/// Registers every route and the 404 fallback.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    webhooks::configure(cfg);
    players::configure(cfg);
    grants::configure(cfg);
    reconcile::configure(cfg);
    webhook_calls::configure(cfg);
    messages::configure(cfg);
    providers::configure(cfg);
    events::configure(cfg);
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::validation("query", e.to_string()).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::validation("path", e.to_string()).into()),
    )
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}

/// Success envelope of the admin API: `{"data": …}`.
pub fn data(status: actix_web::http::StatusCode, value: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "data": value }))
}

/// Page size from a `limit` query value: default 50, at most 500.
pub fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation("limit", "must be between 1 and 500")),
    }
}

/// Parses an optional `status` filter of a listing.
pub fn status_filter<T>(
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    value
        .map(|s| {
            parse(s).ok_or_else(|| ApiError::validation("status", format!("{s:?} is not a status")))
        })
        .transpose()
}

/// The answer of a listing: `{"data": [...], "meta": {"next_cursor": ...}}`.
pub fn page_answer(items: Vec<serde_json::Value>, next_cursor: Option<String>) -> HttpResponse {
    HttpResponse::Ok()
        .json(serde_json::json!({ "data": items, "meta": { "next_cursor": next_cursor } }))
}

/// Waits for an actor's answer on `rx`, at most the configured request timeout.
pub async fn await_reply<T>(
    state: &crate::app::AppState,
    rx: tokio::sync::oneshot::Receiver<Result<T, ucrm_actors::DomainError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(state.request_timeout(), rx).await {
        Ok(Ok(result)) => result.map_err(Into::into),
        Ok(Err(_)) => Err(ApiError::unavailable("the service is shutting down")),
        Err(_) => Err(ApiError::unavailable(
            "timed out waiting for the event to be applied",
        )),
    }
}

/// Maps a failed `try_send` to an actor into 503.
pub fn mailbox_error<M>(e: actix::prelude::SendError<M>, actor: &'static str) -> ApiError {
    if matches!(e, actix::prelude::SendError::Full(_)) {
        metrics::counter!("ucrm_mailbox_rejections_total", "actor" => actor).increment(1);
    }
    ApiError::unavailable("the service is busy; retry shortly")
}

/// Formats stored milliseconds as RFC 3339.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
