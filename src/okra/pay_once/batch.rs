//! Group commit for the pay-once unit's round trips (begins and settles share one, budget slots
//! have their own): a job's ask is sent at once when no call is in flight; asks that come
//! while one is wait for it and go together in the next call (while the batcher is busy, a
//! small batch also waits up to 2 ms for company).
//! A busy worker then makes one Redis call per batch instead of one per job
//! (the fixed cost of a call is most of what the reuse check cost Redis), and an idle one adds
//! no wait. One call in flight per batcher; a failed call fails every ask in it (each job
//! then retries as it would have alone).

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

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
    tx: OnceLock<mpsc::UnboundedSender<Waiter<C>>>,
}

impl<C: Call> Batcher<C> {
    pub fn new(account: Arc<Account>) -> Self {
        Self {
            account,
            tx: OnceLock::new(),
        }
    }

    /// Sends `ask` with whatever else is waiting, and returns its reply.
    pub async fn ask(&self, ask: C::Ask) -> Result<C::Reply> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run::<C>(self.account.clone(), rx));
            tx
        });
        let (reply, wait) = oneshot::channel();
        tx.send((ask, reply))
            .map_err(|_| QueueError::Protocol("the pay-once batcher has stopped".into()))?;
        wait.await
            .map_err(|_| QueueError::Protocol("the pay-once batcher has stopped".into()))?
    }
}

async fn run<C: Call>(account: Arc<Account>, mut rx: mpsc::UnboundedReceiver<Waiter<C>>) {
    let mut asks = Vec::with_capacity(MAX);
    let mut waiters = Vec::with_capacity(MAX);
    let mut last: Option<tokio::time::Instant> = None;
    while let Some((ask, waiter)) = rx.recv().await {
        let now = tokio::time::Instant::now();
        let busy = last.is_some_and(|t| now.duration_since(t) < BUSY_WITHIN);
        asks.push(ask);
        waiters.push(waiter);
        while asks.len() < MAX {
            let next = match rx.try_recv() {
                Ok(next) => Some(next),
                Err(_) if busy => tokio::time::timeout_at(now + LINGER, rx.recv())
                    .await
                    .ok()
                    .flatten(),
                Err(_) => None,
            };
            let Some((ask, waiter)) = next else {
                break;
            };
            asks.push(ask);
            waiters.push(waiter);
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
