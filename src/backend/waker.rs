//! The waker: blocks on the queue's wake-up keys (its own connection). New ready work wakes this
//! process's idle worker loops at once; a job scheduled sooner than all others re-arms the
//! scheduler's timer. It wakes the loops every poll interval anyway, so a pause or resume is
//! noticed.

use std::sync::Arc;

use super::outage::Backoff;
use super::process::WorkerProcess;
use crate::rdb::{Rdb, Wake};

pub(crate) async fn run(inner: Arc<WorkerProcess>, blocking: Option<Rdb>) {
    let mut stop = inner.stopping();
    let mut outage = inner.outage_log("waiting for work");
    let mut backoff = Backoff::new();
    let poll = inner.opts.poll_interval;
    loop {
        let wait = async {
            match &blocking {
                Some(rdb) => rdb.wait_for_wake(poll).await,
                None => {
                    tokio::time::sleep(poll).await;
                    Ok(None)
                }
            }
        };
        let result = tokio::select! {
            _ = stop.changed() => return,
            r = wait => r,
        };
        match result {
            Ok(woken) => {
                outage.ok();
                backoff.reset();
                match woken {
                    Some(Wake::Schedule) => inner.resched.notify_waiters(),
                    Some(Wake::Work) | None => inner.wake.notify_waiters(),
                }
            }
            Err(e) => {
                let pause = backoff.next();
                outage.fail(&e, pause);
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}
