//! Tests of template compilation and rendering.

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn render(template: &str, context: &Value) -> String {
    match Template::compile(template) {
        Ok(t) => match t.render(context) {
            Ok(body) => body,
            Err(e) => panic!("{template:?} failed to render: {e}"),
        },
        Err(e) => panic!("{template:?} failed to compile: {e}"),
    }
}

fn refusal(template: &str) -> String {
    match Template::compile(template) {
        Ok(_) => panic!("{template:?} compiled"),
        Err(DomainError::Validation { field, message }) => {
            assert_eq!(field, "body_template");
            message
        }
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn double_braces_escape_html_specials() {
    let ctx = json!({"x": "<a href=\"u\">'Tom' & Jerry</a>"});
    assert_eq!(
        render("{{x}}", &ctx),
        "&lt;a href=&quot;u&quot;&gt;&#39;Tom&#39; &amp; Jerry&lt;/a&gt;"
    );
    assert_eq!(render("{{ x }}", &json!({"x": "é ü 😀"})), "é ü 😀");
}

#[test]
fn triple_braces_and_ampersand_do_not_escape() {
    let ctx = json!({"x": "<b>\"it's\" & more</b>"});
    assert_eq!(render("{{{x}}}", &ctx), "<b>\"it's\" & more</b>");
    assert_eq!(render("{{&x}}", &ctx), "<b>\"it's\" & more</b>");
}

#[test]
fn dotted_names_resolve_into_objects() {
    let ctx = json!({"player": {"name": "Ann", "wallet": {"currency": "EUR"}}, "x": 1});
    assert_eq!(
        render("{{player.name}}/{{player.wallet.currency}}", &ctx),
        "Ann/EUR"
    );
    assert_eq!(render("[{{player.nope}}][{{player.name.x}}]", &ctx), "[][]");
    assert_eq!(
        render("{{#player.wallet}}{{currency}}{{/player.wallet}}", &ctx),
        "EUR"
    );
}

#[test]
fn numbers_booleans_and_null_render_as_json_writes_them() {
    let ctx = json!({
        "i": 10, "neg": -3, "f": 1.5, "big": u64::MAX, "t": true, "no": false, "nil": null
    });
    assert_eq!(
        render("{{i}} {{neg}} {{f}} {{big}} {{t}} {{no}} [{{nil}}]", &ctx),
        "10 -3 1.5 18446744073709551615 true false []"
    );
}

#[test]
fn objects_and_lists_render_as_compact_json() {
    let ctx = json!({"player": {"id": "p1", "tags": ["a", "b"]}});
    assert_eq!(
        render("{{{player}}}", &ctx),
        r#"{"id":"p1","tags":["a","b"]}"#
    );
    assert_eq!(
        render("{{player.tags}}", &ctx),
        "[&quot;a&quot;,&quot;b&quot;]"
    );
}

#[test]
fn sections_repeat_lists_and_enter_objects() {
    let ctx = json!({
        "items": [{"n": "a"}, {"n": "b"}],
        "tags": ["x", 2, true],
        "player": {"name": "Ann"},
        "brand": "Lucky",
        "count": 0
    });
    assert_eq!(render("{{#items}}[{{n}}]{{/items}}", &ctx), "[a][b]");
    assert_eq!(render("{{#tags}}<{{.}}>{{/tags}}", &ctx), "<x><2><true>");
    assert_eq!(
        render("{{#player}}{{name}} at {{brand}}{{/player}}", &ctx),
        "Ann at Lucky"
    );
    assert_eq!(render("{{#brand}}<{{.}}>{{/brand}}", &ctx), "<Lucky>");
    assert_eq!(
        render("{{#count}}zero is truthy{{/count}}", &ctx),
        "zero is truthy"
    );
}

#[test]
fn names_resolve_through_every_enclosing_section() {
    let ctx = json!({"top": "T", "a": {"b": {"c": {"d": {"e": [{"f": 1}]}}}}});
    let template = "{{#a}}{{#b}}{{#c}}{{#d}}{{#e}}{{top}}{{f}}{{/e}}{{/d}}{{/c}}{{/b}}{{/a}}";
    assert_eq!(render(template, &ctx), "T1");
}

#[test]
fn inverted_sections_render_for_missing_and_falsy_values() {
    let ctx = json!({"empty": [], "no": false, "nil": null, "blank": "", "full": [1], "yes": 1});
    for name in ["empty", "no", "nil", "blank", "missing"] {
        let template = format!("{{{{^{name}}}}}shown{{{{/{name}}}}}");
        assert_eq!(render(&template, &ctx), "shown", "{name}");
        let template = format!("{{{{#{name}}}}}hidden{{{{/{name}}}}}");
        assert_eq!(render(&template, &ctx), "", "{name}");
    }
    assert_eq!(
        render("{{^full}}hidden{{/full}}{{^yes}}hidden{{/yes}}", &ctx),
        ""
    );
}

#[test]
fn missing_variables_render_empty() {
    assert_eq!(
        render("a{{nope}}b{{{nope}}}c{{&nope.deeper}}d", &json!({})),
        "abcd"
    );
    assert_eq!(render("{{x}}", &json!("not an object")), "");
    assert_eq!(render("{{! a comment }}body", &json!({})), "body");
}

#[test]
fn a_compiled_template_renders_many_contexts() {
    let Ok(t) = Template::compile(r#"{"player":"{{id}}"}"#) else {
        panic!("did not compile");
    };
    assert_eq!(
        t.render(&json!({"id": 1})).ok().as_deref(),
        Some(r#"{"player":"1"}"#)
    );
    assert_eq!(
        t.render(&json!({"id": 2})).ok().as_deref(),
        Some(r#"{"player":"2"}"#)
    );
    assert_eq!(t.source(), r#"{"player":"{{id}}"}"#);
}

#[test]
fn templates_are_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
}

#[test]
fn broken_templates_are_refused() {
    for broken in [
        "{{#a}}never closed",
        "{{#a}}{{#b}}{{/b}}",
        "{{/a}}",
        "{{#a}}{{/b}}",
        "{{x",
        "text {{{x}}",
        "{{> partial}}",
        "{{=<% %>=}}<%x%>",
    ] {
        let message = refusal(broken);
        assert!(
            message.starts_with("is not a valid template: "),
            "{broken}: {message}"
        );
    }
    let deep = "{{#a}}".repeat(17) + &"{{/a}}".repeat(17);
    assert!(refusal(&deep).contains("16 deep"));
    assert!(Template::compile(&("{{#a}}".repeat(16) + &"{{/a}}".repeat(16))).is_ok());
}

#[test]
fn an_oversized_template_is_refused() {
    let message = refusal(&"x".repeat(MAX_TEMPLATE_BYTES + 1));
    assert!(message.contains("longer than"));
}

#[test]
fn rendering_stops_at_the_output_cap() {
    let ctx = json!({"l": vec![0; 1000], "x": "y".repeat(2000)});
    let t = Template::compile("{{#l}}{{x}}{{/l}}").ok();
    assert!(matches!(
        t.map(|t| t.render(&ctx)),
        Some(Err(DomainError::Validation { .. }))
    ));
}

#[test]
fn rendering_stops_at_the_section_budget() {
    let ctx = json!({"l": vec![0; 1000]});
    let t = Template::compile("{{#l}}{{#l}}{{/l}}{{/l}}").ok();
    match t.map(|t| t.render(&ctx)) {
        Some(Err(e)) => assert!(e.to_string().contains("section bodies"), "{e}"),
        other => panic!("expected a budget error, got {other:?}"),
    }
}

fn template_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("{{{".to_owned()),
        Just("}}}".to_owned()),
        Just("{{#a}}".to_owned()),
        Just("{{/a}}".to_owned()),
        Just("{{^b}}".to_owned()),
        Just("{{/b}}".to_owned()),
        Just("{{.}}".to_owned()),
        Just("{{a.b}}".to_owned()),
        Just("{{&".to_owned()),
        Just("{{!".to_owned()),
        Just("{{>".to_owned()),
        Just("{{=".to_owned()),
        "[#^/&!>= .{}a-b\n\té😀]{0,3}",
    ]
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(template in any::<String>(), x in any::<String>()) {
        if let Ok(t) = Template::compile(&template) {
            let _ = t.render(&json!({"a": [1, {"b": x.clone()}], "b": x}));
        }
    }

    #[test]
    fn tag_soup_never_panics(
        pieces in prop::collection::vec(template_piece(), 0..24),
        x in any::<String>(),
    ) {
        let template = pieces.concat();
        if let Ok(t) = Template::compile(&template) {
            let _ = t.render(&json!({"a": [1, "two", {"b": x.clone()}], "b": {"a": x}}));
        }
    }

    #[test]
    fn escaped_text_has_no_raw_specials(x in any::<String>()) {
        let body = Template::compile("{{x}}").ok().map(|t| t.render(&json!({"x": x})));
        let Some(Ok(body)) = body else { panic!("rendering failed") };
        prop_assert!(!body.contains(['<', '>', '"', '\'']));
    }
}
