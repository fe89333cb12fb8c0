//! The server under load: the real `ucrm-webhooks` binary spawned on a temporary store, or an
//! already running server named by its URL and credentials.
//!
//! A spawned server gets a config written for the run: loopback on port 0, one tenant and one
//! adapter whose rate limit is set out of reach (the limit is a product feature, not the thing
//! measured), loopback allowed for outbound calls, and the storage switches that let one run
//! measure its own ceilings. Its address is read from its `listening addr=` log line.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Serialize;
use ucrm_actors::Secret;

use crate::driver::Credentials;

/// Admin token of a spawned server.
const SPAWNED_ADMIN_TOKEN: &str = "loadgen-admin-token";
/// Webhook secret of a spawned server's adapter.
const SPAWNED_SECRET: &str = "loadgen-webhook-secret";
/// Tenant of a spawned server.
const SPAWNED_TENANT: &str = "loadgen";
/// Adapter of a spawned server.
const SPAWNED_ADAPTER: &str = "loadgen-casino";
/// How long a spawned server may take to report its address.
const START_TIMEOUT_SECS: u64 = 30;
/// Server log lines kept for the error message when something goes wrong.
const LOG_TAIL_LINES: usize = 20;

/// Storage and logging settings of a spawned server.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// `[storage] fsync`.
    pub fsync: bool,
    /// `[storage] group_commit_max_events`, when not the server's default.
    pub group_commit_max_events: Option<usize>,
    /// `[storage] group_commit_linger_us`, when not the server's default.
    pub group_commit_linger_us: Option<u64>,
    /// The adapter's `platform_base_url` (the fake platform of the reconcile mode).
    pub platform_base_url: Option<String>,
    /// `RUST_LOG` of the server.
    pub rust_log: String,
}

/// How the server under load was set up, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    /// `spawned` or `remote`.
    pub kind: &'static str,
    /// The base URL.
    pub url: String,
    /// Whether commits are fsynced (spawned servers only).
    pub fsync: Option<bool>,
    /// The group-commit size limit (spawned servers only; `null` is the server default).
    pub group_commit_max_events: Option<usize>,
    /// The group-commit linger in microseconds (spawned servers only; `null` is the default).
    pub group_commit_linger_us: Option<u64>,
}

/// The server under load and how to talk to it.
pub struct Target {
    /// `http://HOST:PORT`, no trailing slash.
    pub url: String,
    /// Admin token and webhook secret.
    pub credentials: Credentials,
    /// The adapter events are sent to.
    pub adapter: String,
    /// The tenant players are created in.
    pub tenant: String,
    /// How it was set up.
    pub info: ServerInfo,
    /// The child process, when spawned.
    pub server: Option<Server>,
}

impl Target {
    /// An already running server.
    pub fn remote(
        url: &str,
        admin_token: &str,
        secret: &str,
        adapter: &str,
        tenant: &str,
    ) -> Target {
        let url = url.trim_end_matches('/').to_owned();
        Target {
            info: ServerInfo {
                kind: "remote",
                url: url.clone(),
                fsync: None,
                group_commit_max_events: None,
                group_commit_linger_us: None,
            },
            url,
            credentials: Credentials {
                admin_token: admin_token.to_owned(),
                secret: Secret::new(secret),
            },
            adapter: adapter.to_owned(),
            tenant: tenant.to_owned(),
            server: None,
        }
    }

    /// Spawns `ucrm-webhooks` from beside this executable on a fresh temporary store.
    pub fn spawn(options: &SpawnOptions) -> anyhow::Result<Target> {
        let server = Server::spawn(options)?;
        Ok(Target {
            url: server.url.clone(),
            credentials: Credentials {
                admin_token: SPAWNED_ADMIN_TOKEN.to_owned(),
                secret: Secret::new(SPAWNED_SECRET),
            },
            adapter: SPAWNED_ADAPTER.to_owned(),
            tenant: SPAWNED_TENANT.to_owned(),
            info: ServerInfo {
                kind: "spawned",
                url: server.url.clone(),
                fsync: Some(options.fsync),
                group_commit_max_events: options.group_commit_max_events,
                group_commit_linger_us: options.group_commit_linger_us,
            },
            server: Some(server),
        })
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

/// A spawned server process; killed and its store removed on drop.
pub struct Server {
    child: Child,
    dir: PathBuf,
    url: String,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    fn spawn(options: &SpawnOptions) -> anyhow::Result<Server> {
        let exe = std::env::current_exe().context("locating this executable")?;
        let binary = exe
            .parent()
            .map(|dir| dir.join("ucrm-webhooks"))
            .filter(|p| p.exists())
            .with_context(|| {
                format!(
                    "no ucrm-webhooks binary beside {}; build both with `cargo build --release \
                     --bins`, or pass --url to use a running server",
                    exe.display()
                )
            })?;

        let dir = std::env::temp_dir().join(format!("ucrm-loadgen-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config_text(&dir.join("store"), options))
            .with_context(|| format!("writing {}", config_path.display()))?;

        let mut child = Command::new(&binary)
            .args(["serve", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", &options.rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = child.stderr.take().context("server stderr")?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let addr = read_log(stderr, log.clone());

        let mut server = Server {
            child,
            dir,
            url: String::new(),
            log,
        };
        match addr.recv_timeout(Duration::from_secs(START_TIMEOUT_SECS)) {
            Ok(addr) => server.url = format!("http://{addr}"),
            Err(_) => bail!(
                "the server did not report its address; its log ends:\n{}",
                server.log_tail()
            ),
        }
        Ok(server)
    }

    /// The server's resident and peak resident memory in MiB, where `/proc` tells.
    pub fn memory_mib(&self) -> Option<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// The last lines the server logged.
    pub fn log_tail(&self) -> String {
        let lines = self.log.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Drains the server's stderr on a thread of its own, keeping the last lines, and sends the
/// listening address once it is logged.
fn read_log(
    stderr: std::process::ChildStderr,
    log: Arc<Mutex<VecDeque<String>>>,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("ucrm-webhooks listening") {
                let addr = line
                    .split("addr=")
                    .nth(1)
                    .and_then(|a| a.split_whitespace().next());
                if let (Some(addr), Some(tx)) = (addr, tx.take()) {
                    let _ = tx.send(addr.to_owned());
                }
            }
            let mut lines = log.lock().unwrap_or_else(|e| e.into_inner());
            if lines.len() == LOG_TAIL_LINES {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    });
    rx
}

/// The config of a spawned server.
fn config_text(store: &std::path::Path, options: &SpawnOptions) -> String {
    let mut group_commit = options
        .group_commit_max_events
        .map(|n| format!("group_commit_max_events = {n}\n"))
        .unwrap_or_default();
    if let Some(us) = options.group_commit_linger_us {
        group_commit.push_str(&format!("group_commit_linger_us = {us}\n"));
    }
    let platform = options
        .platform_base_url
        .as_ref()
        .map(|url| format!("platform_base_url = \"{url}\"\n"))
        .unwrap_or_default();
    format!(
        r#"# Written by ucrm-loadgen for one run.
[server]
bind = "127.0.0.1:0"
admin_token = "{SPAWNED_ADMIN_TOKEN}"
request_timeout_ms = 30000
shutdown_timeout_secs = 2
log_format = "text"

[storage]
path = "{store}"
fsync = {fsync}
{group_commit}
[[tenants]]
id = "{SPAWNED_TENANT}"
kyc_model = "platform_owns"

[[adapters]]
slug = "{SPAWNED_ADAPTER}"
tenant = "{SPAWNED_TENANT}"
webhook_secret = "{SPAWNED_SECRET}"
rate_limit_per_sec = 1000000
rate_limit_burst = 1000000
{platform}
[outbound]
allow_private_networks = ["127.0.0.0/8"]

[reconciler]
platform_timeout_ms = 30000
"#,
        store = store.display(),
        fsync = options.fsync,
    )
}
