//! [`Reconciler`]: heals lost webhooks by asking each platform about every open grant.
//!
//! A run walks the open-grant index of every adapter that has a platform client (never the
//! whole grant table), asks the platform for each grant's status with bounded concurrency, and
//! when the platform is ahead replays the missing transition through the adapter's supervisor,
//! the same path a webhook takes, with event id `reconcile:<grant_id>:<status>` and source
//! `reconciler`. A later real webhook for that transition is then a harmless no-op. Platform
//! errors are counted, never applied. Only one run happens at a time; a request during a run
//! waits for that run's summary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;
use ucrm_storage::{GrantStatus, Source, Store};

use crate::adapter_client::AdapterClient;
use crate::bonus::{BonusEvent, BonusEventKind};
use crate::supervisor::{AdapterSupervisor, SubmitBonusEvent};
use crate::DomainError;

/// Counts of one adapter, or of a whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileCounts {
    /// Open grants looked at.
    pub checked: u64,
    /// Grants moved forward to the platform's status.
    pub repaired: u64,
    /// Grants already in step (or ahead of the platform).
    pub unchanged: u64,
    /// Platform or apply errors; nothing was applied for these.
    pub errors: u64,
}

impl ReconcileCounts {
    fn add(&mut self, other: &ReconcileCounts) {
        self.checked += other.checked;
        self.repaired += other.repaired;
        self.unchanged += other.unchanged;
        self.errors += other.errors;
    }
}

/// The summary a run leaves behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileSummary {
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// What started it: `timer`, `admin`.
    pub trigger: String,
    /// Open grants looked at.
    pub checked: u64,
    /// Grants moved forward.
    pub repaired: u64,
    /// Grants in step.
    pub unchanged: u64,
    /// Errors, counted and not applied.
    pub errors: u64,
    /// How long the run took.
    pub duration_ms: u64,
    /// The same counts per adapter.
    pub adapters: BTreeMap<String, ReconcileCounts>,
}

/// One adapter the reconciler walks.
#[derive(Clone)]
pub struct ReconcileTarget {
    /// The adapter's supervisor, which applies repairs.
    pub supervisor: Addr<AdapterSupervisor>,
    /// The platform client.
    pub client: AdapterClient,
}

/// Asks for a run now (all adapters, or one) and answers with its summary.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RunReconcile {
    /// Only this adapter, when given.
    pub adapter: Option<String>,
    /// Where the summary goes.
    pub reply: oneshot::Sender<Result<ReconcileSummary, DomainError>>,
}

/// Asks for the last run's summary.
#[derive(Debug, Message)]
#[rtype(result = "Option<ReconcileSummary>")]
pub struct LastReconcile;

/// The reconciler actor.
pub struct Reconciler {
    store: Store,
    targets: BTreeMap<String, ReconcileTarget>,
    interval: Duration,
    concurrency: usize,
    running: bool,
    waiting: Vec<oneshot::Sender<Result<ReconcileSummary, DomainError>>>,
    last: Option<ReconcileSummary>,
}

impl Reconciler {
    /// Starts the reconciler with its timer.
    pub fn start_with(
        store: Store,
        targets: BTreeMap<String, ReconcileTarget>,
        interval: Duration,
        concurrency: usize,
    ) -> Addr<Self> {
        Reconciler {
            store,
            targets,
            interval,
            concurrency: concurrency.max(1),
            running: false,
            waiting: Vec::new(),
            last: None,
        }
        .start()
    }

    fn begin(&mut self, adapter: Option<String>, trigger: &'static str, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let targets: Vec<(String, ReconcileTarget)> = self
            .targets
            .iter()
            .filter(|(slug, _)| adapter.as_ref().is_none_or(|a| a == *slug))
            .map(|(s, t)| (s.clone(), t.clone()))
            .collect();
        let run = run(self.store.clone(), targets, self.concurrency, trigger);
        ctx.spawn(run.into_actor(self).map(|summary, act, _| {
            act.running = false;
            log::info!(trigger = summary.trigger.as_str(), checked = summary.checked,
                repaired = summary.repaired, errors = summary.errors,
                duration_ms = summary.duration_ms; "reconciliation finished");
            metrics::counter!("ucrm_reconcile_runs_total").increment(1);
            metrics::counter!("ucrm_reconcile_repairs_total").increment(summary.repaired);
            metrics::counter!("ucrm_reconcile_errors_total").increment(summary.errors);
            for waiter in act.waiting.drain(..) {
                let _ = waiter.send(Ok(summary.clone()));
            }
            act.last = Some(summary);
        }));
    }
}

impl Actor for Reconciler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.interval, |act, ctx| act.begin(None, "timer", ctx));
        log::info!(interval_secs = self.interval.as_secs(), adapters = self.targets.len();
            "reconciler started");
    }
}

impl Handler<RunReconcile> for Reconciler {
    type Result = ();

    fn handle(&mut self, msg: RunReconcile, ctx: &mut Self::Context) {
        if let Some(slug) = &msg.adapter {
            if !self.targets.contains_key(slug) {
                let why = "names no adapter with a platform_base_url";
                let _ = msg.reply.send(Err(DomainError::invalid("adapter", why)));
                return;
            }
        }
        self.waiting.push(msg.reply);
        self.begin(msg.adapter, "admin", ctx);
    }
}

impl Handler<LastReconcile> for Reconciler {
    type Result = Option<ReconcileSummary>;

    fn handle(&mut self, _msg: LastReconcile, _ctx: &mut Self::Context) -> Self::Result {
        self.last.clone()
    }
}

/// Whether a grant at `local` is behind a platform at `remote`.
pub fn platform_is_ahead(local: GrantStatus, remote: GrantStatus) -> bool {
    let rank = |s: GrantStatus| match s {
        GrantStatus::Pending => 0,
        GrantStatus::Active => 1,
        _ => 2,
    };
    !local.is_terminal() && rank(remote) > rank(local)
}

/// One full run over `targets`.
async fn run(
    store: Store,
    targets: Vec<(String, ReconcileTarget)>,
    concurrency: usize,
    trigger: &'static str,
) -> ReconcileSummary {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339();
    let mut adapters = BTreeMap::new();
    let mut total = ReconcileCounts::default();
    for (slug, target) in targets {
        let counts = reconcile_adapter(&store, &slug, &target, concurrency).await;
        total.add(&counts);
        adapters.insert(slug, counts);
    }
    ReconcileSummary {
        started_at,
        trigger: trigger.to_owned(),
        checked: total.checked,
        repaired: total.repaired,
        unchanged: total.unchanged,
        errors: total.errors,
        duration_ms: started.elapsed().as_millis() as u64,
        adapters,
    }
}

/// The verdict on one grant.
enum Checked {
    Repaired,
    Unchanged,
    Error,
}

async fn reconcile_adapter(
    store: &Store,
    slug: &str,
    target: &ReconcileTarget,
    concurrency: usize,
) -> ReconcileCounts {
    const PAGE: usize = 500;
    let mut counts = ReconcileCounts::default();
    let mut after: Option<String> = None;
    loop {
        let ids = match store.open_grant_ids(slug, after.as_deref(), PAGE) {
            Ok(ids) => ids,
            Err(e) => {
                log::error!(adapter = slug, error:% = e; "reconciler could not read open grants");
                counts.errors += 1;
                break;
            }
        };
        let Some(last) = ids.last().cloned() else {
            break;
        };
        let verdicts: Vec<Checked> = futures_util::stream::iter(ids)
            .map(|id| check_grant(store, target, id))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for v in verdicts {
            counts.checked += 1;
            match v {
                Checked::Repaired => counts.repaired += 1,
                Checked::Unchanged => counts.unchanged += 1,
                Checked::Error => counts.errors += 1,
            }
        }
        after = Some(last);
    }
    counts
}

async fn check_grant(store: &Store, target: &ReconcileTarget, grant_id: String) -> Checked {
    let grant = match store.grant(&grant_id) {
        Ok(Some(g)) => g,
        _ => return Checked::Error,
    };
    let Some(pid) = grant.platform_bonus_id.clone() else {
        // Never issued on the platform (registered before its id was known): nothing to ask.
        return Checked::Unchanged;
    };
    let remote = match target.client.status(&pid).await {
        Ok(r) => r,
        Err(e) => {
            log::warn!(adapter = target.client.slug(), grant_id = grant_id.as_str(), error:% = e;
                "reconciler could not read platform status");
            return Checked::Error;
        }
    };
    if !platform_is_ahead(grant.status, remote.status) {
        return Checked::Unchanged;
    }
    let Some(kind) = BonusEventKind::for_status(remote.status) else {
        return Checked::Unchanged;
    };

    let text = |k: &str| {
        remote
            .data
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let event = BonusEvent {
        kind,
        event_id: format!("reconcile:{grant_id}:{}", remote.status.as_str()),
        ts: chrono::Utc::now().to_rfc3339(),
        grant_id: grant_id.clone(),
        platform_bonus_id: Some(pid),
        total_wagered: remote
            .data
            .get("total_wagered")
            .and_then(Value::as_i64)
            .filter(|t| *t >= 0),
        completed_at: text("completed_at"),
        reason: text("reason"),
    };
    let (reply, rx) = oneshot::channel();
    let submit = SubmitBonusEvent {
        event,
        source: Source::Reconciler,
        reply,
    };
    if target.supervisor.send(submit).await.is_err() {
        return Checked::Error;
    }
    match rx.await {
        Ok(Ok(outcome)) if outcome.applied => {
            log::info!(
                grant_id = grant_id.as_str(), status = outcome.new_status;
                "reconciler repaired grant"
            );
            Checked::Repaired
        }
        Ok(Ok(_)) => Checked::Unchanged,
        _ => Checked::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_platform_ahead_of_a_live_grant_is_repaired() {
        use GrantStatus::*;
        assert!(platform_is_ahead(Pending, Active));
        assert!(platform_is_ahead(Pending, Completed));
        assert!(platform_is_ahead(Active, Expired));
        assert!(!platform_is_ahead(Active, Active));
        assert!(!platform_is_ahead(Active, Pending));
        assert!(!platform_is_ahead(Completed, Cancelled));
    }
}
