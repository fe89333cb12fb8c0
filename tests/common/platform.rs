//! A fake casino platform on `127.0.0.1:0` that checks UCRM's signatures on every call.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use ucrm_actors::signing::verify;
use ucrm_actors::Secret;

/// What the platform says about one bonus.
#[derive(Debug, Clone)]
pub enum Bonus {
    /// A status with data.
    Status(String, Value),
    /// Answer 500 for it.
    Failing,
}

/// Shared state of the fake platform.
#[derive(Default)]
pub struct PlatformState {
    /// Bonuses by platform id; absent ones answer 404.
    pub bonuses: HashMap<String, Bonus>,
    /// Calls whose signature did not verify.
    pub bad_signatures: usize,
    /// Cancel calls received, by platform id.
    pub cancelled: Vec<String>,
    /// Answers UCRM gave to webhooks the platform sent while granting.
    pub webhook_answers: Vec<Value>,
    /// Where UCRM listens, for webhooks sent while granting.
    pub ucrm_url: Option<String>,
}

/// The running fake platform.
pub struct Platform {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its state, to script answers and read what it saw.
    pub state: Arc<Mutex<PlatformState>>,
}

fn checked(req: &HttpRequest, body: &[u8], state: &Mutex<PlatformState>, secret: &str) -> bool {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    let ok = verify(
        &[Secret::new(secret)],
        header("X-UCRM-Timestamp"),
        header("X-UCRM-Signature"),
        body,
        chrono::Utc::now().timestamp(),
        300,
    )
    .is_ok();
    if !ok {
        state.lock().unwrap().bad_signatures += 1;
    }
    ok
}

impl Platform {
    /// Starts the platform; it verifies calls with `secret`.
    pub fn start(secret: &'static str) -> Platform {
        let state = Arc::new(Mutex::new(PlatformState::default()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = state.clone();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let data = web::Data::from(shared);
                HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route(
                            "/v1/bonuses/grant",
                            web::post().to(move |r, b, s| grant(r, b, s, secret)),
                        )
                        .route(
                            "/v1/bonuses/cancel",
                            web::post().to(move |r, b, s| cancel(r, b, s, secret)),
                        )
                        .route(
                            "/v1/bonuses/{id}",
                            web::get().to(move |r, p, s| status(r, p, s, secret)),
                        )
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run()
                .await
                .unwrap();
            });
        });
        Platform { url, state }
    }

    /// Sets what the platform reports for `platform_bonus_id`.
    pub fn set(&self, platform_bonus_id: &str, bonus: Option<Bonus>) {
        let mut state = self.state.lock().unwrap();
        match bonus {
            Some(b) => state.bonuses.insert(platform_bonus_id.to_owned(), b),
            None => state.bonuses.remove(platform_bonus_id),
        };
    }
}

/// Grant: amount 400 → 400, 500 → 503, 2000 → credited, 3000 → sends the credited webhook
/// to UCRM before answering (a race), anything else → pending.
async fn grant(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<PlatformState>>,
    secret: &'static str,
) -> HttpResponse {
    if !checked(&req, &body, &state, secret) {
        return HttpResponse::Unauthorized().finish();
    }
    let call: Value = serde_json::from_slice(&body).unwrap();
    let grant_id = call["grant_id"].as_str().unwrap().to_owned();
    let pid = format!("pb-{grant_id}");
    match call["amount_subunit"].as_i64().unwrap() {
        400 => return HttpResponse::BadRequest().json(json!({"error": "bonus not allowed"})),
        500 => return HttpResponse::ServiceUnavailable().finish(),
        3000 => {
            let ucrm = state.lock().unwrap().ucrm_url.clone().unwrap();
            let event = json!({"event": "bonus.credited", "event_id": format!("race-{grant_id}"),
                "ts": "2026-05-08T12:00:00Z", "grant_id": grant_id, "platform_bonus_id": pid,
                "data": {}})
            .to_string();
            let state2 = state.clone();
            actix_rt::spawn(async move {
                let url = format!("{ucrm}/v1/adapters/plat-casino/webhooks/bonus-events");
                let (_, answer) = super::read(super::post_signed(&url, &event, secret).await).await;
                state2.lock().unwrap().webhook_answers.push(answer);
            });
            actix_rt::time::sleep(Duration::from_millis(300)).await;
        }
        _ => {}
    }
    let status = if call["amount_subunit"] == 2000 {
        "credited"
    } else {
        "pending"
    };
    let mut s = state.lock().unwrap();
    s.bonuses
        .insert(pid.clone(), Bonus::Status(status.into(), json!({})));
    HttpResponse::Created().json(json!({"platform_bonus_id": pid, "status": status}))
}

async fn cancel(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<PlatformState>>,
    secret: &'static str,
) -> HttpResponse {
    if !checked(&req, &body, &state, secret) {
        return HttpResponse::Unauthorized().finish();
    }
    let call: Value = serde_json::from_slice(&body).unwrap();
    let pid = call["platform_bonus_id"].as_str().unwrap().to_owned();
    let mut s = state.lock().unwrap();
    s.cancelled.push(pid.clone());
    s.bonuses
        .insert(pid, Bonus::Status("cancelled".into(), json!({})));
    HttpResponse::Ok().json(json!({"ok": true}))
}

async fn status(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Mutex<PlatformState>>,
    secret: &'static str,
) -> HttpResponse {
    if !checked(&req, b"", &state, secret) {
        return HttpResponse::Unauthorized().finish();
    }
    let pid = path.into_inner();
    let bonus = state.lock().unwrap().bonuses.get(&pid).cloned();
    match bonus {
        None => HttpResponse::NotFound().json(json!({"error": "no such bonus"})),
        Some(Bonus::Failing) => HttpResponse::InternalServerError().finish(),
        Some(Bonus::Status(status, data)) => HttpResponse::Ok()
            .json(json!({"platform_bonus_id": pid, "status": status, "data": data})),
    }
}
