//! Which provider a job's attempt goes to: the first of `[provider] order` that sells the
//! kind and is not known to be down. A provider that answers "try later" with certainty (its
//! own code, or a refused connection) `failover_after` times in a row is skipped for
//! `probe_after`; then one attempt probes it (half-open), and its first answer brings it back
//! for everyone. An attempt whose charge is uncertain never changes provider: it goes back to
//! the one that may have been paid (the handler asks [`Route::named`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Caller, certainly_unavailable};
use crate::okra::client::{OkraError, Reply};

/// The providers of the order, each with its health as this process has seen it.
#[derive(Debug)]
pub struct Route {
    callers: Vec<Caller>,
    health: Vec<Mutex<Health>>,
    failover_after: u32,
    probe_after: Duration,
}

#[derive(Debug, Default)]
struct Health {
    /// Certain "try later" answers in a row.
    down: u32,
    /// Skipped until then; a probe admitted at that time pushes it on by `probe_after`, so
    /// one attempt per period probes it, whether or not its answer ever comes.
    open_until: Option<Instant>,
}

/// The provider picked for one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Picked<'a> {
    /// Its caller.
    pub caller: &'a Caller,
    index: usize,
}

impl Route {
    /// A route over `callers` (primary first).
    pub fn new(callers: Vec<Caller>, failover_after: u32, probe_after: Duration) -> Self {
        let health = callers.iter().map(|_| Mutex::default()).collect();
        Self {
            callers,
            health,
            failover_after: failover_after.max(1),
            probe_after,
        }
    }

    /// The providers, in order.
    pub fn callers(&self) -> &[Caller] {
        &self.callers
    }

    /// The primary.
    pub fn primary(&self) -> Option<&Caller> {
        self.callers.first()
    }

    /// The provider named `name`, if it is in the order.
    pub fn named(&self, name: &str) -> Option<Picked<'_>> {
        let index = self.callers.iter().position(|c| c.name() == name)?;
        Some(Picked {
            caller: &self.callers[index],
            index,
        })
    }

    /// Where a new attempt for `kind` goes: the first provider that sells it and is up (or
    /// whose probe this attempt is), skipping `avoid` (the one that just said "try later" to
    /// this job) while another sells the kind. When every one is down, the first that sells
    /// it (its answer tells whether it is back). `None`: no provider of the order sells it.
    pub fn pick(&self, kind: &str, avoid: Option<&str>) -> Option<Picked<'_>> {
        let sellers: Vec<usize> = (0..self.callers.len())
            .filter(|&i| self.callers[i].provider().spec().sells(kind))
            .collect();
        let others = sellers.len() > 1;
        let candidates = sellers
            .iter()
            .copied()
            .filter(|&i| !(others && Some(self.callers[i].name()) == avoid));
        let now = Instant::now();
        let chosen = candidates
            .clone()
            .find(|&i| self.admit(i, now))
            .or_else(|| candidates.clone().next())
            .or_else(|| sellers.first().copied())?;
        Some(Picked {
            caller: &self.callers[chosen],
            index: chosen,
        })
    }

    /// Whether provider `i` takes an attempt now: up, or due for its probe (taken by this
    /// attempt).
    fn admit(&self, i: usize, now: Instant) -> bool {
        let mut h = self.health[i].lock().unwrap_or_else(|e| e.into_inner());
        match h.open_until {
            None => true,
            Some(until) if now >= until => {
                h.open_until = Some(now + self.probe_after);
                true
            }
            Some(_) => false,
        }
    }

    /// What the provider's answer says of its health: a certain "try later" counts towards
    /// skipping it; any answer (even an error about the job) brings it back; an uncertain
    /// failure says nothing.
    pub fn report(&self, picked: Picked<'_>, result: &Result<Reply, OkraError>) {
        let mut h = self.health[picked.index]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if certainly_unavailable(result) {
            h.down += 1;
            if h.down >= self.failover_after {
                if h.open_until.is_none() {
                    tracing::warn!(
                        provider = picked.caller.name(),
                        probe_after = %humantime::format_duration(self.probe_after),
                        "provider unavailable: attempts go to the next provider of the order until a probe finds it back"
                    );
                }
                h.open_until = Some(Instant::now() + self.probe_after);
            }
        } else if result.is_ok() || result.as_ref().is_err_and(|e| !e.uncertain()) {
            if h.open_until.is_some() {
                tracing::info!(
                    provider = picked.caller.name(),
                    "provider answers again: back in the order"
                );
            }
            *h = Health::default();
        }
    }
}
