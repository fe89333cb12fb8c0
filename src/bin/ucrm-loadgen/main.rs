//! `ucrm-loadgen`: the load generator of ucrm-webhooks.
//!
//! It spawns the `ucrm-webhooks` binary found beside its own executable on a temporary store
//! (or targets a running server with `--url`), seeds players and grants through the admin API,
//! drives one mode at a fixed concurrency over keep-alive connections, checks that the server
//! did what it acknowledged, and prints a summary (and with `--json` one JSON line). It exits 1
//! when verification fails or errors exceed `--max-error-pct`, and 2 when the run could not be
//! set up.
//!
//! Layout: `driver` sends requests, `events` builds and verifies bonus and KYC events,
//! `outbound` and `reconcile` hold the built-in receiver and fake platform, `admin` talks to
//! the admin API, `target` spawns the server, `report` prints the outcome.

mod admin;
mod driver;
mod events;
mod outbound;
mod reconcile;
mod report;
mod target;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use serde_json::json;

use admin::Api;
use driver::{Auth, Limits, Outgoing, Worker};
use events::{EventWorker, Kind, Run, Subject};
use report::{Report, Verification};
use target::{SpawnOptions, Target};

/// Seconds a mode runs when neither `--duration` nor `--events` is given.
const DEFAULT_DURATION_SECS: f64 = 10.0;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// First deliveries of bonus events (`bonus.credited`, then `bonus.wagered`).
    Fresh,
    /// Deliveries of already applied bonus events, after a short seeding pass.
    Replay,
    /// Fresh and replayed bonus events together (`--replay-ratio`).
    Mixed,
    /// `kyc.submitted` events with increasing `ts` and level per player.
    Kyc,
    /// `GET /healthz` only: the ceiling of an endpoint that only answers.
    Healthz,
    /// Outbound calls to a built-in receiver; deliveries/s end to end.
    Outbound,
    /// One reconciliation pass against a built-in fake platform; grants/s.
    Reconcile,
}

/// Command line of `ucrm-loadgen`.
#[derive(Debug, Parser)]
#[command(
    name = "ucrm-loadgen",
    version,
    about = "Load generator of ucrm-webhooks"
)]
struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value = "fresh")]
    mode: Mode,
    /// A tiny CI run (a few seconds): fresh, then replay, verified.
    #[arg(long)]
    smoke: bool,
    /// Subjects to seed (grants or players), or calls to queue (outbound). Default: 1000,
    /// 10000 for outbound and reconcile.
    #[arg(long, short = 'n')]
    subjects: Option<usize>,
    /// Connections (one request in flight on each).
    #[arg(long, short = 'c', default_value_t = 64)]
    concurrency: usize,
    /// Seconds to send for (default 10 unless --events is given).
    #[arg(long, short = 'd')]
    duration: Option<f64>,
    /// Requests to send in all.
    #[arg(long, short = 'e')]
    events: Option<u64>,
    /// Load generator threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Share of replays in mixed mode (0 to 1).
    #[arg(long, default_value_t = 0.5)]
    replay_ratio: f64,
    /// Events applied per grant before the replay mode starts replaying them.
    #[arg(long, default_value_t = 2)]
    replay_depth: u64,
    /// Acknowledged events replayed once more during verification.
    #[arg(long, default_value_t = 200)]
    verify_sample: usize,
    /// Fail when errors exceed this percentage of requests.
    #[arg(long, default_value_t = 1.0)]
    max_error_pct: f64,
    /// Print one JSON line on standard output (the summary goes to standard error).
    #[arg(long)]
    json: bool,
    /// Spawned server: `[storage] fsync = false` (the ceiling without the durability step).
    #[arg(long, conflicts_with_all = ["url", "one_fsync_per_event"])]
    fsync_off: bool,
    /// Spawned server: `[storage] group_commit_max_events = 1` (one fsync per event).
    #[arg(long, conflicts_with = "url")]
    one_fsync_per_event: bool,
    /// Spawned server: `[storage] group_commit_linger_us` (how long a commit round may wait
    /// for more events under load).
    #[arg(long, conflicts_with = "url")]
    linger_us: Option<u64>,
    /// Spawned server: its `RUST_LOG`.
    #[arg(long, default_value = "info")]
    server_log: String,
    /// Target a running server instead of spawning one.
    #[arg(long, requires_all = ["admin_token", "secret"])]
    url: Option<String>,
    /// Admin token of the running server.
    #[arg(long, env = "UCRM_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Webhook secret of the adapter on the running server.
    #[arg(long)]
    secret: Option<String>,
    /// Adapter slug on the running server.
    #[arg(long, default_value = "demo-casino")]
    adapter: String,
    /// Tenant of the adapter on the running server.
    #[arg(long, default_value = "demo")]
    tenant: String,
    /// Address of the built-in receiver (outbound) or fake platform (reconcile).
    #[arg(long, default_value = "127.0.0.1:0")]
    fixture_bind: String,
}

impl Args {
    fn subjects(&self) -> usize {
        let default = match self.mode {
            Mode::Outbound | Mode::Reconcile => 10_000,
            _ => 1_000,
        };
        self.subjects.unwrap_or(default).max(1)
    }

    fn limits(&self) -> Limits {
        let duration = match (self.duration, self.events) {
            (Some(secs), _) => Some(secs),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_DURATION_SECS),
        };
        Limits {
            duration: duration.map(Duration::from_secs_f64),
            requests: self.events,
            threads: self.threads,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    ucrm_webhooks::telemetry::install_crypto_provider();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ucrm-loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Sets up the target and fixtures, runs the mode, prints the reports; answers whether all
/// passed.
fn run(mut args: Args) -> anyhow::Result<bool> {
    if args.smoke {
        args.subjects = Some(args.subjects.unwrap_or(32));
        args.concurrency = 8;
        args.threads = 1;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let platform = match (args.mode, args.smoke) {
        (Mode::Reconcile, false) => Some(reconcile::Platform::start(&args.fixture_bind)?),
        _ => None,
    };
    let receiver = match (args.mode, args.smoke) {
        (Mode::Outbound, false) => Some(outbound::Receiver::start(&args.fixture_bind)?),
        _ => None,
    };
    let target = open_target(&args, platform.as_ref().map(|p| p.url.clone()))?;
    eprintln!("target: {} server at {}", target.info.kind, target.url);

    let ctx = Ctx {
        run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        api: Api::new(&target, args.concurrency)?,
        target: &target,
        runtime: &runtime,
        args: &args,
    };
    let reports = match (args.smoke, args.mode) {
        (true, _) => smoke(&ctx)?,
        (false, Mode::Healthz) => vec![ctx.healthz()?],
        (false, Mode::Outbound) => {
            let receiver = receiver.context("the receiver is started for outbound")?;
            vec![ctx.outbound(&receiver)?]
        }
        (false, Mode::Reconcile) => {
            let platform = platform.context("the platform is started for reconcile")?;
            let grants = args.subjects();
            let c = args.concurrency;
            let report =
                runtime.block_on(reconcile::run(&ctx.api, &platform, &ctx.run_id, grants, c));
            vec![ctx.with_memory(report?)]
        }
        (false, mode) => vec![ctx.events(mode)?],
    };
    Ok(print(&args, &target, &reports))
}

/// Prints the summaries (and the JSON line); answers whether every report passed.
fn print(args: &Args, target: &Target, reports: &[Report]) -> bool {
    let passed = reports.iter().all(|r| r.passed(args.max_error_pct));
    for r in reports {
        let text = r.human(args.max_error_pct);
        if args.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    if !passed {
        if let Some(server) = &target.server {
            eprintln!("the server's log ends:\n{}", server.log_tail());
        }
    }
    if args.json {
        let line = match reports {
            [one] => serde_json::to_value(one).unwrap_or_default(),
            many => json!({"mode": "smoke", "passed": passed, "phases": many}),
        };
        println!("{line}");
    }
    passed
}

fn open_target(args: &Args, platform_url: Option<String>) -> anyhow::Result<Target> {
    match &args.url {
        Some(url) => Ok(Target::remote(
            url,
            args.admin_token.as_deref().unwrap_or_default(),
            args.secret.as_deref().unwrap_or_default(),
            &args.adapter,
            &args.tenant,
        )),
        None => Target::spawn(&SpawnOptions {
            fsync: !args.fsync_off,
            group_commit_max_events: args.one_fsync_per_event.then_some(1),
            group_commit_linger_us: args.linger_us,
            platform_base_url: platform_url,
            rust_log: args.server_log.clone(),
        }),
    }
}

/// Everything a mode needs.
struct Ctx<'a> {
    args: &'a Args,
    runtime: &'a tokio::runtime::Runtime,
    target: &'a Target,
    api: Api<'a>,
    run_id: String,
}

impl Ctx<'_> {
    /// Adds the spawned server's memory to `report`.
    fn with_memory(&self, mut report: Report) -> Report {
        if let Some((rss, peak)) = self.target.server.as_ref().and_then(|s| s.memory_mib()) {
            report.server_rss_mib = Some((rss * 10.0).round() / 10.0);
            report.server_peak_rss_mib = Some((peak * 10.0).round() / 10.0);
        }
        report
    }

    /// Seeds subjects for `kind` events and splits them over the workers.
    fn event_workers(&self, kind: Kind) -> anyhow::Result<Vec<EventWorker>> {
        let n = self.args.subjects();
        let c = self.args.concurrency;
        if c > n {
            eprintln!("note: {c} connections share {n} subjects, so only {n} are used");
        }
        let seeded =
            self.runtime
                .block_on(self.api.seed(&self.run_id, n, kind == Kind::Bonus, c))?;
        let subjects = seeded
            .into_iter()
            .map(|s| Subject::from_seeded(kind, s))
            .collect();
        let run = Run::new(kind, &self.run_id, &self.target.url, &self.target.adapter);
        Ok(events::workers(&run, subjects, c))
    }

    /// One measured phase of event workers at `replay_ratio`, verified afterwards.
    fn event_phase(
        &self,
        mode: &str,
        mut workers: Vec<EventWorker>,
        replay_ratio: f64,
        limits: Limits,
    ) -> anyhow::Result<(Vec<EventWorker>, Report)> {
        for w in &mut workers {
            w.set_replay_ratio(replay_ratio);
            w.tally = events::Tally::default();
        }
        let (workers, stats) = driver::drive(workers, &self.target.credentials, limits)?;
        let tally = events::total_tally(&workers);
        let (c, sample) = (self.args.concurrency, self.args.verify_sample);
        let verification = self
            .runtime
            .block_on(events::verify(&self.api, &workers, c, sample));
        let info = &self.target.info;
        let mut report = Report::from_stats(mode, info, c, stats, "events/s", verification);
        report
            .extra
            .insert("subjects".into(), json!(self.args.subjects()));
        report
            .extra
            .insert("fresh_applied".into(), json!(tally.fresh_applied));
        report
            .extra
            .insert("replays_marked".into(), json!(tally.replays_marked));
        Ok((workers, self.with_memory(report)))
    }

    /// The fresh, replay, mixed and KYC modes.
    fn events(&self, mode: Mode) -> anyhow::Result<Report> {
        let kind = if mode == Mode::Kyc {
            Kind::Kyc
        } else {
            Kind::Bonus
        };
        let workers = self.event_workers(kind)?;
        let limits = self.args.limits();
        let report = match mode {
            Mode::Replay => {
                let warm = Limits {
                    duration: None,
                    requests: Some(self.args.subjects() as u64 * self.args.replay_depth.max(1)),
                    threads: self.args.threads,
                };
                let (workers, seeded) = self.event_phase("replay-seed", workers, 0.0, warm)?;
                eprint!("{}", seeded.human(self.args.max_error_pct));
                self.event_phase("replay", workers, 1.0, limits)?.1
            }
            Mode::Mixed => {
                let ratio = self.args.replay_ratio.clamp(0.0, 1.0);
                self.event_phase("mixed", workers, ratio, limits)?.1
            }
            Mode::Kyc => self.event_phase("kyc", workers, 0.0, limits)?.1,
            _ => self.event_phase("fresh", workers, 0.0, limits)?.1,
        };
        Ok(report)
    }

    /// `GET /healthz` at full concurrency.
    fn healthz(&self) -> anyhow::Result<Report> {
        let url: Arc<str> = self.target.at("/healthz").into();
        let workers: Vec<HealthWorker> = (0..self.args.concurrency.max(1))
            .map(|_| HealthWorker { url: url.clone() })
            .collect();
        let (_, stats) = driver::drive(workers, &self.target.credentials, self.args.limits())?;
        let verification = Verification::not_applicable("/healthz changes nothing");
        let report = Report::from_stats(
            "healthz",
            &self.target.info,
            self.args.concurrency,
            stats,
            "requests/s",
            verification,
        );
        Ok(self.with_memory(report))
    }

    /// Outbound calls to the built-in receiver.
    fn outbound(&self, receiver: &outbound::Receiver) -> anyhow::Result<Report> {
        let run = outbound::OutboundRun {
            target: self.target,
            api: &self.api,
            receiver,
            run: &self.run_id,
            calls: self.args.subjects() as u64,
            concurrency: self.args.concurrency,
            threads: self.args.threads,
        };
        let report = self.runtime.block_on(run.run(&self.target.credentials))?;
        Ok(self.with_memory(report))
    }
}

/// The CI run: fresh events for a moment, then replays of them, each verified.
fn smoke(ctx: &Ctx<'_>) -> anyhow::Result<Vec<Report>> {
    let workers = ctx.event_workers(Kind::Bonus)?;
    let limits = |secs: f64| Limits {
        duration: Some(Duration::from_secs_f64(secs)),
        requests: None,
        threads: ctx.args.threads,
    };
    let (workers, fresh) = ctx.event_phase("smoke-fresh", workers, 0.0, limits(1.5))?;
    let (_, replay) = ctx.event_phase("smoke-replay", workers, 1.0, limits(1.0))?;
    Ok(vec![fresh, replay])
}

/// Asks for `/healthz` and nothing else.
struct HealthWorker {
    url: Arc<str>,
}

impl Worker for HealthWorker {
    fn next(&mut self) -> Option<Outgoing> {
        Some(Outgoing {
            url: self.url.clone(),
            auth: Auth::None,
            body: None,
        })
    }

    fn answered(&mut self, _status: Option<u16>, _body: &[u8]) {}
}
