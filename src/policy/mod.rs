//! The retry lifecycle as one unit, in three steps (one word per layer):
//!
//! 1. [`classify`]: a handler's result becomes an [`Outcome`] (success, retry, terminal).
//! 2. [`RetryPolicy::decide`]: the outcome and the job's [`Budget`] become a [`Decision`]
//!    (complete, retry after a delay, dead with a [`DeadReason`]); pure and table-tested.
//! 3. `record`: the decision becomes the [`crate::rdb::OutcomeEntry`] that `outcome.lua`
//!    applies, fenced by the claim's lease. Every attempt is recorded through its one
//!    entrance, `record::attempt`: the worker that ran it, the reaper that takes back an
//!    expired lease, and a job that cannot even be decoded.

mod classify;
mod decide;
pub(crate) mod record;

pub use classify::{ErrorAction, JobError, Outcome, chain_message, classify};
pub use decide::{Budget, DeadReason, Decision, RetryPolicy};
