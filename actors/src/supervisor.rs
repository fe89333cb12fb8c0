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

use std::collections::HashMap;

use crate::adapter_client::{AdapterClient, GrantCall};
use crate::bonus::{BonusEvent, BonusEventKind};
use crate::grant_actor::{ApplyBonusEvent, GrantActor};
use crate::outcome::{replay_of, subject_status, EventOutcome, EventReply, EventResult};
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

/// Cancels a grant: on the platform first (when the adapter has one), then through its actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CancelGrant {
    /// The grant to cancel.
    pub grant_id: String,
    /// Where the grant after cancellation goes.
    pub reply: oneshot::Sender<Result<Grant, DomainError>>,
}

/// An event parked while its grant is being registered.
type Parked = (BonusEvent, Source, EventReply);

/// The supervisor of one adapter's grants.
pub struct AdapterSupervisor {
    slug: String,
    tenant: String,
    store: Store,
    client: Option<AdapterClient>,
    options: SupervisorOptions,
    grants: ChildPool<GrantActor>,
    inflight: Inflight<EventResult>,
    /// Grants whose registration (platform call, commit) is under way, with events that
    /// arrived for them meanwhile; they are routed in order once the grant exists.
    registering: HashMap<String, Vec<Parked>>,
}

impl AdapterSupervisor {
    /// Starts the supervisor of adapter `slug` (of `tenant`) on the current arbiter.
    ///
    /// With a `client`, grants are issued and cancelled on the platform too.
    pub fn start_with(
        slug: &str,
        tenant: &str,
        store: Store,
        client: Option<AdapterClient>,
        options: SupervisorOptions,
    ) -> Addr<Self> {
        let (slug, tenant) = (slug.to_owned(), tenant.to_owned());
        AdapterSupervisor::create(move |ctx| {
            ctx.set_mailbox_capacity(options.mailbox);
            AdapterSupervisor {
                slug,
                tenant,
                store,
                client,
                options,
                grants: ChildPool::default(),
                inflight: Inflight::default(),
                registering: HashMap::new(),
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
        subject_status(&self.store, LedgerSubject::Grant, subject_id)?
            .map(EventOutcome::replay_at)
            .ok_or(DomainError::NotFound("grant"))
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

impl AdapterSupervisor {
    /// Marks the event in flight (or parks a duplicate) and routes it.
    fn submit(
        &mut self,
        event: BonusEvent,
        source: Source,
        reply: EventReply,
        ctx: &mut Context<Self>,
    ) {
        let Some(reply) = self.inflight.join(&event.event_id, reply) else {
            return; // A duplicate of an event in flight: answered when the first is.
        };
        self.route(event, source, reply, ctx);
    }

    /// Answers an in-flight event and every duplicate waiting on it.
    fn finish(&mut self, event_id: &str, result: EventResult, reply: EventReply) {
        self.inflight.finish(event_id, replay_of(&result));
        let _ = reply.send(result);
    }

    /// Ledger, then the grant's actor; the event is already marked in flight.
    fn route(
        &mut self,
        event: BonusEvent,
        source: Source,
        reply: EventReply,
        ctx: &mut Context<Self>,
    ) {
        let event_id = event.event_id.clone();
        match self.store.ledger(&self.slug, &event_id) {
            Ok(Some(entry)) if entry.subject == LedgerSubject::Grant => {
                let answer = self.replay_answer(&entry.subject_id);
                return self.finish(&event_id, answer, reply);
            }
            Ok(Some(_)) => {
                let answer = Err(DomainError::invalid(
                    "event_id",
                    "was already used by a KYC event",
                ));
                return self.finish(&event_id, answer, reply);
            }
            Ok(None) => {}
            Err(e) => return self.finish(&event_id, Err(e.into()), reply),
        }
        if let Some(parked) = self.registering.get_mut(&event.grant_id) {
            parked.push((event, source, reply));
            return;
        }

        let grant_id = event.grant_id.clone();
        let (tx, rx) = oneshot::channel();
        let msg = ApplyBonusEvent {
            event,
            source,
            reply: tx,
        };
        if let Err(e) = self.send_to_child(&grant_id, msg) {
            return self.finish(&event_id, Err(e), reply);
        }
        let answer = async move { rx.await.unwrap_or(Err(DomainError::Unavailable)) };
        ctx.spawn(answer.into_actor(self).map(move |result, act, _| {
            let terminal = matches!(&result, Ok(o) if GrantStatus::parse(o.new_status)
                .is_some_and(GrantStatus::is_terminal));
            act.grants.finish(&grant_id, terminal);
            if terminal {
                act.report_live();
            }
            act.finish(&event_id, result, reply);
        }));
    }

    /// Commits a new grant, answers, then routes the events parked for it in arrival order.
    fn commit_new(
        &mut self,
        grant: Grant,
        first: Option<ucrm_storage::GrantHistoryEntry>,
        reply: oneshot::Sender<Result<Grant, DomainError>>,
        ctx: &mut Context<Self>,
    ) {
        let mut writes = WriteSet::new();
        writes.put_grant(&grant, None);
        if let Some(entry) = &first {
            writes.put_grant_history(&grant.id, 1, entry);
        }
        let store = self.store.clone();
        let commit = async move { store.commit(writes).await };
        ctx.spawn(commit.into_actor(self).map(move |result, act, ctx| {
            let parked = act.registering.remove(&grant.id).unwrap_or_default();
            match result {
                Ok(()) => {
                    let _ = reply.send(Ok(grant));
                    for (event, source, reply) in parked {
                        act.route(event, source, reply, ctx);
                    }
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                    act.refuse_parked(parked);
                }
            }
        }));
    }

    fn refuse_parked(&mut self, parked: Vec<Parked>) {
        for (event, _, reply) in parked {
            self.finish(&event.event_id, Err(DomainError::NotFound("grant")), reply);
        }
    }
}

impl Handler<SubmitBonusEvent> for AdapterSupervisor {
    type Result = ();

    fn handle(&mut self, msg: SubmitBonusEvent, ctx: &mut Self::Context) {
        self.submit(msg.event, msg.source, msg.reply, ctx);
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
        let mut grant = Grant {
            id: uuid::Uuid::now_v7().to_string(),
            adapter_slug: self.slug.clone(),
            player_id: player.id.clone(),
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
            history_len: 0,
        };
        self.registering.insert(grant.id.clone(), Vec::new());
        let Some(client) = self.client.clone() else {
            return self.commit_new(grant, None, msg.reply, ctx);
        };

        let call = GrantCall {
            grant_id: grant.id.clone(),
            player_id: player.id,
            player_external_id: player.external_id,
            amount_subunit: grant.amount_subunit,
            currency: grant.currency.clone(),
            template_id: grant.template_id.clone(),
        };
        let reply = msg.reply;
        let issue = async move { client.grant(&call).await };
        ctx.spawn(issue.into_actor(self).map(move |result, act, ctx| match result {
            Ok(issued) => {
                grant.platform_bonus_id = Some(issued.platform_bonus_id);
                let mut credited = None;
                if issued.status == "credited" {
                    let at = now_ms();
                    grant.status = GrantStatus::Active;
                    grant.activated_at_ms = Some(at);
                    grant.updated_at_ms = at;
                    grant.history_len = 1;
                    credited = Some(ucrm_storage::GrantHistoryEntry {
                        event: BonusEventKind::Credited.name().to_owned(),
                        event_id: format!("grant:{}", grant.id),
                        source: Source::Admin,
                        from: GrantStatus::Pending,
                        to: GrantStatus::Active,
                        at_ms: at,
                    });
                }
                act.commit_new(grant, credited, reply, ctx);
            }
            Err(e) => {
                log::warn!(adapter = act.slug.as_str(), error:% = e; "platform grant call failed");
                let parked = act.registering.remove(&grant.id).unwrap_or_default();
                act.refuse_parked(parked);
                let _ = reply.send(Err(e.into()));
            }
        }));
    }
}

impl Handler<CancelGrant> for AdapterSupervisor {
    type Result = ();

    fn handle(&mut self, msg: CancelGrant, ctx: &mut Self::Context) {
        let grant = match self.store.grant(&msg.grant_id) {
            Ok(Some(g)) if g.adapter_slug == self.slug => g,
            Ok(_) => {
                let _ = msg.reply.send(Err(DomainError::NotFound("grant")));
                return;
            }
            Err(e) => {
                let _ = msg.reply.send(Err(e.into()));
                return;
            }
        };
        if grant.status.is_terminal() {
            let why = format!("grant is already {}", grant.status.as_str());
            let _ = msg.reply.send(Err(DomainError::invalid("status", why)));
            return;
        }

        let event = BonusEvent {
            kind: BonusEventKind::Cancelled,
            event_id: format!("admin:cancel:{}", grant.id),
            ts: chrono::Utc::now().to_rfc3339(),
            grant_id: grant.id.clone(),
            platform_bonus_id: None,
            total_wagered: None,
            completed_at: None,
            reason: Some("cancelled by UCRM".into()),
        };
        let store = self.store.clone();
        let reply = msg.reply;
        let platform_call = match (self.client.clone(), grant.platform_bonus_id.clone()) {
            (Some(client), Some(pid)) => Some(async move { client.cancel(&pid).await }),
            _ => None,
        };
        let cancel = async move {
            match platform_call {
                Some(call) => call.await,
                None => Ok(()),
            }
        };
        ctx.spawn(cancel.into_actor(self).map(move |result, act, ctx| {
            if let Err(e) = result {
                let _ = reply.send(Err(e.into()));
                return;
            }
            let grant_id = event.grant_id.clone();
            let (tx, rx) = oneshot::channel();
            act.submit(event, Source::Admin, tx, ctx);
            actix::spawn(async move {
                let answer = match rx.await {
                    Ok(Ok(_)) => store
                        .grant(&grant_id)
                        .map_err(Into::into)
                        .and_then(|g| g.ok_or(DomainError::NotFound("grant"))),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(DomainError::Unavailable),
                };
                let _ = reply.send(answer);
            });
        }));
    }
}
