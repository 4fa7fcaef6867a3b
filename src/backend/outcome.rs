//! The backend's middleware: sees each result before apalis turns it into a string, so the
//! retry policy gets the whole error chain (class, Retry-After, upstream details).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use apalis_core::error::BoxDynError;
use apalis_core::task::Task;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Serialize;
use tower::{Layer, Service};

use super::context::JobContext;
use super::process::WorkerProcess;
use crate::job::Failure;
use crate::policy::{Outcome, classify};

/// Records every attempt's outcome (see the module docs).
#[derive(Clone)]
pub struct OutcomeLayer {
    inner: Arc<WorkerProcess>,
    held: Arc<AtomicUsize>,
}

impl OutcomeLayer {
    pub(crate) fn new(inner: Arc<WorkerProcess>, held: Arc<AtomicUsize>) -> Self {
        Self { inner, held }
    }
}

impl std::fmt::Debug for OutcomeLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for OutcomeLayer {
    type Service = OutcomeService<S>;

    fn layer(&self, service: S) -> Self::Service {
        OutcomeService {
            service,
            inner: self.inner.clone(),
            held: self.held.clone(),
        }
    }
}

/// Service of [`OutcomeLayer`].
#[derive(Clone)]
pub struct OutcomeService<S> {
    service: S,
    inner: Arc<WorkerProcess>,
    held: Arc<AtomicUsize>,
}

impl<S> std::fmt::Debug for OutcomeService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeService").finish_non_exhaustive()
    }
}

impl<S, Args> Service<Task<Args>> for OutcomeService<S>
where
    S: Service<Task<Args>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxDynError>,
    S::Response: Serialize + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<S::Response, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let ctx = task.ctx().data().get::<JobContext>().cloned();
        let started = Instant::now();
        let fut = self.service.call(task);
        let inner = self.inner.clone();
        let held = self.held.clone();
        async move {
            // A panicking handler is a failed attempt, not a dead worker loop.
            let fut = fut.map(|r| r.map_err(Into::<BoxDynError>::into));
            let result = AssertUnwindSafe(fut).catch_unwind().await;
            let (ret, outcome) = match result {
                Ok(Ok(response)) => match serde_json::to_string(&response) {
                    Ok(v) => (Ok(response), Outcome::Success(v)),
                    Err(e) => {
                        let msg = format!("handler result does not serialize: {e}");
                        (Err(msg.clone().into()), retry("result_encoding", msg))
                    }
                },
                Ok(Err(e)) => {
                    let outcome = classify(e.as_ref());
                    (Err(e), outcome)
                }
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "handler panicked".into());
                    (
                        Err(format!("handler panicked: {msg}").into()),
                        retry("panic", msg),
                    )
                }
            };
            if let Some(ctx) = ctx {
                let now = ctx.redis_now_ms();
                // The span is held until the decision's span is made under it; what the
                // handler left to finish goes to the acker with the outcome.
                let attached = ctx.take_attached();
                inner
                    .record(
                        ctx.lease.clone(),
                        Some(&ctx.meta),
                        ctx.attempt,
                        now,
                        Some(started.elapsed()),
                        outcome,
                        attached,
                    )
                    .await;
                held.fetch_sub(1, Ordering::Relaxed);
            }
            ret
        }
        .boxed()
    }
}

fn retry(class: &str, message: String) -> Outcome {
    Outcome::Retry {
        failure: Failure {
            class: class.into(),
            message,
            ..Failure::default()
        },
        delay: None,
        spend_attempt: true,
    }
}
