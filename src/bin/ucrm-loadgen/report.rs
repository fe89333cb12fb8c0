//! The outcome of one measured run: a human summary and one JSON line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::driver::Stats;
use crate::target::ServerInfo;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latency {
    /// Percentiles of `micros` (sorted here), or `None` when there are none.
    pub fn of(micros: &mut [u32]) -> Option<Latency> {
        if micros.is_empty() {
            return None;
        }
        micros.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            f64::from(micros[rank - 1]) / 1000.0
        };
        Some(Latency {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        })
    }
}

/// Whether the server did what it acknowledged.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Every check passed.
    pub ok: bool,
    /// What was checked, in one line.
    pub summary: String,
    /// The first few failures, each in one line.
    pub failures: Vec<String>,
}

impl Verification {
    /// A mode with nothing to verify.
    pub fn not_applicable(why: &str) -> Verification {
        Verification {
            ok: true,
            summary: format!("not applicable: {why}"),
            failures: Vec::new(),
        }
    }
}

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The mode (`fresh`, `replay`, …).
    pub mode: String,
    /// The server under load.
    pub server: ServerInfo,
    /// Connections (worker tasks).
    pub concurrency: usize,
    /// Requests sent.
    pub sent: u64,
    /// Requests answered 2xx.
    pub acknowledged: u64,
    /// Other answers by status, and failures below HTTP.
    pub errors: BTreeMap<String, u64>,
    /// Wall time of the measured part.
    pub elapsed_secs: f64,
    /// The headline rate.
    pub rate_per_sec: f64,
    /// What the rate counts (`events/s`, `deliveries/s`, …).
    pub rate_unit: &'static str,
    /// Latency of the counted operation.
    pub latency: Option<Latency>,
    /// The server's resident memory at the end, in MiB (spawned servers).
    pub server_rss_mib: Option<f64>,
    /// The server's peak resident memory, in MiB (spawned servers).
    pub server_peak_rss_mib: Option<f64>,
    /// The verification result.
    pub verification: Verification,
    /// Figures particular to the mode.
    pub extra: Map<String, Value>,
}

impl Report {
    /// A report whose rate is acknowledged requests per second of the driver's run.
    pub fn from_stats(
        mode: &str,
        server: &ServerInfo,
        concurrency: usize,
        mut stats: Stats,
        rate_unit: &'static str,
        verification: Verification,
    ) -> Report {
        Report {
            mode: mode.to_owned(),
            server: server.clone(),
            concurrency,
            sent: stats.sent,
            acknowledged: stats.ok,
            errors: std::mem::take(&mut stats.errors),
            elapsed_secs: stats.elapsed.as_secs_f64(),
            rate_per_sec: per_sec(stats.ok, stats.elapsed),
            rate_unit,
            latency: Latency::of(&mut stats.latencies_us),
            server_rss_mib: None,
            server_peak_rss_mib: None,
            verification,
            extra: Map::new(),
        }
    }

    /// Errors as a percentage of requests sent.
    pub fn error_pct(&self) -> f64 {
        let errors: u64 = self.errors.values().sum();
        if self.sent == 0 {
            0.0
        } else {
            errors as f64 * 100.0 / self.sent as f64
        }
    }

    /// Whether the run passed: verified, with errors within `max_error_pct`.
    pub fn passed(&self, max_error_pct: f64) -> bool {
        self.verification.ok && self.error_pct() <= max_error_pct
    }

    /// A few lines for a person.
    pub fn human(&self, max_error_pct: f64) -> String {
        let mut out = String::new();
        let errors = if self.errors.is_empty() {
            "no errors".to_owned()
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            format!("errors {{{}}} ({:.2}%)", list.join(", "), self.error_pct())
        };
        let _ = writeln!(
            out,
            "{}: {} sent, {} acknowledged, {errors}, in {:.2} s at {} connections",
            self.mode, self.sent, self.acknowledged, self.elapsed_secs, self.concurrency
        );
        let latency = match &self.latency {
            Some(l) => format!(
                "latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                l.p50_ms, l.p99_ms, l.max_ms
            ),
            None => "no latency figures".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {:.0} {}; {latency}",
            self.rate_per_sec, self.rate_unit
        );
        for (k, v) in &self.extra {
            let _ = writeln!(out, "  {k}: {v}");
        }
        let mut server = format!("  server: {} {}", self.server.kind, self.server.url);
        if let Some(fsync) = self.server.fsync {
            let _ = write!(server, ", fsync {}", if fsync { "on" } else { "off" });
            let limit = self
                .server
                .group_commit_max_events
                .map_or("default".to_owned(), |n| n.to_string());
            let _ = write!(server, ", group_commit_max_events {limit}");
            if let Some(us) = self.server.group_commit_linger_us {
                let _ = write!(server, ", group_commit_linger_us {us}");
            }
        }
        if let (Some(rss), Some(peak)) = (self.server_rss_mib, self.server_peak_rss_mib) {
            let _ = write!(server, ", rss {rss:.0} MiB (peak {peak:.0} MiB)");
        }
        let _ = writeln!(out, "{server}");
        let verdict = if self.verification.ok { "ok" } else { "FAILED" };
        let _ = writeln!(
            out,
            "  verification {verdict}: {}",
            self.verification.summary
        );
        for failure in &self.verification.failures {
            let _ = writeln!(out, "    {failure}");
        }
        if self.error_pct() > max_error_pct {
            let _ = writeln!(
                out,
                "  FAILED: errors {:.2}% exceed --max-error-pct {max_error_pct}",
                self.error_pct()
            );
        }
        out
    }
}

/// `count` per second over `elapsed`.
pub fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}
