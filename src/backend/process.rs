//! One worker process's shared state ([`WorkerProcess`]), what every loop does with it, and
//! the timer every periodic loop runs on ([`every`]). It sits below the loops (acker, lease
//! keeper, reaper, waker, scheduler, janitor, heartbeat) and [`super::runtime`], which starts
//! them: each loop imports this file, and nothing here imports a loop.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::context::Attached;
use super::lease::HeldLeases;
use super::liveness::{Liveness, Loop};
use super::options::WorkerOptions;
use super::outage::{Backoff, Health, OutageLog};
use crate::error::Result;
use crate::job::{JobMeta, Lease, host_name, now_ms};
use crate::policy::Outcome;
use crate::policy::record::{self, Attempt, Writer};
use crate::queue::Queue;
use crate::rdb::{MAX_BATCH, OutcomeEntry, Transition};
use crate::telemetry::decision::{self, Decided, Under};

/// What the acker is sent: an outcome to write (once what its handler left to finish has,
/// [`crate::JobContext::record_after`]), or a request to report once all before it are.
pub(crate) enum AckMsg {
    Outcome(Box<OutcomeEntry>, Vec<BoxFuture<'static, ()>>),
    Flush(oneshot::Sender<()>),
}

pub(crate) struct WorkerProcess {
    pub(crate) queue: Queue,
    pub(crate) opts: WorkerOptions,
    pub(crate) node: String,
    pub(crate) wake: Arc<Notify>,
    /// Re-arms the scheduler's timer (a job was scheduled sooner than all others).
    pub(crate) resched: Arc<Notify>,
    pub(crate) loops: AtomicUsize,
    pub(crate) leases: HeldLeases,
    pub(crate) health: Arc<Health>,
    /// When each loop last went round, for `/healthz` and `/readyz`.
    pub(crate) liveness: Liveness,
    pub(crate) started_at: u64,
    pub(crate) acker: mpsc::Sender<AckMsg>,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) acker_task: Mutex<Option<JoinHandle<()>>>,
}

impl WorkerProcess {
    /// A new process's shared state, and the receiving end of its acker's channel.
    pub(crate) fn new(queue: Queue, opts: WorkerOptions) -> (Arc<Self>, mpsc::Receiver<AckMsg>) {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let (stop, _) = watch::channel(false);
        let inner = Arc::new(WorkerProcess {
            queue,
            opts,
            node: node_id(),
            wake: Arc::new(Notify::new()),
            resched: Arc::new(Notify::new()),
            loops: AtomicUsize::new(0),
            leases: HeldLeases::default(),
            health: Arc::new(Health::new()),
            liveness: Liveness::new(),
            started_at: now_ms(),
            acker: tx,
            stop,
            tasks: Mutex::new(Vec::new()),
            acker_task: Mutex::new(None),
        });
        (inner, rx)
    }

    /// Records an ended attempt through the policy's one entrance ([`record::attempt`]);
    /// the acker writes it once what the handler left to finish has. `meta` is `None` for a
    /// record that does not decode; the decision's span goes under the handler's span, if it
    /// gave one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record(
        &self,
        lease: Lease,
        meta: Option<&JobMeta>,
        attempt: u32,
        now: u64,
        ran: Option<Duration>,
        outcome: Outcome,
        attached: Attached,
    ) {
        let Attached {
            span: attempt_span,
            after,
        } = attached;
        let policy = &self.queue.cfg.retry;
        let a = Attempt::of(
            lease,
            meta,
            attempt,
            policy,
            now,
            ran,
            &self.node,
            Writer::Worker,
            (self.queue.name(), self.queue.sealer()),
        )
        .indexing(self.queue.cfg.index_key.as_ref());
        let entry = record::attempt(policy, a, outcome);
        let under = Under {
            attempt_span: attempt_span.as_ref(),
            stored: meta.and_then(|m| m.trace.as_ref()),
        };
        // Entered while it is made, so the attempt's span ends after its decision's.
        {
            let _entered = attempt_span.as_ref().map(tracing::Span::enter);
            drop(self.trace_decision(&entry, now, under));
        }
        self.send(entry, after).await;
    }

    /// The span of the decision `entry` carries (a retry scheduled, a dead letter); none for a
    /// completion or a release. See [`crate::telemetry::decision`].
    pub(crate) fn trace_decision(
        &self,
        entry: &OutcomeEntry,
        now: u64,
        under: Under<'_>,
    ) -> tracing::Span {
        let class = entry.class();
        let decided = match entry.transition {
            Transition::Retry => Decided::Retry {
                class,
                delay_ms: entry.delay_ms,
                next_run_ms: now.saturating_add(entry.delay_ms),
                refunded: entry.refund,
            },
            Transition::Dead => Decided::Dead {
                class,
                reason: entry.reason.as_deref().unwrap_or(""),
            },
            Transition::Complete | Transition::Release => return tracing::Span::none(),
        };
        let attempt = entry.history.attempt;
        decision::span(self.queue.name(), &entry.lease.id, attempt, decided, under)
    }

    /// Gives claimed, unstarted jobs back.
    pub(crate) async fn release(&self, leases: Vec<Lease>) {
        for lease in leases {
            let entry = record::release(lease, &self.node);
            self.send(entry, Vec::new()).await;
        }
    }

    /// Gives rate-limit slots back to the account (best effort: a slot not given back only
    /// ages out of the window).
    pub(crate) async fn give_back(&self, slots: &[String]) {
        if let Err(e) = self.queue.give_back(slots).await {
            debug!(error = %e, count = slots.len(), "could not give rate-limit slots back");
        }
    }

    /// Waits until every outcome sent so far is recorded (or given up on).
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.acker.send(AckMsg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    async fn send(&self, entry: OutcomeEntry, after: Vec<BoxFuture<'static, ()>>) {
        self.leases.finishing(&entry.lease);
        if self
            .acker
            .send(AckMsg::Outcome(Box::new(entry), after))
            .await
            .is_err()
        {
            warn!(
                "outcome dropped: the worker runtime is shut down (the job runs again after its lease expires)"
            );
        }
    }

    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub(crate) fn outage_log(&self, what: &'static str) -> OutageLog {
        OutageLog::new(what, self.health.clone())
    }
}

/// Runs `step` every `every` until the runtime stops; a failed step is retried after a short
/// backoff instead of a whole interval. Every periodic loop of the runtime is one of these.
pub(crate) async fn every<F, Fut>(
    inner: Arc<WorkerProcess>,
    what: &'static str,
    pulse: Option<Loop>,
    every: Duration,
    step: F,
) where
    F: Fn(Arc<WorkerProcess>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut stop = inner.stopping();
    let mut outage = inner.outage_log(what);
    let mut backoff = Backoff::new();
    loop {
        let result = step(inner.clone()).await;
        if let Some(l) = pulse {
            inner.liveness.beat(l);
        }
        let pause = match result {
            Ok(()) => {
                outage.ok();
                backoff.reset();
                every
            }
            Err(e) => {
                let pause = backoff.next().min(every);
                outage.fail(&e, pause);
                pause
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

fn node_id() -> String {
    let suffix = ulid::Ulid::new().to_string();
    format!(
        "{}:{}:{}",
        host_name(),
        std::process::id(),
        &suffix[suffix.len() - 6..]
    )
}
