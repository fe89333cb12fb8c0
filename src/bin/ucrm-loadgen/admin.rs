//! The admin API and signed webhooks, one request at a time: seeding players and grants,
//! reading them back, and paging through lists.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde_json::{json, Value};
use ucrm_actors::signing::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};

use crate::driver::http_client;
use crate::report::per_sec;
use crate::target::Target;

/// Page size used when listing.
const PAGE_LIMIT: usize = 500;
/// How long one admin request may take; a reconciliation pass over many grants is one request.
const ADMIN_TIMEOUT_SECS: u64 = 600;

/// A client of one target's admin API.
pub struct Api<'a> {
    /// The target.
    pub target: &'a Target,
    client: reqwest::Client,
}

/// A seeded player, and its grant when one was asked for.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// UCRM's player id.
    pub player_id: String,
    /// The external id it was created with.
    pub external_id: String,
    /// UCRM's grant id.
    pub grant_id: Option<String>,
    /// The platform bonus id the grant was registered with.
    pub platform_bonus_id: Option<String>,
}

impl<'a> Api<'a> {
    /// A client for `target` with room for `concurrency` connections.
    pub fn new(target: &'a Target, concurrency: usize) -> anyhow::Result<Api<'a>> {
        Ok(Api {
            target,
            client: http_client(concurrency, Duration::from_secs(ADMIN_TIMEOUT_SECS))?,
        })
    }

    /// Sends an admin request; answers the status and the JSON body (`null` when not JSON).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .client
            .request(method, self.target.at(path))
            .bearer_auth(&self.target.credentials.admin_token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading {path}"))?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// `GET path` through the admin API; anything but 200 is an error.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.admin(reqwest::Method::GET, path, None).await?;
        if status != 200 {
            bail!("GET {path} answered {status}: {body}");
        }
        Ok(body)
    }

    /// Posts `body` signed with the adapter's secret; answers the status and the JSON body.
    pub async fn signed(&self, path: &str, body: Vec<u8>) -> anyhow::Result<(u16, Value)> {
        let ts = chrono::Utc::now().timestamp();
        let signature = sign(&self.target.credentials.secret, ts, &body);
        let response = self
            .client
            .post(self.target.at(path))
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading {path}"))?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Creates `n` players (external ids `lg-RUN-pI`) and, when `grants`, one pending grant for
    /// each with platform bonus id `lg-pb-RUN-I`, `concurrency` requests at a time.
    pub async fn seed(
        &self,
        run: &str,
        n: usize,
        grants: bool,
        concurrency: usize,
    ) -> anyhow::Result<Vec<Seeded>> {
        let started = Instant::now();
        let seeded: Vec<Seeded> = futures_util::stream::iter(0..n)
            .map(|i| self.seed_one(run, i, grants))
            .buffered(concurrency.max(1))
            .try_collect()
            .await?;
        let what = if grants {
            "players and grants"
        } else {
            "players"
        };
        eprintln!(
            "seeded {n} {what} in {:.2} s ({:.0} subjects/s)",
            started.elapsed().as_secs_f64(),
            per_sec(n as u64, started.elapsed())
        );
        Ok(seeded)
    }

    async fn seed_one(&self, run: &str, i: usize, grant: bool) -> anyhow::Result<Seeded> {
        let external_id = format!("lg-{run}-p{i}");
        let player = json!({"tenant_id": self.target.tenant, "external_id": external_id});
        let (status, body) = self
            .admin(reqwest::Method::POST, "/v1/players", Some(&player))
            .await?;
        if status != 201 && status != 200 {
            bail!("POST /v1/players answered {status}: {body}");
        }
        let player_id = id_of(&body)?;
        if !grant {
            return Ok(Seeded {
                player_id,
                external_id,
                grant_id: None,
                platform_bonus_id: None,
            });
        }

        let platform_bonus_id = format!("lg-pb-{run}-{i}");
        let grant = json!({
            "adapter_slug": self.target.adapter, "player_id": player_id,
            "amount_subunit": 1000, "currency": "EUR", "platform_bonus_id": platform_bonus_id,
        });
        let (status, body) = self
            .admin(reqwest::Method::POST, "/v1/bonus-grants", Some(&grant))
            .await?;
        if status != 201 {
            bail!("POST /v1/bonus-grants answered {status}: {body}");
        }
        Ok(Seeded {
            player_id,
            external_id,
            grant_id: Some(id_of(&body)?),
            platform_bonus_id: body["data"]["platform_bonus_id"]
                .as_str()
                .map(str::to_owned),
        })
    }

    /// Every item of a paged list (`path` carries its own query, without `limit` or `cursor`).
    pub async fn list_all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut page_path = format!("{path}{separator}limit={PAGE_LIMIT}");
            if let Some(c) = &cursor {
                page_path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&page_path).await?;
            if let Some(data) = page["data"].as_array() {
                items.extend(data.iter().cloned());
            }
            match page["meta"]["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }
}

/// `data.id` of an admin answer.
fn id_of(body: &Value) -> anyhow::Result<String> {
    body["data"]["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no data.id in {body}"))
}
