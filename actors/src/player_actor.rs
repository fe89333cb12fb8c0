//! [`PlayerActor`]: owns one player while events for it arrive, and applies them one at a time.
//!
//! Like the grant actor, it decides with plain code ([`crate::kyc::decide_kyc`]) and waits for
//! the group commit of the ledger entry and the player change before the next message, so the
//! transitions of one player never interleave.

use actix::prelude::*;
use ucrm_storage::{now_ms, LedgerEntry, LedgerSubject, Player, Store, WriteSet};

use crate::kyc::{decide_kyc, KycEvent};
use crate::outcome::{EventOutcome, EventReply};
use crate::pool::Retire;

/// Applies one KYC event to the player.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ApplyKycEvent {
    /// The adapter that sent the event (the ledger is keyed by it).
    pub adapter_slug: String,
    /// The validated event.
    pub event: KycEvent,
    /// Where the outcome goes.
    pub reply: EventReply,
}

/// The actor owning one player.
pub struct PlayerActor {
    player: Player,
    store: Store,
}

impl PlayerActor {
    /// Starts an actor for `player` with a bounded mailbox.
    pub fn start_with(player: Player, store: Store, mailbox: usize) -> Addr<Self> {
        PlayerActor::create(move |ctx| {
            ctx.set_mailbox_capacity(mailbox);
            PlayerActor { player, store }
        })
    }
}

impl Actor for PlayerActor {
    type Context = Context<Self>;
}

impl Handler<ApplyKycEvent> for PlayerActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyKycEvent, ctx: &mut Self::Context) {
        let now = now_ms();
        let decision = match decide_kyc(&self.player.kyc, &msg.event, &msg.adapter_slug, now) {
            Ok(d) => d,
            Err(e) => {
                let _ = msg.reply.send(Err(e));
                return;
            }
        };

        let mut next = self.player.clone();
        next.kyc = decision.state;
        next.kyc_history.extend(decision.history);
        let mut writes = WriteSet::new();
        if decision.applied {
            writes.put_player(&next);
        }
        let entry = LedgerEntry {
            subject: LedgerSubject::Player,
            subject_id: self.player.id.clone(),
            applied: decision.applied,
            recorded_at_ms: now,
        };
        writes.record_event(&msg.adapter_slug, &msg.event.event_id, &entry);

        let store = self.store.clone();
        let applied = decision.applied;
        let commit = async move { store.commit(writes).await };
        ctx.wait(commit.into_actor(self).map(move |result, act, _| {
            let answer = result.map_err(Into::into).map(|()| {
                act.player = next;
                EventOutcome {
                    applied,
                    replay: false,
                    new_status: act.player.kyc.status.as_str(),
                }
            });
            let _ = msg.reply.send(answer);
        }));
    }
}

impl Handler<Retire> for PlayerActor {
    type Result = ();

    fn handle(&mut self, _msg: Retire, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
