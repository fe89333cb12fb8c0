//! [`FailOnPanic`]: a writer thread that dies takes the store down with it, loudly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::Durability;

/// Marks the writer failed when the thread holding it panics, so that callers and readers
/// waiting on `settled` get an error instead of waiting forever.
pub(crate) struct FailOnPanic {
    running: Arc<AtomicBool>,
    durability: Arc<Durability>,
}

impl FailOnPanic {
    pub(crate) fn new(running: &Arc<AtomicBool>, durability: &Arc<Durability>) -> Self {
        FailOnPanic {
            running: running.clone(),
            durability: durability.clone(),
        }
    }
}

impl Drop for FailOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            log::error!("the group-commit writer stopped on a panic; refusing writes");
            self.running.store(false, Ordering::SeqCst);
            self.durability.failed();
        }
    }
}

/// Starts a writer thread named `name` that runs `work` holding `guard`.
pub(crate) fn spawn_guarded(
    name: &str,
    guard: FailOnPanic,
    work: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _guard = guard;
            work();
        })
}

#[cfg(test)]
mod tests {
    use super::super::durability::tests::block_on;
    use super::*;
    use crate::StoreError;

    #[test]
    fn a_writer_thread_that_panics_fails_the_store_instead_of_leaving_readers_waiting() {
        let running = Arc::new(AtomicBool::new(true));
        let durability = Arc::new(Durability::default());
        durability.begin(1);
        let guard = FailOnPanic::new(&running, &durability);
        let thread = std::thread::spawn(move || {
            let _guard = guard;
            panic!("a bug in the writer");
        });
        assert!(thread.join().is_err());
        assert!(!running.load(Ordering::SeqCst));
        assert!(matches!(
            block_on(durability.settled()),
            Err(StoreError::Closed)
        ));

        // A thread that ends normally leaves the store as it was.
        let durability = Arc::new(Durability::default());
        let guard = FailOnPanic::new(&running, &durability);
        std::thread::spawn(move || drop(guard))
            .join()
            .expect("join");
        block_on(durability.settled()).expect("nothing failed");
    }
}
