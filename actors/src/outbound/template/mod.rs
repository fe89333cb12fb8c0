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
mod tests;
