//! A webhook receiver on `127.0.0.1:0` that answers from a script and records every request.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// One request the receiver saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request headers, lowercase names.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Seen {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Scripted answers (status, optional Retry-After); when empty, 200.
#[derive(Default)]
pub struct Script {
    /// Answers still to give.
    pub answers: VecDeque<(u16, Option<String>)>,
    /// Requests seen so far.
    pub seen: Vec<Seen>,
}

/// A running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Script and record.
    pub script: Arc<Mutex<Script>>,
}

impl Receiver {
    /// Starts a receiver answering `answers` in order, then 200.
    pub fn start(answers: &[(u16, Option<&str>)]) -> Receiver {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), answers)
    }

    /// Starts a receiver on `listener`.
    pub fn start_on(listener: TcpListener, answers: &[(u16, Option<&str>)]) -> Receiver {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script {
            answers: answers
                .iter()
                .map(|(s, r)| (*s, r.map(str::to_owned)))
                .collect(),
            seen: Vec::new(),
        }));
        let shared = web::Data::from(script.clone());
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .default_service(web::to(answer))
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run()
                .await
                .unwrap();
            });
        });
        Receiver { url, script }
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }
}

async fn answer(
    req: HttpRequest,
    body: web::Bytes,
    script: web::Data<Mutex<Script>>,
) -> HttpResponse {
    let mut s = script.lock().unwrap();
    s.seen.push(Seen {
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    let (status, retry_after) = s.answers.pop_front().unwrap_or((200, None));
    let mut resp = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(r) = retry_after {
        resp.insert_header(("Retry-After", r));
    }
    resp.body(format!("answer {status}"))
}
