//! Messaging providers' delivery webhooks: Postmark (HTTP Basic) and Twilio (signed form).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde_json::json;
use tokio::sync::oneshot;
use ucrm_actors::message_shard::{ApplyReport, ReportOutcome};
use ucrm_actors::messaging::{parse_postmark_event, twilio, SuppressionChange, TwilioCallback};
use ucrm_storage::{now_ms, Channel, Provider, ProviderReport, SuppressionUpdate};

use super::await_reply;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{read_body, require_content_type, secret_eq};

crate::endpoints! {
    post "/v1/messaging-webhooks/postmark" => postmark, Basic,
        "Postmark delivery, bounce, spam complaint, open, click and subscription records.";
    post "/v1/messaging-webhooks/twilio" => twilio_status, Twilio,
        "Twilio SMS status callbacks (form-encoded, X-Twilio-Signature).";
}

/// Header carrying the optional Postmark token.
const POSTMARK_TOKEN_HEADER: &str = "X-Postmark-Webhook-Token";

fn answer(outcome: &ReportOutcome) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "received": true,
        "duplicate": outcome.duplicate,
        "applied": outcome.applied,
        "message_id": outcome.message_id,
        "status": outcome.status.map(|s| s.as_str()),
        "waiting_for_message": outcome.waiting,
    }))
}

fn observe(provider: &'static str, result: &Result<ReportOutcome, ApiError>) {
    let outcome = match result {
        Ok(o) if o.duplicate => "duplicate",
        Ok(o) if o.waiting => "waiting",
        Ok(o) if o.applied => "applied",
        Ok(_) => "not_applied",
        Err(e) => {
            log::info!(provider, status = e.status.as_u16(), code = e.code, reason:% = e.message;
                "provider webhook rejected");
            "rejected"
        }
    };
    metrics::counter!("ucrm_provider_events_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
}

/// Checks Postmark's Basic credentials (and header token when configured) in constant time.
fn postmark_authorized(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let config = state
        .config
        .messaging
        .postmark
        .as_ref()
        .ok_or_else(|| ApiError::not_found("postmark webhook (not configured)"))?;
    let denied = || ApiError::unauthorized("valid Postmark credentials are required");
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let encoded = header("authorization")
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, creds)| creds.trim())
        .ok_or_else(denied)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| denied())?;
    let decoded = String::from_utf8(decoded).map_err(|_| denied())?;
    let (user, password) = decoded.split_once(':').ok_or_else(denied)?;
    let user_ok = secret_eq(user, &config.basic_auth_user);
    let password_ok = secret_eq(password, config.basic_auth_password.expose());
    let token_ok = match &config.header_token {
        Some(token) => header(POSTMARK_TOKEN_HEADER).is_some_and(|t| secret_eq(t, token.expose())),
        None => true,
    };
    if user_ok & password_ok & token_ok {
        Ok(())
    } else {
        Err(denied())
    }
}

async fn apply(
    state: &AppState,
    msg_parts: (Provider, Option<String>, String, ProviderReport),
) -> Result<ReportOutcome, ApiError> {
    let (provider, provider_message_id, dedupe_key, report) = msg_parts;
    let (reply, rx) = oneshot::channel();
    state.messages.report(ApplyReport {
        provider,
        provider_message_id,
        dedupe_key,
        report,
        reply,
    })?;
    await_reply(state, rx).await
}

async fn postmark(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let result = async {
        postmark_authorized(&req, &state)?;
        let body = read_body(&req, payload, state.config.server.max_body_bytes).await?;
        require_content_type(&req, "application/json")?;
        let event = parse_postmark_event(&body)?;
        let suppression = event.suppression.clone().map(|change| match change {
            SuppressionChange::Suppress { reason } => SuppressionUpdate::Suppress {
                channel: Channel::Email,
                reason,
            },
            SuppressionChange::Lift => SuppressionUpdate::Lift {
                channel: Channel::Email,
            },
        });
        let report = ProviderReport {
            source: "postmark".into(),
            event: event.record_type.as_str().into(),
            status: event.status,
            suppression,
            recipient: event.recipient.clone(),
            error_code: event
                .bounce
                .as_ref()
                .and_then(|b| b.type_code)
                .map(|c| c.to_string()),
            occurred_at: event.occurred_at.clone(),
            received_at_ms: now_ms(),
        };
        apply(
            &state,
            (
                Provider::Postmark,
                event.message_id.clone(),
                event.dedupe_key.clone(),
                report,
            ),
        )
        .await
    }
    .await;
    observe("postmark", &result);
    result.map(|o| answer(&o))
}

async fn twilio_status(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let result = async {
        let config = state
            .config
            .messaging
            .twilio
            .as_ref()
            .ok_or_else(|| ApiError::not_found("twilio webhook (not configured)"))?;
        let body = read_body(&req, payload, state.config.server.max_body_bytes).await?;
        require_content_type(&req, "application/x-www-form-urlencoded")?;
        let params = twilio::parse_form(&body)?;
        let signature = req
            .headers()
            .get(twilio::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let url = format!(
            "{}{}",
            state.config.server.public_base_url.trim_end_matches('/'),
            req.uri()
                .path_and_query()
                .map_or(req.path(), |p| p.as_str())
        );
        if !twilio::verify_signature(config.auth_token.expose(), &url, &params, signature) {
            let mut e = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "FORBIDDEN",
                "X-Twilio-Signature does not match",
            );
            e.details = json!({ "reason": "bad_signature" });
            return Err(e);
        }
        let callback = TwilioCallback::from_params(&params)?;
        let suppression = callback
            .suppresses_sms()
            .then(|| SuppressionUpdate::Suppress {
                channel: Channel::Sms,
                reason: "recipient replied STOP (Twilio error 21610)".into(),
            });
        let dedupe_key = format!(
            "twilio/{}/{}/{}",
            callback.message_sid,
            callback.raw_status,
            callback.error_code.as_deref().unwrap_or("")
        );
        let report = ProviderReport {
            source: "twilio".into(),
            event: callback.raw_status.clone(),
            status: Some(callback.status),
            suppression,
            recipient: callback.to.clone(),
            error_code: callback.error_code.clone(),
            occurred_at: None,
            received_at_ms: now_ms(),
        };
        apply(
            &state,
            (
                Provider::Twilio,
                Some(callback.message_sid.clone()),
                dedupe_key,
                report,
            ),
        )
        .await
    }
    .await;
    observe("twilio", &result);
    result.map(|o| answer(&o))
}
