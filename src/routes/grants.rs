//! Admin API for bonus grants: create, show, list.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use ucrm_actors::{CancelGrant, NewGrant, RegisterGrant};
use ucrm_storage::{Grant, GrantHistoryEntry, GrantStatus};

use super::{await_reply, data, mailbox_error, page_answer, page_limit, status_filter, time};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{json_body, Admin};

crate::endpoints! {
    post "/v1/bonus-grants" => create, Admin, "Issue a grant (on the platform when configured).";
    get "/v1/bonus-grants" => list, Admin, "List grants by adapter and status, paged.";
    get "/v1/bonus-grants/{id}" => show, Admin, "A grant with its history.";
    post "/v1/bonus-grants/{id}/cancel" => cancel, Admin,
        "Cancel a grant on the platform, then here.";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateGrant {
    adapter_slug: String,
    player_id: String,
    amount_subunit: i64,
    currency: String,
    template_id: Option<String>,
    platform_bonus_id: Option<String>,
}

/// The JSON form of a grant with its history, read from the store.
fn grant_view(state: &AppState, g: &Grant) -> Result<Value, ApiError> {
    let history = state
        .store
        .grant_history(&g.id)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(grant_json(g, &history))
}

/// The JSON form of a grant and its history.
pub fn grant_json(g: &Grant, history: &[GrantHistoryEntry]) -> Value {
    let history: Vec<Value> = history
        .iter()
        .map(|h| {
            json!({
                "event": h.event, "event_id": h.event_id, "source": h.source.as_str(),
                "from": h.from.as_str(), "to": h.to.as_str(), "at": time(h.at_ms),
            })
        })
        .collect();
    json!({
        "id": g.id,
        "adapter_slug": g.adapter_slug,
        "player_id": g.player_id,
        "status": g.status.as_str(),
        "platform_bonus_id": g.platform_bonus_id,
        "amount_subunit": g.amount_subunit,
        "currency": g.currency,
        "template_id": g.template_id,
        "created_at": time(g.created_at_ms),
        "activated_at": g.activated_at_ms.map(time),
        "completed_at": g.completed_at,
        "total_wagered": g.total_wagered,
        "reason": g.reason,
        "updated_at": time(g.updated_at_ms),
        "history": history,
    })
}

async fn create(
    _admin: Admin,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateGrant = json_body(&req, payload, &state).await?;
    let adapter = state
        .adapters
        .get(&body.adapter_slug)
        .ok_or_else(|| ApiError::validation("adapter_slug", "names no configured adapter"))?;
    if body.amount_subunit <= 0 {
        return Err(ApiError::validation(
            "amount_subunit",
            "must be a positive integer",
        ));
    }
    if body.currency.len() != 3 || !body.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::validation(
            "currency",
            "must be a three-letter ISO 4217 code",
        ));
    }
    let grant = NewGrant {
        player_id: body.player_id,
        amount_subunit: body.amount_subunit,
        currency: body.currency,
        template_id: body.template_id,
        platform_bonus_id: body.platform_bonus_id,
    };
    let (reply, rx) = oneshot::channel();
    adapter
        .supervisor
        .try_send(RegisterGrant { grant, reply })
        .map_err(|e| mailbox_error(e, "adapter_supervisor"))?;
    let grant = await_reply(&state, rx).await?;
    log::debug!(
        grant_id = grant.id.as_str(), adapter = grant.adapter_slug.as_str();
        "grant registered"
    );
    Ok(data(StatusCode::CREATED, grant_view(&state, &grant)?))
}

async fn show(
    _admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let grant = state
        .store
        .grant(&path.into_inner())
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::not_found("grant"))?;
    Ok(data(StatusCode::OK, grant_view(&state, &grant)?))
}

#[derive(Deserialize)]
struct ListQuery {
    adapter: Option<String>,
    status: Option<String>,
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
    let status = status_filter(q.status.as_deref(), GrantStatus::parse)?;
    let page = state
        .store
        .grants(q.adapter.as_deref(), status, q.cursor.as_deref(), limit)
        .map_err(|e| ApiError::internal(&e))?;
    let items = page
        .items
        .iter()
        .map(|g| grant_view(&state, g))
        .collect::<Result<Vec<Value>, ApiError>>()?;
    Ok(page_answer(items, page.next_cursor))
}

async fn cancel(
    _admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let grant_id = path.into_inner();
    let grant = state
        .store
        .grant(&grant_id)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::not_found("grant"))?;
    let adapter = state
        .adapters
        .get(&grant.adapter_slug)
        .ok_or_else(|| ApiError::not_found("grant"))?;
    let (reply, rx) = oneshot::channel();
    adapter
        .supervisor
        .try_send(CancelGrant { grant_id, reply })
        .map_err(|e| mailbox_error(e, "adapter_supervisor"))?;
    let grant = await_reply(&state, rx).await?;
    log::info!(
        grant_id = grant.id.as_str(), adapter = grant.adapter_slug.as_str();
        "grant cancelled"
    );
    Ok(data(StatusCode::OK, grant_view(&state, &grant)?))
}
