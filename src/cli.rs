//! The command line: `serve` (default), `check-config`, `sign`, `reconcile`, `send-test`.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use ucrm_actors::signing::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use ucrm_actors::Secret;

use crate::config::Config;

/// Webhook hub of the UCRM casino CRM.
#[derive(Debug, Parser)]
#[command(name = "ucrm-webhooks", version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "UCRM_CONFIG",
        default_value = "config.toml"
    )]
    pub config: PathBuf,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Validate the configuration file and name the first bad key.
    CheckConfig,
    /// Ask the running server for one reconciliation pass and print its summary.
    Reconcile {
        /// Only this adapter.
        #[arg(long)]
        adapter: Option<String>,
        /// Base URL of the server; from `server.bind` when omitted.
        #[arg(long)]
        url: Option<String>,
    },
    /// Fire a correctly signed sample event at a running server (for integrators).
    SendTest {
        /// The adapter whose secret signs the event.
        #[arg(long)]
        adapter: String,
        /// The event name: any `bonus.*` or `kyc.*` event.
        #[arg(long, default_value = "bonus.credited")]
        event: String,
        /// The grant a bonus event is about.
        #[arg(long)]
        grant_id: Option<String>,
        /// The platform's player id a KYC event is about.
        #[arg(long)]
        player: Option<String>,
        /// Base URL of the server; from `server.bind` when omitted.
        #[arg(long)]
        url: Option<String>,
    },
    /// Print the two signature headers for a body (for platform integrators).
    Sign {
        /// The adapter's webhook secret.
        #[arg(long)]
        secret: String,
        /// Unix seconds to sign at; now when omitted.
        #[arg(long, allow_hyphen_values = true)]
        timestamp: Option<i64>,
        /// File holding the exact body bytes; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
}

/// Runs the command line; returns the process exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.config),
        Command::CheckConfig => check_config(&cli.config),
        Command::Reconcile { adapter, url } => reconcile(&cli.config, adapter, url),
        Command::SendTest {
            adapter,
            event,
            grant_id,
            player,
            url,
        } => send_test(&cli.config, &adapter, &event, grant_id, player, url),
        Command::Sign {
            secret,
            timestamp,
            file,
        } => print_signature(&secret, timestamp, file.as_deref()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ucrm-webhooks: {e:#}");
            2
        }
    }
}

fn serve(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    crate::telemetry::init_logging(&config.server.log_format);
    crate::telemetry::install_crypto_provider();
    let listener = TcpListener::bind(&config.server.bind)
        .map_err(|e| anyhow::anyhow!("server.bind {}: {e}", config.server.bind))?;
    actix_rt::System::new().block_on(async move {
        let (_handle, running) = crate::start(config, listener)?;
        running.await
    })
}

/// The server's base URL: `--url`, else `server.bind` with a wildcard made loopback.
fn server_url(config: &Config, url: Option<String>) -> String {
    let base = url.unwrap_or_else(|| {
        let bind = config
            .server
            .bind
            .replace("0.0.0.0", "127.0.0.1")
            .replace("[::]", "[::1]");
        format!("http://{bind}")
    });
    base.trim_end_matches('/').to_owned()
}

fn send_test(
    config_path: &Path,
    slug: &str,
    event: &str,
    grant_id: Option<String>,
    player: Option<String>,
    url: Option<String>,
) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    crate::telemetry::install_crypto_provider();
    let adapter = config
        .adapters
        .iter()
        .find(|a| a.slug == slug)
        .ok_or_else(|| anyhow::anyhow!("--adapter {slug}: no such adapter in the config"))?;
    let now = chrono::Utc::now();
    let event_id = format!("send-test-{}", uuid::Uuid::new_v4());
    let (path, body) = if event.starts_with("kyc.") {
        let player = player.ok_or_else(|| anyhow::anyhow!("--player is required for {event}"))?;
        let body = serde_json::json!({
            "event": event, "event_id": event_id, "ts": now.to_rfc3339(),
            "player_external_id": player, "level": 1, "data": {},
        });
        ("kyc-events", body)
    } else {
        let grant =
            grant_id.ok_or_else(|| anyhow::anyhow!("--grant-id is required for {event}"))?;
        let body = serde_json::json!({
            "event": event, "event_id": event_id, "ts": now.to_rfc3339(), "grant_id": grant,
            "platform_bonus_id": "send-test", "data": {"total_wagered": 0},
        });
        ("bonus-events", body)
    };
    let body = body.to_string();
    let ts = now.timestamp();
    let target = format!(
        "{}/v1/adapters/{slug}/webhooks/{path}",
        server_url(&config, url)
    );
    let signature = sign(&adapter.secrets[0], ts, body.as_bytes());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, answer) = runtime.block_on(async {
        let resp = reqwest::Client::builder()
            .no_proxy()
            .build()?
            .post(&target)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body.clone())
            .send()
            .await?;
        Ok::<_, anyhow::Error>((resp.status(), resp.text().await?))
    })?;
    println!("POST {target}\n{body}\n-> {} {answer}", status.as_u16());
    if status.is_success() {
        Ok(())
    } else {
        anyhow::bail!("the server answered {status}")
    }
}

fn reconcile(
    config_path: &Path,
    adapter: Option<String>,
    url: Option<String>,
) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    crate::telemetry::install_crypto_provider();
    let base = server_url(&config, url);
    let token = config
        .server
        .admin_token
        .as_ref()
        .map(|t| t.expose().to_owned())
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(async move {
        let mut req = reqwest::Client::builder()
            .no_proxy()
            .build()?
            .post(format!("{base}/v1/admin/reconcile"))
            .bearer_auth(token);
        if let Some(a) = adapter {
            req = req.query(&[("adapter", a)]);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await?;
        if !status.is_success() {
            anyhow::bail!("server answered {status}: {body}");
        }
        Ok::<_, anyhow::Error>(body["data"].clone())
    })?;
    println!("{summary}");
    Ok(())
}

fn check_config(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    println!(
        "{}: ok ({} tenants, {} adapters, {} api keys)",
        config_path.display(),
        config.tenants.len(),
        config.adapters.len(),
        config.api_keys.len()
    );
    Ok(())
}

fn print_signature(
    secret: &str,
    timestamp: Option<i64>,
    file: Option<&Path>,
) -> anyhow::Result<()> {
    let mut body = Vec::new();
    match file {
        Some(path) if path != Path::new("-") => {
            body = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
        _ => {
            std::io::stdin().read_to_end(&mut body)?;
        }
    }
    let ts = timestamp.unwrap_or_else(|| chrono::Utc::now().timestamp());
    println!("{TIMESTAMP_HEADER}: {ts}");
    println!(
        "{SIGNATURE_HEADER}: {}",
        sign(&Secret::new(secret), ts, &body)
    );
    Ok(())
}
