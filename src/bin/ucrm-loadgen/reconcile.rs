//! The reconcile mode: a built-in fake platform that issues every bonus as pending and then
//! reports it completed, N grants seeded through it, and one timed reconciliation pass.
//!
//! The platform does not check UCRM's signatures (the integration tests do that); it only
//! answers fast, so the figure is the reconciler's own speed.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::{bail, Context as _};
use serde_json::{json, Value};

use crate::admin::Api;
use crate::report::{per_sec, Report, Verification};

/// Calls the fake platform answered.
#[derive(Default)]
struct Calls {
    grants: AtomicU64,
    statuses: AtomicU64,
}

/// The fake platform on loopback.
pub struct Platform {
    /// `http://ADDR`.
    pub url: String,
    calls: Arc<Calls>,
}

impl Platform {
    /// Starts the platform on `bind` (such as `127.0.0.1:0`) on a thread of its own.
    pub fn start(bind: &str) -> anyhow::Result<Platform> {
        let listener = TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let calls = Arc::new(Calls::default());
        let data = web::Data::from(calls.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route("/v1/bonuses/grant", web::post().to(grant))
                        .route("/v1/bonuses/{id}", web::get().to(status))
                })
                .workers(1)
                .listen(listener);
                match server {
                    Ok(server) => {
                        let _ = tx.send(Ok(()));
                        let _ = server.run().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
        });
        rx.recv()
            .context("the platform thread stopped")?
            .context("starting the fake platform")?;
        Ok(Platform { url, calls })
    }
}

/// Issues a bonus: always pending, with a platform id derived from the grant id.
async fn grant(body: web::Bytes, calls: web::Data<Calls>) -> HttpResponse {
    calls.grants.fetch_add(1, Ordering::Relaxed);
    let call: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(grant_id) = call["grant_id"].as_str() else {
        return HttpResponse::BadRequest().json(json!({"error": "grant_id is required"}));
    };
    HttpResponse::Created()
        .json(json!({"platform_bonus_id": format!("lg-pb-{grant_id}"), "status": "pending"}))
}

/// Reports every bonus completed.
async fn status(path: web::Path<String>, calls: web::Data<Calls>) -> HttpResponse {
    calls.statuses.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok().json(json!({
        "platform_bonus_id": path.into_inner(), "status": "completed",
        "data": {"total_wagered": 0, "completed_at": "2026-05-08T12:00:00Z"},
    }))
}

/// Seeds `grants` grants through the platform, runs one reconciliation pass of the adapter
/// and checks every seeded grant came out completed.
pub async fn run(
    api: &Api<'_>,
    platform: &Platform,
    run: &str,
    grants: usize,
    concurrency: usize,
) -> anyhow::Result<Report> {
    let seeded = api.seed(run, grants, true, concurrency).await?;
    let ids: HashSet<String> = seeded.into_iter().filter_map(|s| s.grant_id).collect();
    let issued = platform.calls.grants.load(Ordering::Relaxed);

    let adapter = &api.target.adapter;
    eprintln!("reconciling {} grants of {adapter}", ids.len());
    let before = platform.calls.statuses.load(Ordering::Relaxed);
    let started = Instant::now();
    let (code, body) = api
        .admin(
            reqwest::Method::POST,
            &format!("/v1/admin/reconcile?adapter={adapter}"),
            None,
        )
        .await?;
    let elapsed = started.elapsed();
    if code != 200 {
        bail!("POST /v1/admin/reconcile answered {code}: {body}");
    }
    let summary = body["data"].clone();
    let status_calls = platform.calls.statuses.load(Ordering::Relaxed) - before;

    let completed = api
        .list_all(&format!(
            "/v1/bonus-grants?adapter={adapter}&status=completed"
        ))
        .await?
        .iter()
        .filter(|g| g["id"].as_str().is_some_and(|id| ids.contains(id)))
        .count();
    let count = |k: &str| summary[k].as_u64().unwrap_or(0);
    let mut failures = Vec::new();
    if completed < ids.len() {
        failures.push(format!(
            "{completed} of {} seeded grants completed",
            ids.len()
        ));
    }
    if count("errors") > 0 {
        failures.push(format!("the pass counted {} errors", count("errors")));
    }
    let verification = Verification {
        ok: failures.is_empty(),
        summary: format!(
            "{completed} of {} seeded grants completed; the pass checked {}, repaired {}, \
             errors {}",
            ids.len(),
            count("checked"),
            count("repaired"),
            count("errors")
        ),
        failures,
    };

    let checked = count("checked");
    let mut report = Report::from_stats(
        "reconcile",
        &api.target.info,
        concurrency,
        crate::driver::Stats {
            sent: status_calls,
            ok: count("repaired"),
            elapsed,
            ..Default::default()
        },
        "grants checked/s",
        verification,
    );
    report.rate_per_sec = per_sec(checked, elapsed);
    report.extra.insert("grants".into(), json!(ids.len()));
    report
        .extra
        .insert("platform_grant_calls".into(), json!(issued));
    report
        .extra
        .insert("platform_status_calls".into(), json!(status_calls));
    report
        .extra
        .insert("pass_ms".into(), json!(count("duration_ms")));
    report.extra.insert("summary".into(), summary);
    Ok(report)
}
