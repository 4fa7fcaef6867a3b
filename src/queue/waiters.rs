//! Wake-ups for [`crate::Queue::wait`]: the jobs being waited on, each with its waiters. One
//! shared event reader per queue handle (in `events.rs`) wakes them; the handle only holds the
//! cell, so the queue needs nothing from the event machinery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OnceCell, oneshot};

/// Handles' shared state for `wait`: one reader, many waiters.
pub(crate) type WaitersCell = Arc<OnceCell<Arc<Waiters>>>;

/// Jobs being waited on, each with its waiters' wake-up senders.
#[derive(Default)]
pub(crate) struct Waiters {
    map: Mutex<HashMap<String, HashMap<u64, oneshot::Sender<()>>>>,
    next: std::sync::atomic::AtomicU64,
}

/// One waiter's subscription; dropping it unsubscribes.
pub(crate) struct Ticket<'a> {
    waiters: &'a Waiters,
    id: String,
    n: u64,
    pub(crate) rx: oneshot::Receiver<()>,
}

impl std::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.map.lock().map_or(0, |m| m.len());
        write!(f, "Waiters({n} jobs)")
    }
}

impl Waiters {
    pub(crate) fn subscribe(&self, id: &str) -> Ticket<'_> {
        let (tx, rx) = oneshot::channel();
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.map
            .lock()
            .expect("waiters lock")
            .entry(id.to_string())
            .or_default()
            .insert(n, tx);
        Ticket {
            waiters: self,
            id: id.to_string(),
            n,
            rx,
        }
    }

    /// Wakes the waiters of `id`, or of every job (`None`, after a failed read).
    pub(crate) fn wake(&self, id: Option<&str>) {
        let mut map = self.map.lock().expect("waiters lock");
        let woken: Vec<_> = match id {
            Some(id) => map.remove(id).into_iter().collect(),
            None => map.drain().map(|(_, w)| w).collect(),
        };
        drop(map);
        for tx in woken.into_iter().flat_map(|w| w.into_values()) {
            let _ = tx.send(());
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.map.lock().expect("waiters lock");
        if let Some(w) = map.get_mut(&self.id) {
            w.remove(&self.n);
            if w.is_empty() {
                map.remove(&self.id);
            }
        }
    }
}
