//! Messages and provider feedback: [`MessageRouter`] and its [`MessageShard`] actors.
//!
//! Every change to a message goes through one shard, chosen by a hash of the message's
//! provider and provider id, and a shard handles one change at a time, waiting for its commit,
//! so reports about one message never interleave. A fixed set of shards (rather than an actor
//! per message) suits messages: there are many, each sees few reports, and none is worth
//! keeping in memory. Reports that arrive before their message is registered are kept under
//! the provider id and applied, in arrival order, when it is.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;
use ucrm_storage::{
    now_ms, Channel, LedgerEntry, LedgerSubject, Message, MessageEvent, MessageStatus, Provider,
    ProviderReport, Store, Suppression, SuppressionUpdate, WriteSet,
};

use crate::messaging::next_status;
use crate::DomainError;

/// The fields of a message to register.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Email, SMS or push.
    pub channel: Channel,
    /// The provider that carries it.
    pub provider: Provider,
    /// The provider's id.
    pub provider_message_id: String,
    /// The player it went to.
    pub player_id: String,
    /// The journey that sent it.
    pub journey_id: Option<String>,
    /// Its status at registration (default queued).
    pub status: Option<MessageStatus>,
}

/// What a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOutcome {
    /// The same report was applied before.
    pub duplicate: bool,
    /// The message it applied to, if registered.
    pub message_id: Option<String>,
    /// The message's status after it.
    pub status: Option<MessageStatus>,
    /// Whether the status changed.
    pub applied: bool,
    /// Kept until the message is registered.
    pub waiting: bool,
}

/// Registers a message and applies any reports that were waiting for it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RegisterMessage {
    /// The message.
    pub message: NewMessage,
    /// The stored message and whether it was created now.
    pub reply: oneshot::Sender<Result<(Message, bool), DomainError>>,
}

/// Applies one provider report.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ApplyReport {
    /// The provider the report is about.
    pub provider: Provider,
    /// The provider's message id, when the report names one.
    pub provider_message_id: Option<String>,
    /// The provider's deduplication key for this report.
    pub dedupe_key: String,
    /// The report.
    pub report: ProviderReport,
    /// What it did.
    pub reply: oneshot::Sender<Result<ReportOutcome, DomainError>>,
}

/// One shard of message owners.
pub struct MessageShard {
    store: Store,
}

impl Actor for MessageShard {
    type Context = Context<Self>;
}

/// Routes message work to the shard that owns it.
#[derive(Clone)]
pub struct MessageRouter {
    shards: Arc<Vec<Addr<MessageShard>>>,
}

impl MessageRouter {
    /// Starts `count` shards with mailboxes of `mailbox`.
    pub fn start(store: Store, count: usize, mailbox: usize) -> Self {
        let shards = (0..count.max(1))
            .map(|_| {
                let store = store.clone();
                MessageShard::create(move |ctx| {
                    ctx.set_mailbox_capacity(mailbox);
                    MessageShard { store }
                })
            })
            .collect();
        MessageRouter {
            shards: Arc::new(shards),
        }
    }

    fn shard(&self, key: &str) -> &Addr<MessageShard> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        &self.shards[(hasher.finish() % self.shards.len() as u64) as usize]
    }

    fn full(e: SendError<impl Sized>) -> DomainError {
        if matches!(e, SendError::Full(_)) {
            metrics::counter!("ucrm_mailbox_rejections_total", "actor" => "message_shard")
                .increment(1);
            DomainError::Busy
        } else {
            DomainError::Unavailable
        }
    }

    /// Hands a registration to its shard.
    pub fn register(&self, msg: RegisterMessage) -> Result<(), DomainError> {
        let key = shard_key(
            msg.message.provider,
            Some(&msg.message.provider_message_id),
            None,
        );
        self.shard(&key).try_send(msg).map_err(Self::full)
    }

    /// Hands a report to its shard.
    pub fn report(&self, msg: ApplyReport) -> Result<(), DomainError> {
        let key = shard_key(
            msg.provider,
            msg.provider_message_id.as_deref(),
            msg.report.recipient.as_deref(),
        );
        self.shard(&key).try_send(msg).map_err(Self::full)
    }
}

fn shard_key(
    provider: Provider,
    provider_message_id: Option<&str>,
    recipient: Option<&str>,
) -> String {
    match provider_message_id {
        Some(id) => format!("{}/{id}", provider.as_str()),
        None => format!("recipient/{}", recipient.unwrap_or("")),
    }
}

/// Merges `report` into `message`; returns whether the status changed.
fn merge(message: &mut Message, report: &ProviderReport) -> bool {
    let from = message.status;
    let to = report.status.map_or(from, |s| next_status(from, s));
    message.history.push(MessageEvent {
        source: report.source.clone(),
        event: report.event.clone(),
        reported: report.status,
        from,
        to,
        error_code: report.error_code.clone(),
        occurred_at: report.occurred_at.clone(),
        received_at_ms: report.received_at_ms,
    });
    message.status = to;
    message.updated_at_ms = now_ms();
    to != from
}

/// Writes the suppression change of `report` for `player_id`.
fn suppress(writes: &mut WriteSet, player_id: &str, report: &ProviderReport) {
    let Some(update) = &report.suppression else {
        return;
    };
    let (channel, suppressed, reason) = match update {
        SuppressionUpdate::Suppress { channel, reason } => (*channel, true, Some(reason.clone())),
        SuppressionUpdate::Lift { channel } => (*channel, false, None),
    };
    let record = Suppression {
        suppressed,
        reason,
        source: report.source.clone(),
        at_ms: report.received_at_ms,
    };
    log::info!(player_id, channel = channel.as_str(), suppressed; "player suppression changed");
    writes.put_suppression(player_id, channel, &record);
}

/// The ledger slug of a provider's deduplication keys; `~` keeps it apart from adapter slugs.
fn dedupe_slug(source: &str) -> String {
    format!("~{source}")
}

impl MessageShard {
    fn register(&self, new: NewMessage) -> Result<(Option<WriteSet>, Message, bool), DomainError> {
        let pmid = &new.provider_message_id;
        if let Some(existing) = self
            .store
            .message_by_provider(new.provider.as_str(), pmid)?
        {
            return Ok((None, existing, false));
        }
        self.store
            .player(&new.player_id)?
            .ok_or(DomainError::PlayerNotFound)?;
        let now = now_ms();
        let mut message = Message {
            id: uuid::Uuid::now_v7().to_string(),
            channel: new.channel,
            provider: new.provider,
            provider_message_id: pmid.clone(),
            player_id: new.player_id,
            journey_id: new.journey_id,
            status: new.status.unwrap_or(MessageStatus::Queued),
            history: Vec::new(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        let mut writes = WriteSet::new();
        for (key, report) in self.store.orphans(new.provider.as_str(), pmid)? {
            merge(&mut message, &report);
            suppress(&mut writes, &message.player_id, &report);
            writes.delete_raw(key);
        }
        writes.put_message(&message);
        Ok((Some(writes), message, true))
    }

    fn apply(&self, msg: &ApplyReport) -> Result<(WriteSet, ReportOutcome), DomainError> {
        let report = &msg.report;
        let slug = dedupe_slug(&report.source);
        if self.store.ledger(&slug, &msg.dedupe_key)?.is_some() {
            let outcome = ReportOutcome {
                duplicate: true,
                message_id: None,
                status: None,
                applied: false,
                waiting: false,
            };
            return Ok((WriteSet::new(), outcome));
        }
        let mut writes = WriteSet::new();
        let message = match &msg.provider_message_id {
            Some(pmid) => self
                .store
                .message_by_provider(msg.provider.as_str(), pmid)?,
            None => None,
        };
        let outcome = match (message, &msg.provider_message_id) {
            (Some(mut message), _) => {
                let applied = merge(&mut message, report);
                suppress(&mut writes, &message.player_id, report);
                writes.put_message(&message);
                ReportOutcome {
                    duplicate: false,
                    message_id: Some(message.id),
                    status: Some(message.status),
                    applied,
                    waiting: false,
                }
            }
            (None, pmid) => {
                if let Some(pmid) = pmid {
                    let unique = uuid::Uuid::now_v7().to_string();
                    writes.put_orphan(msg.provider.as_str(), pmid, &unique, report);
                }
                // Without a registered message the player is found by address, if at all.
                for player_id in self.players_by_recipient(msg.provider, report)? {
                    suppress(&mut writes, &player_id, report);
                }
                ReportOutcome {
                    duplicate: false,
                    message_id: None,
                    status: None,
                    applied: false,
                    waiting: pmid.is_some(),
                }
            }
        };
        let entry = LedgerEntry {
            subject: LedgerSubject::Message,
            subject_id: outcome.message_id.clone().unwrap_or_default(),
            applied: outcome.applied,
            recorded_at_ms: report.received_at_ms,
        };
        writes.record_event(&slug, &msg.dedupe_key, &entry);
        Ok((writes, outcome))
    }

    fn players_by_recipient(
        &self,
        provider: Provider,
        report: &ProviderReport,
    ) -> Result<Vec<String>, DomainError> {
        let (Some(recipient), Some(_)) = (&report.recipient, &report.suppression) else {
            return Ok(Vec::new());
        };
        Ok(match provider.channel() {
            Channel::Email => self.store.players_by_email(recipient)?,
            Channel::Sms => self.store.players_by_phone(recipient)?,
            Channel::Push => Vec::new(),
        })
    }

    fn commit_then<T: 'static>(
        &mut self,
        writes: Option<WriteSet>,
        answer: T,
        reply: oneshot::Sender<Result<T, DomainError>>,
        ctx: &mut Context<Self>,
    ) {
        let Some(writes) = writes else {
            let _ = reply.send(Ok(answer));
            return;
        };
        let store = self.store.clone();
        let commit = async move { store.commit(writes).await };
        // `wait`: the next change in this shard reads what this one wrote.
        ctx.wait(commit.into_actor(self).map(move |result, _, _| {
            let _ = reply.send(result.map(|()| answer).map_err(Into::into));
        }));
    }
}

impl Handler<RegisterMessage> for MessageShard {
    type Result = ();

    fn handle(&mut self, msg: RegisterMessage, ctx: &mut Self::Context) {
        match self.register(msg.message) {
            Ok((writes, message, created)) => {
                self.commit_then(writes, (message, created), msg.reply, ctx)
            }
            Err(e) => {
                let _ = msg.reply.send(Err(e));
            }
        }
    }
}

impl Handler<ApplyReport> for MessageShard {
    type Result = ();

    fn handle(&mut self, msg: ApplyReport, ctx: &mut Self::Context) {
        match self.apply(&msg) {
            Ok((writes, outcome)) => {
                let writes = (!writes.is_empty()).then_some(writes);
                self.commit_then(writes, outcome, msg.reply, ctx);
            }
            Err(e) => {
                let _ = msg.reply.send(Err(e));
            }
        }
    }
}
