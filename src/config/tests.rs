//! Tests of configuration loading, overrides and validation.

use super::*;

const BASE: &str = r#"
[server]
admin_token = "t"
[[tenants]]
id = "demo"
kyc_model = "platform_owns"
[[adapters]]
slug = "demo-casino"
tenant = "demo"
webhook_secret = "s"
"#;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_toml(text, &env)
}

#[test]
fn repository_config_is_valid() {
    let text = include_str!("../../config.toml");
    let c = load(text, &[]).unwrap();
    assert_eq!(c.adapters[0].slug, "demo-casino");
}

#[test]
fn environment_overrides_secrets() {
    let c = load(
        BASE,
        &[
            ("UCRM_ADAPTER_DEMO_CASINO_WEBHOOK_SECRET", "new"),
            ("UCRM_ADAPTER_DEMO_CASINO_WEBHOOK_SECRET_PREVIOUS", "old"),
            ("UCRM_ADMIN_TOKEN", "envtoken"),
        ],
    )
    .unwrap();
    let secrets: Vec<_> = c.adapters[0]
        .secrets
        .iter()
        .map(|s| s.expose().to_owned())
        .collect();
    assert_eq!(secrets, ["new", "old"]);
    assert_eq!(c.server.admin_token.unwrap().expose(), "envtoken");
}

#[test]
fn bad_values_name_their_key() {
    let key = |text: String| load(&text, &[]).unwrap_err().key;
    assert_eq!(
        key(BASE.replace("platform_owns", "sometimes")),
        "tenants[0].kyc_model"
    );
    assert_eq!(
        key(BASE.replace("webhook_secret = \"s\"", "")),
        "adapters[0].webhook_secret"
    );
    assert_eq!(
        key(BASE.replace("demo-casino", "Demo_Casino")),
        "adapters[0].slug"
    );
    assert_eq!(
        key(BASE.replace("tenant = \"demo\"", "tenant = \"x\"")),
        "adapters[0].tenant"
    );
    assert_eq!(
        key(format!("{BASE}\n[storage]\npath = 5\n")),
        "storage.path"
    );
    assert!(key(format!("[server]\nbogus = 1\n{}", &BASE[10..])).starts_with("server"));
    assert_eq!(
        key(BASE.replace(
            "admin_token = \"t\"",
            "bind = \"nope\"\nadmin_token = \"t\""
        )),
        "server.bind"
    );
}

proptest::proptest! {
    #[test]
    fn any_text_gives_a_config_or_a_named_error(text in "(?s).{0,400}") {
        let _ = load(&text, &[]);
    }

    #[test]
    fn any_value_of_a_known_key_gives_a_config_or_a_named_error(
        key in proptest::sample::select(vec![
            "bind", "max_body_bytes", "admin_token", "workers", "log_format",
            "signature_tolerance_secs", "request_timeout_ms",
        ]),
        value in proptest::sample::select(vec![
            "1", "-1", "0", "\"\"", "\"x\"", "true", "[]", "{}", "1e99", "18446744073709551616",
            "\"999.999.999.999:99999\"", "[1, \"a\"]",
        ]),
    ) {
        let text = BASE.replace(
            "admin_token = \"t\"",
            &format!("admin_token = \"t\"\n{key} = {value}"),
        );
        if let Err(e) = load(&text, &[]) {
            proptest::prop_assert!(!e.key.is_empty());
        }
    }
}

#[test]
fn secrets_do_not_print() {
    let c = load(BASE, &[]).unwrap();
    let dump = format!("{c:?}");
    assert!(!dump.contains("\"s\""), "{dump}");
}
