//! Validation of a loaded configuration: every rule names the key it checks.

use std::collections::HashSet;
use std::net::SocketAddr;

use ucrm_actors::kyc::KycModel;
use ucrm_actors::Secret;

use super::{adapter_secret_var, bad, Config, ConfigError, MAX_LINGER_US};

impl Config {
    /// Checks every key; the first problem is returned, naming its key.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.server
            .bind
            .parse::<SocketAddr>()
            .map_err(|_| bad("server.bind", "must be an address like 127.0.0.1:8080"))?;
        check_url("server.public_base_url", &self.server.public_base_url)?;
        if self.server.max_body_bytes < 1024 {
            return Err(bad("server.max_body_bytes", "must be at least 1024"));
        }
        if self
            .server
            .admin_token
            .as_ref()
            .is_none_or(Secret::is_empty)
        {
            return Err(bad(
                "server.admin_token",
                "is required (or set UCRM_ADMIN_TOKEN)",
            ));
        }
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            return Err(bad("server.log_format", "must be \"text\" or \"json\""));
        }
        if self.storage.group_commit_max_events == 0 {
            return Err(bad("storage.group_commit_max_events", "must be at least 1"));
        }
        if self.storage.group_commit_linger_us > MAX_LINGER_US {
            return Err(bad(
                "storage.group_commit_linger_us",
                format!("must be at most {MAX_LINGER_US} (a tenth of a second)"),
            ));
        }
        if self.storage.ledger_retention_days == 0 {
            return Err(bad("storage.ledger_retention_days", "must be at least 1"));
        }
        if self.reconciler.interval_secs == 0 {
            return Err(bad("reconciler.interval_secs", "must be at least 1"));
        }

        let mut tenants = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if t.id.trim().is_empty() {
                return Err(bad(format!("tenants[{i}].id"), "must not be empty"));
            }
            if !tenants.insert(t.id.as_str()) {
                return Err(bad(
                    format!("tenants[{i}].id"),
                    format!("duplicate tenant {:?}", t.id),
                ));
            }
            if KycModel::parse(&t.kyc_model).is_none() {
                return Err(bad(
                    format!("tenants[{i}].kyc_model"),
                    "must be one of platform_owns, crm_owns, dual, none",
                ));
            }
        }

        let mut slugs = HashSet::new();
        for (i, a) in self.adapters.iter().enumerate() {
            if !is_slug(&a.slug) {
                return Err(bad(
                    format!("adapters[{i}].slug"),
                    "must be lowercase letters, digits and single hyphens",
                ));
            }
            if !slugs.insert(a.slug.as_str()) {
                return Err(bad(
                    format!("adapters[{i}].slug"),
                    format!("duplicate adapter {:?}", a.slug),
                ));
            }
            if !tenants.contains(a.tenant.as_str()) {
                return Err(bad(
                    format!("adapters[{i}].tenant"),
                    format!("no tenant {:?} is configured", a.tenant),
                ));
            }
            if a.secrets.is_empty() || a.secrets.iter().any(Secret::is_empty) {
                return Err(bad(
                    format!("adapters[{i}].webhook_secret"),
                    format!("is required (or set {})", adapter_secret_var(&a.slug)),
                ));
            }
            if let Some(url) = &a.platform_base_url {
                check_url(&format!("adapters[{i}].platform_base_url"), url)?;
            }
            if a.rate_limit_per_sec == 0 {
                return Err(bad(
                    format!("adapters[{i}].rate_limit_per_sec"),
                    "must be at least 1",
                ));
            }
        }

        if let Some(pm) = &self.messaging.postmark {
            if pm.basic_auth_user.is_empty() {
                return Err(bad(
                    "messaging.postmark.basic_auth_user",
                    "must not be empty",
                ));
            }
            if pm.basic_auth_password.is_empty() {
                return Err(bad(
                    "messaging.postmark.basic_auth_password",
                    "must not be empty",
                ));
            }
        }
        if self
            .messaging
            .twilio
            .as_ref()
            .is_some_and(|t| t.auth_token.is_empty())
        {
            return Err(bad("messaging.twilio.auth_token", "must not be empty"));
        }
        ucrm_actors::outbound::SsrfGuard::new(&self.outbound.allow_private_networks)
            .map_err(|e| bad("outbound.allow_private_networks", e))?;
        if self
            .outbound
            .retry_schedule_ms
            .as_ref()
            .is_some_and(Vec::is_empty)
        {
            return Err(bad(
                "outbound.retry_schedule_ms",
                "must list at least one attempt",
            ));
        }
        if !(0.0..=1.0).contains(&self.outbound.retry_jitter) {
            return Err(bad("outbound.retry_jitter", "must be between 0 and 1"));
        }
        if self.outbound.concurrency == 0 || self.outbound.per_host_concurrency == 0 {
            return Err(bad("outbound.concurrency", "must be at least 1"));
        }
        if !(1..=60_000).contains(&self.outbound.default_timeout_ms) {
            return Err(bad(
                "outbound.default_timeout_ms",
                "must be between 1 and 60000",
            ));
        }
        if self.outbound.tick_ms == 0 {
            return Err(bad("outbound.tick_ms", "must be at least 1"));
        }
        for (name, secret) in &self.outbound.secrets {
            if secret.is_empty() {
                return Err(bad(format!("outbound.secrets.{name}"), "must not be empty"));
            }
        }

        for (i, k) in self.api_keys.iter().enumerate() {
            if k.key.expose().len() < 16 {
                return Err(bad(
                    format!("api_keys[{i}].key"),
                    "must be at least 16 characters",
                ));
            }
            if !tenants.contains(k.tenant.as_str()) {
                return Err(bad(
                    format!("api_keys[{i}].tenant"),
                    format!("no tenant {:?} is configured", k.tenant),
                ));
            }
        }
        Ok(())
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn check_url(key: &str, value: &str) -> Result<(), ConfigError> {
    match reqwest::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(bad(key, "must be an http(s) URL")),
    }
}
