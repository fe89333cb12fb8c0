//! Admin API of sent messages: `POST /v1/messages`, `GET /v1/messages/{id}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use ucrm_actors::message_shard::{NewMessage, RegisterMessage};
use ucrm_storage::{Channel, Message, MessageStatus, Provider};

use super::{await_reply, data, time};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{json_body, Admin};

crate::endpoints! {
    post "/v1/messages" => create, Admin,
        "Register a sent message so provider feedback can find it.";
    get "/v1/messages/{id}" => show, Admin, "A message with its status and every provider report.";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMessage {
    channel: String,
    provider: String,
    provider_message_id: String,
    player_id: String,
    journey_id: Option<String>,
    status: Option<String>,
}

/// The JSON form of a message.
pub fn message_json(m: &Message) -> Value {
    let history: Vec<Value> = m
        .history
        .iter()
        .map(|h| {
            json!({
                "source": h.source, "event": h.event,
                "reported": h.reported.map(MessageStatus::as_str),
                "from": h.from.as_str(), "to": h.to.as_str(), "error_code": h.error_code,
                "occurred_at": h.occurred_at, "received_at": time(h.received_at_ms),
            })
        })
        .collect();
    json!({
        "id": m.id,
        "channel": m.channel.as_str(),
        "provider": m.provider.as_str(),
        "provider_message_id": m.provider_message_id,
        "player_id": m.player_id,
        "journey_id": m.journey_id,
        "status": m.status.as_str(),
        "history": history,
        "created_at": time(m.created_at_ms),
        "updated_at": time(m.updated_at_ms),
    })
}

async fn create(
    _admin: Admin,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateMessage = json_body(&req, payload, &state).await?;
    let channel = Channel::parse(&body.channel)
        .ok_or_else(|| ApiError::validation("channel", "must be email, sms or push"))?;
    let provider = Provider::parse(&body.provider)
        .ok_or_else(|| ApiError::validation("provider", "must be postmark, twilio or fcm"))?;
    if provider.channel() != channel {
        let why = format!("{} does not carry {}", provider.as_str(), channel.as_str());
        return Err(ApiError::validation("provider", why));
    }
    if body.provider_message_id.trim().is_empty() || body.provider_message_id.len() > 256 {
        return Err(ApiError::validation(
            "provider_message_id",
            "must be 1 to 256 bytes",
        ));
    }
    let status = match body.status.as_deref() {
        Some(s) => Some(
            MessageStatus::parse(s)
                .ok_or_else(|| ApiError::validation("status", "is not a message status"))?,
        ),
        None => None,
    };
    let message = NewMessage {
        channel,
        provider,
        provider_message_id: body.provider_message_id,
        player_id: body.player_id,
        journey_id: body.journey_id,
        status,
    };
    let (reply, rx) = oneshot::channel();
    state
        .messages
        .register(RegisterMessage { message, reply })?;
    let (message, created) = await_reply(&state, rx).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(data(status, message_json(&message)))
}

async fn show(
    _admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let message = state
        .store
        .message(&path.into_inner())
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok(data(StatusCode::OK, message_json(&message)))
}
