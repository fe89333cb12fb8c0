//! Bookkeeping shared by the supervisors: live child actors and in-flight event ids.
//!
//! A supervisor is the only sender to its children, so it alone decides when a child retires:
//! it forgets the child first and then sends [`Retire`]. No message can therefore land in a
//! mailbox that is closing, and no child holding a strong `Addr` lingers forever.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Handler, Message};
use tokio::sync::oneshot;

/// Tells a child actor to stop; sent only after its supervisor has forgotten it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Retire;

struct Slot<A: Actor> {
    addr: Addr<A>,
    outstanding: usize,
    last_used: Instant,
}

/// The live children of one supervisor, by id.
pub struct ChildPool<A: Actor> {
    slots: HashMap<String, Slot<A>>,
}

impl<A: Actor> Default for ChildPool<A> {
    fn default() -> Self {
        ChildPool {
            slots: HashMap::new(),
        }
    }
}

impl<A> ChildPool<A>
where
    A: Actor + Handler<Retire>,
    A::Context: actix::dev::ToEnvelope<A, Retire>,
{
    /// The child for `id`, if it is live.
    pub fn get(&self, id: &str) -> Option<Addr<A>> {
        self.slots.get(id).map(|s| s.addr.clone())
    }

    /// Adds a freshly started child.
    pub fn insert(&mut self, id: String, addr: Addr<A>) {
        self.slots.insert(
            id,
            Slot {
                addr,
                outstanding: 0,
                last_used: Instant::now(),
            },
        );
    }

    /// How many children are live.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no child is live.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Notes that a message was sent to `id` and its answer is awaited.
    pub fn begin(&mut self, id: &str) {
        if let Some(slot) = self.slots.get_mut(id) {
            slot.outstanding += 1;
            slot.last_used = Instant::now();
        }
    }

    /// Notes that `id` answered; retires it at once when `retire_now` and nothing else is owed.
    pub fn finish(&mut self, id: &str, retire_now: bool) {
        let idle = match self.slots.get_mut(id) {
            Some(slot) => {
                slot.outstanding = slot.outstanding.saturating_sub(1);
                slot.last_used = Instant::now();
                slot.outstanding == 0
            }
            None => false,
        };
        if idle && retire_now {
            self.retire(id);
        }
    }

    /// Forgets `id` and tells it to stop.
    pub fn retire(&mut self, id: &str) {
        if let Some(slot) = self.slots.remove(id) {
            slot.addr.do_send(Retire);
        }
    }

    /// Retires every child with nothing owed that has been idle for `idle` or longer.
    pub fn retire_idle(&mut self, idle: Duration) -> usize {
        let now = Instant::now();
        let ids: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, s)| s.outstanding == 0 && now.duration_since(s.last_used) >= idle)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            self.retire(id);
        }
        ids.len()
    }

    /// Retires every child (shutdown).
    pub fn retire_all(&mut self) {
        let ids: Vec<String> = self.slots.keys().cloned().collect();
        for id in &ids {
            self.retire(id);
        }
    }
}

/// Event ids being applied right now, with the callers waiting on a duplicate delivery.
pub struct Inflight<T> {
    waiting: HashMap<String, Vec<oneshot::Sender<T>>>,
}

impl<T: Clone> Default for Inflight<T> {
    fn default() -> Self {
        Inflight {
            waiting: HashMap::new(),
        }
    }
}

impl<T: Clone> Inflight<T> {
    /// If `key` is in flight, queues `reply` to get the first delivery's answer and returns
    /// `None`; otherwise marks `key` in flight and hands `reply` back.
    pub fn join(&mut self, key: &str, reply: oneshot::Sender<T>) -> Option<oneshot::Sender<T>> {
        match self.waiting.get_mut(key) {
            Some(waiters) => {
                waiters.push(reply);
                None
            }
            None => {
                self.waiting.insert(key.to_owned(), Vec::new());
                Some(reply)
            }
        }
    }

    /// Ends `key` and answers every waiting duplicate with `answer`.
    pub fn finish(&mut self, key: &str, answer: T) {
        for waiter in self.waiting.remove(key).unwrap_or_default() {
            let _ = waiter.send(answer.clone());
        }
    }

    /// How many keys are in flight.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_wait_for_the_first_answer() {
        let mut inflight = Inflight::<u32>::default();
        let (a, _ra) = oneshot::channel();
        let (b, mut rb) = oneshot::channel();
        let (c, mut rc) = oneshot::channel();
        assert!(inflight.join("e1", a).is_some());
        assert!(inflight.join("e1", b).is_none());
        assert!(inflight.join("e1", c).is_none());
        inflight.finish("e1", 7);
        assert_eq!(rb.try_recv(), Ok(7));
        assert_eq!(rc.try_recv(), Ok(7));
        assert!(inflight.is_empty());
    }
}
