//! `/healthz`, `/readyz` and `/metrics`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::AppState;

/// Registers the routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.is_open();
    let actors = state.adapters.values().all(|a| a.supervisor.connected())
        && state.tenants.values().all(|t| t.supervisor.connected());
    let body = json!({ "store": store, "actors": actors });
    if store && actors {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
