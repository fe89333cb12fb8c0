//! [`AdapterSupervisor`]: one per configured adapter; routes bonus events to grant actors.
//!
//! For each event it checks the idempotency ledger first (a processed event is answered as a
//! replay without touching any grant), holds duplicates of an event that is in flight until the
//! first delivery is answered, and otherwise hands the event to the grant's own actor, starting
//! it on demand. Every mailbox is bounded: a full one is answered [`DomainError::Busy`].

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;
use ucrm_storage::{now_ms, Grant, GrantStatus, LedgerSubject, Source, Store, WriteSet};

use crate::bonus::BonusEvent;
use crate::grant_actor::{ApplyBonusEvent, GrantActor};
use crate::outcome::{replay_of, EventOutcome, EventReply, EventResult};
use crate::pool::{ChildPool, Inflight};
use crate::DomainError;

/// Tuning of a supervisor and its grant actors.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// Mailbox capacity of the supervisor.
    pub mailbox: usize,
    /// Mailbox capacity of each grant actor.
    pub child_mailbox: usize,
    /// How long a grant actor may stay idle before it is retired.
    pub child_idle: Duration,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            mailbox: 4096,
            child_mailbox: 64,
            child_idle: Duration::from_secs(30),
        }
    }
}

/// Routes one bonus event through the ledger to its grant's actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SubmitBonusEvent {
    /// The validated event.
    pub event: BonusEvent,
    /// Who sent it.
    pub source: Source,
    /// Where the outcome goes.
    pub reply: EventReply,
}

/// What a new grant is made of.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// The player it is for.
    pub player_id: String,
    /// Amount in minor units.
    pub amount_subunit: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The bonus template, if any.
    pub template_id: Option<String>,
    /// The platform's id, when the grant was issued elsewhere.
    pub platform_bonus_id: Option<String>,
}

/// Registers a new grant (pending) on this adapter.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RegisterGrant {
    /// The grant's fields.
    pub grant: NewGrant,
    /// Where the stored grant goes.
    pub reply: oneshot::Sender<Result<Grant, DomainError>>,
}

/// The supervisor of one adapter's grants.
pub struct AdapterSupervisor {
    slug: String,
    tenant: String,
    store: Store,
    options: SupervisorOptions,
    grants: ChildPool<GrantActor>,
    inflight: Inflight<EventResult>,
}

impl AdapterSupervisor {
    /// Starts the supervisor of adapter `slug` (of `tenant`) on the current arbiter.
    pub fn start_with(
        slug: &str,
        tenant: &str,
        store: Store,
        options: SupervisorOptions,
    ) -> Addr<Self> {
        let (slug, tenant) = (slug.to_owned(), tenant.to_owned());
        AdapterSupervisor::create(move |ctx| {
            ctx.set_mailbox_capacity(options.mailbox);
            AdapterSupervisor {
                slug,
                tenant,
                store,
                options,
                grants: ChildPool::default(),
                inflight: Inflight::default(),
            }
        })
    }

    /// The live actor of `grant_id`, started from the store when needed.
    fn child(&mut self, grant_id: &str) -> Result<Addr<GrantActor>, DomainError> {
        if let Some(addr) = self.grants.get(grant_id) {
            return Ok(addr);
        }
        let grant = self
            .store
            .grant(grant_id)?
            .filter(|g| g.adapter_slug == self.slug)
            .ok_or(DomainError::NotFound("grant"))?;
        let addr = GrantActor::start_with(grant, self.store.clone(), self.options.child_mailbox);
        self.grants.insert(grant_id.to_owned(), addr.clone());
        self.report_live();
        Ok(addr)
    }

    /// Sends `msg` to the grant's actor, starting a new one if the old mailbox closed.
    fn send_to_child(
        &mut self,
        grant_id: &str,
        mut msg: ApplyBonusEvent,
    ) -> Result<(), DomainError> {
        for _ in 0..2 {
            let addr = self.child(grant_id)?;
            match addr.try_send(msg) {
                Ok(()) => {
                    self.grants.begin(grant_id);
                    return Ok(());
                }
                Err(SendError::Full(_)) => {
                    metrics::counter!("ucrm_mailbox_rejections_total", "actor" => "grant")
                        .increment(1);
                    return Err(DomainError::Busy);
                }
                Err(SendError::Closed(back)) => {
                    log::warn!(grant_id; "grant actor mailbox closed; starting a new one");
                    self.grants.retire(grant_id);
                    msg = back;
                }
            }
        }
        Err(DomainError::Unavailable)
    }

    /// The answer to an event the ledger already holds.
    fn replay_answer(&self, subject_id: &str) -> EventResult {
        let status = self
            .store
            .grant(subject_id)?
            .map(|g| g.status)
            .ok_or(DomainError::NotFound("grant"))?;
        Ok(EventOutcome {
            applied: false,
            replay: true,
            new_status: status.as_str(),
        })
    }

    fn report_live(&self) {
        metrics::gauge!("ucrm_live_grant_actors", "adapter" => self.slug.clone())
            .set(self.grants.len() as f64);
    }
}

impl Actor for AdapterSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let idle = self.options.child_idle;
        let tick = (idle / 2).max(Duration::from_millis(20));
        ctx.run_interval(tick, move |act, _| {
            if act.grants.retire_idle(idle) > 0 {
                act.report_live();
            }
        });
        log::info!(adapter = self.slug.as_str(); "adapter supervisor started");
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.grants.retire_all();
        log::info!(adapter = self.slug.as_str(); "adapter supervisor stopped");
    }
}

impl Handler<SubmitBonusEvent> for AdapterSupervisor {
    type Result = ();

    fn handle(&mut self, msg: SubmitBonusEvent, ctx: &mut Self::Context) {
        let SubmitBonusEvent {
            event,
            source,
            reply,
        } = msg;
        let event_id = event.event_id.clone();
        let Some(reply) = self.inflight.join(&event_id, reply) else {
            return; // A duplicate of an event in flight: answered when the first is.
        };
        let finish = |act: &mut Self, result: EventResult, reply: EventReply| {
            act.inflight.finish(&event_id, replay_of(&result));
            let _ = reply.send(result);
        };

        match self.store.ledger(&self.slug, &event_id) {
            Ok(Some(entry)) if entry.subject == LedgerSubject::Grant => {
                let answer = self.replay_answer(&entry.subject_id);
                return finish(self, answer, reply);
            }
            Ok(Some(_)) => {
                let answer = Err(DomainError::invalid(
                    "event_id",
                    "was already used by a KYC event",
                ));
                return finish(self, answer, reply);
            }
            Ok(None) => {}
            Err(e) => return finish(self, Err(e.into()), reply),
        }

        let grant_id = event.grant_id.clone();
        let (tx, rx) = oneshot::channel();
        let msg = ApplyBonusEvent {
            event,
            source,
            reply: tx,
        };
        if let Err(e) = self.send_to_child(&grant_id, msg) {
            return finish(self, Err(e), reply);
        }
        let answer = async move { rx.await.unwrap_or(Err(DomainError::Unavailable)) };
        ctx.spawn(answer.into_actor(self).map(move |result, act, _| {
            let terminal = matches!(&result, Ok(o) if GrantStatus::parse(o.new_status)
                .is_some_and(GrantStatus::is_terminal));
            act.grants.finish(&grant_id, terminal);
            if terminal {
                act.report_live();
            }
            act.inflight.finish(&event_id, replay_of(&result));
            let _ = reply.send(result);
        }));
    }
}

impl Handler<RegisterGrant> for AdapterSupervisor {
    type Result = ();

    fn handle(&mut self, msg: RegisterGrant, ctx: &mut Self::Context) {
        let new = msg.grant;
        let player = match self.store.player(&new.player_id) {
            Ok(Some(p)) if p.tenant_id == self.tenant => p,
            Ok(_) => {
                let _ = msg.reply.send(Err(DomainError::PlayerNotFound));
                return;
            }
            Err(e) => {
                let _ = msg.reply.send(Err(e.into()));
                return;
            }
        };
        let now = now_ms();
        let grant = Grant {
            id: uuid::Uuid::now_v7().to_string(),
            adapter_slug: self.slug.clone(),
            player_id: player.id,
            status: GrantStatus::Pending,
            platform_bonus_id: new.platform_bonus_id,
            amount_subunit: new.amount_subunit,
            currency: new.currency,
            template_id: new.template_id,
            created_at_ms: now,
            activated_at_ms: None,
            completed_at: None,
            total_wagered: 0,
            reason: None,
            updated_at_ms: now,
            history: Vec::new(),
        };
        let mut writes = WriteSet::new();
        writes.put_grant(&grant);
        let store = self.store.clone();
        let reply = msg.reply;
        ctx.spawn(
            async move {
                let result = store.commit(writes).await.map(|()| grant);
                let _ = reply.send(result.map_err(Into::into));
            }
            .into_actor(self),
        );
    }
}
