//! [`Ingestor`]: stores product events from `/v1/events` and applies their effects.
//!
//! Events are made durable first (with the answer for an `Idempotency-Key`, in the same
//! atomic write); then each event with an `external_id` upserts its player through the
//! tenant's supervisor, and each message engagement event updates its message through the
//! message shards. Two requests with the same idempotency key are serialized here: the second
//! waits for the first and gets the first's answer.

use std::collections::HashMap;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use ucrm_storage::{now_ms, IdempotentAnswer, ProviderReport, Store, TrackedEvent, WriteSet};

use crate::message_shard::{ApplyReport, MessageRouter};
use crate::pool::Inflight;
use crate::tenant::{NewPlayer, TenantSupervisor, UpsertPlayer};
use crate::track::TrackEvent;
use crate::DomainError;

/// The receipt of one stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// UCRM's id of the ingestion.
    pub ingestion_id: String,
    /// When it was received.
    pub received_at_ms: i64,
}

/// The answer to an ingestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestAnswer {
    /// One receipt per event, in order.
    pub receipts: Vec<Receipt>,
    /// This is the stored answer of an earlier request with the same idempotency key.
    pub replay: bool,
}

/// Stores events of one tenant.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct IngestEvents {
    /// The API key's tenant.
    pub tenant: String,
    /// Validated events.
    pub events: Vec<TrackEvent>,
    /// The caller's `Idempotency-Key`, namespaced by endpoint.
    pub idempotency_key: Option<String>,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<IngestAnswer, DomainError>>,
}

/// The ingestion actor.
pub struct Ingestor {
    store: Store,
    tenants: HashMap<String, Addr<TenantSupervisor>>,
    messages: MessageRouter,
    inflight: Inflight<Result<IngestAnswer, DomainError>>,
}

impl Ingestor {
    /// Starts the ingestor.
    pub fn start_with(
        store: Store,
        tenants: HashMap<String, Addr<TenantSupervisor>>,
        messages: MessageRouter,
        mailbox: usize,
    ) -> Addr<Self> {
        Ingestor::create(move |ctx| {
            ctx.set_mailbox_capacity(mailbox);
            Ingestor {
                store,
                tenants,
                messages,
                inflight: Inflight::default(),
            }
        })
    }
}

impl Actor for Ingestor {
    type Context = Context<Self>;
}

fn text(props: &serde_json::Map<String, serde_json::Value>, name: &str) -> Option<String> {
    props.get(name).and_then(|v| v.as_str()).map(str::to_owned)
}

/// Runs the effects of stored events: player upserts and message updates.
async fn apply_effects(
    store: Store,
    supervisor: Option<Addr<TenantSupervisor>>,
    messages: MessageRouter,
    events: Vec<(Receipt, TrackEvent)>,
) {
    for (receipt, event) in events {
        if let (Some(external_id), Some(supervisor)) = (&event.external_id, &supervisor) {
            let (reply, rx) = oneshot::channel();
            let player = NewPlayer {
                external_id: external_id.clone(),
                email: text(&event.properties, "email"),
                phone: text(&event.properties, "phone"),
            };
            if supervisor
                .send(UpsertPlayer { player, reply })
                .await
                .is_ok()
            {
                if let Ok(Err(e)) = rx.await {
                    log::warn!(
                        error:% = e, ingestion_id = receipt.ingestion_id.as_str();
                        "player upsert from event failed"
                    );
                }
            }
        }
        let Some((provider, message_id, status)) = event.message_effect() else {
            continue;
        };
        // `message_id` is UCRM's id; a provider's id is accepted too.
        let (provider, pmid) = match store.message(&message_id) {
            Ok(Some(m)) => (m.provider, m.provider_message_id),
            _ => (provider, message_id),
        };
        let report = ProviderReport {
            source: "events".into(),
            event: event.event.clone(),
            status: Some(status),
            suppression: None,
            recipient: None,
            error_code: None,
            occurred_at: Some(event.timestamp.clone()),
            received_at_ms: receipt.received_at_ms,
        };
        let (reply, rx) = oneshot::channel();
        let dedupe_key = format!("events/{}", receipt.ingestion_id);
        let apply = ApplyReport {
            provider,
            provider_message_id: Some(pmid),
            dedupe_key,
            report,
            reply,
        };
        if messages.report(apply).is_ok() {
            if let Ok(Err(e)) = rx.await {
                log::warn!(
                    error:% = e, ingestion_id = receipt.ingestion_id.as_str();
                    "message update from event failed"
                );
            }
        }
    }
}

impl Handler<IngestEvents> for Ingestor {
    type Result = ();

    fn handle(&mut self, msg: IngestEvents, ctx: &mut Self::Context) {
        let IngestEvents {
            tenant,
            events,
            idempotency_key,
            reply,
        } = msg;
        let user_key = idempotency_key;
        // Length-prefixed so that no tenant and key pair can spell another pair.
        let key = user_key
            .as_ref()
            .map(|k| format!("{}:{tenant}{k}", tenant.len()));
        let reply = match &key {
            Some(k) => match self.inflight.join(k, reply) {
                Some(reply) => reply,
                None => return, // The same key is in flight: answered with the first's answer.
            },
            None => reply,
        };
        let finish = move |act: &mut Self,
                           key: Option<String>,
                           answer: Result<IngestAnswer, DomainError>| {
            if let Some(k) = &key {
                let again = answer.clone().map(|a| IngestAnswer { replay: true, ..a });
                act.inflight.finish(k, again);
            }
            let _ = reply.send(answer);
        };

        if let Some(user_key) = &user_key {
            match self.store.idempotent_answer(&tenant, user_key) {
                Ok(Some(stored)) => {
                    let receipts = serde_json::from_str(&stored.body_json).unwrap_or_default();
                    return finish(
                        self,
                        key,
                        Ok(IngestAnswer {
                            receipts,
                            replay: true,
                        }),
                    );
                }
                Ok(None) => {}
                Err(e) => return finish(self, key, Err(e.into())),
            }
        }

        let now = now_ms();
        let mut writes = WriteSet::new();
        let mut stored = Vec::with_capacity(events.len());
        for event in events {
            let receipt = Receipt {
                ingestion_id: uuid::Uuid::now_v7().to_string(),
                received_at_ms: now,
            };
            writes.put_tracked_event(&TrackedEvent {
                ingestion_id: receipt.ingestion_id.clone(),
                tenant_id: tenant.clone(),
                event: event.event.clone(),
                external_id: event.external_id.clone(),
                anonymous_id: event.anonymous_id.clone(),
                timestamp: event.timestamp.clone(),
                properties_json: serde_json::Value::Object(event.properties.clone()).to_string(),
                context_json: event.context.as_ref().map(|c| c.to_string()),
                received_at_ms: now,
            });
            stored.push((receipt, event));
        }
        let receipts: Vec<Receipt> = stored.iter().map(|(r, _)| r.clone()).collect();
        if let Some(user_key) = &user_key {
            let body_json = serde_json::to_string(&receipts).unwrap_or_default();
            writes.put_idempotent_answer(
                &tenant,
                user_key,
                &IdempotentAnswer {
                    body_json,
                    at_ms: now,
                },
            );
        }

        let store = self.store.clone();
        let supervisor = self.tenants.get(&tenant).cloned();
        let messages = self.messages.clone();
        let work = async move {
            store.commit(writes).await?;
            apply_effects(store, supervisor, messages, stored).await;
            Ok(IngestAnswer {
                receipts,
                replay: false,
            })
        };
        ctx.spawn(
            work.into_actor(self)
                .map(move |answer, act, _| finish(act, key, answer)),
        );
    }
}
