//! Group commit for the pay-once unit's round trips (begins and settles share one, budget slots
//! have their own): a job's ask is sent at once when no call is in flight; asks that come
//! while one is wait for it and go together in the next call (while the batcher is busy, a
//! small batch also waits up to 2 ms for company).
//! A busy worker then makes one Redis call per batch instead of one per job
//! (the fixed cost of a call is most of what the reuse check cost Redis), and an idle one adds
//! no wait. One call in flight per batcher; a failed call fails every ask in it (each job
//! then retries as it would have alone).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use crate::error::{QueueError, Result};
use crate::rdb::Account;

/// Most asks one call carries (each a few keys: the script's work stays small).
pub const MAX: usize = 64;

/// How long a busy batcher's small batch waits for company before it goes (as the acker's
/// `worker.ack_linger` does): a paid call takes hundreds of ms, so 2 ms is nothing to a job,
/// and fuller round trips are less work for the worker and Redis (measured: about 5 % less
/// worker CPU per job with reuse on, docs/costs.md).
const LINGER: Duration = Duration::from_millis(2);

/// Busy: the last round trip went out within this long. An ask that finds the batcher idle
/// goes at once, so a quiet worker adds no wait.
const BUSY_WITHIN: Duration = Duration::from_millis(20);

/// One batcher's round trip over a batch, in order: one reply per ask.
pub trait Call: Send + Sync + 'static {
    type Ask: Send + 'static;
    type Reply: Send + 'static;
    fn call(
        account: &Account,
        asks: &[Self::Ask],
    ) -> impl Future<Output = Result<Vec<Self::Reply>>> + Send;
}

type Waiter<C> = (
    <C as Call>::Ask,
    oneshot::Sender<Result<<C as Call>::Reply>>,
);

/// One kind of round trip's batcher: its task starts with the first ask (on the runtime that
/// makes it) and ends when the batcher is dropped.
pub struct Batcher<C: Call> {
    account: Arc<Account>,
    queue: Arc<Queue<C>>,
    started: OnceLock<()>,
}

/// The asks waiting for the next round trip. A list under a lock and a wake-up, not a channel:
/// an ask costs a push, and a batcher lingering for company sleeps once instead of waking for
/// every ask that comes (measured with valgrind: fewer instructions per job, docs/costs.md).
struct Queue<C: Call> {
    waiting: Mutex<Vec<Waiter<C>>>,
    wake: Notify,
    closed: AtomicBool,
}

impl<C: Call> Queue<C> {
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waiter<C>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<C: Call> Batcher<C> {
    pub fn new(account: Arc<Account>) -> Self {
        Self {
            account,
            queue: Arc::new(Queue {
                waiting: Mutex::new(Vec::new()),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
            }),
            started: OnceLock::new(),
        }
    }

    /// Sends `ask` with whatever else is waiting, and returns its reply.
    pub async fn ask(&self, ask: C::Ask) -> Result<C::Reply> {
        self.send(ask)?.await
    }

    /// Sends `ask` at once (it goes with the next round trip whether or not the reply is
    /// awaited); the returned future is its reply.
    pub fn send(
        &self,
        ask: C::Ask,
    ) -> Result<impl Future<Output = Result<C::Reply>> + Send + use<C>> {
        self.started.get_or_init(|| {
            tokio::spawn(run::<C>(self.account.clone(), self.queue.clone()));
        });
        let (reply, wait) = oneshot::channel();
        let waiting = {
            let mut w = self.queue.lock();
            w.push((ask, reply));
            w.len()
        };
        // The batcher wakes for the first ask (it may be idle) and for a full batch; the
        // others find it busy, or lingering until its time is up.
        if waiting == 1 || waiting == MAX {
            self.queue.wake.notify_one();
        }
        Ok(async move { wait.await.map_err(|_| stopped())? })
    }
}

impl<C: Call> Drop for Batcher<C> {
    /// Its task ends once the asks already sent have gone.
    fn drop(&mut self) {
        self.queue.closed.store(true, Ordering::Release);
        self.queue.wake.notify_one();
    }
}

fn stopped() -> QueueError {
    QueueError::Protocol("the pay-once batcher has stopped".into())
}

async fn run<C: Call>(account: Arc<Account>, queue: Arc<Queue<C>>) {
    let mut asks = Vec::with_capacity(MAX);
    let mut waiters = Vec::with_capacity(MAX);
    let mut last: Option<tokio::time::Instant> = None;
    loop {
        if queue.len() == 0 {
            if queue.closed.load(Ordering::Acquire) {
                return;
            }
            queue.wake.notified().await;
            continue;
        }
        let now = tokio::time::Instant::now();
        // While round trips go out back to back, a small batch waits a moment for company
        // (and wakes only when that time is up, or the batch is full).
        if last.is_some_and(|t| now.duration_since(t) < BUSY_WITHIN) {
            let until = now + LINGER;
            while queue.len() < MAX {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    _ = queue.wake.notified() => {}
                }
            }
        }
        {
            let mut waiting = queue.lock();
            let take = waiting.len().min(MAX);
            for (ask, waiter) in waiting.drain(..take) {
                asks.push(ask);
                waiters.push(waiter);
            }
        }
        last = Some(tokio::time::Instant::now());
        match C::call(&account, &asks).await {
            Ok(replies) if replies.len() == waiters.len() => {
                for (waiter, reply) in waiters.drain(..).zip(replies) {
                    let _ = waiter.send(Ok(reply));
                }
            }
            Ok(replies) => {
                let why = format!("{} replies for {} asks", replies.len(), waiters.len());
                for waiter in waiters.drain(..) {
                    let _ = waiter.send(Err(QueueError::Protocol(why.clone())));
                }
            }
            Err(e) => {
                for waiter in waiters.drain(..) {
                    let _ = waiter.send(Err(share(&e)));
                }
            }
        }
        asks.clear();
    }
}

/// The same error for each ask of a failed call.
fn share(e: &QueueError) -> QueueError {
    match e {
        QueueError::Redis(r) => QueueError::Redis(r.clone()),
        other => QueueError::Protocol(other.to_string()),
    }
}
