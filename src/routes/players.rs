//! Admin API for players: `POST /v1/players`, `GET /v1/players/{id}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use ucrm_actors::{NewPlayer, UpsertPlayer};
use ucrm_storage::{Channel, Player};

use super::{await_reply, data, mailbox_error, time};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{json_body, Admin};

crate::endpoints! {
    post "/v1/players" => create, Admin, "Create a player, or find the one with that external id.";
    get "/v1/players/{id}" => show, Admin, "A player with KYC state and history.";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePlayer {
    tenant_id: String,
    external_id: String,
    email: Option<String>,
    phone: Option<String>,
}

/// A player's suppressions on email and SMS, as shown on the player.
fn suppressions_json(state: &AppState, player_id: &str) -> Result<Value, ApiError> {
    let mut out = serde_json::Map::new();
    for channel in [Channel::Email, Channel::Sms] {
        let s = state
            .store
            .suppression(player_id, channel)
            .map_err(|e| ApiError::internal(&e))?;
        let value = match s {
            Some(s) => json!({
                "suppressed": s.suppressed, "reason": s.reason, "source": s.source,
                "at": time(s.at_ms),
            }),
            None => json!({ "suppressed": false, "reason": null, "source": null, "at": null }),
        };
        out.insert(channel.as_str().into(), value);
    }
    Ok(Value::Object(out))
}

/// The JSON form of a player, with its suppressions.
fn player_with_suppressions(state: &AppState, p: &Player) -> Result<Value, ApiError> {
    let mut value = player_json(p);
    value["suppressions"] = suppressions_json(state, &p.id)?;
    Ok(value)
}

/// The JSON form of a player.
pub fn player_json(p: &Player) -> Value {
    let history: Vec<Value> = p
        .kyc_history
        .iter()
        .map(|h| {
            json!({
                "event": h.event, "event_id": h.event_id, "adapter_slug": h.adapter_slug,
                "level": h.level, "from": h.from.as_str(), "to": h.to.as_str(), "at": time(h.at_ms),
            })
        })
        .collect();
    json!({
        "id": p.id,
        "tenant_id": p.tenant_id,
        "external_id": p.external_id,
        "email": p.email,
        "phone": p.phone,
        "created_at": time(p.created_at_ms),
        "kyc": {
            "status": p.kyc.status.as_str(),
            "level": p.kyc.level,
            "pending_level": p.kyc.pending_level,
            "expires_at": p.kyc.expires_at,
            "reason": p.kyc.reason,
            "updated_at": p.kyc.updated_at_ms.map(time),
            "history": history,
        },
    })
}

async fn create(
    _admin: Admin,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: CreatePlayer = json_body(&req, payload, &state).await?;
    let tenant = state
        .tenants
        .get(&body.tenant_id)
        .ok_or_else(|| ApiError::validation("tenant_id", "names no configured tenant"))?;
    if body.external_id.trim().is_empty()
        || body.external_id.len() > ucrm_actors::fields::MAX_ID_BYTES
    {
        return Err(ApiError::validation(
            "external_id",
            "must be 1 to 256 bytes",
        ));
    }
    let (reply, rx) = oneshot::channel();
    let player = NewPlayer {
        external_id: body.external_id,
        email: body.email,
        phone: body.phone,
    };
    tenant
        .supervisor
        .try_send(UpsertPlayer { player, reply })
        .map_err(|e| mailbox_error(e, "tenant_supervisor"))?;
    let (player, created) = await_reply(&state, rx).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(data(status, player_with_suppressions(&state, &player)?))
}

async fn show(
    _admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let player = state
        .store
        .player(&path.into_inner())
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "PLAYER_NOT_FOUND",
                "player not found",
            )
        })?;
    Ok(data(
        StatusCode::OK,
        player_with_suppressions(&state, &player)?,
    ))
}
