//! Micro-benchmarks of the store: record encoding, and group commits of various sizes.
//!
//! Run: `cargo bench -p ucrm-storage --bench store`. The commit benchmarks hit the disk with
//! real fsyncs; each iteration submits `n` single-record commits at once and waits for all, so
//! the time per iteration is what one group commit of `n` events costs. `ledger_sweep` is one
//! pruning run over 200,000 ledger entries none of which is past retention: the read cost the
//! pruner pays per run instead of a time index written with every event.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ucrm_storage::codec::{decode, encode};
use ucrm_storage::{Grant, GrantStatus, LedgerEntry, LedgerSubject, Store, StoreOptions, WriteSet};

fn grant(i: u64) -> Grant {
    Grant {
        id: format!("0193a7d2-5f1e-7c3a-9b1e-{i:012}"),
        adapter_slug: "demo-casino".into(),
        player_id: "0193a7d2-5f1e-7c3a-9b1e-aaaaaaaaaaaa".into(),
        status: GrantStatus::Active,
        platform_bonus_id: Some("pb-123456".into()),
        amount_subunit: 10_000,
        currency: "EUR".into(),
        template_id: None,
        created_at_ms: 1_700_000_000_000,
        activated_at_ms: Some(1_700_000_000_500),
        completed_at: None,
        total_wagered: 100_000,
        reason: None,
        updated_at_ms: 1_700_000_000_500,
        history_len: 1,
    }
}

fn benches(c: &mut Criterion) {
    let g = grant(1);
    let bytes = encode(&g);
    c.bench_function("encode_grant", |b| b.iter(|| encode(black_box(&g))));
    c.bench_function("decode_grant", |b| {
        b.iter(|| decode::<Grant>(b"g/1", black_box(&bytes)))
    });

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions::at(dir.path())).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut next = 0u64;
    let mut group = c.benchmark_group("group_commit");
    group.sample_size(20);
    for n in [1usize, 16, 64] {
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                let commits: Vec<_> = (0..n)
                    .map(|_| {
                        next += 1;
                        let mut w = WriteSet::new();
                        w.put_grant(&grant(next), None);
                        let entry = LedgerEntry {
                            subject: LedgerSubject::Grant,
                            subject_id: next.to_string(),
                            applied: true,
                            recorded_at_ms: 1,
                        };
                        w.record_event("demo-casino", &next.to_string(), &entry);
                        store.commit(w)
                    })
                    .collect();
                // Polled together, so all are queued before the writer's next round.
                for result in rt.block_on(futures_util::future::join_all(commits)) {
                    result.unwrap();
                }
            })
        });
    }
    group.finish();

    let sweep_dir = tempfile::tempdir().unwrap();
    let sweep_store = Store::open(&StoreOptions::at(sweep_dir.path())).unwrap();
    const ENTRIES: u64 = 200_000;
    for chunk in 0..ENTRIES / 10_000 {
        let mut w = WriteSet::new();
        for i in chunk * 10_000..(chunk + 1) * 10_000 {
            let entry = LedgerEntry {
                subject: LedgerSubject::Grant,
                subject_id: format!("0193a7d2-5f1e-7c3a-9b1e-{i:012}"),
                applied: true,
                recorded_at_ms: 1_700_000_000_000,
            };
            w.record_event("demo-casino", &format!("evt-{i:012}"), &entry);
        }
        sweep_store.commit_blocking(w).unwrap();
    }
    let mut group = c.benchmark_group("ledger_sweep");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(ENTRIES));
    group.bench_function("200k_entries", |b| {
        b.iter(|| {
            let mut after: Option<Vec<u8>> = None;
            loop {
                let (removed, next) = rt
                    .block_on(sweep_store.prune_ledger(0, after.as_deref(), 1000))
                    .unwrap();
                assert_eq!(removed, 0);
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        })
    });
    group.finish();
}

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
