//! Wiring: opens the store, starts the actors, builds the HTTP server.
//!
//! [`start`] is what `serve` and the integration tests both call, on a listener they bound
//! themselves (tests use `127.0.0.1:0`). It must run inside an actix system, because the
//! supervisors are started on the calling arbiter before the HTTP workers exist, so that each
//! is a singleton shared by every worker.

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use actix::Addr;
use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use ucrm_actors::adapter_client::{build_http_client, AdapterClient, ClientOptions};
use ucrm_actors::dispatcher::{Dispatcher, DispatcherOptions};
use ucrm_actors::ingest::Ingestor;
use ucrm_actors::kyc::KycModel;
use ucrm_actors::message_shard::MessageRouter;
use ucrm_actors::outbound::deliver::DeliveryClient;
use ucrm_actors::outbound::{RetryPolicy, SsrfGuard};
use ucrm_actors::pruner::LedgerPruner;
use ucrm_actors::reconciler::{ReconcileTarget, Reconciler};
use ucrm_actors::{AdapterSupervisor, Secret, SupervisorOptions, TenantSupervisor};
use ucrm_storage::{Store, StoreOptions};

use crate::config::Config;
use crate::routes;
use crate::telemetry;

/// How many message shard actors own messages; two per core leaves room to spare.
const MESSAGE_SHARDS: usize = 8;

/// What the routes share: configuration, the store (read-only use) and actor addresses.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// The store, for reads.
    pub store: Store,
    /// Configured adapters by slug.
    pub adapters: HashMap<String, AdapterHandle>,
    /// Tenant supervisors by tenant id.
    pub tenants: HashMap<String, TenantHandle>,
    /// The reconciler.
    pub reconciler: Addr<Reconciler>,
    /// The outbound dispatcher.
    pub dispatcher: Addr<Dispatcher>,
    /// The outbound client, whose SSRF guard checks new calls.
    pub delivery: DeliveryClient,
    /// Names of the secrets outbound calls may sign with.
    pub outbound_secrets: std::collections::HashSet<String>,
    /// The message shards.
    pub messages: MessageRouter,
    /// The `/v1/events` ingestor.
    pub ingestor: Addr<Ingestor>,
    /// The idempotency-ledger pruner.
    pub pruner: Addr<LedgerPruner>,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

/// One configured adapter.
pub struct AdapterHandle {
    /// Its slug.
    pub slug: String,
    /// Its tenant.
    pub tenant: String,
    /// Every secret that verifies its webhooks.
    pub secrets: Vec<Secret>,
    /// Its supervisor.
    pub supervisor: Addr<AdapterSupervisor>,
    /// Its inbound rate limit.
    pub limiter: crate::limits::AdapterLimiter,
}

/// One configured tenant.
pub struct TenantHandle {
    /// Who runs its KYC.
    pub kyc_model: KycModel,
    /// Its supervisor.
    pub supervisor: Addr<TenantSupervisor>,
}

impl AppState {
    /// How long a request waits on an actor.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.config.server.request_timeout_ms)
    }
}

/// Opens the store, starts the actors and the HTTP server on `listener`.
///
/// Returns the server's handle (to stop it) and a future that runs the server and, once it has
/// stopped, drains the group-commit writer and closes the store.
pub fn start(
    config: Config,
    listener: TcpListener,
) -> anyhow::Result<(ServerHandle, impl Future<Output = anyhow::Result<()>>)> {
    let metrics = telemetry::metrics_handle();
    let mut store_options = StoreOptions::at(&config.storage.path);
    store_options.cache_capacity_bytes = config.storage.cache_capacity_mb * 1024 * 1024;
    store_options.commit_queue_capacity = config.storage.commit_queue_capacity;
    store_options.max_batch_commits = config.storage.group_commit_max_events;
    store_options.group_commit_linger =
        Duration::from_micros(config.storage.group_commit_linger_us);
    store_options.sync = config.storage.fsync;
    if !config.storage.fsync {
        log::warn!(
            "storage.fsync is off: acknowledged events can be lost on a crash (benchmarks only)"
        );
    }
    let store = Store::open(&store_options)
        .map_err(|e| anyhow::anyhow!("storage.path {}: {e}", config.storage.path.display()))?;

    let options = SupervisorOptions {
        mailbox: config.actors.supervisor_mailbox,
        child_mailbox: config.actors.child_mailbox,
        child_idle: Duration::from_millis(config.actors.child_idle_ms),
    };
    let tenants: HashMap<String, TenantHandle> = config
        .tenants
        .iter()
        .map(|t| {
            let kyc_model = config.kyc_model(t);
            let supervisor =
                TenantSupervisor::start_with(&t.id, kyc_model, store.clone(), options.clone());
            (
                t.id.clone(),
                TenantHandle {
                    kyc_model,
                    supervisor,
                },
            )
        })
        .collect();
    let client_options = ClientOptions {
        timeout: Duration::from_millis(config.reconciler.platform_timeout_ms),
        concurrency: config.reconciler.concurrency,
        ..ClientOptions::default()
    };
    let http = build_http_client(&client_options)?;
    let mut targets = std::collections::BTreeMap::new();
    let adapters: HashMap<String, AdapterHandle> = config
        .adapters
        .iter()
        .map(|a| {
            let client = a.platform_base_url.as_ref().map(|url| {
                let secret = a.secrets[0].clone();
                AdapterClient::new(
                    &a.slug,
                    url,
                    secret,
                    http.clone(),
                    client_options.concurrency,
                )
            });
            let supervisor = AdapterSupervisor::start_with(
                &a.slug,
                &a.tenant,
                store.clone(),
                client.clone(),
                options.clone(),
            );
            if let Some(client) = client {
                let target = ReconcileTarget {
                    supervisor: supervisor.clone(),
                    client,
                };
                targets.insert(a.slug.clone(), target);
            }
            let handle = AdapterHandle {
                slug: a.slug.clone(),
                tenant: a.tenant.clone(),
                secrets: a.secrets.clone(),
                supervisor,
                limiter: crate::limits::AdapterLimiter::new(
                    a.rate_limit_per_sec,
                    a.rate_limit_burst,
                ),
            };
            (a.slug.clone(), handle)
        })
        .collect();

    let reconciler = Reconciler::start_with(
        store.clone(),
        targets,
        Duration::from_secs(config.reconciler.interval_secs),
        config.reconciler.concurrency,
    );

    let pruner = LedgerPruner::start_with(
        store.clone(),
        Duration::from_secs(config.storage.ledger_retention_days * 86_400),
        Duration::from_secs(config.storage.prune_interval_secs.max(1)),
    );

    let (dispatcher, delivery, outbound_secrets) = start_dispatcher(&config, &store)?;
    let messages = MessageRouter::start(
        store.clone(),
        MESSAGE_SHARDS,
        config.actors.supervisor_mailbox,
    );
    let supervisors = tenants
        .iter()
        .map(|(id, t)| (id.clone(), t.supervisor.clone()))
        .collect();
    let ingestor = Ingestor::start_with(
        store.clone(),
        supervisors,
        messages.clone(),
        config.actors.supervisor_mailbox,
    );

    let workers = match config.server.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let shutdown_secs = config.server.shutdown_timeout_secs;
    let state = web::Data::new(AppState {
        config,
        store: store.clone(),
        adapters,
        tenants,
        reconciler,
        dispatcher,
        delivery,
        outbound_secrets,
        messages,
        ingestor,
        pruner,
        metrics,
    });

    let local = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(telemetry::observe_request))
            .configure(routes::configure)
    })
    .workers(workers)
    .shutdown_timeout(shutdown_secs)
    .listen(listener)?
    .run();
    log::info!(addr:% = local, workers; "ucrm-webhooks listening");

    let handle = server.handle();
    let running = async move {
        let result = server.await;
        log::info!("HTTP server stopped; draining the store");
        store.close();
        log::info!("store closed");
        result.map_err(Into::into)
    };
    Ok((handle, running))
}

/// Starts the outbound dispatcher with its SSRF-guarded client and signing secrets.
fn start_dispatcher(
    config: &Config,
    store: &Store,
) -> anyhow::Result<(
    Addr<Dispatcher>,
    DeliveryClient,
    std::collections::HashSet<String>,
)> {
    let out = &config.outbound;
    let guard = SsrfGuard::new(&out.allow_private_networks).map_err(|e| anyhow::anyhow!(e))?;
    let delivery = DeliveryClient::new(guard, Duration::from_millis(out.connect_timeout_ms))?;
    let mut secrets: HashMap<String, Secret> = out.secrets.clone().into_iter().collect();
    for a in &config.adapters {
        secrets.insert(a.slug.clone(), a.secrets[0].clone());
    }
    let names = secrets.keys().cloned().collect();
    let mut policy = RetryPolicy {
        jitter: out.retry_jitter,
        ..RetryPolicy::default()
    };
    if let Some(schedule) = &out.retry_schedule_ms {
        policy.schedule = schedule
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect();
    }
    let options = DispatcherOptions {
        policy,
        concurrency: out.concurrency,
        per_host: out.per_host_concurrency,
        tick: Duration::from_millis(out.tick_ms),
        mailbox: config.actors.supervisor_mailbox,
    };
    let dispatcher = Dispatcher::start_with(store.clone(), delivery.clone(), secrets, options);
    Ok((dispatcher, delivery, names))
}
