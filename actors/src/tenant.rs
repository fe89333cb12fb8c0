//! [`TenantSupervisor`]: one per tenant; the single writer of that tenant's players.
//!
//! Creating a player is serialized here so that two concurrent requests for one external id
//! create one player. KYC events for the tenant's players are routed from here to one
//! [`crate::PlayerActor`] per active player (see [`crate::kyc`]).

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;
use ucrm_storage::{now_ms, KycState, Player, Store, WriteSet};

use crate::kyc::KycModel;
use crate::player_actor::PlayerActor;
use crate::pool::{ChildPool, Inflight};
use crate::supervisor::SupervisorOptions;
use crate::DomainError;

/// The fields of a player to create.
#[derive(Debug, Clone)]
pub struct NewPlayer {
    /// The platform's id of the player.
    pub external_id: String,
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
}

/// The answer to [`UpsertPlayer`]: the player and whether it was created now.
pub type UpsertResult = Result<(Player, bool), DomainError>;

/// Creates a player, or finds the existing one with the same external id.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct UpsertPlayer {
    /// The player's fields.
    pub player: NewPlayer,
    /// Where the answer goes.
    pub reply: oneshot::Sender<UpsertResult>,
}

/// The supervisor of one tenant's players.
pub struct TenantSupervisor {
    pub(crate) tenant: String,
    pub(crate) kyc_model: KycModel,
    pub(crate) store: Store,
    pub(crate) options: SupervisorOptions,
    pub(crate) players: ChildPool<PlayerActor>,
    pub(crate) inflight: Inflight<crate::EventResult>,
    creating: Inflight<UpsertResult>,
}

impl TenantSupervisor {
    /// Starts the supervisor of `tenant` on the current arbiter.
    pub fn start_with(
        tenant: &str,
        kyc_model: KycModel,
        store: Store,
        options: SupervisorOptions,
    ) -> Addr<Self> {
        let tenant = tenant.to_owned();
        TenantSupervisor::create(move |ctx| {
            ctx.set_mailbox_capacity(options.mailbox);
            TenantSupervisor {
                tenant,
                kyc_model,
                store,
                options,
                players: ChildPool::default(),
                inflight: Inflight::default(),
                creating: Inflight::default(),
            }
        })
    }

    pub(crate) fn report_live(&self) {
        metrics::gauge!("ucrm_live_player_actors", "tenant" => self.tenant.clone())
            .set(self.players.len() as f64);
    }
}

impl Actor for TenantSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let idle = self.options.child_idle;
        let tick = (idle / 2).max(Duration::from_millis(20));
        ctx.run_interval(tick, move |act, _| {
            if act.players.retire_idle(idle) > 0 {
                act.report_live();
            }
        });
        log::info!(tenant = self.tenant.as_str(); "tenant supervisor started");
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.players.retire_all();
    }
}

impl Handler<UpsertPlayer> for TenantSupervisor {
    type Result = ();

    fn handle(&mut self, msg: UpsertPlayer, ctx: &mut Self::Context) {
        let external_id = msg.player.external_id.clone();
        let Some(reply) = self.creating.join(&external_id, msg.reply) else {
            return; // Another request is creating this player: it answers both.
        };
        let existing = self.store.player_by_external(&self.tenant, &external_id);
        let (player, writes) = match existing {
            Ok(Some(player)) => {
                self.creating
                    .finish(&external_id, Ok((player.clone(), false)));
                let _ = reply.send(Ok((player, false)));
                return;
            }
            Err(e) => {
                self.creating.finish(&external_id, Err(e.clone().into()));
                let _ = reply.send(Err(e.into()));
                return;
            }
            Ok(None) => {
                let player = Player {
                    id: uuid::Uuid::now_v7().to_string(),
                    tenant_id: self.tenant.clone(),
                    external_id: external_id.clone(),
                    email: msg.player.email,
                    phone: msg.player.phone,
                    created_at_ms: now_ms(),
                    kyc: KycState::default(),
                    kyc_history: Vec::new(),
                };
                let mut writes = WriteSet::new();
                writes.put_player(&player);
                (player, writes)
            }
        };

        let store = self.store.clone();
        let commit = async move { store.commit(writes).await };
        ctx.spawn(commit.into_actor(self).map(move |result, act, _| {
            let answer: UpsertResult = result.map(|()| (player, true)).map_err(Into::into);
            let for_duplicates = answer.clone().map(|(p, _)| (p, false));
            act.creating.finish(&external_id, for_duplicates);
            let _ = reply.send(answer);
        }));
    }
}

/// Routes one KYC event through the ledger to its player's actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SubmitKycEvent {
    /// The adapter that sent it.
    pub adapter_slug: String,
    /// The validated event.
    pub event: crate::kyc::KycEvent,
    /// Where the outcome goes.
    pub reply: crate::outcome::EventReply,
}

impl TenantSupervisor {
    fn player_child(
        &mut self,
        external_id: &str,
    ) -> Result<(String, Addr<PlayerActor>), DomainError> {
        let player = self
            .store
            .player_by_external(&self.tenant, external_id)?
            .ok_or(DomainError::PlayerNotFound)?;
        if let Some(addr) = self.players.get(&player.id) {
            return Ok((player.id, addr));
        }
        let id = player.id.clone();
        let addr = PlayerActor::start_with(player, self.store.clone(), self.options.child_mailbox);
        self.players.insert(id.clone(), addr.clone());
        self.report_live();
        Ok((id, addr))
    }

    fn kyc_replay(&self, player_id: &str) -> crate::EventResult {
        let player = ucrm_storage::LedgerSubject::Player;
        crate::outcome::subject_status(&self.store, player, player_id)?
            .map(crate::EventOutcome::replay_at)
            .ok_or(DomainError::PlayerNotFound)
    }

    fn route_kyc(
        &mut self,
        msg: SubmitKycEvent,
        ctx: &mut Context<Self>,
        key: &str,
    ) -> Result<(), (DomainError, crate::outcome::EventReply)> {
        use crate::player_actor::ApplyKycEvent;
        use ucrm_storage::LedgerSubject;

        let SubmitKycEvent {
            adapter_slug,
            event,
            reply,
        } = msg;
        match self.store.ledger(&adapter_slug, &event.event_id) {
            Ok(Some(entry)) if entry.subject == LedgerSubject::Player => {
                let answer = self.kyc_replay(&entry.subject_id);
                self.inflight
                    .finish(key, crate::outcome::replay_of(&answer));
                let _ = reply.send(answer);
                return Ok(());
            }
            Ok(Some(_)) => {
                let e = DomainError::invalid("event_id", "was already used by a bonus event");
                return Err((e, reply));
            }
            Ok(None) => {}
            Err(e) => return Err((e.into(), reply)),
        }
        let (player_id, addr) = match self.player_child(&event.player_external_id) {
            Ok(found) => found,
            Err(e) => return Err((e, reply)),
        };

        let (tx, rx) = oneshot::channel();
        let apply = ApplyKycEvent {
            adapter_slug,
            event,
            reply: tx,
        };
        match addr.try_send(apply) {
            Ok(()) => self.players.begin(&player_id),
            Err(SendError::Full(_)) => {
                metrics::counter!("ucrm_mailbox_rejections_total", "actor" => "player")
                    .increment(1);
                return Err((DomainError::Busy, reply));
            }
            Err(SendError::Closed(_)) => {
                self.players.retire(&player_id);
                return Err((DomainError::Unavailable, reply));
            }
        }
        let key = key.to_owned();
        let answer = async move { rx.await.unwrap_or(Err(DomainError::Unavailable)) };
        ctx.spawn(answer.into_actor(self).map(move |result, act, _| {
            act.players.finish(&player_id, false);
            act.inflight
                .finish(&key, crate::outcome::replay_of(&result));
            let _ = reply.send(result);
        }));
        Ok(())
    }
}

impl Handler<SubmitKycEvent> for TenantSupervisor {
    type Result = ();

    fn handle(&mut self, msg: SubmitKycEvent, ctx: &mut Self::Context) {
        if !self.kyc_model.accepts_platform_events() {
            let refusal = format!(
                "tenant {} runs KYC itself (kyc_model {}); platform KYC events are refused",
                self.tenant,
                self.kyc_model.as_str()
            );
            let _ = msg.reply.send(Err(DomainError::Forbidden(refusal)));
            return;
        }
        let key = format!("{}/{}", msg.adapter_slug, msg.event.event_id);
        let SubmitKycEvent {
            adapter_slug,
            event,
            reply,
        } = msg;
        let Some(reply) = self.inflight.join(&key, reply) else {
            return; // A duplicate of an event in flight: answered when the first is.
        };
        let msg = SubmitKycEvent {
            adapter_slug,
            event,
            reply,
        };
        if let Err((e, reply)) = self.route_kyc(msg, ctx, &key) {
            self.inflight.finish(&key, Err(e.clone()));
            let _ = reply.send(Err(e));
        }
    }
}
