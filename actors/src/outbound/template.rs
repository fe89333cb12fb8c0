//! Mustache rendering of a `call_webhook` body against the call's JSON `context` (SPEC §7).
//!
//! [`Template::compile`] parses a `body_template` once; [`Template::render`] fills it in. The
//! parser is the `ramhorns` crate; name lookup, truthiness and escaping are ours (the private
//! `Scope`), so they follow Mustache over `serde_json` values:
//!
//! - `{{name}}` HTML-escapes `& < > " '`; `{{{name}}}` and `{{&name}}` write the value as is.
//! - `{{a.b.c}}` finds `a` on the context stack, innermost first, then walks into objects;
//!   `{{.}}` is the current item. A name that is not found renders as nothing.
//! - `{{#name}}…{{/name}}` repeats for each item of a list, enters an object, and renders once
//!   for any other truthy value; `{{^name}}…{{/name}}` renders when the value is missing or
//!   falsy. Falsy means `null`, `false`, `""` and `[]`; every number, `0` included, is truthy.
//! - Numbers render as JSON writes them, booleans as `true` / `false`, `null` as nothing, and
//!   objects and lists as compact JSON, so `{{{player}}}` embeds the whole object in a body.
//!
//! Refused when compiling, because ramhorns implements neither and no journey needs them:
//! partials (`{{> name}}`) and set-delimiter tags (`{{=<% %>=}}`). Three differences from the
//! Mustache spec remain; none changes what a JSON or form body means: a line holding only a
//! section tag keeps its indentation and line break, trailing whitespace at the very end of the
//! template is dropped, and `{{a b}}` is ramhorns' shorthand for `{{#a}}{{b}}{{/a}}`.
//!
//! Limits keep one call from hogging a worker: a template is at most [`MAX_TEMPLATE_BYTES`],
//! sections nest at most 16 deep, and rendering fails past [`MAX_RENDERED_BYTES`] of output or
//! [`MAX_SECTION_RENDERS`] section bodies.

use std::cell::Cell;
use std::fmt;
use std::io;

use ramhorns::encoding::Encoder;
use ramhorns::traits::ContentSequence;
use ramhorns::{Content, Section};
use serde_json::Value;

use crate::DomainError;

/// The largest `body_template` accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// The largest body a template may render to, in bytes.
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;

/// How many section bodies (list items included) one rendering may render.
pub const MAX_SECTION_RENDERS: u32 = 100_000;

/// The request field that templates come from; every error names it.
const FIELD: &str = "body_template";

/// A parsed `body_template`, ready to render any number of times.
pub struct Template {
    inner: ramhorns::Template<'static>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.inner.source())
            .finish()
    }
}

impl Template {
    /// Parses `template`, refusing one that is too long, malformed or uses unsupported tags.
    pub fn compile(template: &str) -> Result<Template, DomainError> {
        if template.len() > MAX_TEMPLATE_BYTES {
            return Err(DomainError::invalid(
                FIELD,
                format!("is longer than {MAX_TEMPLATE_BYTES} bytes"),
            ));
        }
        check_tags(template)?;

        let inner = ramhorns::Template::new(template.to_owned())
            .map_err(|e| DomainError::invalid(FIELD, describe(&e)))?;
        Ok(Template { inner })
    }

    /// The template text as given to [`Template::compile`].
    pub fn source(&self) -> &str {
        self.inner.source()
    }

    /// Renders the template against `context`, the data named by its tags.
    pub fn render(&self, context: &Value) -> Result<String, DomainError> {
        let budget = Budget::default();
        let root = Scope {
            value: context,
            parent: None,
            budget: &budget,
        };
        let mut out = CappedWriter {
            buf: Vec::new(),
            limit: MAX_RENDERED_BYTES,
        };
        let written = self.inner.render_to_writer(&mut out, &root);

        if budget.exhausted.get() {
            return Err(DomainError::invalid(
                FIELD,
                format!("renders more than {MAX_SECTION_RENDERS} section bodies"),
            ));
        }
        if written.is_err() {
            return Err(DomainError::invalid(
                FIELD,
                format!("renders to more than {MAX_RENDERED_BYTES} bytes"),
            ));
        }
        String::from_utf8(out.buf)
            .map_err(|_| DomainError::invalid(FIELD, "renders to text that is not UTF-8"))
    }
}

/// Refuses what ramhorns would otherwise accept silently: set-delimiter tags, which it would
/// print as text, and sections still open at the end, which it would close quietly.
///
/// Tags are found the way ramhorns finds them: from `{{` to the next `}}`, the kind given by the
/// character right after `{{`, and several space-separated names opening or closing one
/// section each.
fn check_tags(template: &str) -> Result<(), DomainError> {
    let mut open_sections = 0usize;
    let mut rest = template;

    while let Some(start) = rest.find("{{") {
        let tag = &rest[start + 2..];
        let Some(end) = tag.find("}}") else {
            break; // ramhorns reports the unclosed tag
        };

        let body = &tag[..end];
        let names = || body[1..].split(' ').filter(|n| !n.is_empty()).count();
        match body.as_bytes().first() {
            Some(b'=') => {
                return Err(DomainError::invalid(
                    FIELD,
                    "is not a valid template: set-delimiter tags ({{=…=}}) are not supported",
                ));
            }
            Some(b'#' | b'^') => open_sections += names(),
            Some(b'/') => open_sections = open_sections.saturating_sub(names()),
            _ => {}
        }
        rest = &tag[end + 2..];
    }

    if open_sections > 0 {
        return Err(DomainError::invalid(
            FIELD,
            "is not a valid template: a section opened with {{#name}} or {{^name}} is never \
             closed with {{/name}}",
        ));
    }
    Ok(())
}

/// Says in words why ramhorns refused a template.
fn describe(error: &ramhorns::Error) -> String {
    let why = match error {
        ramhorns::Error::UnclosedTag => "a tag is not closed with }} (or }}} after {{{)".to_owned(),
        ramhorns::Error::UnclosedSection(name) => {
            format!("section {name:?} is closed by the wrong tag; expected {{{{/{name}}}}}")
        }
        ramhorns::Error::UnopenedSection(name) => {
            format!("{{{{/{name}}}}} closes a section that is not open")
        }
        ramhorns::Error::StackOverflow => "sections nest more than 16 deep".to_owned(),
        ramhorns::Error::PartialsDisabled => "partials ({{> name}}) are not supported".to_owned(),
        other => other.to_string(),
    };
    format!("is not a valid template: {why}")
}

/// One level of the Mustache context stack: a value and the levels around it.
///
/// The innermost scope answers every lookup for the whole stack, so ramhorns' own stack, which
/// keeps only three parents, never has to.
#[derive(Clone, Copy)]
struct Scope<'a> {
    value: &'a Value,
    parent: Option<&'a Scope<'a>>,
    budget: &'a Budget,
}

impl<'a> Scope<'a> {
    /// Resolves a tag name: `.` is this value, otherwise the first dotted part is looked up from
    /// here outwards and the others inside it. `None` when any part is missing.
    fn lookup(&self, name: &str) -> Option<&'a Value> {
        let name = name.trim();
        if name == "." {
            return Some(self.value);
        }

        let mut parts = name.split('.');
        let mut value = self.find(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }

    /// The value of `key` in the innermost scope whose value is an object holding it.
    fn find(&self, key: &str) -> Option<&'a Value> {
        let mut scope = Some(self);
        while let Some(s) = scope {
            if let Some(value) = s.value.as_object().and_then(|m| m.get(key)) {
                return Some(value);
            }
            scope = s.parent;
        }
        None
    }

    /// A scope for `value` nested in this one.
    fn enter<'s>(&'s self, value: &'s Value) -> Scope<'s> {
        Scope {
            value,
            parent: Some(self),
            budget: self.budget,
        }
    }
}

impl Content for Scope<'_> {
    fn is_truthy(&self) -> bool {
        is_truthy(self.value)
    }

    fn render_escaped<E: Encoder>(&self, encoder: &mut E) -> Result<(), E::Error> {
        write_value(self.value, true, encoder)
    }

    fn render_unescaped<E: Encoder>(&self, encoder: &mut E) -> Result<(), E::Error> {
        write_value(self.value, false, encoder)
    }

    fn render_field_escaped<E: Encoder>(
        &self,
        _hash: u64,
        name: &str,
        encoder: &mut E,
    ) -> Result<bool, E::Error> {
        if let Some(value) = self.lookup(name) {
            write_value(value, true, encoder)?;
        }
        Ok(true)
    }

    fn render_field_unescaped<E: Encoder>(
        &self,
        _hash: u64,
        name: &str,
        encoder: &mut E,
    ) -> Result<bool, E::Error> {
        if let Some(value) = self.lookup(name) {
            write_value(value, false, encoder)?;
        }
        Ok(true)
    }

    fn render_field_section<C, E>(
        &self,
        _hash: u64,
        name: &str,
        section: Section<C>,
        encoder: &mut E,
    ) -> Result<bool, E::Error>
    where
        C: ContentSequence,
        E: Encoder,
    {
        let Some(value) = self.lookup(name) else {
            return Ok(true);
        };
        match value {
            Value::Array(items) => {
                for item in items {
                    if !self.budget.spend() {
                        break;
                    }
                    section.with(&self.enter(item)).render(encoder)?;
                }
            }
            value if is_truthy(value) && self.budget.spend() => {
                section.with(&self.enter(value)).render(encoder)?;
            }
            _ => {}
        }
        Ok(true)
    }

    fn render_field_inverse<C, E>(
        &self,
        _hash: u64,
        name: &str,
        section: Section<C>,
        encoder: &mut E,
    ) -> Result<bool, E::Error>
    where
        C: ContentSequence,
        E: Encoder,
    {
        let shown = self.lookup(name).is_some_and(is_truthy);
        if !shown && self.budget.spend() {
            section.render(encoder)?;
        }
        Ok(true)
    }
}

/// Whether a section over `value` renders.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Number(_) | Value::Object(_) => true,
    }
}

/// Writes a value as a variable tag shows it, HTML-escaped when `escape` is set.
fn write_value<E: Encoder>(value: &Value, escape: bool, encoder: &mut E) -> Result<(), E::Error> {
    match value {
        Value::Null => Ok(()),
        Value::Bool(b) => encoder.write_unescaped(if *b { "true" } else { "false" }),
        Value::Number(n) => encoder.format_unescaped(n),
        Value::String(s) => write_text(s, escape, encoder),
        Value::Array(_) | Value::Object(_) => write_text(&value.to_string(), escape, encoder),
    }
}

/// Writes `text`, replacing `& < > " '` by entities when `escape` is set.
fn write_text<E: Encoder>(text: &str, escape: bool, encoder: &mut E) -> Result<(), E::Error> {
    if !escape {
        return encoder.write_unescaped(text);
    }

    let mut done = 0;
    for (at, special) in text.match_indices(['&', '<', '>', '"', '\'']) {
        encoder.write_unescaped(&text[done..at])?;
        encoder.write_unescaped(match special {
            "&" => "&amp;",
            "<" => "&lt;",
            ">" => "&gt;",
            "\"" => "&quot;",
            _ => "&#39;",
        })?;
        done = at + special.len();
    }
    encoder.write_unescaped(&text[done..])
}

/// Counts section bodies rendered; once spent, further sections are skipped and the rendering
/// is reported as failed.
#[derive(Default)]
struct Budget {
    used: Cell<u32>,
    exhausted: Cell<bool>,
}

impl Budget {
    /// Takes one section render from the budget; `false` when none is left.
    fn spend(&self) -> bool {
        let used = self.used.get();
        if used >= MAX_SECTION_RENDERS {
            self.exhausted.set(true);
            return false;
        }
        self.used.set(used + 1);
        true
    }
}

/// An output buffer that refuses to grow past `limit` bytes, which stops the rendering.
struct CappedWriter {
    buf: Vec<u8>,
    limit: usize,
}

impl io::Write for CappedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buf.len().saturating_add(bytes.len()) > self.limit {
            return Err(io::Error::other("rendered body too large"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
        let ctx =
            json!({"empty": [], "no": false, "nil": null, "blank": "", "full": [1], "yes": 1});
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
}
