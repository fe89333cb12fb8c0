//! ucrm-webhooks: the webhook hub of the UCRM casino CRM.
//!
//! This crate is the outer layer: configuration ([`config`]), the command line ([`cli`]), the
//! HTTP routes ([`routes`]) with their one error mapping ([`error`]), and the wiring that starts
//! the store and the actors ([`app`]). The domain and its actors live in `ucrm-actors`, the
//! durable store in `ucrm-storage`.

pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod extract;
pub mod limits;
pub mod openapi;
pub mod routes;
pub mod telemetry;

pub use app::start;
pub use config::Config;
