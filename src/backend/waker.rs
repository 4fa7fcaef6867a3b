//! The waker: blocks on the queue's wake-up key (its own connection) and wakes this process's
//! idle worker loops the moment work arrives; it wakes them every poll interval anyway, so a
//! pause or resume is noticed.

use std::sync::Arc;

use super::backoff::Backoff;
use super::runtime::Inner;
use crate::rdb::Rdb;

pub(crate) async fn run(inner: Arc<Inner>, blocking: Option<Rdb>) {
    let mut stop = inner.stopping();
    let mut streak = inner.streak("waiting for work");
    let mut backoff = Backoff::new();
    let poll = inner.opts.poll_interval;
    loop {
        let wait = async {
            match &blocking {
                Some(rdb) => rdb.wait_for_wake(poll).await.map(|_| ()),
                None => {
                    tokio::time::sleep(poll).await;
                    Ok(())
                }
            }
        };
        let result = tokio::select! {
            _ = stop.changed() => return,
            r = wait => r,
        };
        match result {
            Ok(()) => {
                streak.ok();
                backoff.reset();
                inner.wake.notify_waiters();
            }
            Err(e) => {
                let pause = backoff.next();
                streak.fail(&e, pause);
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}
