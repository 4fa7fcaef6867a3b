//! What a process's health and readiness are judged from: when each background loop last went
//! round, whether the claim loop has claimed since it started, and whether the process is
//! stopping. A loop that fails against Redis still goes round (it backs off and tries again):
//! a Redis outage makes a process unready, never unhealthy, so an orchestrator does not
//! restart a fleet that only waits for Redis.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The loops whose pulse is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loop {
    /// Claims jobs (each worker loop's backend).
    Claim,
    /// Records outcomes.
    Acker,
    /// Extends leases and stamps the process alive.
    LeaseKeeper,
    /// Takes back expired leases.
    Reaper,
    /// Moves due jobs to ready.
    Scheduler,
}

impl Loop {
    /// Every watched loop.
    pub const ALL: [Loop; 5] = [
        Loop::Claim,
        Loop::Acker,
        Loop::LeaseKeeper,
        Loop::Reaper,
        Loop::Scheduler,
    ];

    /// The loop's name in `/healthz` answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Loop::Claim => "claim",
            Loop::Acker => "acker",
            Loop::LeaseKeeper => "lease_keeper",
            Loop::Reaper => "reaper",
            Loop::Scheduler => "scheduler",
        }
    }
}

/// The pulses of one process's loops.
#[derive(Debug)]
pub(crate) struct Liveness {
    origin: Instant,
    /// Milliseconds after `origin` of each loop's last round, plus one (0 = not yet).
    beats: [AtomicU64; 5],
    /// A claim call has answered since the process started.
    claimed: AtomicBool,
    /// A graceful shutdown has begun.
    stopping: AtomicBool,
}

impl Liveness {
    pub(crate) fn new() -> Self {
        Self {
            origin: Instant::now(),
            beats: Default::default(),
            claimed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64 + 1
    }

    /// `what` went round (whether or not Redis answered).
    pub(crate) fn beat(&self, what: Loop) {
        self.beats[what as usize].store(self.now(), Ordering::Relaxed);
    }

    /// A claim call answered (jobs, none, paused or throttled).
    pub(crate) fn claimed(&self) {
        self.claimed.store(true, Ordering::Relaxed);
        self.beat(Loop::Claim);
    }

    pub(crate) fn has_claimed(&self) -> bool {
        self.claimed.load(Ordering::Relaxed)
    }

    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// How long ago each loop went round (`None`: not yet since the process started).
    pub(crate) fn ages(&self) -> [(Loop, Option<Duration>); 5] {
        let now = self.now();
        Loop::ALL.map(|l| {
            let at = self.beats[l as usize].load(Ordering::Relaxed);
            (
                l,
                (at > 0).then(|| Duration::from_millis(now.saturating_sub(at))),
            )
        })
    }
}

/// The first loop that has not gone round within its allowance (three of its intervals, and
/// never less than `floor`, so a slow Redis round trip is not a stall); `busy` excuses the
/// claim loop, which is not asked for work while every slot is taken. A loop that has not gone
/// round yet is judged from the process's start (`up`).
pub(crate) fn stalled(
    ages: &[(Loop, Option<Duration>)],
    interval: impl Fn(Loop) -> Duration,
    floor: Duration,
    up: Duration,
    busy: bool,
) -> Option<(Loop, Duration, Duration)> {
    ages.iter().find_map(|&(l, age)| {
        let age = age.unwrap_or(up);
        let allowed = (interval(l) * 3).max(floor);
        (age > allowed && !(l == Loop::Claim && busy)).then_some((l, age, allowed))
    })
}

/// No loop counts as stalled sooner: a Redis call gives up after its response timeout (5 s by
/// default), and a loop waiting on one or two of them is slow, not stuck.
const STALL_FLOOR: Duration = Duration::from_secs(15);

/// How long `/readyz` waits for Redis before it answers "unreachable".
const READY_TIMEOUT: Duration = Duration::from_secs(1);

impl super::Runtime {
    /// `/healthz`: `Ok`, or which loop has stopped going round, in one line. A loop that keeps
    /// failing against Redis still goes round: an outage is for [`Runtime::readiness`].
    ///
    /// [`Runtime::readiness`]: super::Runtime::readiness
    pub fn health(&self) -> Result<(), String> {
        let inner = &self.inner;
        let o = &inner.opts;
        let interval = |l: Loop| match l {
            Loop::Claim | Loop::Acker | Loop::Scheduler => o.poll_interval,
            Loop::LeaseKeeper => o.lease / 3,
            Loop::Reaper => o.reap_interval,
        };
        let floor = STALL_FLOOR;
        let loops = inner.loops.load(Ordering::Relaxed).max(1);
        let busy = inner.leases.len() >= o.concurrency * loops;
        let up = inner.liveness.origin.elapsed();
        match stalled(&inner.liveness.ages(), interval, floor, up, busy) {
            None => Ok(()),
            Some((l, age, allowed)) => Err(format!(
                "the {} loop has not gone round for {} (allowed {})",
                l.as_str(),
                humantime::format_duration(Duration::from_millis(age.as_millis() as u64)),
                humantime::format_duration(allowed)
            )),
        }
    }

    /// `/readyz`: `Ok` once this process has claimed (reached Redis, passed its startup checks
    /// and asked for work), while Redis answers and the queue is neither paused nor held by
    /// its account's budget; the reason otherwise, in one line. From the start of a graceful
    /// shutdown ([`Runtime::begin_shutdown`]) it is never ready again.
    ///
    /// [`Runtime::begin_shutdown`]: super::Runtime::begin_shutdown
    pub async fn readiness(&self) -> Result<(), String> {
        let inner = &self.inner;
        if inner.liveness.is_stopping() {
            return Err("shutting down".into());
        }
        if !inner.liveness.has_claimed() {
            return Err("starting: no claim has been answered yet".into());
        }
        let queue = &inner.queue;
        let check = async {
            let paused = queue.rdb.pause_reason().await?;
            let held = match queue.account() {
                Some(a) => a.usage().await?.held,
                None => None,
            };
            Ok::<_, crate::error::QueueError>((paused, held))
        };
        match tokio::time::timeout(READY_TIMEOUT, check).await {
            Err(_) => Err(format!(
                "Redis unreachable: no answer within {}",
                humantime::format_duration(READY_TIMEOUT)
            )),
            Ok(Err(e)) => Err(format!("Redis unreachable: {e}")),
            Ok(Ok((Some(reason), _))) => Err(format!("paused: {reason}")),
            Ok(Ok((None, Some(reason)))) => Err(format!("held: {reason}")),
            Ok(Ok((None, None))) => Ok(()),
        }
    }

    /// Marks the start of a graceful shutdown: `/readyz` answers 503 from now on. Call it when
    /// the stop signal arrives (before the `Monitor` stops); [`Runtime::shutdown`] calls it too.
    ///
    /// [`Runtime::shutdown`]: super::Runtime::shutdown
    pub fn begin_shutdown(&self) {
        self.inner.liveness.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(_: Loop) -> Duration {
        Duration::from_secs(1)
    }

    #[test]
    fn a_loop_that_stops_going_round_is_named() {
        let floor = Duration::from_secs(5);
        let up = Duration::from_secs(60);
        let s = |d: u64| Some(Duration::from_secs(d));
        let fine = [
            (Loop::Claim, s(1)),
            (Loop::Acker, s(0)),
            (Loop::LeaseKeeper, s(4)),
            (Loop::Reaper, s(1)),
            (Loop::Scheduler, s(1)),
        ];
        assert_eq!(stalled(&fine, every, floor, up, false), None);
        let mut stuck = fine;
        stuck[3].1 = s(9);
        assert_eq!(
            stalled(&stuck, every, floor, up, false).map(|x| x.0),
            Some(Loop::Reaper)
        );
        // A claim loop with every slot taken is not asked for work: not a stall.
        let mut busy = fine;
        busy[0].1 = s(30);
        assert_eq!(stalled(&busy, every, floor, up, true), None);
        assert_eq!(
            stalled(&busy, every, floor, up, false).map(|x| x.0),
            Some(Loop::Claim)
        );
        // Not yet gone round: judged from the start.
        let mut fresh = fine;
        fresh[1].1 = None;
        assert_eq!(
            stalled(&fresh, every, floor, Duration::from_secs(2), false),
            None
        );
        assert_eq!(
            stalled(&fresh, every, floor, up, false).map(|x| x.0),
            Some(Loop::Acker)
        );
    }
}
