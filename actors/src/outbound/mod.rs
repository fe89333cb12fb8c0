//! Outbound `call_webhook` delivery: templates, the SSRF guard, the retry schedule.
