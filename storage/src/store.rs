//! [`Store`], the typed API over a [`Backend`], and [`WriteSet`], one atomic change.
//!
//! Reads go straight to the backend. Writes are collected in a [`WriteSet`] that also keeps the
//! secondary indexes (adapter grant index, open-grant index, external player lookup) in step
//! with the records, and are made durable by [`Store::commit`].

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::backend::{Backend, Op, SledBackend, StoreOptions};
use crate::codec::{decode, encode};
use crate::records::{Grant, GrantHistoryEntry, GrantStatus, LedgerEntry, Player};
use crate::{keys, StoreError};

/// One page of a listing and the cursor of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Where the next page starts, when there may be one.
    pub next_cursor: Option<String>,
}

/// The typed store; cheap to clone and shared by every actor.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("open", &self.backend.is_open())
            .finish()
    }
}

/// A set of changes that commit together atomically.
#[derive(Debug, Default)]
pub struct WriteSet {
    ops: Vec<Op>,
}

impl WriteSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one raw change.
    pub(crate) fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Stores a grant whose stored status was `previous` (`None` for a new grant) and keeps
    /// its indexes: the adapter index is written once, the open-grant index only when the
    /// grant opens or closes, so an ordinary transition is one record write.
    pub fn put_grant(&mut self, grant: &Grant, previous: Option<GrantStatus>) {
        let open = keys::open_grant(&grant.adapter_slug, &grant.id);
        self.ops
            .push(Op::Put(keys::grant(&grant.id), encode(grant)));
        let was_open = match previous {
            None => {
                let by_adapter = keys::grant_by_adapter(&grant.adapter_slug, &grant.id);
                self.ops.push(Op::Put(by_adapter, Vec::new()));
                false
            }
            Some(status) => !status.is_terminal(),
        };
        match (was_open, grant.status.is_terminal()) {
            (false, false) => self.ops.push(Op::Put(open, Vec::new())),
            (true, true) => self.ops.push(Op::Delete(open)),
            _ => {}
        }
    }

    /// Stores entry number `seq` (from 1) of a grant's history.
    pub fn put_grant_history(&mut self, grant_id: &str, seq: u32, entry: &GrantHistoryEntry) {
        self.ops
            .push(Op::Put(keys::grant_history(grant_id, seq), encode(entry)));
    }

    /// Records an inbound event in the idempotency ledger.
    pub fn record_event(&mut self, adapter_slug: &str, event_id: &str, entry: &LedgerEntry) {
        self.ops
            .push(Op::Put(keys::ledger(adapter_slug, event_id), encode(entry)));
    }

    /// Stores a player and its lookups (external id, email, phone).
    pub fn put_player(&mut self, player: &Player) {
        self.ops
            .push(Op::Put(keys::player(&player.id), encode(player)));
        self.ops.push(Op::Put(
            keys::player_by_external(&player.tenant_id, &player.external_id),
            player.id.as_bytes().to_vec(),
        ));
        if let Some(email) = player.email.as_deref().filter(|e| !e.is_empty()) {
            self.ops.push(Op::Put(
                keys::player_by_email(email, &player.id),
                Vec::new(),
            ));
        }
        if let Some(phone) = player.phone.as_deref().filter(|p| !p.is_empty()) {
            self.ops.push(Op::Put(
                keys::player_by_phone(phone, &player.id),
                Vec::new(),
            ));
        }
    }
}

impl Store {
    /// Opens the sled store described by `options`.
    pub fn open(options: &StoreOptions) -> Result<Self, StoreError> {
        let backend = SledBackend::open(options)?;
        Ok(Store { backend })
    }

    /// Wraps another backend.
    pub fn with_backend(backend: Arc<dyn Backend>) -> Self {
        Store { backend }
    }

    /// Whether the writer is running.
    pub fn is_open(&self) -> bool {
        self.backend.is_open()
    }

    /// Drains queued commits and stops the writer.
    pub fn close(&self) {
        self.backend.close();
    }

    /// Makes `writes` durable as one atomic change.
    pub async fn commit(&self, writes: WriteSet) -> Result<(), StoreError> {
        self.submit(writes)?.await
    }

    /// Queues `writes` on the writer now (an error if the writer is busy or closed) and returns
    /// a future that resolves once they are durable. Anything queued afterwards is applied after
    /// them, since the writer takes its queue in order, so a caller may queue a later change
    /// before this one is durable.
    pub fn submit(
        &self,
        writes: WriteSet,
    ) -> Result<
        impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static,
        StoreError,
    > {
        let ticket = if writes.is_empty() {
            None
        } else {
            Some(self.backend.submit(writes.ops)?)
        };
        Ok(async move {
            match ticket {
                None => Ok(()),
                Some(ticket) => ticket.await.map_err(|_| StoreError::Closed)?,
            }
        })
    }

    /// Resolves once every change readable now is durable.
    ///
    /// A change can be read a moment before its group commit is durable. Code that is about to
    /// acknowledge something because it read it (a replayed event's ledger entry) awaits this
    /// first; it is immediate unless a commit is under way.
    pub async fn settled(&self) -> Result<(), StoreError> {
        self.backend.durability().settled().await
    }

    /// Like [`Store::commit`], for code outside an async runtime.
    pub fn commit_blocking(&self, writes: WriteSet) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let ticket = self.backend.submit(writes.ops)?;
        ticket.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    /// Raw rows under `prefix`, for the typed readers of this crate.
    pub(crate) fn scan_raw(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<crate::backend::Rows, StoreError> {
        self.backend.scan(prefix, after, limit)
    }

    /// The raw bytes under `key`.
    pub(crate) fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.get(key)
    }

    pub(crate) fn get_record<T: DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.backend.get(key)? {
            Some(bytes) => decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Reads a grant.
    pub fn grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        self.get_record(&keys::grant(id))
    }

    /// A grant's applied transitions, oldest first.
    pub fn grant_history(&self, id: &str) -> Result<Vec<GrantHistoryEntry>, StoreError> {
        let rows = self
            .backend
            .scan(&keys::grant_history_prefix(id), None, usize::MAX)?;
        rows.iter().map(|(k, v)| decode(k, v)).collect()
    }

    /// Reads a player.
    pub fn player(&self, id: &str) -> Result<Option<Player>, StoreError> {
        self.get_record(&keys::player(id))
    }

    /// Finds a player by tenant and external id.
    pub fn player_by_external(
        &self,
        tenant: &str,
        external_id: &str,
    ) -> Result<Option<Player>, StoreError> {
        match self
            .backend
            .get(&keys::player_by_external(tenant, external_id))?
        {
            Some(id) => self.player(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Reads a ledger entry.
    pub fn ledger(
        &self,
        adapter_slug: &str,
        event_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        self.get_record(&keys::ledger(adapter_slug, event_id))
    }

    /// Ids of an adapter's non-terminal grants, in id order, after `after`.
    pub fn open_grant_ids(
        &self,
        adapter_slug: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let prefix = keys::open_grant_prefix(adapter_slug);
        let after = after.map(|id| keys::open_grant(adapter_slug, id));
        let rows = self.backend.scan(&prefix, after.as_deref(), limit)?;
        Ok(rows
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
            .collect())
    }

    /// Lists grants, optionally of one adapter and one status, oldest first.
    pub fn grants(
        &self,
        adapter_slug: Option<&str>,
        status: Option<GrantStatus>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Grant>, StoreError> {
        let prefix = match adapter_slug {
            Some(slug) => keys::grant_by_adapter_prefix(slug),
            None => keys::GRANT.to_vec(),
        };
        self.page(&prefix, cursor, limit, |id, key, value| {
            let grant: Option<Grant> = match adapter_slug {
                Some(_) => self.grant(id)?,
                None => Some(decode(key, value)?),
            };
            Ok(grant.filter(|g| status.is_none_or(|s| g.status == s)))
        })
    }

    /// One page of the records under `prefix` (keys `prefix + id`), after the id `cursor`.
    ///
    /// `load` turns a row into an item, or `None` to filter it out. A filter is applied to the
    /// rows read, so a page may hold fewer than `limit` items while a next cursor is still
    /// given; at most `limit * 20` rows are read per page.
    pub(crate) fn page<T>(
        &self,
        prefix: &[u8],
        cursor: Option<&str>,
        limit: usize,
        mut load: impl FnMut(&str, &[u8], &[u8]) -> Result<Option<T>, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let budget = limit.saturating_mul(20).max(limit);
        let mut from = cursor.map(|id| [prefix, id.as_bytes()].concat());
        let (mut items, mut read, mut last) = (Vec::new(), 0, None);
        'scan: while items.len() < limit && read < budget {
            let rows = self
                .backend
                .scan(prefix, from.as_deref(), (budget - read).min(256))?;
            if rows.is_empty() {
                last = None;
                break;
            }
            read += rows.len();
            for (key, value) in &rows {
                let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
                if let Some(item) = load(&id, key, value)? {
                    items.push(item);
                }
                last = Some(id);
                if items.len() == limit {
                    break 'scan;
                }
            }
            from = rows.last().map(|(k, _)| k.clone());
        }
        let next_cursor = if items.len() == limit || read >= budget {
            last
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Reads up to `max` ledger entries after the key `after` (from the start when `None`),
    /// removes those recorded before `before_ms` in one write, and answers how many were
    /// removed and the key to go on from, `None` once the end of the ledger was reached.
    ///
    /// The ledger has no time index: one more key per event cost a tenth of the fresh-event
    /// rate, while a paced sweep reads each entry once per pruning run.
    pub async fn prune_ledger(
        &self,
        before_ms: i64,
        after: Option<&[u8]>,
        max: usize,
    ) -> Result<(usize, Option<Vec<u8>>), StoreError> {
        let rows = self.backend.scan(keys::LEDGER, after, max)?;
        let next = if rows.len() == max {
            rows.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        let expired = rows.into_iter().filter_map(|(key, value)| {
            match decode::<LedgerEntry>(&key, &value) {
                Ok(entry) => (entry.recorded_at_ms < before_ms).then_some(key),
                Err(e) => {
                    // Kept, so that a newer build can still read it; the sweep goes on.
                    log::warn!(error:display = e; "ledger entry the pruner cannot read; kept");
                    None
                }
            }
        });
        let removed = self.delete_keys(expired).await?;
        Ok((removed, next))
    }

    /// Removes up to `max` keys of the ledger time index earlier builds wrote, and answers how
    /// many; 0 once none is left.
    pub async fn remove_legacy_ledger_time_index(&self, max: usize) -> Result<usize, StoreError> {
        let rows = self.backend.scan(keys::LEGACY_LEDGER_BY_TIME, None, max)?;
        self.delete_keys(rows.into_iter().map(|(key, _)| key)).await
    }

    /// Deletes `keys` in one write (none when there are none) and answers how many.
    async fn delete_keys(&self, keys: impl Iterator<Item = Vec<u8>>) -> Result<usize, StoreError> {
        let mut writes = WriteSet::new();
        writes.ops.extend(keys.map(Op::Delete));
        let removed = writes.ops.len();
        if removed > 0 {
            self.commit(writes).await?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::LedgerSubject;

    fn grant(id: &str, status: GrantStatus) -> Grant {
        Grant {
            id: id.into(),
            adapter_slug: "demo".into(),
            player_id: "p".into(),
            status,
            platform_bonus_id: None,
            amount_subunit: 1,
            currency: "EUR".into(),
            template_id: None,
            created_at_ms: 0,
            activated_at_ms: None,
            completed_at: None,
            total_wagered: 0,
            reason: None,
            updated_at_ms: 0,
            history_len: 1,
        }
    }

    #[test]
    fn committed_records_survive_reopen_and_indexes_follow_status() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions::at(dir.path());
        {
            let store = Store::open(&options).unwrap();
            let mut w = WriteSet::new();
            w.put_grant(&grant("a", GrantStatus::Active), None);
            w.put_grant(&grant("b", GrantStatus::Pending), None);
            w.record_event(
                "demo",
                "e1",
                &LedgerEntry {
                    subject: LedgerSubject::Grant,
                    subject_id: "a".into(),
                    applied: true,
                    recorded_at_ms: 10,
                },
            );
            store.commit_blocking(w).unwrap();
            let mut w = WriteSet::new();
            w.put_grant(
                &grant("b", GrantStatus::Completed),
                Some(GrantStatus::Pending),
            );
            store.commit_blocking(w).unwrap();
            store.close();
            assert!(matches!(
                store.commit_blocking({
                    let mut w = WriteSet::new();
                    w.put_grant(&grant("c", GrantStatus::Active), None);
                    w
                }),
                Err(StoreError::Closed)
            ));
        }
        let store = Store::open(&options).unwrap();
        assert_eq!(
            store.grant("a").unwrap().unwrap().status,
            GrantStatus::Active
        );
        assert_eq!(
            store.open_grant_ids("demo", None, 10).unwrap(),
            vec!["a".to_string()]
        );
        assert!(store.ledger("demo", "e1").unwrap().unwrap().applied);
        let page = store
            .grants(Some("demo"), Some(GrantStatus::Completed), None, 10)
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, "b");
    }

    #[test]
    fn pruning_removes_only_entries_past_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions::at(dir.path())).unwrap();
        let mut w = WriteSet::new();
        for (id, at) in [("old1", 100), ("old2", 200), ("new", 300)] {
            let entry = LedgerEntry {
                subject: LedgerSubject::Grant,
                subject_id: "g".into(),
                applied: true,
                recorded_at_ms: at,
            };
            w.record_event("demo", id, &entry);
        }
        store.commit_blocking(w).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // A page of two stops in the middle of the ledger and hands back where to go on.
        let (first, next) = rt.block_on(store.prune_ledger(250, None, 2)).unwrap();
        assert!(next.is_some());
        let (rest, end) = rt
            .block_on(store.prune_ledger(250, next.as_deref(), 2))
            .unwrap();
        assert_eq!(end, None);
        assert_eq!(first + rest, 2);
        assert!(store.ledger("demo", "old1").unwrap().is_none());
        assert!(store.ledger("demo", "old2").unwrap().is_none());
        assert!(store.ledger("demo", "new").unwrap().is_some());
    }

    #[test]
    fn the_sweep_keeps_what_it_cannot_read_and_the_legacy_time_index_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions::at(dir.path())).unwrap();
        let mut w = WriteSet::new();
        let old = LedgerEntry {
            subject: LedgerSubject::Grant,
            subject_id: "g".into(),
            applied: true,
            recorded_at_ms: 100,
        };
        w.record_event("demo", "a-old", &old);
        w.push(Op::Put(
            keys::ledger("demo", "b-unreadable"),
            vec![0xff, 0xff],
        ));
        w.record_event("demo", "c-old", &old);
        for i in 0..3u8 {
            w.push(Op::Put(
                [keys::LEGACY_LEDGER_BY_TIME, &[i]].concat(),
                Vec::new(),
            ));
        }
        store.commit_blocking(w).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();

        let (removed, next) = rt.block_on(store.prune_ledger(250, None, 10)).unwrap();
        assert_eq!(
            (removed, next),
            (2, None),
            "both old entries, past the bad one"
        );
        assert_eq!(store.scan_raw(keys::LEDGER, None, 10).unwrap().len(), 1);

        assert_eq!(
            rt.block_on(store.remove_legacy_ledger_time_index(2))
                .unwrap(),
            2
        );
        assert_eq!(
            rt.block_on(store.remove_legacy_ledger_time_index(2))
                .unwrap(),
            1
        );
        assert_eq!(
            rt.block_on(store.remove_legacy_ledger_time_index(2))
                .unwrap(),
            0
        );
    }

    #[test]
    fn grant_listing_pages_with_a_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions::at(dir.path())).unwrap();
        let mut w = WriteSet::new();
        for i in 0..5 {
            w.put_grant(&grant(&format!("g{i}"), GrantStatus::Pending), None);
        }
        store.commit_blocking(w).unwrap();
        let first = store.grants(None, None, None, 3).unwrap();
        assert_eq!(first.items.len(), 3);
        let cursor = first.next_cursor.clone().unwrap();
        let second = store.grants(None, None, Some(&cursor), 3).unwrap();
        let ids: Vec<_> = second.items.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["g3", "g4"]);
        assert_eq!(second.next_cursor, None);
    }
}
