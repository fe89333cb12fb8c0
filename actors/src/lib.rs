//! The domain of ucrm-webhooks and the actors that apply it.
//!
//! Plain, unit-tested rules: [`signing`] (the HMAC scheme), [`bonus`] (the grant state
//! machine), [`fields`] (typed reads of JSON payloads). Actors: [`AdapterSupervisor`] per
//! adapter, routing to one [`GrantActor`] per active grant. This crate knows nothing of HTTP;
//! it persists through `ucrm-storage`.

pub mod bonus;
pub mod error;
pub mod fields;
pub mod grant_actor;
pub mod outcome;
pub mod pool;
pub mod secret;
pub mod signing;
pub mod supervisor;

pub use error::DomainError;
pub use grant_actor::GrantActor;
pub use outcome::{EventOutcome, EventResult};
pub use secret::Secret;
pub use supervisor::{
    AdapterSupervisor, NewGrant, RegisterGrant, SubmitBonusEvent, SupervisorOptions,
};
