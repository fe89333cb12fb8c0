//! Admin API of the reconciler: `POST /v1/admin/reconcile`, `GET /v1/admin/reconcile/last`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tokio::sync::oneshot;
use ucrm_actors::reconciler::{LastReconcile, RunReconcile};

use super::data;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::Admin;

crate::endpoints! {
    post "/v1/admin/reconcile" => run, Admin,
        "Run one reconciliation pass now and return its summary.";
    get "/v1/admin/reconcile/last" => last, Admin, "The summary of the last reconciliation pass.";
}

#[derive(Deserialize)]
struct RunQuery {
    adapter: Option<String>,
}

async fn run(
    _admin: Admin,
    query: web::Query<RunQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (reply, rx) = oneshot::channel();
    let msg = RunReconcile {
        adapter: query.into_inner().adapter,
        reply,
    };
    state
        .reconciler
        .try_send(msg)
        .map_err(|e| super::mailbox_error(e, "reconciler"))?;
    // A run may take long on a big book of grants; it is not bound by the request timeout.
    let summary = rx
        .await
        .map_err(|_| ApiError::unavailable("the reconciler stopped"))??;
    Ok(data(
        StatusCode::OK,
        serde_json::to_value(summary).unwrap_or_default(),
    ))
}

async fn last(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let last = state
        .reconciler
        .send(LastReconcile)
        .await
        .map_err(|_| ApiError::unavailable("the reconciler stopped"))?;
    let summary = last.ok_or_else(|| ApiError::not_found("reconciliation run"))?;
    Ok(data(
        StatusCode::OK,
        serde_json::to_value(summary).unwrap_or_default(),
    ))
}
