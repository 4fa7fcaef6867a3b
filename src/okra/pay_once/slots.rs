//! What a paid call takes before it is made, as values that give themselves back when dropped
//! unless they were spent: a rate-limit slot (the claim's, or one more for a second call) and
//! a slot of the account's daily budget. No branch of a handler can forget one; a slot whose
//! give-back fails (Redis away) only ages out (the rate window) or is over-counted for the
//! day (the budget): never under-counted, so never a call past a limit.

use std::sync::Arc;

use tracing::debug;

use crate::queue::Queue;
use crate::queue::control::Permit;
use crate::rdb::Account;

/// Runs `give_back` on the current Tokio runtime, if there is one (a drop outside one, in a
/// test, just lets the slot age out).
fn later<F>(give_back: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(give_back);
    }
}

/// A rate-limit slot for one upstream call: given back on drop unless [`RateSlot::spend`]
/// says a call used it.
#[must_use = "a slot not spent is given back when dropped"]
pub struct RateSlot {
    queue: Queue,
    /// The slot's id (none when the account has no limit, or the claim took none).
    slot: Option<String>,
}

impl RateSlot {
    /// The slot the claim took for this run's call.
    pub fn claimed(queue: &Queue, slot: Option<String>) -> Self {
        Self {
            queue: queue.clone(),
            slot,
        }
    }

    /// One more slot, for a second call in the same run; `Err(wait)` when none is free.
    pub async fn permit(queue: &Queue) -> crate::Result<Result<Self, std::time::Duration>> {
        Ok(match queue.permit().await? {
            Permit::Granted(slot) => Ok(Self::claimed(queue, slot)),
            Permit::Wait(wait) => Err(wait),
        })
    }

    /// A call was made with it: it stays taken.
    pub fn spend(&mut self) {
        self.slot = None;
    }
}

impl Drop for RateSlot {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let queue = self.queue.clone();
            later(async move {
                if let Err(e) = queue.give_back(std::slice::from_ref(&slot)).await {
                    debug!(error = %e, "could not give a rate-limit slot back (it ages out)");
                }
            });
        }
    }
}

/// A slot of the account's daily budget for one paid call: given back on drop unless
/// [`BudgetSlot::spend`] says the call was (or may have been) charged.
#[must_use = "a slot not spent is given back when dropped"]
pub struct BudgetSlot {
    /// The account to give it back to; none once spent, or when there is no budget.
    account: Option<Arc<Account>>,
}

impl BudgetSlot {
    /// Takes a slot of `limit` paid calls per UTC day (0 = no budget: a slot that is nothing);
    /// `None` when today's budget is spent (the account's queues are then held).
    pub async fn take(account: Option<&Arc<Account>>, limit: u32) -> crate::Result<Option<Self>> {
        let Some(account) = account.filter(|_| limit > 0) else {
            return Ok(Some(Self { account: None }));
        };
        Ok(account.budget_take(limit).await?.then(|| Self {
            account: Some(account.clone()),
        }))
    }

    /// A slot `account` granted (given back on drop unless spent).
    pub(super) fn taken(account: &Arc<Account>) -> Self {
        Self {
            account: Some(account.clone()),
        }
    }

    /// The call was (or may have been) charged: the slot stays taken.
    pub fn spend(&mut self) {
        self.account = None;
    }
}

impl Drop for BudgetSlot {
    fn drop(&mut self) {
        if let Some(account) = self.account.take() {
            later(async move {
                if let Err(e) = account.budget_give_back().await {
                    tracing::warn!(error = %e, "could not give a budget slot back");
                }
            });
        }
    }
}
