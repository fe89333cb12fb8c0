//! Message statuses, channels and providers, and the rule that merges a provider's report into
//! a message's status (SPEC §6).
//!
//! [`next_status`] is a join: each status has a fixed [`MessageStatus::precedence`] and the
//! higher one wins. That makes the merge commutative, associative and idempotent, so the status
//! a message ends with does not depend on the order in which out-of-order callbacks arrive, nor
//! on how often a provider retries one.
//!
//! The enums themselves are stored records and live in `ucrm-storage`; they are re-exported
//! here.

pub use ucrm_storage::{Channel, MessageStatus, Provider};

/// The status after a provider reports `incoming` for a message that is at `current`.
///
/// A status never moves back; `bounced` and `failed` replace only `queued`, `sending` and
/// `sent`; `opened` and `clicked` win over everything, and `clicked` is never replaced by
/// `opened`. A late `delivered` after a bounce means the bounce report overtook the delivery
/// report, so the message is delivered whichever arrived first.
pub fn next_status(current: MessageStatus, incoming: MessageStatus) -> MessageStatus {
    if incoming.precedence() > current.precedence() {
        incoming
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use MessageStatus::*;

    const PROGRESS: [MessageStatus; 6] = [Queued, Sending, Sent, Delivered, Opened, Clicked];

    fn fold(start: MessageStatus, reports: &[MessageStatus]) -> MessageStatus {
        reports.iter().fold(start, |s, r| next_status(s, *r))
    }

    fn any_status() -> impl Strategy<Value = MessageStatus> {
        prop::sample::select(MessageStatus::ALL.to_vec())
    }

    #[test]
    fn wire_names_round_trip() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
        }
        assert_eq!(MessageStatus::parse("Delivered"), None);
        assert_eq!(Channel::parse("fax"), None);
        assert_eq!(Provider::parse(""), None);
    }

    #[test]
    fn progress_statuses_only_move_forward() {
        for (i, a) in PROGRESS.iter().enumerate() {
            for (j, b) in PROGRESS.iter().enumerate() {
                let expected = if j > i { *b } else { *a };
                assert_eq!(next_status(*a, *b), expected, "{a:?} then {b:?}");
            }
        }
    }

    #[test]
    fn bounce_and_failure_replace_only_statuses_below_delivered() {
        for bad in [Bounced, Failed] {
            for s in [Queued, Sending, Sent] {
                assert_eq!(next_status(s, bad), bad);
            }
            for s in [Delivered, Opened, Clicked] {
                assert_eq!(next_status(s, bad), s);
            }
        }
    }

    #[test]
    fn opens_and_clicks_win_over_everything_but_a_click() {
        for s in MessageStatus::ALL {
            assert_eq!(next_status(s, Clicked), Clicked);
            let expected = if s == Clicked { Clicked } else { Opened };
            assert_eq!(next_status(s, Opened), expected);
        }
    }

    #[test]
    fn late_delivered_after_opened_stays_opened() {
        assert_eq!(next_status(Opened, Delivered), Opened);
        assert_eq!(fold(Queued, &[Opened, Delivered, Sent]), Opened);
    }

    #[test]
    fn sent_after_delivered_stays_delivered() {
        assert_eq!(next_status(Delivered, Sent), Delivered);
        assert_eq!(fold(Queued, &[Delivered, Sent, Queued]), Delivered);
    }

    #[test]
    fn earlier_reports_do_not_undo_a_bounce() {
        assert_eq!(fold(Queued, &[Bounced, Sent, Sending, Queued]), Bounced);
        assert_eq!(fold(Queued, &[Failed, Sent]), Failed);
    }

    proptest! {
        #[test]
        fn result_never_ranks_below_current(a in any_status(), b in any_status()) {
            let next = next_status(a, b);
            prop_assert!(next.precedence() >= a.precedence());
            prop_assert!(next == a || next == b);
        }

        #[test]
        fn repeating_a_report_changes_nothing(a in any_status(), b in any_status()) {
            let once = next_status(a, b);
            prop_assert_eq!(next_status(once, b), once);
        }

        #[test]
        fn duplicates_and_order_do_not_change_the_fold(
            reports in prop::collection::vec(any_status(), 0..20),
            dups in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let mut with_dups = reports.clone();
            for d in &dups {
                if !reports.is_empty() {
                    with_dups.push(*d.get(&reports));
                }
            }
            let mut reversed = with_dups.clone();
            reversed.reverse();
            let expected = fold(Queued, &reports);
            prop_assert_eq!(fold(Queued, &with_dups), expected);
            prop_assert_eq!(fold(Queued, &reversed), expected);
        }
    }
}
