//! `/healthz`, `/readyz`, `/metrics` and `/openapi.json`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::AppState;

crate::endpoints! {
    get "/healthz" => healthz, None, "Liveness: the process is up.";
    get "/readyz" => readyz, None, "Readiness: the store is open and the actors run.";
    get "/metrics" => metrics, None, "Prometheus metrics in text format.";
    get "/openapi.json" => openapi, None, "This OpenAPI document.";
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

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document(&super::endpoint_tables()))
}
