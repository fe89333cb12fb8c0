//! [`Dispatcher`]: delivers outbound `call_webhook` requests, durably, with retries.
//!
//! Calls are stored before the 202 is answered. The dispatcher keeps the open calls in a heap
//! by due time (reloaded from the store's due index at start, so a restart or crash loses no
//! call and resumes in-flight ones), starts due attempts on a short tick with bounded
//! concurrency overall and per target host, marks each attempt `delivering` before it goes out
//! and records its result through the group commit. Delivery is at least once; the stable
//! `X-UCRM-Delivery-Id` lets receivers deduplicate.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use actix::prelude::*;
use futures_util::FutureExt;
use tokio::sync::oneshot;
use ucrm_storage::{now_ms, CallAttempt, CallStatus, Store, WebhookCall, WriteSet};

use crate::outbound::deliver::{AttemptOutcome, DeliveryClient};
use crate::outbound::{classify, AttemptVerdict, RetryPolicy};
use crate::{DomainError, Secret};

/// Tuning of the dispatcher.
#[derive(Debug, Clone)]
pub struct DispatcherOptions {
    /// When to retry.
    pub policy: RetryPolicy,
    /// Attempts in flight overall.
    pub concurrency: usize,
    /// Attempts in flight per target host.
    pub per_host: usize,
    /// How often due calls are looked for (finished attempts also start the next at once).
    pub tick: Duration,
    /// Mailbox capacity; a full mailbox answers 503.
    pub mailbox: usize,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        DispatcherOptions {
            policy: RetryPolicy::default(),
            concurrency: 64,
            per_host: 8,
            tick: Duration::from_millis(100),
            mailbox: 4096,
        }
    }
}

/// The answer to a call command: the call as stored.
pub type CallReply = oneshot::Sender<Result<WebhookCall, DomainError>>;

/// Stores a new call and schedules its first attempt.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct EnqueueCall {
    /// The call, status pending.
    pub call: WebhookCall,
    /// Answered once the call is durable.
    pub reply: CallReply,
}

/// Sends a dead call again, with a fresh round of attempts.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RetryCall {
    /// The call.
    pub id: String,
    /// Answered once the call is pending again.
    pub reply: CallReply,
}

/// The dispatcher actor.
pub struct Dispatcher {
    store: Store,
    client: DeliveryClient,
    secrets: HashMap<String, Secret>,
    options: DispatcherOptions,
    due: BinaryHeap<Reverse<(i64, String)>>,
    in_flight: HashSet<String>,
    per_host: HashMap<String, usize>,
    /// Due calls waiting for a free slot of their host, in due order.
    blocked: HashMap<String, VecDeque<WebhookCall>>,
}

impl Dispatcher {
    /// Starts the dispatcher; `secrets` maps secret names (adapter slugs, named secrets) to
    /// the secret that signs.
    pub fn start_with(
        store: Store,
        client: DeliveryClient,
        secrets: HashMap<String, Secret>,
        options: DispatcherOptions,
    ) -> Addr<Self> {
        Dispatcher::create(move |ctx| {
            ctx.set_mailbox_capacity(options.mailbox);
            Dispatcher {
                store,
                client,
                secrets,
                options,
                due: BinaryHeap::new(),
                in_flight: HashSet::new(),
                per_host: HashMap::new(),
                blocked: HashMap::new(),
            }
        })
    }

    fn report_depth(&self) {
        let blocked: usize = self.blocked.values().map(VecDeque::len).sum();
        let depth = self.due.len() + self.in_flight.len() + blocked;
        metrics::gauge!("ucrm_outbox_depth").set(depth as f64);
    }

    /// Starts every due attempt the limits allow.
    fn dispatch_due(&mut self, ctx: &mut Context<Self>) {
        let now = now_ms();
        let mut deferred = Vec::new();
        while self.in_flight.len() < self.options.concurrency {
            let Some(Reverse((due, _))) = self.due.peek() else {
                break;
            };
            if *due > now {
                break;
            }
            let Some(Reverse((_, id))) = self.due.pop() else {
                break;
            };
            if self.in_flight.contains(&id) {
                continue;
            }
            let call = match self.store.call(&id) {
                Ok(Some(c)) if c.status.is_open() => c,
                Ok(_) => continue,
                Err(e) => {
                    log::error!(call_id = id.as_str(), error:% = e; "cannot read outbound call");
                    deferred.push((now + 1000, id));
                    continue;
                }
            };
            if call.status == CallStatus::Pending && call.next_attempt_at_ms > now {
                deferred.push((call.next_attempt_at_ms, id));
                continue;
            }
            let host = host_of(&call.url);
            if self.per_host.get(&host).copied().unwrap_or(0) >= self.options.per_host {
                // Parked with its host, not re-read on every pass; a finished attempt of the
                // host starts it.
                self.blocked.entry(host).or_default().push_back(call);
                continue;
            }
            self.start_attempt(call, host, ctx);
        }
        for (due, id) in deferred {
            self.due.push(Reverse((due, id)));
        }
        self.report_depth();
    }

    fn start_attempt(&mut self, call: WebhookCall, host: String, ctx: &mut Context<Self>) {
        self.in_flight.insert(call.id.clone());
        *self.per_host.entry(host.clone()).or_default() += 1;
        let number = call.attempts.len() as u32 + 1;
        let secret = call
            .secret_name
            .as_ref()
            .map(|n| self.secrets.get(n).cloned());
        let mut delivering = call.clone();
        delivering.status = CallStatus::Delivering;
        delivering.updated_at_ms = now_ms();
        let mut writes = WriteSet::new();
        writes.put_call(&delivering, Some(&call));

        // The mark is queued now and the attempt goes out while it commits: waiting for it
        // would hold the host's slot for a whole group commit. The result, queued after the
        // attempt, lands behind the mark on the same writer. If the process stops mid-attempt
        // the call is attempted again either way (pending or delivering), so delivery stays at
        // least once; the mark tells an operator reading the call that an attempt is under way.
        let marked = match self.store.submit(writes) {
            Ok(marked) => marked,
            Err(e) => {
                // Not even queued (the writer is full or stopped): try again shortly rather
                // than send an attempt whose result could not follow a mark.
                log::warn!(
                    call_id = call.id.as_str(), error:% = e;
                    "could not mark call delivering"
                );
                self.finish_slot(&call.id, &host);
                self.due.push(Reverse((now_ms() + 1000, call.id)));
                // The host's parked calls move on when a slot frees, so free this one later.
                ctx.run_later(Duration::from_secs(1), move |act, ctx| {
                    act.release_host_slot(&host, ctx);
                });
                return;
            }
        };
        let call_id = call.id.clone();
        ctx.spawn(
            marked
                .map(move |result| {
                    if let Err(e) = result {
                        log::warn!(call_id = call_id.as_str(), error:% = e;
                            "could not mark call delivering");
                    }
                })
                .into_actor(self),
        );
        let client = self.client.clone();
        let attempt = async move {
            let started = now_ms();
            let outcome = match secret {
                Some(None) => AttemptOutcome {
                    error: Some("the call's signing secret is no longer configured".into()),
                    refused: true,
                    ..AttemptOutcome::default()
                },
                Some(Some(secret)) => client.attempt(&delivering, number, Some(&secret)).await,
                None => client.attempt(&delivering, number, None).await,
            };
            (delivering, started, outcome)
        };
        ctx.spawn(
            attempt
                .into_actor(self)
                .map(move |(delivering, started, outcome), act, ctx| {
                    act.finish_slot(&call.id, &host);
                    act.release_host_slot(&host, ctx);
                    act.record_attempt(delivering, number, started, outcome, ctx);
                }),
        );
    }

    /// Forgets an attempt of `id` to `host` that is over (or never went out).
    fn finish_slot(&mut self, id: &str, host: &str) {
        self.in_flight.remove(id);
        if let Some(n) = self.per_host.get_mut(host) {
            *n = n.saturating_sub(1);
        }
    }

    /// A slot of `host` came free: start its next parked call, then fill free global slots.
    fn release_host_slot(&mut self, host: &str, ctx: &mut Context<Self>) {
        let next = self.blocked.get_mut(host).and_then(VecDeque::pop_front);
        if self.blocked.get(host).is_some_and(VecDeque::is_empty) {
            self.blocked.remove(host);
        }
        if let Some(call) = next {
            if self.in_flight.len() < self.options.concurrency {
                self.start_attempt(call, host.to_owned(), ctx);
            } else {
                self.due.push(Reverse((now_ms(), call.id)));
            }
        }
        self.dispatch_due(ctx);
    }

    fn record_attempt(
        &mut self,
        delivering: WebhookCall,
        number: u32,
        started_ms: i64,
        outcome: AttemptOutcome,
        ctx: &mut Context<Self>,
    ) {
        let mut next = delivering.clone();
        let verdict = if outcome.refused {
            AttemptVerdict::Fail
        } else {
            classify(outcome.status_code)
        };
        next.attempts.push(CallAttempt {
            number,
            at_ms: started_ms,
            status_code: outcome.status_code,
            latency_ms: outcome.latency_ms,
            error: outcome.error.clone(),
            response: outcome.response.clone(),
        });
        next.updated_at_ms = now_ms();
        next.status = match verdict {
            AttemptVerdict::Succeeded => CallStatus::Succeeded,
            AttemptVerdict::Fail => CallStatus::Failed,
            AttemptVerdict::Retry => {
                let in_round = next.attempts.len() as u32 - next.round_start;
                match self
                    .options
                    .policy
                    .delay_after(in_round, outcome.retry_after)
                {
                    Some(wait) => {
                        next.next_attempt_at_ms = now_ms() + wait.as_millis() as i64;
                        CallStatus::Pending
                    }
                    None => CallStatus::Dead,
                }
            }
        };
        let label = match verdict {
            AttemptVerdict::Succeeded => "succeeded",
            AttemptVerdict::Fail => "failed",
            AttemptVerdict::Retry => "retry",
        };
        metrics::counter!("ucrm_outbound_attempts_total", "outcome" => label).increment(1);
        log::debug!(call_id = next.id.as_str(), attempt = number, status = next.status.as_str();
            "outbound attempt recorded");
        if next.status == CallStatus::Dead {
            log::warn!(call_id = next.id.as_str(), journey_id = next.journey_id.as_str(),
                attempts = next.attempts.len(); "outbound call is dead after its last attempt");
        }

        let mut writes = WriteSet::new();
        writes.put_call(&next, Some(&delivering));
        let store = self.store.clone();
        let commit = async move { store.commit(writes).await };
        ctx.spawn(commit.into_actor(self).map(move |result, act, _| {
            if let Err(e) = result {
                // The stored call still says delivering; it is attempted again.
                log::error!(call_id = next.id.as_str(), error:% = e; "could not record attempt");
                act.due.push(Reverse((now_ms() + 1000, next.id)));
            } else if next.status == CallStatus::Pending {
                act.due.push(Reverse((next.next_attempt_at_ms, next.id)));
            }
            act.report_depth();
        }));
    }

    /// Commits `call` (replacing `previous`), schedules it and answers.
    fn store_and_schedule(
        &mut self,
        call: WebhookCall,
        previous: Option<WebhookCall>,
        reply: CallReply,
        ctx: &mut Context<Self>,
    ) {
        let mut writes = WriteSet::new();
        writes.put_call(&call, previous.as_ref());
        let store = self.store.clone();
        let commit = async move { store.commit(writes).await };
        ctx.spawn(
            commit
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(()) => {
                        act.due
                            .push(Reverse((call.next_attempt_at_ms, call.id.clone())));
                        let _ = reply.send(Ok(call));
                        act.dispatch_due(ctx);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }),
        );
    }
}

fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Actor for Dispatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        match self.store.open_calls() {
            Ok(calls) => {
                let now = now_ms();
                for call in &calls {
                    // An attempt that was under way when the process stopped is made again.
                    let due = if call.status == CallStatus::Delivering {
                        now
                    } else {
                        call.next_attempt_at_ms
                    };
                    self.due.push(Reverse((due, call.id.clone())));
                }
                log::info!(open_calls = calls.len(); "dispatcher started");
            }
            Err(e) => log::error!(error:% = e; "dispatcher could not reload open calls"),
        }
        self.report_depth();
        ctx.run_interval(self.options.tick, |act, ctx| act.dispatch_due(ctx));
    }
}

impl Handler<EnqueueCall> for Dispatcher {
    type Result = ();

    fn handle(&mut self, msg: EnqueueCall, ctx: &mut Self::Context) {
        self.store_and_schedule(msg.call, None, msg.reply, ctx);
    }
}

impl Handler<RetryCall> for Dispatcher {
    type Result = ();

    fn handle(&mut self, msg: RetryCall, ctx: &mut Self::Context) {
        let call = match self.store.call(&msg.id) {
            Ok(Some(c)) => c,
            Ok(None) => {
                let _ = msg.reply.send(Err(DomainError::NotFound("webhook call")));
                return;
            }
            Err(e) => {
                let _ = msg.reply.send(Err(e.into()));
                return;
            }
        };
        if call.status != CallStatus::Dead {
            let why = format!(
                "is {}; only a dead call can be retried",
                call.status.as_str()
            );
            let _ = msg.reply.send(Err(DomainError::invalid("status", why)));
            return;
        }
        let mut again = call.clone();
        again.status = CallStatus::Pending;
        again.round_start = call.attempts.len() as u32;
        again.next_attempt_at_ms = now_ms();
        again.updated_at_ms = again.next_attempt_at_ms;
        log::info!(call_id = again.id.as_str(); "dead call retried by an operator");
        self.store_and_schedule(again, Some(call), msg.reply, ctx);
    }
}
