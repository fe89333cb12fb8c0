//! The domain of ucrm-webhooks and the actors that apply it.
//!
//! Plain, unit-tested rules: [`signing`] (the HMAC scheme), [`bonus`] (the grant state
//! machine), [`kyc`] (the KYC state machine), [`fields`] (typed reads of JSON payloads).
//! Actors: an [`AdapterSupervisor`] per adapter routing to one [`GrantActor`] per active grant,
//! and a [`TenantSupervisor`] per tenant owning its players, routing KYC events to one
//! [`PlayerActor`] per active player. This crate knows nothing of HTTP; it persists through
//! `ucrm-storage`.

pub mod adapter_client;
pub mod bonus;
pub mod dispatcher;
pub mod error;
pub mod fields;
pub mod grant_actor;
pub mod ingest;
pub mod kyc;
pub mod message_shard;
pub mod messaging;
pub mod outbound;
pub mod outcome;
pub mod player_actor;
pub mod pool;
pub mod pruner;
pub mod reconciler;
pub mod secret;
pub mod signing;
pub mod supervisor;
pub mod tenant;
pub mod track;

pub use error::DomainError;
pub use grant_actor::GrantActor;
pub use outcome::{EventOutcome, EventResult};
pub use player_actor::PlayerActor;
pub use secret::Secret;
pub use supervisor::{
    AdapterSupervisor, CancelGrant, NewGrant, RegisterGrant, SubmitBonusEvent, SupervisorOptions,
};
pub use tenant::{NewPlayer, SubmitKycEvent, TenantSupervisor, UpsertPlayer, UpsertResult};
