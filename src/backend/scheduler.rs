//! The scheduler: moves due jobs (delayed jobs and retries) to ready when they are due, not at
//! the next poll. It sleeps until the earliest due time Redis reports, or until the waker says a
//! job was scheduled sooner than everything else, whichever comes first.

use std::sync::Arc;
use std::time::Duration;

use super::outage::Backoff;
use super::process::WorkerProcess;

pub(crate) async fn run(inner: Arc<WorkerProcess>) {
    let mut stop = inner.stopping();
    let mut outage = inner.outage_log("scheduling due jobs");
    let mut backoff = Backoff::new();
    let poll = inner.opts.poll_interval;
    loop {
        inner.liveness.beat(super::liveness::Loop::Scheduler);
        // Listen before asking, so a wake-up between the script and the wait is not lost.
        let woken = inner.resched.clone().notified_owned();
        let mut woken = std::pin::pin!(woken);
        woken.as_mut().enable();
        let pause = match inner.queue.rdb.forward().await {
            Ok(next) => {
                outage.ok();
                backoff.reset();
                match next {
                    Some(d) if d.is_zero() => continue,
                    // Wake a millisecond late rather than early: due means score <= now.
                    Some(d) => (d + Duration::from_millis(1)).min(poll),
                    None => poll,
                }
            }
            Err(e) => {
                let pause = backoff.next();
                outage.fail(&e, pause);
                pause
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(pause) => {}
            _ = woken => {}
        }
    }
}
