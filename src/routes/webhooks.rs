//! Inbound platform webhooks: `POST /v1/adapters/{slug}/webhooks/{bonus,kyc}-events`.
//!
//! Order of checks: unknown adapter (404), body size (413), content type (415), signature and
//! timestamp on the raw bytes (401), the adapter's rate limit (429), payload (422), then the
//! adapter's or tenant's supervisor (ledger, routing, state machine, durable commit).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use tokio::sync::oneshot;
use ucrm_actors::bonus::parse_bonus_event;
use ucrm_actors::kyc::parse_kyc_event;
use ucrm_actors::outcome::ledger_replay;
use ucrm_actors::signing::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use ucrm_actors::{EventOutcome, SubmitBonusEvent, SubmitKycEvent};
use ucrm_storage::{LedgerSubject, Source};

use super::{await_reply, mailbox_error};
use crate::app::{AdapterHandle, AppState};
use crate::error::ApiError;
use crate::extract::{read_body, require_content_type};

crate::endpoints! {
    post "/v1/adapters/{slug}/webhooks/bonus-events" => bonus_events, Signature,
        "A platform's bonus lifecycle event (SPEC section 4).";
    post "/v1/adapters/{slug}/webhooks/kyc-events" => kyc_events, Signature,
        "A platform's KYC event (SPEC section 5).";
}

/// Everything before the payload is parsed: adapter, body, content type, signature.
async fn verified_body<'a>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &'a AppState,
    slug: &str,
) -> Result<(&'a AdapterHandle, web::Bytes), ApiError> {
    let adapter = state
        .adapters
        .get(slug)
        .ok_or_else(|| ApiError::not_found("adapter"))?;
    let body = read_body(req, payload, state.config.server.max_body_bytes).await?;
    require_content_type(req, "application/json")?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    signing::verify(
        &adapter.secrets,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        chrono::Utc::now().timestamp(),
        state.config.server.signature_tolerance_secs,
    )?;
    adapter.limiter.check().map_err(|wait| {
        let mut e = ApiError::new(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!("adapter {slug} is over its rate limit"),
        );
        e.retry_after_secs = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        e
    })?;
    Ok((adapter, body))
}

fn answer(outcome: &EventOutcome) -> HttpResponse {
    let mut body = json!({
        "received": true,
        "applied": outcome.applied,
        "new_status": outcome.new_status,
    });
    if outcome.replay {
        body["replay"] = json!(true);
    }
    HttpResponse::Ok().json(body)
}

/// Counts and logs the outcome of one inbound event.
fn observe(endpoint: &'static str, slug: &str, result: &Result<EventOutcome, ApiError>) {
    let outcome = match result {
        Ok(o) if o.replay => "replay",
        Ok(o) if o.applied => "applied",
        Ok(_) => "not_applied",
        Err(e) => {
            log::info!(endpoint, adapter = slug, status = e.status.as_u16(), code = e.code,
                reason:% = e.message; "inbound event rejected");
            metrics::counter!("ucrm_inbound_events_total", "endpoint" => endpoint,
                "outcome" => "rejected", "reason" => e.reason())
            .increment(1);
            return;
        }
    };
    log::debug!(endpoint, adapter = slug, outcome; "inbound event answered");
    metrics::counter!("ucrm_inbound_events_total", "endpoint" => endpoint,
        "outcome" => outcome, "reason" => "")
    .increment(1);
}

async fn bonus_events(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let result = async {
        let (adapter, body) = verified_body(&req, payload, &state, &slug).await?;
        let event = parse_bonus_event(&body)?;
        // A replay is answered from the durable ledger without an actor hop.
        if let Some(replay) =
            ledger_replay(&state.store, &slug, &event.event_id, LedgerSubject::Grant).await?
        {
            return Ok(replay);
        }
        let (reply, rx) = oneshot::channel();
        let submit = SubmitBonusEvent {
            event,
            source: Source::Webhook,
            reply,
        };
        adapter
            .supervisor
            .try_send(submit)
            .map_err(|e| mailbox_error(e, "adapter_supervisor"))?;
        await_reply(&state, rx).await
    }
    .await;
    observe("bonus", &slug, &result);
    result.map(|o| answer(&o))
}

async fn kyc_events(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let result = async {
        let (adapter, body) = verified_body(&req, payload, &state, &slug).await?;
        let event = parse_kyc_event(&body)?;
        let tenant = state
            .tenants
            .get(&adapter.tenant)
            .ok_or_else(|| ApiError::internal(&"adapter tenant missing"))?;
        // Tenants that refuse platform KYC are answered 403 by their supervisor, replay or not.
        if tenant.kyc_model.accepts_platform_events() {
            let replay =
                ledger_replay(&state.store, &slug, &event.event_id, LedgerSubject::Player).await?;
            if let Some(replay) = replay {
                return Ok(replay);
            }
        }
        let (reply, rx) = oneshot::channel();
        let submit = SubmitKycEvent {
            adapter_slug: slug.clone(),
            event,
            reply,
        };
        tenant
            .supervisor
            .try_send(submit)
            .map_err(|e| mailbox_error(e, "tenant_supervisor"))?;
        await_reply(&state, rx).await
    }
    .await;
    observe("kyc", &slug, &result);
    result.map(|o| answer(&o))
}
