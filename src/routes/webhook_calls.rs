//! Admin API of outbound `call_webhook` requests (SPEC §7).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use ucrm_actors::dispatcher::{EnqueueCall, RetryCall};
use ucrm_actors::outbound::request::{build_call, CallLimits};
use ucrm_storage::{CallStatus, WebhookCall};

use super::{await_reply, data, mailbox_error, page_answer, page_limit, status_filter, time};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{read_body, require_content_type, Admin};

crate::endpoints! {
    post "/v1/webhook-calls" => create, Admin,
        "Queue a signed outbound webhook for a journey node.";
    get "/v1/webhook-calls" => list, Admin, "List calls by status and journey, paged.";
    get "/v1/webhook-calls/{id}" => show, Admin, "A call with its status, outcome and attempts.";
    post "/v1/webhook-calls/{id}/retry" => retry, Admin, "Send a dead call again.";
}

/// The JSON form of a call.
pub fn call_json(c: &WebhookCall) -> Value {
    let attempts: Vec<Value> = c
        .attempts
        .iter()
        .map(|a| {
            json!({
                "number": a.number, "at": time(a.at_ms), "status_code": a.status_code,
                "latency_ms": a.latency_ms, "error": a.error, "response": a.response,
            })
        })
        .collect();
    let outcome = match c.status {
        CallStatus::Succeeded => Some("success"),
        CallStatus::Failed | CallStatus::Dead => Some("failure"),
        CallStatus::Pending | CallStatus::Delivering => None,
    };
    json!({
        "id": c.id,
        "journey_id": c.journey_id,
        "run_id": c.run_id,
        "node_id": c.node_id,
        "url": c.url,
        "method": c.method,
        "status": c.status.as_str(),
        "outcome": outcome,
        "signed": c.secret_name.is_some(),
        "body": c.body,
        "attempts": attempts,
        "next_attempt_at": c.status.is_open().then(|| time(c.next_attempt_at_ms)),
        "created_at": time(c.created_at_ms),
        "updated_at": time(c.updated_at_ms),
    })
}

async fn create(
    _admin: Admin,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, state.config.server.max_body_bytes).await?;
    require_content_type(&req, "application/json")?;
    let limits = CallLimits {
        secret_exists: &|name| state.outbound_secrets.contains(name),
        guard: state.delivery.guard(),
        default_timeout_ms: state.config.outbound.default_timeout_ms,
    };
    let call = build_call(&body, &limits)?;
    let (reply, rx) = oneshot::channel();
    state
        .dispatcher
        .try_send(EnqueueCall { call, reply })
        .map_err(|e| mailbox_error(e, "dispatcher"))?;
    let call = await_reply(&state, rx).await?;
    log::debug!(
        call_id = call.id.as_str(), journey_id = call.journey_id.as_str();
        "outbound call queued"
    );
    Ok(data(
        StatusCode::ACCEPTED,
        json!({ "id": call.id, "status": call.status.as_str() }),
    ))
}

async fn show(
    _admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let call = state
        .store
        .call(&path.into_inner())
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::not_found("webhook call"))?;
    Ok(data(StatusCode::OK, call_json(&call)))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    journey_id: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn list(
    _admin: Admin,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let status = status_filter(q.status.as_deref(), CallStatus::parse)?;
    let page = state
        .store
        .calls(status, q.journey_id.as_deref(), q.cursor.as_deref(), limit)
        .map_err(|e| ApiError::internal(&e))?;
    let items: Vec<Value> = page.items.iter().map(call_json).collect();
    Ok(page_answer(items, page.next_cursor))
}

async fn retry(
    _admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (reply, rx) = oneshot::channel();
    state
        .dispatcher
        .try_send(RetryCall {
            id: path.into_inner(),
            reply,
        })
        .map_err(|e| mailbox_error(e, "dispatcher"))?;
    let call = await_reply(&state, rx).await?;
    Ok(data(StatusCode::ACCEPTED, call_json(&call)))
}
