//! Configuration: defaults, then `config.toml`, then the environment; validated at start.
//!
//! Every error names the key at fault (`adapters[0].webhook_secret`, `server.bind`, …) so an
//! operator can fix the file without reading code. Secrets are [`Secret`]s and never print.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use ucrm_actors::kyc::KycModel;
use ucrm_actors::Secret;

/// Default of `storage.group_commit_linger_us`.
pub const DEFAULT_LINGER_US: u64 = 1000;
/// Largest accepted `storage.group_commit_linger_us`.
pub const MAX_LINGER_US: u64 = 100_000;

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The dotted key at fault (or the file, when it cannot be read).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn bad(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[storage]`.
    #[serde(default)]
    pub storage: StorageConfig,
    /// `[[tenants]]`.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// `[[adapters]]`.
    #[serde(default)]
    pub adapters: Vec<AdapterConfig>,
    /// `[[api_keys]]`.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// `[actors]`.
    #[serde(default)]
    pub actors: ActorsConfig,
    /// `[reconciler]`.
    #[serde(default)]
    pub reconciler: ReconcilerConfig,
    /// `[messaging]`: provider credentials.
    #[serde(default)]
    pub messaging: MessagingConfig,
    /// `[outbound]`: the `call_webhook` sender.
    #[serde(default)]
    pub outbound: OutboundConfig,
}

/// `[messaging]`: credentials of the messaging providers' webhooks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingConfig {
    /// `[messaging.postmark]`.
    pub postmark: Option<PostmarkConfig>,
    /// `[messaging.twilio]`.
    pub twilio: Option<TwilioConfig>,
}

/// `[messaging.postmark]`: HTTP Basic credentials Postmark is configured to send.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostmarkConfig {
    /// Basic auth user name.
    pub basic_auth_user: String,
    /// Basic auth password.
    pub basic_auth_password: Secret,
    /// Optional token Postmark must also send in the `X-Postmark-Webhook-Token` header.
    pub header_token: Option<Secret>,
}

/// `[messaging.twilio]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// The account's auth token, which signs status callbacks.
    pub auth_token: Secret,
}

/// `[outbound]`: delivery of `call_webhook` requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// CIDR ranges exempt from the SSRF guard; empty in production.
    pub allow_private_networks: Vec<String>,
    /// Delay before each attempt in milliseconds, the first included; its length is the number
    /// of attempts. Default: 0, 10 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h.
    pub retry_schedule_ms: Option<Vec<u64>>,
    /// Random spread of each delay, as a fraction either way.
    pub retry_jitter: f64,
    /// Attempts in flight overall.
    pub concurrency: usize,
    /// Attempts in flight per target host.
    pub per_host_concurrency: usize,
    /// Connection timeout of an attempt.
    pub connect_timeout_ms: u64,
    /// Whole-attempt timeout when a call names none.
    pub default_timeout_ms: u64,
    /// How often due calls are looked for.
    pub tick_ms: u64,
    /// Named signing secrets besides the adapters' (`UCRM_OUTBOUND_SECRET_<NAME>` overrides).
    pub secrets: BTreeMap<String, Secret>,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            allow_private_networks: Vec::new(),
            retry_schedule_ms: None,
            retry_jitter: 0.2,
            concurrency: 64,
            per_host_concurrency: 8,
            connect_timeout_ms: 5_000,
            default_timeout_ms: 10_000,
            tick_ms: 100,
            secrets: BTreeMap::new(),
        }
    }
}

/// `[server]`: the HTTP listener and the admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: String,
    /// The URL providers call; Twilio signs it.
    pub public_base_url: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Bearer token of the admin API (`UCRM_ADMIN_TOKEN` overrides).
    pub admin_token: Option<Secret>,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// How long a request waits for its actor before answering 503.
    pub request_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout_secs: u64,
    /// How far a signature timestamp may be from now.
    pub signature_tolerance_secs: i64,
    /// `text` or `json` log lines.
    pub log_format: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            public_base_url: "http://127.0.0.1:8080".into(),
            max_body_bytes: 256 * 1024,
            admin_token: None,
            workers: 0,
            request_timeout_ms: 10_000,
            shutdown_timeout_secs: 10,
            signature_tolerance_secs: 300,
            log_format: "text".into(),
        }
    }
}

/// `[storage]`: the embedded sled store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory of the store.
    pub path: PathBuf,
    /// sled page cache, in MiB.
    pub cache_capacity_mb: u64,
    /// Commits that may wait for the writer before requests get 503.
    pub commit_queue_capacity: usize,
    /// How long idempotency-ledger entries are kept.
    pub ledger_retention_days: u64,
    /// How often the ledger pruner runs.
    pub prune_interval_secs: u64,
    /// The most events one group commit makes durable with one fsync; 1 means one fsync
    /// per event (only for comparison in benchmarks).
    pub group_commit_max_events: usize,
    /// Under load, how long a group commit may wait for more events before it starts, in
    /// microseconds; 0 never waits. After a round of one event nothing waits.
    pub group_commit_linger_us: u64,
    /// Whether commits are made durable. Turning it off loses acknowledged events on a crash;
    /// it exists only to measure the ceiling of a write without the durability step.
    pub fsync: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: PathBuf::from("./data"),
            cache_capacity_mb: 256,
            commit_queue_capacity: 8192,
            ledger_retention_days: 30,
            prune_interval_secs: 3600,
            group_commit_max_events: 4096,
            group_commit_linger_us: DEFAULT_LINGER_US,
            fsync: true,
        }
    }
}

/// `[[tenants]]`: a casino brand.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant id.
    pub id: String,
    /// Who runs KYC: `platform_owns | crm_owns | dual | none`.
    pub kyc_model: String,
}

/// One or several secrets; several during a rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretList {
    /// A single secret.
    One(Secret),
    /// Several, all accepted.
    Many(Vec<Secret>),
}

impl SecretList {
    fn into_vec(self) -> Vec<Secret> {
        match self {
            SecretList::One(s) => vec![s],
            SecretList::Many(v) => v,
        }
    }
}

/// `[[adapters]]`: a casino platform integration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterConfig {
    /// Lowercase, hyphenated name used in URLs.
    pub slug: String,
    /// The tenant it serves.
    pub tenant: String,
    /// Webhook secret, or a list of them during a rotation (the first signs outbound).
    pub webhook_secret: Option<SecretList>,
    /// Base URL of the platform's bonus API.
    pub platform_base_url: Option<String>,
    /// Sustained inbound webhooks per second before 429.
    #[serde(default = "default_rate")]
    pub rate_limit_per_sec: u32,
    /// Burst allowance above the sustained rate.
    #[serde(default = "default_burst")]
    pub rate_limit_burst: u32,
    /// Resolved secrets (config plus environment); filled by [`Config::finish`].
    #[serde(skip)]
    pub secrets: Vec<Secret>,
}

fn default_rate() -> u32 {
    1000
}

fn default_burst() -> u32 {
    2000
}

/// `[[api_keys]]`: a bearer key for `/v1/events`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key.
    pub key: Secret,
    /// The tenant it scopes events to.
    pub tenant: String,
}

/// `[actors]`: mailbox sizes and idle timeouts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActorsConfig {
    /// Mailbox of each supervisor.
    pub supervisor_mailbox: usize,
    /// Mailbox of each grant or player actor.
    pub child_mailbox: usize,
    /// Idle time before a grant or player actor is retired.
    pub child_idle_ms: u64,
}

impl Default for ActorsConfig {
    fn default() -> Self {
        ActorsConfig {
            supervisor_mailbox: 4096,
            child_mailbox: 64,
            child_idle_ms: 30_000,
        }
    }
}

/// `[reconciler]`: the timer and the platform calls it makes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcilerConfig {
    /// Seconds between runs.
    pub interval_secs: u64,
    /// Platform status calls in flight per adapter.
    pub concurrency: usize,
    /// Timeout of one platform call, in milliseconds.
    pub platform_timeout_ms: u64,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        ReconcilerConfig {
            interval_secs: 86_400,
            concurrency: 8,
            platform_timeout_ms: 10_000,
        }
    }
}

impl Config {
    /// Reads `path`, applies the process environment, and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(path.display().to_string(), format!("cannot read: {e}")))?;
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Config::from_toml(&text, &env)
    }

    /// Parses TOML text, applies `env` overrides, and validates.
    pub fn from_toml(text: &str, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let key = e.span().map(|s| key_at(text, s.start)).unwrap_or_default();
            bad(
                if key.is_empty() { "config".into() } else { key },
                e.message().to_owned(),
            )
        })?;
        config.finish(env)
    }

    fn finish(mut self, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        if let Some(token) = env.get("UCRM_ADMIN_TOKEN").filter(|t| !t.is_empty()) {
            self.server.admin_token = Some(Secret::new(token.clone()));
        }
        if let Some(path) = env.get("UCRM_STORAGE_PATH").filter(|t| !t.is_empty()) {
            self.storage.path = PathBuf::from(path);
        }
        if let Some(bind) = env.get("UCRM_BIND").filter(|t| !t.is_empty()) {
            self.server.bind = bind.clone();
        }
        if let Some(pm) = &mut self.messaging.postmark {
            if let Some(v) = env
                .get("UCRM_POSTMARK_BASIC_AUTH_PASSWORD")
                .filter(|v| !v.is_empty())
            {
                pm.basic_auth_password = Secret::new(v.clone());
            }
            if let Some(v) = env
                .get("UCRM_POSTMARK_HEADER_TOKEN")
                .filter(|v| !v.is_empty())
            {
                pm.header_token = Some(Secret::new(v.clone()));
            }
        }
        if let Some(tw) = &mut self.messaging.twilio {
            if let Some(v) = env.get("UCRM_TWILIO_AUTH_TOKEN").filter(|v| !v.is_empty()) {
                tw.auth_token = Secret::new(v.clone());
            }
        }
        for (name, secret) in &mut self.outbound.secrets {
            let var = format!(
                "UCRM_OUTBOUND_SECRET_{}",
                name.to_ascii_uppercase().replace('-', "_")
            );
            if let Some(value) = env.get(&var).filter(|v| !v.is_empty()) {
                *secret = Secret::new(value.clone());
            }
        }
        for adapter in &mut self.adapters {
            let var = adapter_secret_var(&adapter.slug);
            let mut secrets = adapter
                .webhook_secret
                .clone()
                .map(SecretList::into_vec)
                .unwrap_or_default();
            if let Some(value) = env.get(&var).filter(|v| !v.is_empty()) {
                secrets = value.split(',').map(|s| Secret::new(s.trim())).collect();
            }
            if let Some(previous) = env
                .get(&format!("{var}_PREVIOUS"))
                .filter(|v| !v.is_empty())
            {
                secrets.push(Secret::new(previous.clone()));
            }
            adapter.secrets = secrets;
        }
        self.validate()?;
        Ok(self)
    }

    /// The tenant's KYC model (validated at load).
    pub fn kyc_model(&self, tenant: &TenantConfig) -> KycModel {
        KycModel::parse(&tenant.kyc_model).unwrap_or(KycModel::None)
    }
}

/// The environment variable holding an adapter's webhook secret.
pub fn adapter_secret_var(slug: &str) -> String {
    format!(
        "UCRM_ADAPTER_{}_WEBHOOK_SECRET",
        slug.to_ascii_uppercase().replace('-', "_")
    )
}

/// Best effort: the `table.key` whose value starts at byte `offset` of the TOML text.
fn key_at(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let mut table = String::new();
    for line in before.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            table = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned();
        }
    }
    let line = before.lines().last().unwrap_or("").trim();
    let key = line.split('=').next().unwrap_or("").trim();
    match (table.is_empty(), key.is_empty() || line.starts_with('[')) {
        (true, _) => key.to_owned(),
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

mod validate;

#[cfg(test)]
mod tests;
