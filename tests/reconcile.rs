//! Adapter calls and reconciliation against a fake platform that verifies UCRM's signatures.

mod common;

use std::time::Duration;

use common::platform::{Bonus, Platform};
use common::*;
use reqwest::Method;
use serde_json::json;

fn platform_adapter(platform: &Platform, extra: &str) -> String {
    format!(
        "[[adapters]]\nslug = \"plat-casino\"\ntenant = \"demo\"\nwebhook_secret = \"{SECRET}\"\n\
         platform_base_url = \"{}\"\n{extra}",
        platform.url
    )
}

async fn issue(server: &TestServer, amount: i64) -> (u16, serde_json::Value) {
    let player = create_player(server, "demo", "plat-player").await;
    admin(
        Method::POST,
        &server.at("/v1/bonus-grants"),
        Some(
            json!({"adapter_slug": "plat-casino", "player_id": player, "amount_subunit": amount,
                    "currency": "EUR"}),
        ),
    )
    .await
}

#[actix_rt::test]
async fn grants_are_issued_on_the_platform_and_its_errors_map_to_502_and_503() {
    let platform = Platform::start(SECRET);
    let server = TestServer::start_with(&platform_adapter(&platform, ""));

    let (status, pending) = issue(&server, 1000).await;
    assert_eq!(status, 201, "{pending}");
    let id = pending["data"]["id"].as_str().unwrap();
    assert_eq!(pending["data"]["status"], "pending");
    assert_eq!(pending["data"]["platform_bonus_id"], format!("pb-{id}"));

    let (status, credited) = issue(&server, 2000).await;
    assert_eq!(status, 201);
    assert_eq!(credited["data"]["status"], "active");
    assert_eq!(credited["data"]["history"][0]["source"], "admin");

    let (status, b) = issue(&server, 400).await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (502, Some("ADAPTER_REJECTED"))
    );
    let (status, b) = issue(&server, 500).await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (503, Some("ADAPTER_UNAVAILABLE"))
    );

    let (_, list) = admin(
        Method::GET,
        &server.at("/v1/bonus-grants?adapter=plat-casino"),
        None,
    )
    .await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "nothing half-created: {list}"
    );
    assert_eq!(platform.state.lock().unwrap().bad_signatures, 0);
}

#[actix_rt::test]
async fn a_webhook_racing_the_grant_call_is_applied_in_order() {
    let platform = Platform::start(SECRET);
    let server = TestServer::start_with(&platform_adapter(&platform, ""));
    platform.state.lock().unwrap().ucrm_url = Some(server.url.clone());

    let (status, created) = issue(&server, 3000).await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let mut answers = Vec::new();
    for _ in 0..100 {
        answers = platform.state.lock().unwrap().webhook_answers.clone();
        if !answers.is_empty() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        answers,
        vec![json!({"received": true, "applied": true, "new_status": "active"})]
    );
    let g = get_grant(&server, &id).await;
    assert_eq!(g["status"], "active");
    assert_eq!(g["history"][0]["event_id"], format!("race-{id}"));
}

#[actix_rt::test]
async fn reconciliation_repairs_only_what_the_platform_is_ahead_on() {
    let platform = Platform::start(SECRET);
    let server = TestServer::start_with(&platform_adapter(&platform, ""));
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (_, g) = issue(&server, 1000).await;
        ids.push(g["data"]["id"].as_str().unwrap().to_owned());
    }
    let pid = |i: usize| format!("pb-{}", ids[i]);
    // Grant 2 is active on both sides already.
    let credit =
        bonus_event("bonus.credited", "rc-credit", &ids[2], json!({})).replace("pb-1", &pid(2));
    let (status, b) =
        read(post_signed(&bonus_url(&server, "plat-casino"), &credit, SECRET).await).await;
    assert_eq!(status, 200, "{b}");

    platform.set(
        &pid(0),
        Some(Bonus::Status(
            "completed".into(),
            json!({"total_wagered": 5000, "completed_at": "2026-05-09T00:00:00Z"}),
        )),
    );
    platform.set(&pid(1), Some(Bonus::Status("expired".into(), json!({}))));
    platform.set(&pid(2), Some(Bonus::Status("active".into(), json!({}))));
    platform.set(&pid(3), Some(Bonus::Failing));
    platform.set(&pid(4), None);

    let (status, run) = admin(Method::POST, &server.at("/v1/admin/reconcile"), None).await;
    assert_eq!(status, 200, "{run}");
    let s = &run["data"];
    assert_eq!(
        (
            s["checked"].as_u64(),
            s["repaired"].as_u64(),
            s["unchanged"].as_u64(),
            s["errors"].as_u64()
        ),
        (Some(5), Some(2), Some(1), Some(2)),
        "{s}"
    );
    assert_eq!(s["adapters"]["plat-casino"]["repaired"], 2);

    let g0 = get_grant(&server, &ids[0]).await;
    assert_eq!(
        (g0["status"].as_str(), g0["total_wagered"].as_i64()),
        (Some("completed"), Some(5000))
    );
    let last = g0["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["source"], "reconciler");
    assert_eq!(last["event_id"], format!("reconcile:{}:completed", ids[0]));
    assert_eq!(get_grant(&server, &ids[1]).await["status"], "expired");
    for i in [2, 3] {
        assert_eq!(
            get_grant(&server, &ids[i]).await["status"],
            if i == 2 { "active" } else { "pending" }
        );
    }
    assert_eq!(get_grant(&server, &ids[4]).await["status"], "pending");

    // The real webhook arriving late is a harmless no-op.
    let late =
        bonus_event("bonus.completed", "late-real", &ids[0], json!({})).replace("pb-1", &pid(0));
    let (_, b) = read(post_signed(&bonus_url(&server, "plat-casino"), &late, SECRET).await).await;
    assert_eq!(
        (b["applied"].as_bool(), b["new_status"].as_str()),
        (Some(false), Some("completed"))
    );

    let (status, last) = admin(Method::GET, &server.at("/v1/admin/reconcile/last"), None).await;
    assert_eq!((status, last["data"]["repaired"].as_u64()), (200, Some(2)));
    // A second run finds only what is still open and unrepaired.
    let (_, again) = admin(Method::POST, &server.at("/v1/admin/reconcile"), None).await;
    assert_eq!(
        (
            again["data"]["checked"].as_u64(),
            again["data"]["repaired"].as_u64()
        ),
        (Some(3), Some(0))
    );
    assert_eq!(platform.state.lock().unwrap().bad_signatures, 0);

    // The CLI asks the running server and prints the summary on one line.
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), &server.config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ucrm-webhooks"))
        .args([
            "reconcile",
            "--adapter",
            "plat-casino",
            "--url",
            &server.url,
            "--config",
        ])
        .arg(config.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["checked"], 3);
}

#[actix_rt::test]
async fn cancel_calls_the_platform_then_moves_the_grant_through_its_actor() {
    let platform = Platform::start(SECRET);
    let server = TestServer::start_with(&platform_adapter(&platform, ""));
    let (_, g) = issue(&server, 1000).await;
    let id = g["data"]["id"].as_str().unwrap();
    let (status, cancelled) = admin(
        Method::POST,
        &server.at(&format!("/v1/bonus-grants/{id}/cancel")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["data"]["status"], "cancelled");
    assert_eq!(cancelled["data"]["history"][0]["source"], "admin");
    assert_eq!(
        platform.state.lock().unwrap().cancelled,
        vec![format!("pb-{id}")]
    );
    let (status, again) = admin(
        Method::POST,
        &server.at(&format!("/v1/bonus-grants/{id}/cancel")),
        None,
    )
    .await;
    assert_eq!(
        (status, again["error"]["details"]["field"].as_str()),
        (422, Some("status"))
    );
}

#[actix_rt::test]
async fn the_timer_runs_reconciliation_when_the_interval_is_short() {
    let platform = Platform::start(SECRET);
    let server = TestServer::start_with(&platform_adapter(
        &platform,
        "[reconciler]\ninterval_secs = 1\n",
    ));
    let (_, g) = issue(&server, 1000).await;
    let id = g["data"]["id"].as_str().unwrap().to_owned();
    platform.set(
        &format!("pb-{id}"),
        Some(Bonus::Status("completed".into(), json!({}))),
    );
    let mut status = String::new();
    for _ in 0..60 {
        status = get_grant(&server, &id).await["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if status == "completed" {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "completed");
    let (_, last) = admin(Method::GET, &server.at("/v1/admin/reconcile/last"), None).await;
    assert_eq!(last["data"]["trigger"], "timer");
}
