//! Product events: `POST /v1/events` and `POST /v1/events/batch`, with tenant API keys.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use ucrm_actors::ingest::{IngestAnswer, IngestEvents, Receipt};
use ucrm_actors::track::{parse_batch, parse_track_event, TrackEvent};

use super::{await_reply, mailbox_error, time};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{bearer, read_body, require_content_type, secret_eq};

crate::endpoints! {
    post "/v1/events" => track, ApiKey,
        "Store one product event (signup, push_opened, custom_*, ...).";
    post "/v1/events/batch" => track_batch, ApiKey, "Store up to 100 product events at once.";
}

/// The longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The tenant of the request's API key, compared in constant time against every key.
fn tenant_of(req: &HttpRequest, state: &AppState) -> Result<String, ApiError> {
    let given =
        bearer(req).ok_or_else(|| ApiError::unauthorized("an API key bearer token is required"))?;
    let mut tenant = None;
    for key in &state.config.api_keys {
        if secret_eq(given, key.key.expose()) {
            tenant = Some(key.tenant.clone());
        }
    }
    tenant.ok_or_else(|| ApiError::unauthorized("the API key is not valid"))
}

fn idempotency_key(req: &HttpRequest, endpoint: &str) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .ok_or_else(|| {
            ApiError::validation("Idempotency-Key", "must be 1 to 255 visible characters")
        })?;
    Ok(Some(format!("{endpoint}:{key}")))
}

fn receipt_json(r: &Receipt) -> Value {
    json!({ "ingestion_id": r.ingestion_id, "received_at": time(r.received_at_ms) })
}

async fn ingest(
    req: &HttpRequest,
    state: &AppState,
    events: Vec<TrackEvent>,
    endpoint: &str,
    tenant: String,
) -> Result<(IngestAnswer, Option<String>), ApiError> {
    let key = idempotency_key(req, endpoint)?;
    let (reply, rx) = oneshot::channel();
    let msg = IngestEvents {
        tenant,
        events,
        idempotency_key: key.clone(),
        reply,
    };
    state
        .ingestor
        .try_send(msg)
        .map_err(|e| mailbox_error(e, "ingestor"))?;
    let answer = await_reply(state, rx).await?;
    metrics::counter!("ucrm_tracked_events_total", "replay" => answer.replay.to_string())
        .increment(answer.receipts.len() as u64);
    Ok((answer, key))
}

fn accepted(data: Value, replay: bool) -> HttpResponse {
    let mut resp = HttpResponse::Accepted();
    if replay {
        resp.insert_header(("Idempotent-Replayed", "true"));
    }
    resp.json(json!({ "data": data }))
}

async fn track(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_of(&req, &state)?;
    let body = read_body(&req, payload, state.config.server.max_body_bytes).await?;
    require_content_type(&req, "application/json")?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation("body", format!("is not valid JSON: {e}")))?;
    let event = parse_track_event(&value, "")?;
    let (answer, _) = ingest(&req, &state, vec![event], "single", tenant).await?;
    let first = answer
        .receipts
        .first()
        .map(receipt_json)
        .unwrap_or(Value::Null);
    Ok(accepted(first, answer.replay))
}

async fn track_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_of(&req, &state)?;
    let body = read_body(&req, payload, state.config.server.max_body_bytes).await?;
    require_content_type(&req, "application/json")?;
    let events = parse_batch(&body)?;
    let (answer, _) = ingest(&req, &state, events, "batch", tenant).await?;
    let receipts: Vec<Value> = answer.receipts.iter().map(receipt_json).collect();
    Ok(accepted(Value::Array(receipts), answer.replay))
}
