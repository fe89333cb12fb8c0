//! Outbound `call_webhook` delivery: templates, the SSRF guard, the retry schedule (SPEC §7).
//!
//! Plain code, no actors: [`template`] renders a call's `body_template` as Mustache against its
//! `context`, [`ssrf`] decides which addresses a call may reach and resolves names so that the
//! client connects only to checked addresses, and [`retry`] says whether an attempt succeeded
//! and how long to wait before the next one.

pub mod deliver;
pub mod request;
pub mod retry;
pub mod ssrf;
pub mod template;

pub use retry::{classify, parse_retry_after, AttemptVerdict, RetryPolicy};
pub use ssrf::{is_forbidden, GuardedResolver, SsrfGuard};
pub use template::Template;
