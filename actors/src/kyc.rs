//! KYC events, tenant KYC models and the per-player KYC state machine (SPEC §5).
//!
//! Plain code: [`parse_kyc_event`] validates a body, [`decide_kyc`] says what an event does to a
//! player's [`KycState`]. The player actor persists the decision.

use ucrm_storage::{KycHistoryEntry, KycState, KycStatus};

use crate::fields;
use crate::DomainError;

/// Who runs KYC for a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KycModel {
    /// The casino platform verifies players and tells UCRM.
    PlatformOwns,
    /// UCRM runs KYC itself; platform KYC webhooks are refused.
    CrmOwns,
    /// Both; platform updates are accepted.
    Dual,
    /// No KYC; platform KYC webhooks are refused.
    None,
}

impl KycModel {
    /// Parses the config value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "platform_owns" => Some(KycModel::PlatformOwns),
            "crm_owns" => Some(KycModel::CrmOwns),
            "dual" => Some(KycModel::Dual),
            "none" => Some(KycModel::None),
            _ => None,
        }
    }

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            KycModel::PlatformOwns => "platform_owns",
            KycModel::CrmOwns => "crm_owns",
            KycModel::Dual => "dual",
            KycModel::None => "none",
        }
    }

    /// Whether platform KYC webhooks are accepted.
    pub fn accepts_platform_events(self) -> bool {
        matches!(self, KycModel::PlatformOwns | KycModel::Dual)
    }
}

/// The kinds of KYC event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KycEventKind {
    /// `kyc.submitted`.
    Submitted,
    /// `kyc.approved`.
    Approved,
    /// `kyc.rejected`.
    Rejected,
    /// `kyc.expired`.
    Expired,
    /// `kyc.level_upgraded`.
    LevelUpgraded,
}

impl KycEventKind {
    /// Every kind.
    pub const ALL: [KycEventKind; 5] = [
        KycEventKind::Submitted,
        KycEventKind::Approved,
        KycEventKind::Rejected,
        KycEventKind::Expired,
        KycEventKind::LevelUpgraded,
    ];

    /// The event name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            KycEventKind::Submitted => "kyc.submitted",
            KycEventKind::Approved => "kyc.approved",
            KycEventKind::Rejected => "kyc.rejected",
            KycEventKind::Expired => "kyc.expired",
            KycEventKind::LevelUpgraded => "kyc.level_upgraded",
        }
    }
}

/// A validated KYC event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KycEvent {
    /// What happened.
    pub kind: KycEventKind,
    /// The sender's idempotency key.
    pub event_id: String,
    /// When it happened, as sent.
    pub ts: String,
    /// `ts` in unix milliseconds, for ordering.
    pub ts_ms: i64,
    /// The platform's id of the player.
    pub player_external_id: String,
    /// The KYC level the event is about.
    pub level: u32,
    /// `data.reason`.
    pub reason: Option<String>,
    /// `data.expires_at`.
    pub expires_at: Option<String>,
}

/// Parses and validates the body of a KYC webhook.
pub fn parse_kyc_event(body: &[u8]) -> Result<KycEvent, DomainError> {
    let obj = fields::object(body)?;
    let name = fields::required_str(&obj, "", "event")?;
    let kind = KycEventKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| DomainError::invalid("event", format!("unknown KYC event {name:?}")))?;
    let event_id = fields::required_id(&obj, "event_id")?;
    let (ts, ts_ms) = fields::required_time(&obj, "ts")?;
    let player_external_id = fields::required_id(&obj, "player_external_id")?;
    let level = fields::required_u32(&obj, "level")?;
    let data = fields::optional_object(&obj, "data")?;
    let expires_at = fields::optional_str(&data, "data", "expires_at")?;
    if let Some(at) = &expires_at {
        chrono::DateTime::parse_from_rfc3339(at)
            .map_err(|_| DomainError::invalid("data.expires_at", "must be an RFC 3339 time"))?;
    }
    Ok(KycEvent {
        kind,
        event_id,
        ts,
        ts_ms,
        player_external_id,
        level,
        reason: fields::optional_str(&data, "data", "reason")?,
        expires_at,
    })
}

/// What a KYC event does to a player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KycDecision {
    /// Whether the state changed.
    pub applied: bool,
    /// The state after the event.
    pub state: KycState,
    /// The history row to append when applied.
    pub history: Option<KycHistoryEntry>,
}

/// Applies `event` (sent by `adapter_slug`) to `state` by the rules of SPEC §5.
///
/// An event older than the last applied one is stale and changes nothing; so does an event that
/// would leave the state as it is. `kyc.level_upgraded` must name a level above the verified one.
pub fn decide_kyc(
    state: &KycState,
    event: &KycEvent,
    adapter_slug: &str,
    now_ms: i64,
) -> Result<KycDecision, DomainError> {
    let unchanged = || KycDecision {
        applied: false,
        state: state.clone(),
        history: None,
    };
    if state
        .last_event_ts_ms
        .is_some_and(|last| event.ts_ms < last)
    {
        return Ok(unchanged());
    }

    let mut next = state.clone();
    let level = event.level;
    match event.kind {
        KycEventKind::Submitted => {
            next.status = KycStatus::Pending;
            next.pending_level = Some(level);
        }
        KycEventKind::LevelUpgraded => {
            if level <= state.level {
                return Err(DomainError::invalid(
                    "level",
                    format!("must exceed the player's verified level {}", state.level),
                ));
            }
            next.status = KycStatus::Pending;
            next.pending_level = Some(level);
        }
        KycEventKind::Approved => {
            next.status = KycStatus::Verified;
            next.level = level;
            next.expires_at = event.expires_at.clone();
            next.pending_level = None;
            next.reason = None;
        }
        KycEventKind::Rejected => {
            next.status = KycStatus::Rejected;
            next.reason = event.reason.clone();
            next.pending_level = None;
            if next.level >= level {
                next.level = level.saturating_sub(1);
            }
        }
        KycEventKind::Expired => {
            next.status = KycStatus::Expired;
            next.level = 0;
            next.pending_level = None;
        }
    }
    if next == *state {
        return Ok(unchanged());
    }

    next.updated_at_ms = Some(now_ms);
    next.last_event_ts_ms = Some(event.ts_ms);
    let history = KycHistoryEntry {
        event: event.kind.name().to_owned(),
        event_id: event.event_id.clone(),
        adapter_slug: adapter_slug.to_owned(),
        level,
        from: state.status,
        to: next.status,
        at_ms: now_ms,
    };
    Ok(KycDecision {
        applied: true,
        state: next,
        history: Some(history),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(kind: KycEventKind, level: u32, ts_ms: i64) -> KycEvent {
        KycEvent {
            kind,
            event_id: format!("{}-{level}-{ts_ms}", kind.name()),
            ts: String::new(),
            ts_ms,
            player_external_id: "p".into(),
            level,
            reason: Some("blurry".into()),
            expires_at: Some("2027-01-01T00:00:00Z".into()),
        }
    }

    fn run(events: &[KycEvent]) -> KycState {
        events.iter().fold(KycState::default(), |s, e| {
            decide_kyc(&s, e, "demo", 1).map(|d| d.state).unwrap_or(s)
        })
    }

    #[test]
    fn full_path_leaves_rejected_at_the_verified_level() {
        let s = run(&[
            ev(KycEventKind::Submitted, 2, 1),
            ev(KycEventKind::Approved, 2, 2),
            ev(KycEventKind::LevelUpgraded, 3, 3),
            ev(KycEventKind::Rejected, 3, 4),
        ]);
        assert_eq!(s.status, KycStatus::Rejected);
        assert_eq!(s.level, 2);
        assert_eq!(s.pending_level, None);
        assert_eq!(s.reason.as_deref(), Some("blurry"));
    }

    #[test]
    fn rejection_at_or_below_the_verified_level_revokes_it() {
        let s = run(&[
            ev(KycEventKind::Approved, 3, 1),
            ev(KycEventKind::Rejected, 2, 2),
        ]);
        assert_eq!((s.status, s.level), (KycStatus::Rejected, 1));
    }

    #[test]
    fn expiry_drops_the_level_to_zero() {
        let s = run(&[
            ev(KycEventKind::Approved, 2, 1),
            ev(KycEventKind::Expired, 2, 2),
        ]);
        assert_eq!((s.status, s.level), (KycStatus::Expired, 0));
    }

    #[test]
    fn stale_event_is_not_applied() {
        let s = run(&[ev(KycEventKind::Approved, 2, 10)]);
        let d = decide_kyc(&s, &ev(KycEventKind::Submitted, 3, 5), "demo", 1).unwrap();
        assert!(!d.applied);
        assert_eq!(d.state, s);
    }

    #[test]
    fn upgrade_must_exceed_the_verified_level() {
        let s = run(&[ev(KycEventKind::Approved, 2, 1)]);
        let err = decide_kyc(&s, &ev(KycEventKind::LevelUpgraded, 2, 2), "demo", 1).unwrap_err();
        assert!(matches!(err, DomainError::Validation { ref field, .. } if field == "level"));
    }

    #[test]
    fn parse_names_the_bad_field() {
        let ok = concat!(
            r#"{"event":"kyc.approved","event_id":"e","ts":"2026-05-08T12:00:00Z","#,
            r#""player_external_id":"p","level":2,"data":{"expires_at":"2027-05-08T12:00:00Z"}}"#
        );
        assert_eq!(parse_kyc_event(ok.as_bytes()).unwrap().level, 2);
        let field = |b: String| match parse_kyc_event(b.as_bytes()) {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(field(ok.replace("kyc.approved", "kyc.maybe")), "event");
        assert_eq!(field(ok.replace(r#""level":2"#, r#""level":-1"#)), "level");
        assert_eq!(field(ok.replace(r#""level":2"#, r#""level":"2""#)), "level");
        assert_eq!(
            field(ok.replace(r#""player_external_id":"p","#, "")),
            "player_external_id"
        );
        assert_eq!(
            field(ok.replace("2027-05-08T12:00:00Z", "soon")),
            "data.expires_at"
        );
    }

    fn any_event() -> impl Strategy<Value = KycEvent> {
        (
            prop::sample::select(KycEventKind::ALL.to_vec()),
            0u32..5,
            0i64..50,
        )
            .prop_map(|(k, l, t)| ev(k, l, t))
    }

    proptest! {
        #[test]
        fn invariants_hold_for_any_sequence(events in prop::collection::vec(any_event(), 0..20)) {
            let mut s = KycState::default();
            for e in &events {
                if let Ok(d) = decide_kyc(&s, e, "demo", 1) {
                    if d.applied {
                        prop_assert!(d.state.last_event_ts_ms >= s.last_event_ts_ms);
                        prop_assert!(d.history.is_some());
                    } else {
                        prop_assert_eq!(&d.state, &s);
                    }
                    if d.state.status == KycStatus::Expired {
                        prop_assert_eq!(d.state.level, 0);
                    }
                    let again = decide_kyc(&d.state, e, "demo", 2).unwrap();
                    prop_assert!(!again.applied);
                    s = d.state;
                }
            }
        }

        #[test]
        fn parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_kyc_event(&body);
        }
    }
}
