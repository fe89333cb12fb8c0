//! Bonus lifecycle events and the grant state machine (SPEC §4).
//!
//! Plain code: [`parse_bonus_event`] turns a verified body into a [`BonusEvent`], and [`decide`]
//! says what that event does to a grant. The grant actor persists the decision.

use ucrm_storage::{Grant, GrantHistoryEntry, GrantStatus, Source};

use crate::fields;
use crate::DomainError;

/// The kinds of bonus lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BonusEventKind {
    /// `bonus.credited`: pending → active.
    Credited,
    /// `bonus.wagered`: wagering progress.
    Wagered,
    /// `bonus.completed`: wagering done.
    Completed,
    /// `bonus.expired`.
    Expired,
    /// `bonus.cancelled`.
    Cancelled,
    /// `bonus.forfeited`.
    Forfeited,
}

impl BonusEventKind {
    /// Every kind.
    pub const ALL: [BonusEventKind; 6] = [
        BonusEventKind::Credited,
        BonusEventKind::Wagered,
        BonusEventKind::Completed,
        BonusEventKind::Expired,
        BonusEventKind::Cancelled,
        BonusEventKind::Forfeited,
    ];

    /// The event name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            BonusEventKind::Credited => "bonus.credited",
            BonusEventKind::Wagered => "bonus.wagered",
            BonusEventKind::Completed => "bonus.completed",
            BonusEventKind::Expired => "bonus.expired",
            BonusEventKind::Cancelled => "bonus.cancelled",
            BonusEventKind::Forfeited => "bonus.forfeited",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The status this event moves a live grant to.
    pub fn target(self) -> GrantStatus {
        match self {
            BonusEventKind::Credited | BonusEventKind::Wagered => GrantStatus::Active,
            BonusEventKind::Completed => GrantStatus::Completed,
            BonusEventKind::Expired => GrantStatus::Expired,
            BonusEventKind::Cancelled => GrantStatus::Cancelled,
            BonusEventKind::Forfeited => GrantStatus::Forfeited,
        }
    }

    /// The event that moves a grant to `status`, as the reconciler replays it.
    pub fn for_status(status: GrantStatus) -> Option<Self> {
        match status {
            GrantStatus::Pending => None,
            GrantStatus::Active => Some(BonusEventKind::Credited),
            GrantStatus::Completed => Some(BonusEventKind::Completed),
            GrantStatus::Expired => Some(BonusEventKind::Expired),
            GrantStatus::Cancelled => Some(BonusEventKind::Cancelled),
            GrantStatus::Forfeited => Some(BonusEventKind::Forfeited),
        }
    }
}

/// A validated bonus lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BonusEvent {
    /// What happened.
    pub kind: BonusEventKind,
    /// The sender's idempotency key.
    pub event_id: String,
    /// When it happened, as sent (RFC 3339).
    pub ts: String,
    /// UCRM's grant id.
    pub grant_id: String,
    /// The platform's bonus id.
    pub platform_bonus_id: Option<String>,
    /// `data.total_wagered`, in minor units.
    pub total_wagered: Option<i64>,
    /// `data.completed_at`.
    pub completed_at: Option<String>,
    /// `data.reason`.
    pub reason: Option<String>,
}

/// Parses and validates the body of a bonus webhook.
pub fn parse_bonus_event(body: &[u8]) -> Result<BonusEvent, DomainError> {
    let obj = fields::object(body)?;
    let name = fields::required_str(&obj, "", "event")?;
    let kind = BonusEventKind::parse(&name)
        .ok_or_else(|| DomainError::invalid("event", format!("unknown bonus event {name:?}")))?;
    let event_id = fields::required_id(&obj, "event_id")?;
    let (ts, _) = fields::required_time(&obj, "ts")?;
    let grant_id = fields::required_id(&obj, "grant_id")?;
    let platform_bonus_id = fields::required_id(&obj, "platform_bonus_id")?;
    let data = &fields::optional_object(&obj, "data")?;

    let total_wagered = fields::optional_i64(data, "data", "total_wagered")?;
    if kind == BonusEventKind::Wagered && total_wagered.is_none() {
        return Err(DomainError::invalid(
            "data.total_wagered",
            "is required for bonus.wagered",
        ));
    }
    if total_wagered.is_some_and(|t| t < 0) {
        return Err(DomainError::invalid(
            "data.total_wagered",
            "must not be negative",
        ));
    }
    Ok(BonusEvent {
        kind,
        event_id,
        ts,
        grant_id,
        platform_bonus_id: Some(platform_bonus_id),
        total_wagered,
        completed_at: fields::optional_str(data, "data", "completed_at")?,
        reason: fields::optional_str(data, "data", "reason")?,
    })
}

/// What an event does to a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the grant changed.
    pub applied: bool,
    /// The grant after the event (unchanged when not applied).
    pub grant: Grant,
    /// The history entry to store when applied; its number is `grant.history_len`.
    pub entry: Option<GrantHistoryEntry>,
}

/// Applies `event` to `grant` by the rules of SPEC §4.
///
/// Forward only: a terminal grant never changes, a lower wagering total is stale, and an event
/// that would change nothing is answered "not applied". A platform bonus id that differs from
/// the one the grant already holds is refused.
pub fn decide(
    grant: &Grant,
    event: &BonusEvent,
    source: Source,
    now_ms: i64,
) -> Result<Decision, DomainError> {
    if let (Some(held), Some(sent)) = (&grant.platform_bonus_id, &event.platform_bonus_id) {
        if held != sent {
            return Err(DomainError::invalid(
                "platform_bonus_id",
                "does not match the grant's platform bonus id",
            ));
        }
    }
    let unchanged = || Decision {
        applied: false,
        grant: grant.clone(),
        entry: None,
    };
    if grant.status.is_terminal() {
        return Ok(unchanged());
    }

    let mut next = grant.clone();
    let applied = match event.kind {
        BonusEventKind::Credited => grant.status == GrantStatus::Pending,
        BonusEventKind::Wagered => {
            let total = event.total_wagered.unwrap_or(grant.total_wagered);
            if total < grant.total_wagered {
                false
            } else {
                next.total_wagered = total;
                total > grant.total_wagered || grant.status == GrantStatus::Pending
            }
        }
        BonusEventKind::Completed => {
            if let Some(total) = event.total_wagered {
                next.total_wagered = next.total_wagered.max(total);
            }
            next.completed_at = event.completed_at.clone();
            true
        }
        BonusEventKind::Expired | BonusEventKind::Cancelled => true,
        BonusEventKind::Forfeited => {
            next.reason = event.reason.clone();
            true
        }
    };
    if !applied {
        return Ok(unchanged());
    }

    next.status = event.kind.target();
    if next.status == GrantStatus::Active && next.activated_at_ms.is_none() {
        next.activated_at_ms = Some(now_ms);
    }
    if next.platform_bonus_id.is_none() {
        next.platform_bonus_id = event.platform_bonus_id.clone();
    }
    next.updated_at_ms = now_ms;
    next.history_len += 1;
    let entry = Some(GrantHistoryEntry {
        event: event.kind.name().to_owned(),
        event_id: event.event_id.clone(),
        source,
        from: grant.status,
        to: next.status,
        at_ms: now_ms,
    });
    Ok(Decision {
        applied: true,
        grant: next,
        entry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grant(status: GrantStatus) -> Grant {
        Grant {
            id: "g".into(),
            adapter_slug: "demo".into(),
            player_id: "p".into(),
            status,
            platform_bonus_id: None,
            amount_subunit: 1000,
            currency: "EUR".into(),
            template_id: None,
            created_at_ms: 0,
            activated_at_ms: None,
            completed_at: None,
            total_wagered: 0,
            reason: None,
            updated_at_ms: 0,
            history_len: 0,
        }
    }

    fn event(kind: BonusEventKind, total: Option<i64>) -> BonusEvent {
        BonusEvent {
            kind,
            event_id: format!("e-{}", kind.name()),
            ts: "2026-05-08T12:00:00Z".into(),
            grant_id: "g".into(),
            platform_bonus_id: Some("pb-1".into()),
            total_wagered: total,
            completed_at: None,
            reason: None,
        }
    }

    fn rank(s: GrantStatus) -> u8 {
        match s {
            GrantStatus::Pending => 0,
            GrantStatus::Active => 1,
            _ => 2,
        }
    }

    #[test]
    fn credited_activates_a_pending_grant_once() {
        let d = decide(
            &grant(GrantStatus::Pending),
            &event(BonusEventKind::Credited, None),
            Source::Webhook,
            5,
        )
        .unwrap();
        assert!(d.applied);
        assert_eq!(d.grant.status, GrantStatus::Active);
        assert_eq!(d.grant.activated_at_ms, Some(5));
        assert_eq!(d.grant.platform_bonus_id.as_deref(), Some("pb-1"));
        assert_eq!(d.grant.history_len, 1);
        assert_eq!(
            d.entry.as_ref().map(|e| e.event_id.as_str()),
            Some("e-bonus.credited")
        );
        let again = decide(
            &d.grant,
            &event(BonusEventKind::Credited, None),
            Source::Webhook,
            6,
        )
        .unwrap();
        assert!(!again.applied);
    }

    #[test]
    fn lower_wagering_total_is_stale() {
        let mut g = grant(GrantStatus::Active);
        g.total_wagered = 500;
        let d = decide(
            &g,
            &event(BonusEventKind::Wagered, Some(400)),
            Source::Webhook,
            1,
        )
        .unwrap();
        assert!(!d.applied);
        assert_eq!(d.grant.total_wagered, 500);
        let d = decide(
            &g,
            &event(BonusEventKind::Wagered, Some(600)),
            Source::Webhook,
            1,
        )
        .unwrap();
        assert!(d.applied);
        assert_eq!(d.grant.total_wagered, 600);
    }

    #[test]
    fn different_platform_bonus_id_is_refused() {
        let mut g = grant(GrantStatus::Active);
        g.platform_bonus_id = Some("other".into());
        let err = decide(
            &g,
            &event(BonusEventKind::Completed, None),
            Source::Webhook,
            1,
        )
        .unwrap_err();
        assert!(
            matches!(err, DomainError::Validation { ref field, .. } if field == "platform_bonus_id")
        );
    }

    #[test]
    fn parse_names_the_bad_field() {
        let field = |body: &str| match parse_bonus_event(body.as_bytes()) {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(field("not json"), "body");
        assert_eq!(field("[]"), "body");
        let ok = concat!(
            r#"{"event":"bonus.wagered","event_id":"e","ts":"2026-05-08T12:00:00Z","#,
            r#""grant_id":"g","platform_bonus_id":"p","data":{"total_wagered":5}}"#
        );
        assert!(parse_bonus_event(ok.as_bytes()).is_ok());
        assert_eq!(field(&ok.replace("bonus.wagered", "bonus.nope")), "event");
        assert_eq!(field(&ok.replace(r#""event_id":"e","#, "")), "event_id");
        assert_eq!(field(&ok.replace(r#""2026-05-08T12:00:00Z""#, "5")), "ts");
        assert_eq!(
            field(&ok.replace(r#""grant_id":"g""#, r#""grant_id":7"#)),
            "grant_id"
        );
        assert_eq!(
            field(&ok.replace(r#"{"total_wagered":5}"#, "{}")),
            "data.total_wagered"
        );
        assert_eq!(field(&ok.replace(r#"{"total_wagered":5}"#, "3")), "data");
        let credited = ok.replace("bonus.wagered", "bonus.credited");
        assert!(parse_bonus_event(
            credited
                .replace(r#","data":{"total_wagered":5}"#, "")
                .as_bytes()
        )
        .is_ok());
    }

    fn any_status() -> impl Strategy<Value = GrantStatus> {
        prop::sample::select(GrantStatus::ALL.to_vec())
    }

    fn any_event() -> impl Strategy<Value = BonusEvent> {
        (
            prop::sample::select(BonusEventKind::ALL.to_vec()),
            0i64..10_000,
        )
            .prop_map(|(k, t)| event(k, Some(t)))
    }

    proptest! {
        #[test]
        fn transitions_only_move_forward_and_terminal_never_changes(
            start in any_status(),
            events in prop::collection::vec(any_event(), 0..12),
        ) {
            let mut g = grant(start);
            for e in &events {
                let d = decide(&g, e, Source::Webhook, 1).unwrap();
                prop_assert!(rank(d.grant.status) >= rank(g.status));
                if g.status.is_terminal() {
                    prop_assert!(!d.applied);
                    prop_assert_eq!(&d.grant, &g);
                }
                prop_assert!(d.grant.total_wagered >= g.total_wagered);
                prop_assert_eq!(d.applied, d.grant.history_len == g.history_len + 1);
                prop_assert_eq!(d.applied, d.entry.is_some());
                g = d.grant;
            }
        }

        #[test]
        fn applying_the_same_event_twice_changes_nothing_the_second_time(
            start in any_status(), e in any_event(),
        ) {
            let once = decide(&grant(start), &e, Source::Webhook, 1).unwrap();
            let twice = decide(&once.grant, &e, Source::Webhook, 2).unwrap();
            prop_assert!(!twice.applied);
            prop_assert_eq!(twice.grant, once.grant);
        }

        #[test]
        fn parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_bonus_event(&body);
        }
    }
}
