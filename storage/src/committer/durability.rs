//! [`Durability`]: how far the group-commit writer has come, for readers that must not answer
//! from a change that is readable but not yet on disk.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

use crate::StoreError;

/// How far the writer has come: rounds applied (readable) and rounds durable.
///
/// Round numbers start at 1 and grow by one per round. A round's number is published before
/// its changes are applied, so a reader that sees a change and then reads
/// [`Durability::applied`] gets a number at least as high as the change's round.
#[derive(Debug)]
pub struct Durability {
    applied: AtomicU64,
    durable: watch::Sender<Durable>,
}

/// The durable side of [`Durability`]: the highest durable round, or the writer has failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durable {
    Through(u64),
    Failed,
}

impl Default for Durability {
    fn default() -> Self {
        Durability {
            applied: AtomicU64::new(0),
            durable: watch::Sender::new(Durable::Through(0)),
        }
    }
}

impl Durability {
    /// The highest round whose apply has begun.
    pub(crate) fn applied(&self) -> u64 {
        self.applied.load(Ordering::SeqCst)
    }

    /// Publishes that round `round` is about to be applied.
    pub(crate) fn begin(&self, round: u64) {
        self.applied.store(round, Ordering::SeqCst);
    }

    /// Records that every round through `round` is durable.
    pub(crate) fn made_durable(&self, round: u64) {
        self.durable.send_modify(|d| {
            if let Durable::Through(n) = d {
                *n = (*n).max(round);
            }
        });
    }

    /// Records that the writer failed: nothing not yet durable will be.
    pub(crate) fn failed(&self) {
        self.durable.send_replace(Durable::Failed);
    }

    /// Resolves once every change readable before the call is durable.
    ///
    /// Immediate when nothing is between apply and fsync, which is the usual case outside
    /// bursts. Fails with [`StoreError::Closed`] when the writer failed first, since the change
    /// seen may then never reach the disk.
    pub async fn settled(&self) -> Result<(), StoreError> {
        let target = self.applied();
        let reached = |d: &Durable| match d {
            Durable::Through(n) => *n >= target,
            Durable::Failed => true,
        };
        if !reached(&self.durable.borrow()) {
            let mut rx = self.durable.subscribe();
            rx.wait_for(reached).await.map_err(|_| StoreError::Closed)?;
        }
        match *self.durable.borrow() {
            Durable::Failed => Err(StoreError::Closed),
            Durable::Through(_) => Ok(()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;

    pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn settled_waits_for_the_round_that_was_applied_when_asked() {
        let durability = Arc::new(Durability::default());
        block_on(async {
            durability.settled().await.expect("nothing pending");

            durability.begin(1);
            let waiting = {
                let d = durability.clone();
                tokio::spawn(async move { d.settled().await })
            };
            tokio::task::yield_now().await;
            assert!(!waiting.is_finished(), "round 1 is not durable yet");

            // A later round starting does not move the target of an earlier reader.
            durability.begin(2);
            durability.made_durable(1);
            waiting.await.expect("join").expect("round 1 durable");
        });
    }

    #[test]
    fn settled_fails_once_the_writer_has_failed() {
        let durability = Durability::default();
        durability.begin(1);
        durability.failed();
        assert!(matches!(
            block_on(durability.settled()),
            Err(StoreError::Closed)
        ));
    }
}
