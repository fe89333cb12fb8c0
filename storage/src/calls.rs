//! Storage of outbound calls: the record, its due index (open calls by next attempt time) and
//! its status index (for listing dead calls).

use crate::backend::Op;
use crate::codec::{decode, encode};
use crate::records::{CallStatus, WebhookCall};
use crate::store::{Page, Store, WriteSet};
use crate::{keys, StoreError};

impl WriteSet {
    /// Stores a call and moves its index entries from `previous` (as last stored) to now.
    pub fn put_call(&mut self, call: &WebhookCall, previous: Option<&WebhookCall>) {
        if let Some(prev) = previous {
            self.push(Op::Delete(keys::call_by_status(
                prev.status.as_str(),
                &prev.id,
            )));
            if prev.status.is_open() {
                self.push(Op::Delete(keys::call_due(
                    prev.next_attempt_at_ms,
                    &prev.id,
                )));
            }
        }
        self.push(Op::Put(keys::call(&call.id), encode(call)));
        self.push(Op::Put(
            keys::call_by_status(call.status.as_str(), &call.id),
            Vec::new(),
        ));
        if call.status.is_open() {
            self.push(Op::Put(
                keys::call_due(call.next_attempt_at_ms, &call.id),
                Vec::new(),
            ));
        }
    }
}

impl Store {
    /// Reads a call.
    pub fn call(&self, id: &str) -> Result<Option<WebhookCall>, StoreError> {
        self.get_record(&keys::call(id))
    }

    /// Every open call, in due order (read once at start).
    pub fn open_calls(&self) -> Result<Vec<WebhookCall>, StoreError> {
        let mut calls = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = self.scan_raw(keys::CALL_DUE, after.as_deref(), 1024)?;
            let Some((last, _)) = rows.last() else { break };
            after = Some(last.clone());
            for (key, _) in &rows {
                let Some((_, id)) = keys::parse_call_due(key) else {
                    continue;
                };
                if let Some(call) = self.call(&id)? {
                    calls.push(call);
                }
            }
        }
        Ok(calls)
    }

    /// Lists calls, optionally with one status and of one journey, oldest first.
    pub fn calls(
        &self,
        status: Option<CallStatus>,
        journey_id: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<WebhookCall>, StoreError> {
        let prefix = match status {
            Some(s) => keys::call_by_status_prefix(s.as_str()),
            None => keys::CALL.to_vec(),
        };
        self.page(&prefix, cursor, limit, |id, key, value| {
            let call = match status {
                Some(_) => self.call(id)?,
                None => Some(decode::<WebhookCall>(key, value)?),
            };
            Ok(call.filter(|c| journey_id.is_none_or(|j| c.journey_id == j)))
        })
    }
}
