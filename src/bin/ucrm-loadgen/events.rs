//! Signed bonus and KYC events: the workers that send them fresh or replayed, and the check
//! that every acknowledged event was applied.
//!
//! Each worker owns a disjoint set of subjects (grants or players) and walks them round-robin,
//! so the events of one subject are sent one after the other and always in order: a grant gets
//! `bonus.credited`, then `bonus.wagered` with totals 100, 200, …; a player gets
//! `kyc.submitted` at levels 1, 2, … with `ts` one second apart. Every such event changes its
//! subject, so a first delivery answered 200 must say `applied: true`. Bodies are a function of
//! (run, subject, sequence number), so a replay is the same bytes rebuilt.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::StreamExt as _;
use serde_json::Value;

use crate::admin::{Api, Seeded};
use crate::driver::{Auth, Outgoing, Worker};
use crate::report::Verification;

/// Failures listed in a report; the rest are only counted.
const MAX_LISTED_FAILURES: usize = 10;
/// Tries of one sampled replay that is answered 429 or 503, a second apart.
const MAX_VERIFY_ATTEMPTS: u32 = 10;

/// Which events a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bonus lifecycle events to grants.
    Bonus,
    /// KYC events to players.
    Kyc,
}

impl Kind {
    fn endpoint(self) -> &'static str {
        match self {
            Kind::Bonus => "bonus-events",
            Kind::Kyc => "kyc-events",
        }
    }
}

/// What every worker of one run shares.
pub struct Run {
    kind: Kind,
    id: String,
    base_ts: chrono::DateTime<chrono::Utc>,
    path: String,
    url: Arc<str>,
}

impl Run {
    /// A run of `kind` events with id `id` to `adapter` at `base_url`.
    pub fn new(kind: Kind, id: &str, base_url: &str, adapter: &str) -> Arc<Run> {
        let path = format!("/v1/adapters/{adapter}/webhooks/{}", kind.endpoint());
        let now = chrono::Utc::now();
        Arc::new(Run {
            kind,
            id: id.to_owned(),
            base_ts: now - chrono::Duration::milliseconds(now.timestamp_subsec_millis().into()),
            url: format!("{base_url}{path}").into(),
            path,
        })
    }

    /// The exact body of event `seq` of `subject`.
    fn body(&self, subject: &Subject, seq: u32) -> Vec<u8> {
        let ts = (self.base_ts + chrono::Duration::seconds(seq.into()))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let event_id = self.event_id(subject, seq);
        let (name, fields, data) = match self.kind {
            Kind::Bonus => (
                if seq == 0 {
                    "bonus.credited"
                } else {
                    "bonus.wagered"
                },
                format!(
                    r#""grant_id":"{}","platform_bonus_id":"{}""#,
                    subject.id, subject.platform_bonus_id
                ),
                if seq == 0 {
                    String::new()
                } else {
                    format!(r#""total_wagered":{}"#, progress(Kind::Bonus, seq))
                },
            ),
            Kind::Kyc => (
                "kyc.submitted",
                format!(
                    r#""player_external_id":"{}","level":{}"#,
                    subject.external_id,
                    progress(Kind::Kyc, seq)
                ),
                String::new(),
            ),
        };
        format!(
            r#"{{"event":"{name}","event_id":"{event_id}","ts":"{ts}",{fields},"data":{{{data}}}}}"#
        )
        .into_bytes()
    }

    fn event_id(&self, subject: &Subject, seq: u32) -> String {
        format!("lg-{}-{}-{seq}", self.id, subject.id)
    }
}

/// What event `seq` sets: a grant's wagering total or a player's pending KYC level.
fn progress(kind: Kind, seq: u32) -> i64 {
    match kind {
        Kind::Bonus => i64::from(seq) * 100,
        Kind::Kyc => i64::from(seq) + 1,
    }
}

/// A grant or a player that receives events.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Grant id or player id.
    id: String,
    /// The player's external id (KYC events).
    external_id: String,
    /// The grant's platform bonus id (bonus events).
    platform_bonus_id: String,
    /// The sequence number of the next fresh event.
    next_seq: u32,
    /// Sequence numbers answered 200 and applied.
    acked: Vec<u32>,
}

impl Subject {
    /// The subject a seeded player or grant stands for in a run of `kind` events.
    pub fn from_seeded(kind: Kind, seeded: Seeded) -> Subject {
        let (id, platform_bonus_id) = match kind {
            Kind::Bonus => (
                seeded.grant_id.unwrap_or_default(),
                seeded.platform_bonus_id.unwrap_or_default(),
            ),
            Kind::Kyc => (seeded.player_id, String::new()),
        };
        Subject {
            id,
            external_id: seeded.external_id,
            platform_bonus_id,
            next_seq: 0,
            acked: Vec::new(),
        }
    }
}

/// How the answers of one worker turned out, beyond their status.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// First deliveries answered 200 and applied.
    pub fresh_applied: u64,
    /// First deliveries answered 200 but not applied.
    pub fresh_not_applied: u64,
    /// First deliveries answered as replays.
    pub fresh_replayed: u64,
    /// Replays answered `replay: true`.
    pub replays_marked: u64,
    /// Replays answered 200 without `replay: true`.
    pub replays_unmarked: u64,
    /// The first few of those anomalies.
    pub examples: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.fresh_applied += other.fresh_applied;
        self.fresh_not_applied += other.fresh_not_applied;
        self.fresh_replayed += other.fresh_replayed;
        self.replays_marked += other.replays_marked;
        self.replays_unmarked += other.replays_unmarked;
        for e in &other.examples {
            if self.examples.len() < MAX_LISTED_FAILURES {
                self.examples.push(e.clone());
            }
        }
    }

    fn note(&mut self, example: String) {
        if self.examples.len() < MAX_LISTED_FAILURES {
            self.examples.push(example);
        }
    }
}

/// The request a worker is waiting on.
#[derive(Debug, Clone, Copy)]
enum InFlight {
    Fresh { subject: usize, seq: u32 },
    Replay { subject: usize, seq: u32 },
}

/// One connection sending events to its own subjects.
pub struct EventWorker {
    run: Arc<Run>,
    subjects: Vec<Subject>,
    cursor: usize,
    /// Applied events (subject index, sequence number), the candidates for replays.
    pool: Vec<(usize, u32)>,
    replay_ratio: f64,
    rng: u64,
    in_flight: Option<InFlight>,
    /// How its answers turned out.
    pub tally: Tally,
}

/// Splits `subjects` round-robin over `concurrency` workers.
pub fn workers(run: &Arc<Run>, subjects: Vec<Subject>, concurrency: usize) -> Vec<EventWorker> {
    let count = concurrency.clamp(1, subjects.len().max(1));
    let mut workers: Vec<EventWorker> = (0..count)
        .map(|i| EventWorker {
            run: run.clone(),
            subjects: Vec::new(),
            cursor: 0,
            pool: Vec::new(),
            replay_ratio: 0.0,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            in_flight: None,
            tally: Tally::default(),
        })
        .collect();
    for (i, s) in subjects.into_iter().enumerate() {
        workers[i % count].subjects.push(s);
    }
    workers
}

impl EventWorker {
    /// Sets the share of requests that replay an already applied event (0 to 1).
    pub fn set_replay_ratio(&mut self, ratio: f64) {
        self.replay_ratio = ratio;
    }

    /// xorshift64: enough to pick replays without a dependency.
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn wants_replay(&mut self) -> bool {
        if self.pool.is_empty() || self.replay_ratio <= 0.0 {
            return false;
        }
        (self.random() >> 11) as f64 / (1u64 << 53) as f64 <= self.replay_ratio
    }
}

impl Worker for EventWorker {
    fn next(&mut self) -> Option<Outgoing> {
        if self.subjects.is_empty() {
            return None;
        }
        let (subject, seq) = if self.wants_replay() {
            let pick = self.random() as usize % self.pool.len();
            let (subject, seq) = self.pool[pick];
            self.in_flight = Some(InFlight::Replay { subject, seq });
            (subject, seq)
        } else {
            let subject = self.cursor;
            self.cursor = (self.cursor + 1) % self.subjects.len();
            let seq = self.subjects[subject].next_seq;
            self.subjects[subject].next_seq += 1;
            self.in_flight = Some(InFlight::Fresh { subject, seq });
            (subject, seq)
        };
        Some(Outgoing {
            url: self.run.url.clone(),
            auth: Auth::Signed,
            body: Some(self.run.body(&self.subjects[subject], seq)),
        })
    }

    fn answered(&mut self, status: Option<u16>, body: &[u8]) {
        let Some(in_flight) = self.in_flight.take() else {
            return;
        };
        // Errors are counted by the driver; an unanswered event is simply not acknowledged.
        if status != Some(200) {
            return;
        }
        let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let replay = answer["replay"] == Value::Bool(true);
        let applied = answer["applied"] == Value::Bool(true);
        match in_flight {
            InFlight::Fresh { subject, seq } if !replay && applied => {
                self.subjects[subject].acked.push(seq);
                self.pool.push((subject, seq));
                self.tally.fresh_applied += 1;
            }
            InFlight::Fresh { subject, seq } => {
                if replay {
                    self.tally.fresh_replayed += 1;
                } else {
                    self.tally.fresh_not_applied += 1;
                }
                let id = self.run.event_id(&self.subjects[subject], seq);
                self.tally
                    .note(format!("first delivery of {id} answered {answer}"));
            }
            InFlight::Replay { .. } if replay => self.tally.replays_marked += 1,
            InFlight::Replay { subject, seq } => {
                self.tally.replays_unmarked += 1;
                let id = self.run.event_id(&self.subjects[subject], seq);
                self.tally.note(format!("replay of {id} answered {answer}"));
            }
        }
    }
}

/// The tallies of all `workers` together.
pub fn total_tally(workers: &[EventWorker]) -> Tally {
    let mut total = Tally::default();
    for w in workers {
        total.add(&w.tally);
    }
    total
}

/// Reads every subject back and checks each acknowledged event is in its history with its
/// progress kept, then replays up to `sample` acknowledged events and checks they are
/// answered as replays.
pub async fn verify(
    api: &Api<'_>,
    workers: &[EventWorker],
    concurrency: usize,
    sample: usize,
) -> Verification {
    let Some(run) = workers.first().map(|w| w.run.clone()) else {
        return Verification::not_applicable("no subjects");
    };
    let tally = total_tally(workers);
    let mut failures = tally.examples.clone();
    let mut failed = tally.fresh_not_applied + tally.fresh_replayed + tally.replays_unmarked;

    let subjects: Vec<&Subject> = workers
        .iter()
        .flat_map(|w| &w.subjects)
        .filter(|s| !s.acked.is_empty())
        .collect();
    let acked: usize = subjects.iter().map(|s| s.acked.len()).sum();
    let checks: Vec<Result<(), String>> = futures_util::stream::iter(subjects.iter())
        .map(|s| check_subject(api, &run, s))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for failure in checks.into_iter().filter_map(Result::err) {
        failed += 1;
        if failures.len() < MAX_LISTED_FAILURES {
            failures.push(failure);
        }
    }

    let candidates: Vec<(&Subject, u32)> = subjects
        .iter()
        .flat_map(|s| s.acked.iter().map(move |seq| (*s, *seq)))
        .collect();
    let step = (candidates.len() / sample.max(1)).max(1);
    let picked: Vec<(&Subject, u32)> = candidates.into_iter().step_by(step).take(sample).collect();
    let replays: Vec<Result<(), String>> = futures_util::stream::iter(picked.iter())
        .map(|(s, seq)| replay_one(api, &run, s, *seq))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for failure in replays.iter().filter_map(|r| r.as_ref().err()) {
        failed += 1;
        if failures.len() < MAX_LISTED_FAILURES {
            failures.push(failure.clone());
        }
    }

    let what = match run.kind {
        Kind::Bonus => "grants",
        Kind::Kyc => "players",
    };
    Verification {
        ok: failed == 0,
        summary: format!(
            "{} {what} read back holding all {acked} acknowledged events; {} of {} sampled \
             replays answered replay:true; {} replays during the run marked replay; {failed} \
             problems",
            subjects.len(),
            replays.iter().filter(|r| r.is_ok()).count(),
            replays.len(),
            tally.replays_marked,
        ),
        failures,
    }
}

/// Checks one subject read back through the admin API.
async fn check_subject(api: &Api<'_>, run: &Run, subject: &Subject) -> Result<(), String> {
    let (path, history_at, progress_at, status_at, status) = match run.kind {
        Kind::Bonus => (
            format!("/v1/bonus-grants/{}", subject.id),
            "/history",
            "/total_wagered",
            "/status",
            "active",
        ),
        Kind::Kyc => (
            format!("/v1/players/{}", subject.id),
            "/kyc/history",
            "/kyc/pending_level",
            "/kyc/status",
            "pending",
        ),
    };
    let body = api.get(&path).await.map_err(|e| format!("{e:#}"))?;
    let data = &body["data"];

    let history: HashSet<&str> = data
        .pointer(history_at)
        .and_then(Value::as_array)
        .map(|h| h.iter().filter_map(|e| e["event_id"].as_str()).collect())
        .unwrap_or_default();
    let missing: Vec<String> = subject
        .acked
        .iter()
        .map(|seq| run.event_id(subject, *seq))
        .filter(|id| !history.contains(id.as_str()))
        .collect();
    if let Some(first) = missing.first() {
        return Err(format!(
            "{path}: {} acknowledged events missing from its history, first {first}",
            missing.len()
        ));
    }

    let highest = subject
        .acked
        .iter()
        .max()
        .map_or(0, |seq| progress(run.kind, *seq));
    let held = data
        .pointer(progress_at)
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    if held < highest {
        return Err(format!(
            "{path}: holds {progress_at} {held}, acknowledged up to {highest}"
        ));
    }
    let state = data
        .pointer(status_at)
        .and_then(Value::as_str)
        .unwrap_or("");
    if state != status {
        return Err(format!("{path}: status {state}, expected {status}"));
    }
    Ok(())
}

/// Sends an acknowledged event again; it must be answered as a replay. A 429 or 503 (a rate
/// limit or a busy server) is waited out and retried a few times, since it says nothing about
/// whether the event was applied.
async fn replay_one(api: &Api<'_>, run: &Run, subject: &Subject, seq: u32) -> Result<(), String> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (status, answer) = api
            .signed(&run.path, run.body(subject, seq))
            .await
            .map_err(|e| format!("{e:#}"))?;
        if status == 200 && answer["replay"] == Value::Bool(true) {
            return Ok(());
        }
        if matches!(status, 429 | 503) && attempts < MAX_VERIFY_ATTEMPTS {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        let id = run.event_id(subject, seq);
        return Err(format!("sampled replay of {id} answered {status} {answer}"));
    }
}
