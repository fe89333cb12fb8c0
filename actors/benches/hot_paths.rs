//! Micro-benchmarks of the request path's pure pieces: signature check, body parsing, the
//! grant state machine, provider payload parsing and template rendering.
//!
//! Run: `cargo bench -p ucrm-actors --bench hot_paths`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use ucrm_actors::bonus::{decide, parse_bonus_event};
use ucrm_actors::kyc::parse_kyc_event;
use ucrm_actors::messaging::parse_postmark_event;
use ucrm_actors::outbound::Template;
use ucrm_actors::signing::{sign, verify};
use ucrm_actors::Secret;
use ucrm_storage::{Grant, GrantStatus, Source};

const NOW: i64 = 1_800_000_000;

fn bonus_body() -> String {
    json!({"event": "bonus.wagered", "event_id": "0193a7d2-5f1e-7c3a-9b1e-2f4d6a8c0e12",
           "ts": "2026-05-08T12:00:00Z", "grant_id": "0193a7d2-5f1e-7c3a-9b1e-000000000001",
           "platform_bonus_id": "pb-123456", "data": {"total_wagered": 125_000}})
    .to_string()
}

fn grant() -> Grant {
    Grant {
        id: "0193a7d2-5f1e-7c3a-9b1e-000000000001".into(),
        adapter_slug: "demo-casino".into(),
        player_id: "p".into(),
        status: GrantStatus::Active,
        platform_bonus_id: Some("pb-123456".into()),
        amount_subunit: 10_000,
        currency: "EUR".into(),
        template_id: None,
        created_at_ms: 0,
        activated_at_ms: Some(1),
        completed_at: None,
        total_wagered: 100_000,
        reason: None,
        updated_at_ms: 1,
        history_len: 0,
    }
}

fn benches(c: &mut Criterion) {
    let secrets = [Secret::new("dev-only-secret")];
    let body = bonus_body();
    let sig = sign(&secrets[0], NOW, body.as_bytes());
    let ts = NOW.to_string();
    c.bench_function("signature_verify_bonus_body", |b| {
        b.iter(|| {
            verify(
                &secrets,
                Some(&ts),
                Some(&sig),
                black_box(body.as_bytes()),
                NOW,
                300,
            )
        })
    });
    c.bench_function("parse_bonus_event", |b| {
        b.iter(|| parse_bonus_event(black_box(body.as_bytes())))
    });

    let event = parse_bonus_event(body.as_bytes()).unwrap();
    let g = grant();
    c.bench_function("grant_state_machine_decide", |b| {
        b.iter(|| decide(black_box(&g), black_box(&event), Source::Webhook, NOW))
    });

    let kyc = json!({"event": "kyc.approved", "event_id": "k-1", "ts": "2026-05-08T12:00:00Z",
                     "player_external_id": "player_001", "level": 2,
                     "data": {"expires_at": "2027-05-08T12:00:00Z"}})
    .to_string();
    c.bench_function("parse_kyc_event", |b| {
        b.iter(|| parse_kyc_event(black_box(kyc.as_bytes())))
    });

    let postmark = json!({"RecordType": "Delivery",
                          "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
                          "Recipient": "john@example.com",
                          "DeliveredAt": "2019-11-05T16:33:54.9070259Z",
                          "Details": "Test delivery webhook details", "Tag": "welcome-email",
                          "ServerID": 23, "MessageStream": "outbound"})
    .to_string();
    c.bench_function("parse_postmark_delivery", |b| {
        b.iter(|| parse_postmark_event(black_box(postmark.as_bytes())))
    });

    let template = Template::compile(
        "{\"player\":\"{{player.name}}\",\"bonus\":{{amount}},\"raw\":\"{{{note}}}\"}",
    )
    .unwrap();
    let context = json!({"player": {"name": "Ann <VIP>"}, "amount": 2500, "note": "a & b"});
    c.bench_function("render_call_template", |b| {
        b.iter(|| template.render(black_box(&context)))
    });
}

criterion_group!(hot_paths, benches);
criterion_main!(hot_paths);
