//! The command line: `check-config`, `sign` and `send-test` as an operator runs them.

mod common;

use std::process::Command;

use common::*;
use ucrm_actors::signing::verify;
use ucrm_actors::Secret;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ucrm-webhooks"))
}

#[test]
fn check_config_accepts_the_repository_config_and_names_a_bad_key() {
    let out = bin()
        .args(["check-config", "--config", "config.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));

    for (from, to, key) in [
        ("platform_owns", "whoever", "tenants[0].kyc_model"),
        (
            "group_commit_linger_us = 1000",
            "group_commit_linger_us = 250000",
            "storage.group_commit_linger_us",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        let text = std::fs::read_to_string("config.toml").unwrap();
        assert!(text.contains(from), "config.toml has {from}");
        std::fs::write(&bad, text.replace(from, to)).unwrap();
        let out = bin()
            .arg("check-config")
            .arg("--config")
            .arg(&bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{key}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(key), "{key}");
    }

    let out = bin()
        .args(["check-config", "--config", "config.toml"])
        .env("UCRM_ADAPTER_DEMO_CASINO_WEBHOOK_SECRET", "from-env")
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn sign_prints_headers_that_verify_over_the_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("event.json");
    std::fs::write(&body, b"{\"event\":\"bonus.credited\"}\n").unwrap();
    let out = bin()
        .args(["sign", "--secret", "s3cret", "--timestamp", "1800000000"])
        .arg(&body)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("X-UCRM-Timestamp"), "1800000000");
    let ok = verify(
        &[Secret::new("s3cret")],
        Some("1800000000"),
        Some(&header("X-UCRM-Signature")),
        b"{\"event\":\"bonus.credited\"}\n",
        1_800_000_000,
        300,
    );
    assert_eq!(ok, Ok(()));
}

#[actix_rt::test]
async fn send_test_fires_a_signed_event_the_server_applies() {
    let server = TestServer::start();
    let grant = create_grant(&server, "demo-casino").await;
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), &server.config).unwrap();
    let out = bin()
        .args([
            "send-test",
            "--adapter",
            "demo-casino",
            "--grant-id",
            &grant,
            "--url",
            &server.url,
        ])
        .arg("--config")
        .arg(config.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"applied\":true"));
    assert_eq!(get_grant(&server, &grant).await["status"], "active");
}
