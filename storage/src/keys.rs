//! Every key of the store, built in one place.
//!
//! All records live in one sled tree so that a group commit, which may touch grants, players and
//! the ledger at once, is a single atomic `apply_batch`. Each record kind has its own short
//! prefix. Ids are UUIDv7 strings, so keys of one prefix sort by creation time; integers in keys
//! are big-endian so they sort numerically.

/// Prefix of grants: `g/<grant_id>`.
pub const GRANT: &[u8] = b"g/";
/// Prefix of grant history entries: `gh/<grant_id>/<seq:be4>`.
pub const GRANT_HISTORY: &[u8] = b"gh/";
/// Prefix of the per-adapter grant index: `ga/<slug>/<grant_id>`.
pub const GRANT_BY_ADAPTER: &[u8] = b"ga/";
/// Prefix of the index of non-terminal grants: `o/<slug>/<grant_id>`.
pub const OPEN_GRANT: &[u8] = b"o/";
/// Prefix of the idempotency ledger: `l/<slug>/<event_id>`.
pub const LEDGER: &[u8] = b"l/";
/// Prefix of the ledger time index that earlier builds wrote with every event
/// (`lt/<ms:be8><slug>/<event_id>`, empty values). Nothing reads it; the pruner removes it.
pub const LEGACY_LEDGER_BY_TIME: &[u8] = b"lt/";
/// Prefix of players: `p/<player_id>`.
pub const PLAYER: &[u8] = b"p/";
/// Prefix of the player lookup by tenant and external id: `pe/<tenant>/<external_id>`.
pub const PLAYER_BY_EXTERNAL: &[u8] = b"pe/";

fn join(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let len = prefix.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.extend_from_slice(prefix);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(b'/');
        }
        key.extend_from_slice(part);
    }
    key
}

/// Key of one grant.
pub fn grant(id: &str) -> Vec<u8> {
    join(GRANT, &[id.as_bytes()])
}

/// Key of one history entry of a grant; `seq` counts from 1.
pub fn grant_history(id: &str, seq: u32) -> Vec<u8> {
    let mut key = grant_history_prefix(id);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Prefix of a grant's history entries.
pub fn grant_history_prefix(id: &str) -> Vec<u8> {
    join(GRANT_HISTORY, &[id.as_bytes(), b""])
}

/// Key of a grant in its adapter's index.
pub fn grant_by_adapter(slug: &str, id: &str) -> Vec<u8> {
    join(GRANT_BY_ADAPTER, &[slug.as_bytes(), id.as_bytes()])
}

/// Prefix of one adapter's grant index.
pub fn grant_by_adapter_prefix(slug: &str) -> Vec<u8> {
    join(GRANT_BY_ADAPTER, &[slug.as_bytes(), b""])
}

/// Key of a grant in the open-grant index.
pub fn open_grant(slug: &str, id: &str) -> Vec<u8> {
    join(OPEN_GRANT, &[slug.as_bytes(), id.as_bytes()])
}

/// Prefix of one adapter's open grants.
pub fn open_grant_prefix(slug: &str) -> Vec<u8> {
    join(OPEN_GRANT, &[slug.as_bytes(), b""])
}

/// Key of one ledger entry.
pub fn ledger(slug: &str, event_id: &str) -> Vec<u8> {
    join(LEDGER, &[slug.as_bytes(), event_id.as_bytes()])
}

/// Key of one player.
pub fn player(id: &str) -> Vec<u8> {
    join(PLAYER, &[id.as_bytes()])
}

/// Key of the lookup from a tenant's external id to the player id.
pub fn player_by_external(tenant: &str, external_id: &str) -> Vec<u8> {
    join(
        PLAYER_BY_EXTERNAL,
        &[tenant.as_bytes(), external_id.as_bytes()],
    )
}

/// The first key after every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Prefix of outbound calls: `c/<call_id>`.
pub const CALL: &[u8] = b"c/";
/// Prefix of the due index of open calls: `cd/<due_ms:be8><call_id>`.
pub const CALL_DUE: &[u8] = b"cd/";
/// Prefix of the status index of calls: `cs/<status>/<call_id>`.
pub const CALL_BY_STATUS: &[u8] = b"cs/";

/// Key of one call.
pub fn call(id: &str) -> Vec<u8> {
    join(CALL, &[id.as_bytes()])
}

/// Key of an open call in the due index.
pub fn call_due(due_ms: i64, id: &str) -> Vec<u8> {
    let mut key = CALL_DUE.to_vec();
    key.extend_from_slice(&(due_ms.max(0) as u64).to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// Splits a due-index key into its time and call id.
pub fn parse_call_due(key: &[u8]) -> Option<(i64, String)> {
    let rest = key.strip_prefix(CALL_DUE)?;
    let (ms, id) = rest.split_at_checked(8)?;
    let ms = u64::from_be_bytes(ms.try_into().ok()?) as i64;
    Some((ms, String::from_utf8(id.to_vec()).ok()?))
}

/// Key of a call in the status index.
pub fn call_by_status(status: &str, id: &str) -> Vec<u8> {
    join(CALL_BY_STATUS, &[status.as_bytes(), id.as_bytes()])
}

/// Prefix of the calls with one status.
pub fn call_by_status_prefix(status: &str) -> Vec<u8> {
    join(CALL_BY_STATUS, &[status.as_bytes(), b""])
}

/// Prefix of messages: `m/<message_id>`.
pub const MESSAGE: &[u8] = b"m/";
/// Prefix of the message lookup by provider id: `mp/<provider>/<provider_message_id>`.
pub const MESSAGE_BY_PROVIDER: &[u8] = b"mp/";
/// Prefix of reports waiting for their message: `mo/<provider>/<pmid>/<ms:be8><uuid>`.
pub const ORPHAN_REPORT: &[u8] = b"mo/";
/// Prefix of suppressions: `s/<player_id>/<channel>`.
pub const SUPPRESSION: &[u8] = b"s/";
/// Prefix of the player lookup by email: `pem/<email>/<player_id>`.
pub const PLAYER_BY_EMAIL: &[u8] = b"pem/";
/// Prefix of the player lookup by phone: `pph/<phone>/<player_id>`.
pub const PLAYER_BY_PHONE: &[u8] = b"pph/";
/// Prefix of tracked events: `ev/<tenant>/<ingestion_id>`.
pub const TRACKED_EVENT: &[u8] = b"ev/";
/// Prefix of idempotency answers of `/v1/events`: `ik/<tenant>/<key>`.
pub const IDEMPOTENCY_KEY: &[u8] = b"ik/";

/// Key of one message.
pub fn message(id: &str) -> Vec<u8> {
    join(MESSAGE, &[id.as_bytes()])
}

/// Key of the lookup of a message by its provider's id.
pub fn message_by_provider(provider: &str, provider_message_id: &str) -> Vec<u8> {
    join(
        MESSAGE_BY_PROVIDER,
        &[provider.as_bytes(), provider_message_id.as_bytes()],
    )
}

/// Prefix of the reports waiting for one message.
pub fn orphan_prefix(provider: &str, provider_message_id: &str) -> Vec<u8> {
    join(
        ORPHAN_REPORT,
        &[provider.as_bytes(), provider_message_id.as_bytes(), b""],
    )
}

/// Key of one waiting report.
pub fn orphan(provider: &str, provider_message_id: &str, at_ms: i64, unique: &str) -> Vec<u8> {
    let mut key = orphan_prefix(provider, provider_message_id);
    key.extend_from_slice(&(at_ms.max(0) as u64).to_be_bytes());
    key.extend_from_slice(unique.as_bytes());
    key
}

/// Key of a player's suppression on a channel.
pub fn suppression(player_id: &str, channel: &str) -> Vec<u8> {
    join(SUPPRESSION, &[player_id.as_bytes(), channel.as_bytes()])
}

/// Key of a player in the email lookup (email lower-cased).
pub fn player_by_email(email: &str, player_id: &str) -> Vec<u8> {
    join(
        PLAYER_BY_EMAIL,
        &[email.to_lowercase().as_bytes(), player_id.as_bytes()],
    )
}

/// Prefix of the players with one email.
pub fn player_by_email_prefix(email: &str) -> Vec<u8> {
    join(PLAYER_BY_EMAIL, &[email.to_lowercase().as_bytes(), b""])
}

/// Key of a player in the phone lookup.
pub fn player_by_phone(phone: &str, player_id: &str) -> Vec<u8> {
    join(PLAYER_BY_PHONE, &[phone.as_bytes(), player_id.as_bytes()])
}

/// Prefix of the players with one phone number.
pub fn player_by_phone_prefix(phone: &str) -> Vec<u8> {
    join(PLAYER_BY_PHONE, &[phone.as_bytes(), b""])
}

/// Key of a tracked event.
pub fn tracked_event(tenant: &str, ingestion_id: &str) -> Vec<u8> {
    join(TRACKED_EVENT, &[tenant.as_bytes(), ingestion_id.as_bytes()])
}

/// Key of an idempotency answer.
pub fn idempotency_key(tenant: &str, key: &str) -> Vec<u8> {
    join(IDEMPOTENCY_KEY, &[tenant.as_bytes(), key.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prefixes_of_one_adapter_do_not_cover_another() {
        let a = open_grant_prefix("casino");
        assert!(open_grant("casino", "x").starts_with(&a));
        assert!(!open_grant("casino-two", "x").starts_with(&a));
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255]), None);
    }

    proptest! {
        #[test]
        fn keys_of_one_adapter_never_fall_under_another(
            a in "[a-z0-9-]{1,20}", b in "[a-z0-9-]{1,20}", id in ".{0,40}",
        ) {
            prop_assume!(a != b);
            prop_assert!(!open_grant(&b, &id).starts_with(&open_grant_prefix(&a)));
            prop_assert!(!grant_by_adapter(&b, &id).starts_with(&grant_by_adapter_prefix(&a)));
            prop_assert!(open_grant(&a, &id).starts_with(&open_grant_prefix(&a)));
            prop_assert_ne!(ledger(&a, &id), ledger(&b, &id));
        }
    }
}
