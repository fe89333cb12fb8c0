//! Storage of messages, their waiting reports, suppressions, tracked events and idempotency
//! answers.

use crate::backend::Op;
use crate::codec::{decode, encode};
use crate::records::{
    Channel, IdempotentAnswer, Message, ProviderReport, Suppression, TrackedEvent,
};
use crate::store::{Store, WriteSet};
use crate::{keys, StoreError};

impl WriteSet {
    /// Stores a message and its provider lookup.
    pub fn put_message(&mut self, message: &Message) {
        self.push(Op::Put(keys::message(&message.id), encode(message)));
        let lookup =
            keys::message_by_provider(message.provider.as_str(), &message.provider_message_id);
        self.push(Op::Put(lookup, message.id.as_bytes().to_vec()));
    }

    /// Keeps a report until its message is registered.
    pub fn put_orphan(
        &mut self,
        provider: &str,
        provider_message_id: &str,
        unique: &str,
        report: &ProviderReport,
    ) {
        let key = keys::orphan(provider, provider_message_id, report.received_at_ms, unique);
        self.push(Op::Put(key, encode(report)));
    }

    /// Removes a waiting report by its full key.
    pub fn delete_raw(&mut self, key: Vec<u8>) {
        self.push(Op::Delete(key));
    }

    /// Sets a player's suppression on a channel.
    pub fn put_suppression(
        &mut self,
        player_id: &str,
        channel: Channel,
        suppression: &Suppression,
    ) {
        self.push(Op::Put(
            keys::suppression(player_id, channel.as_str()),
            encode(suppression),
        ));
    }

    /// Stores a tracked event.
    pub fn put_tracked_event(&mut self, event: &TrackedEvent) {
        self.push(Op::Put(
            keys::tracked_event(&event.tenant_id, &event.ingestion_id),
            encode(event),
        ));
    }

    /// Stores the first answer for an idempotency key.
    pub fn put_idempotent_answer(&mut self, tenant: &str, key: &str, answer: &IdempotentAnswer) {
        self.push(Op::Put(keys::idempotency_key(tenant, key), encode(answer)));
    }
}

impl Store {
    /// Reads a message.
    pub fn message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        self.get_record(&keys::message(id))
    }

    /// Finds a message by its provider's id.
    pub fn message_by_provider(
        &self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        match self.get_raw(&keys::message_by_provider(provider, provider_message_id))? {
            Some(id) => self.message(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Reports waiting for a message, oldest first, with their keys.
    pub fn orphans(
        &self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Vec<(Vec<u8>, ProviderReport)>, StoreError> {
        let rows = self.scan_raw(
            &keys::orphan_prefix(provider, provider_message_id),
            None,
            10_000,
        )?;
        rows.into_iter()
            .map(|(k, v)| decode(&k, &v).map(|r| (k, r)))
            .collect()
    }

    /// A player's suppression on a channel, if any was ever set.
    pub fn suppression(
        &self,
        player_id: &str,
        channel: Channel,
    ) -> Result<Option<Suppression>, StoreError> {
        self.get_record(&keys::suppression(player_id, channel.as_str()))
    }

    /// Ids of the players with this email address (any tenant).
    pub fn players_by_email(&self, email: &str) -> Result<Vec<String>, StoreError> {
        self.ids_under(&keys::player_by_email_prefix(email))
    }

    /// Ids of the players with this phone number (any tenant).
    pub fn players_by_phone(&self, phone: &str) -> Result<Vec<String>, StoreError> {
        self.ids_under(&keys::player_by_phone_prefix(phone))
    }

    fn ids_under(&self, prefix: &[u8]) -> Result<Vec<String>, StoreError> {
        let rows = self.scan_raw(prefix, None, 1000)?;
        Ok(rows
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
            .collect())
    }

    /// Reads a tracked event.
    pub fn tracked_event(
        &self,
        tenant: &str,
        ingestion_id: &str,
    ) -> Result<Option<TrackedEvent>, StoreError> {
        self.get_record(&keys::tracked_event(tenant, ingestion_id))
    }

    /// The first answer given for an idempotency key.
    pub fn idempotent_answer(
        &self,
        tenant: &str,
        key: &str,
    ) -> Result<Option<IdempotentAnswer>, StoreError> {
        self.get_record(&keys::idempotency_key(tenant, key))
    }
}
