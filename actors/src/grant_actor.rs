//! [`GrantActor`]: owns one grant while it is active and applies its events one at a time.
//!
//! The actor holds the grant in memory, decides each event with [`crate::bonus::decide`], and
//! waits for the group commit of the ledger entry and the grant change (one atomic write) before
//! it handles the next message, so the next event always sees the durable state. It is started
//! by its [`crate::AdapterSupervisor`] on demand and retired by it when idle or terminal.

use actix::prelude::*;
use ucrm_storage::{now_ms, Grant, LedgerEntry, LedgerSubject, Source, Store, WriteSet};

use crate::bonus::{decide, BonusEvent};
use crate::outcome::{EventOutcome, EventReply};
use crate::pool::Retire;

/// Applies one bonus event to the grant.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ApplyBonusEvent {
    /// The validated event.
    pub event: BonusEvent,
    /// Who sent it.
    pub source: Source,
    /// Where the outcome goes.
    pub reply: EventReply,
}

/// The actor owning one grant.
pub struct GrantActor {
    grant: Grant,
    store: Store,
}

impl GrantActor {
    /// Starts an actor for `grant` with a bounded mailbox.
    pub fn start_with(grant: Grant, store: Store, mailbox: usize) -> Addr<Self> {
        GrantActor::create(move |ctx| {
            ctx.set_mailbox_capacity(mailbox);
            GrantActor { grant, store }
        })
    }
}

impl Actor for GrantActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        log::debug!(grant_id = self.grant.id.as_str(); "grant actor started");
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        log::debug!(grant_id = self.grant.id.as_str(); "grant actor stopped");
    }
}

impl Handler<ApplyBonusEvent> for GrantActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyBonusEvent, ctx: &mut Self::Context) {
        let now = now_ms();
        let decision = match decide(&self.grant, &msg.event, msg.source, now) {
            Ok(d) => d,
            Err(e) => {
                let _ = msg.reply.send(Err(e));
                return;
            }
        };

        let mut writes = WriteSet::new();
        if decision.applied {
            writes.put_grant(&decision.grant, Some(self.grant.status));
        }
        if let Some(entry) = &decision.entry {
            writes.put_grant_history(&decision.grant.id, decision.grant.history_len, entry);
        }
        let entry = LedgerEntry {
            subject: LedgerSubject::Grant,
            subject_id: self.grant.id.clone(),
            applied: decision.applied,
            recorded_at_ms: now,
        };
        writes.record_event(&self.grant.adapter_slug, &msg.event.event_id, &entry);

        // `wait` holds every other message until the write is durable.
        let store = self.store.clone();
        let commit = async move { store.commit(writes).await };
        ctx.wait(commit.into_actor(self).map(move |result, act, _| {
            let answer = result.map_err(Into::into).map(|()| {
                act.grant = decision.grant;
                EventOutcome {
                    applied: decision.applied,
                    replay: false,
                    new_status: act.grant.status.as_str(),
                }
            });
            let _ = msg.reply.send(answer);
        }));
    }
}

impl Handler<Retire> for GrantActor {
    type Result = ();

    fn handle(&mut self, _msg: Retire, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
