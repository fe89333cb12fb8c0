//! Shared test harness: a real server on `127.0.0.1:0` over a temporary store, signed requests.
#![allow(dead_code)]

pub mod platform;
pub mod process;
pub mod receiver;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use serde_json::{json, Value};
use ucrm_actors::signing::sign;
use ucrm_actors::Secret;
use ucrm_webhooks::Config;

/// The admin token of test configs.
pub const ADMIN: &str = "test-admin-token";
/// The webhook secret of adapter `demo-casino`.
pub const SECRET: &str = "test-secret-demo";
/// The webhook secret of adapter `other-casino`.
pub const OTHER_SECRET: &str = "test-secret-other";

/// A test config over `dir`, with `extra` TOML appended (tables only).
pub fn config_text(dir: &Path, extra: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
admin_token = "{ADMIN}"
max_body_bytes = 4096
request_timeout_ms = 5000
shutdown_timeout_secs = 5

[storage]
path = "{path}"

[actors]
child_idle_ms = 200

[[tenants]]
id = "demo"
kyc_model = "platform_owns"

[[tenants]]
id = "dual"
kyc_model = "dual"

[[tenants]]
id = "crm"
kyc_model = "crm_owns"

[[tenants]]
id = "nokyc"
kyc_model = "none"

[[adapters]]
slug = "demo-casino"
tenant = "demo"
webhook_secret = "{SECRET}"

[[adapters]]
slug = "other-casino"
tenant = "demo"
webhook_secret = "{OTHER_SECRET}"

[[adapters]]
slug = "dual-casino"
tenant = "dual"
webhook_secret = "{SECRET}"

[[adapters]]
slug = "crm-casino"
tenant = "crm"
webhook_secret = "{SECRET}"

[[adapters]]
slug = "nokyc-casino"
tenant = "nokyc"
webhook_secret = "{SECRET}"

[[api_keys]]
key = "ucrm_pk_test_demo_0123456789"
tenant = "demo"
{extra}
"#,
        path = dir.display()
    )
}

/// A running server and its store directory.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The store directory (kept across restarts).
    pub dir: PathBuf,
    /// The config text it was started with.
    pub config: String,
    handle: Option<ServerHandle>,
    thread: Option<JoinHandle<()>>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server on a fresh temporary store with the default test config.
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// Starts a server on a fresh temporary store with `extra` config appended.
    pub fn start_with(extra: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let config = config_text(&dir, extra);
        let mut server = Self::start_config(config, dir);
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server from config text; `dir` is where its store lives.
    pub fn start_config(config: String, dir: PathBuf) -> Self {
        ucrm_webhooks::telemetry::install_crypto_provider();
        let parsed = Config::from_toml(&config, &Default::default()).expect("test config is valid");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let (handle, running) =
                    ucrm_webhooks::start(parsed, listener).expect("server starts");
                tx.send(handle).unwrap();
                running.await.expect("server runs");
            });
        });
        let handle = rx.recv().expect("server handle");
        TestServer {
            url,
            dir,
            config,
            handle: Some(handle),
            thread: Some(thread),
            _tmp: None,
        }
    }

    /// Stops the server gracefully and waits until its store is closed.
    pub fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            // Tests run inside a runtime, so the stop is awaited on a thread of its own.
            std::thread::spawn(move || actix_rt::System::new().block_on(handle.stop(true)))
                .join()
                .expect("server stops");
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread");
        }
    }

    /// Stops the server and starts a new one on the same store and config.
    pub fn restart(mut self) -> Self {
        self.stop();
        let mut next = Self::start_config(self.config.clone(), self.dir.clone());
        next._tmp = self._tmp.take();
        next
    }

    /// An absolute URL for `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A plain HTTP client for tests.
pub fn client() -> reqwest::Client {
    ucrm_webhooks::telemetry::install_crypto_provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Now, in unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Posts `body` signed with `secret` at `ts`.
pub async fn post_signed_at(url: &str, body: &str, secret: &str, ts: i64) -> reqwest::Response {
    let sig = sign(&Secret::new(secret), ts, body.as_bytes());
    client()
        .post(url)
        .header("content-type", "application/json")
        .header("X-UCRM-Timestamp", ts.to_string())
        .header("X-UCRM-Signature", sig)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// Posts `body` signed with `secret` now.
pub async fn post_signed(url: &str, body: &str, secret: &str) -> reqwest::Response {
    post_signed_at(url, body, secret, now()).await
}

/// Status and JSON body of a response.
pub async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// An admin API call.
pub async fn admin(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = client().request(method, url).bearer_auth(ADMIN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    read(req.send().await.unwrap()).await
}

/// Creates a player in `tenant` and returns its id.
pub async fn create_player(server: &TestServer, tenant: &str, external_id: &str) -> String {
    let (status, body) = admin(
        reqwest::Method::POST,
        &server.at("/v1/players"),
        Some(json!({"tenant_id": tenant, "external_id": external_id})),
    )
    .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

/// Creates a pending grant on `adapter` for a new player and returns the grant id.
pub async fn create_grant(server: &TestServer, adapter: &str) -> String {
    let player = create_player(server, "demo", &uuid::Uuid::new_v4().to_string()).await;
    let (status, body) = admin(
        reqwest::Method::POST,
        &server.at("/v1/bonus-grants"),
        Some(
            json!({"adapter_slug": adapter, "player_id": player, "amount_subunit": 1000,
                    "currency": "EUR"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

/// Reads a grant through the admin API.
pub async fn get_grant(server: &TestServer, id: &str) -> Value {
    let (status, body) = admin(
        reqwest::Method::GET,
        &server.at(&format!("/v1/bonus-grants/{id}")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// A bonus event body.
pub fn bonus_event(event: &str, event_id: &str, grant_id: &str, data: Value) -> String {
    json!({
        "event": event, "event_id": event_id, "ts": "2026-05-08T12:00:00Z",
        "grant_id": grant_id, "platform_bonus_id": "pb-1", "data": data,
    })
    .to_string()
}

/// The bonus webhook URL of `adapter`.
pub fn bonus_url(server: &TestServer, adapter: &str) -> String {
    server.at(&format!("/v1/adapters/{adapter}/webhooks/bonus-events"))
}
