//! Paying the provider once per answer, as one library unit any handler can use (the
//! `okra-worker` handler and `examples/worker.rs` both do): the reuse store and the per-person
//! pay lock (concurrent jobs for one person make one paid call; a later one within
//! `okra.reuse_window` reuses it), look-first after an uncertain charge, the daily budget and
//! the rate-limit slot as guards that give themselves back unless spent ([`slots`]), and the
//! spend ledger with its metrics ([`tally`]). A handler walks one [`Charge`] through it
//! ([`charge`]): begin (reuse, wait, or the lock), pay (budget and rate slots, then the call),
//! settle (the lock, the reuse store). Begins and settles go to Redis in batches ([`batch`]):
//! one round trip carries every job that began or settled while the last one was in flight.
//! Storage is `rdb/pay_locks.rs` and `rdb/charges.rs`.

mod batch;
mod charge;
mod slots;
mod tally;

pub use charge::{Begin, Charge};
pub use slots::{BudgetSlot, RateSlot};
pub use tally::Tally;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::JobContext;
use crate::error::QueueError;
use crate::ident::IndexKey;
use crate::okra::{OkraJob, OkraResult, OkraSettings};
use crate::queue::Queue;
use crate::rdb::{Account, Begin as Reply, BeginAsk, End, EndAsk, Spent};
use crate::seal::{self, Column, Place, Sealer};
use batch::{Batcher, Call};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tracing::{debug, warn};

/// The account's pay-once machinery, shared by every job of a worker process.
pub struct PayOnce {
    queue: Queue,
    account: Option<Arc<Account>>,
    /// Seals the reuse store's profiles (bound to the account and the person).
    sealer: Option<Arc<Sealer>>,
    /// Keys the reuse store and the pay locks: a person is a keyed hash, never the number.
    index_key: Option<IndexKey>,
    /// `okra.reuse_window`; zero turns reuse and coalescing off.
    window: Duration,
    /// `okra.daily_budget` (0 = none).
    budget: u32,
    /// How long one paid call can take: the pay lock's life.
    call: Duration,
    /// How long a job waits for another job's paid call for the same person.
    wait: Duration,
    /// The ledger's counts and the drain guard's successes, written in batches.
    tally: Arc<Tally>,
    /// Lookup routes known to have answered with a profile (only ever grows).
    proven: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Begins, budget slots and settles, batched (with an account).
    batches: Option<Batches>,
}

/// The round trips a job makes for paying once, each shared with the jobs that make it at the
/// same time ([`batch`]).
struct Batches {
    /// Begins and settles: one round trip carries both directions.
    charges: Batcher<Charges>,
    budget: Batcher<Budget>,
}

impl Batches {
    fn new(account: &Arc<Account>) -> Self {
        Self {
            charges: Batcher::new(account.clone()),
            budget: Batcher::new(account.clone()),
        }
    }
}

/// Budget slots: `budget_take.lua` for a batch (each ask is the daily limit).
struct Budget;

impl Call for Budget {
    type Ask = u32;
    type Reply = bool;
    async fn call(account: &Account, asks: &[u32]) -> crate::Result<Vec<bool>> {
        let limit = asks.iter().copied().max().unwrap_or(0);
        let granted = account.budget_take_many(limit, asks.len()).await?;
        Ok((0..asks.len()).map(|i| i < granted).collect())
    }
}

/// One settle, owned while it waits for its batch.
struct Settle {
    kind: &'static str,
    person: Arc<str>,
    me: Arc<str>,
    /// The value to store (paid), already sealed.
    stored: Option<String>,
    unsure: bool,
    window: Duration,
    unsure_for: Duration,
    lock: Duration,
    carried: Vec<String>,
}

/// What a job asks of the pay-once round trip.
enum Ask {
    /// Before its paid call.
    Begin(BeginAsk),
    /// After it.
    Settle(Settle),
}

/// Its answer, of the same direction.
enum Answer {
    Begin(Reply),
    Settled,
}

/// Both directions in one round trip: the settles' plain `SET XX GET`s and one `EXISTS`, the
/// begins' plain `SET NX GET`s, and the scripts for the rest (`Account::charge_many`).
struct Charges;

impl Call for Charges {
    type Ask = Ask;
    type Reply = Answer;
    async fn call(account: &Account, asks: &[Ask]) -> crate::Result<Vec<Answer>> {
        let mut begins = Vec::new();
        let mut ends = Vec::new();
        for ask in asks {
            match ask {
                Ask::Begin(b) => begins.push(b),
                Ask::Settle(s) => ends.push(EndAsk {
                    kind: s.kind,
                    person: &s.person,
                    me: &s.me,
                    end: match (&s.stored, s.unsure) {
                        (Some(v), _) => End::Paid(v),
                        (None, true) => End::Unsure,
                        (None, false) => End::Nothing,
                    },
                    window: s.window,
                    unsure_for: s.unsure_for,
                    lock: s.lock,
                    carried: &s.carried,
                }),
            }
        }
        let (ended, began) = account.charge_many(&ends, &begins).await?;
        let (mut ended, mut began) = (ended.into_iter(), began.into_iter());
        asks.iter()
            .map(|ask| match ask {
                Ask::Begin(_) => began.next().map(Answer::Begin),
                Ask::Settle(_) => ended.next().map(|_| Answer::Settled),
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| QueueError::Protocol("the pay-once round trip lost an answer".into()))
    }
}

/// What a job does before its paid call.
pub enum Gate {
    /// An answer paid for within the window: use it.
    Reused(OkraResult),
    /// The job holds the person's pay lock (`look_first`: the last paid call for the person
    /// got no answer).
    Go {
        /// Look before paying.
        look_first: bool,
    },
    /// Another job is still paying for this person after a whole wait: try again later.
    Busy,
}

/// A job's hold on its person's pay lock.
pub struct Lock {
    kind: &'static str,
    /// The keyed hash of the job's identifier (shared with each ask: no copy per round trip).
    person: Arc<str>,
    /// The identifier as typed and its label, so the settle leaves the job's own number out of
    /// the profile's others without hashing it again (`IndexKey::carried_besides_own`).
    label: &'static str,
    number: String,
    /// What else a stored answer must match (the bank of an account number).
    matcher: String,
    me: Arc<str>,
}

/// What the reuse store keeps: the answer, and what it must match.
#[derive(Deserialize)]
struct Stored {
    #[serde(default)]
    matcher: String,
    result: OkraResult,
}

/// [`Stored`] as it is written, `{"matcher":…,"result":…}`: the answer's JSON text as the job
/// returns it (serialised once, for the job's result and the store), copied in once.
fn stored_text(matcher: &str, result: &RawValue) -> String {
    // A bank code or nothing, as a rule: nothing to escape.
    let plain = !matcher.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
    let escaped;
    let matcher = if plain {
        matcher
    } else {
        escaped = serde_json::to_string(matcher).expect("a string always serialises");
        &escaped[1..escaped.len() - 1]
    };
    let mut out = String::with_capacity(matcher.len() + result.get().len() + 26);
    for part in [
        r#"{"matcher":""#,
        matcher,
        r#"","result":"#,
        result.get(),
        "}",
    ] {
        out.push_str(part);
    }
    out
}

impl PayOnce {
    pub fn new(
        queue: &Queue,
        window: Duration,
        budget: u32,
        call: Duration,
        wait: Duration,
        tally: Arc<Tally>,
    ) -> Self {
        let account = queue.account_handle();
        Self {
            queue: queue.clone(),
            batches: account.as_ref().map(Batches::new),
            account,
            sealer: queue.config().seal.clone(),
            index_key: queue.config().index_key.clone(),
            window,
            budget,
            call,
            wait,
            tally,
            proven: Default::default(),
        }
    }

    /// The queue's pay-once unit from its `[okra]` settings, with its tally's writer running
    /// on the current Tokio runtime: a paid call lasts at most `okra.timeout`, and a job
    /// waits for another job's call for the same person at most `lease`. Call
    /// [`PayOnce::flush`] before the process exits.
    pub fn start(queue: &Queue, okra: &OkraSettings, lease: Duration) -> Arc<Self> {
        let tally = Tally::new(queue);
        tokio::spawn(tally.clone().run());
        Arc::new(Self::new(
            queue,
            okra.reuse_window,
            okra.daily_budget,
            okra.timeout + Duration::from_secs(5),
            lease,
            tally,
        ))
    }

    /// Writes the ledger's pending counts (at shutdown).
    pub async fn flush(&self) {
        self.tally.flush().await;
    }

    fn account(&self) -> Option<&Account> {
        self.account.as_deref()
    }

    /// Where a stored profile lives, for sealing: the account and the person.
    fn place<'a>(&self, account: &'a Account, lock: &'a Lock) -> Place<'a> {
        Place {
            scope: account.scope(),
            id: &lock.person,
            column: Column::Reuse,
        }
    }

    /// The job's pay lock, when reuse is on (a window, an index key and an account).
    pub fn lock(&self, job: &OkraJob, ctx: &JobContext) -> Option<Lock> {
        let key = self.index_key.as_ref()?;
        if self.window.is_zero() || self.account.is_none() {
            return None;
        }
        let (label, id, matcher) = job.person();
        Some(Lock {
            kind: job.spec().name,
            person: key.hash_labelled(label, id).into(),
            label,
            number: id.to_string(),
            matcher: matcher.to_string(),
            me: [
                self.queue.name(),
                "|",
                &ctx.lease.id,
                "|",
                &ctx.lease.token.to_string(),
            ]
            .concat()
            .into(),
        })
    }

    /// Before paying: an answer to reuse (unless `fresh`), or the person's pay lock, waiting
    /// (at most `wait`) while another job pays for the same person.
    pub async fn begin(&self, lock: &Lock, fresh: bool) -> crate::Result<Gate> {
        let (Some(account), Some(Batches { charges, .. })) = (self.account(), &self.batches) else {
            return Ok(Gate::Go { look_first: false });
        };
        // Read when first told to wait: most begins never are.
        let mut started: Option<Instant> = None;
        let mut nap = Duration::from_millis(20);
        loop {
            let ask = BeginAsk {
                kind: lock.kind,
                person: lock.person.clone(),
                me: lock.me.clone(),
                lock: self.call,
                reuse: !fresh,
            };
            let Answer::Begin(answer) = charges.ask(Ask::Begin(ask)).await? else {
                return Err(QueueError::Protocol(
                    "the pay-once round trip answered a begin as a settle".into(),
                ));
            };
            match answer {
                Reply::Reuse(text) => {
                    match seal::open(self.sealer.as_deref(), &self.place(account, lock), &text)
                        .ok()
                        .and_then(|t| serde_json::from_str::<Stored>(&t).ok())
                    {
                        Some(s) if s.matcher == lock.matcher => return Ok(Gate::Reused(s.result)),
                        // Another account at the same number, or a record it cannot read: pay.
                        _ => {
                            return Ok(Gate::Go { look_first: false });
                        }
                    }
                }
                Reply::Go { look_first } => return Ok(Gate::Go { look_first }),
                Reply::Wait(left) => {
                    if started.get_or_insert_with(Instant::now).elapsed() >= self.wait {
                        return Ok(Gate::Busy);
                    }
                    debug!("another job is paying for this person; waiting for its answer");
                    tokio::time::sleep(nap.min(left)).await;
                    nap = (nap * 2).min(Duration::from_millis(250));
                }
            }
        }
    }

    /// After the call: store the answer for reuse (`Some`), or leave the note that the charge
    /// is uncertain, or just release the lock. The settle is sent at once, with the next round
    /// trip; the returned future is its reply (awaited, or handed to
    /// [`crate::JobContext::record_after`]). A settle that fails is logged: the lock expires by
    /// itself.
    pub fn end(
        &self,
        lock: &Lock,
        settled: Settled<'_>,
    ) -> impl Future<Output = ()> + Send + use<> {
        let sent = match (self.account(), &self.batches) {
            (Some(account), Some(Batches { charges, .. })) => {
                Some(charges.send(Ask::Settle(self.settle(account, lock, settled))))
            }
            _ => None,
        };
        async move {
            let replied = match sent {
                None => return,
                Some(Ok(reply)) => reply.await.map(drop),
                Some(Err(e)) => Err(e),
            };
            if let Err(e) = replied {
                warn!(error = %e, "could not settle the pay lock (it expires by itself)");
            }
        }
    }

    /// The settle [`Self::end`] sends.
    fn settle(&self, account: &Account, lock: &Lock, settled: Settled<'_>) -> Settle {
        let mut carried = Vec::new();
        let stored = match &settled {
            Settled::Answer(result) => {
                let plain = stored_text(&lock.matcher, result);
                // Whoever else the profile names can be erased out of it (rdb/pay_locks.rs).
                if let Some(key) = &self.index_key {
                    carried = key.carried_besides_own(&plain, lock.label, &lock.number);
                }
                let place = self.place(account, lock);
                Some(match seal::seal(self.sealer.as_deref(), &place, &plain) {
                    Cow::Owned(sealed) => sealed,
                    Cow::Borrowed(_) => plain,
                })
            }
            Settled::Unsure | Settled::Nothing => None,
        };
        Settle {
            kind: lock.kind,
            person: lock.person.clone(),
            me: lock.me.clone(),
            stored,
            unsure: matches!(settled, Settled::Unsure),
            window: self.window,
            // An uncertain charge stays noted for as long as its answer could still be reused.
            unsure_for: self.window.max(self.call),
            lock: self.call,
            carried,
        }
    }

    /// A slot of the daily budget for one paid call, taken together with those of the other
    /// jobs about to pay (one round trip per batch); `None` when today's budget is spent.
    pub async fn take_budget(&self) -> crate::Result<Option<BudgetSlot>> {
        match (&self.account, &self.batches) {
            (Some(account), Some(b)) if self.budget > 0 => Ok(b
                .budget
                .ask(self.budget)
                .await?
                .then(|| BudgetSlot::taken(account))),
            _ => BudgetSlot::take(self.account.as_ref(), self.budget).await,
        }
    }

    /// Counts a paid call, an uncertain one or a saving in the spend ledger (on the UTC day of
    /// `now`, Redis time); the tally writes it within a few milliseconds, with its metrics.
    pub fn count(&self, now: u64, kind: &str, what: Spent, credits: f64) {
        self.tally.count(now, kind, what, credits);
    }

    /// The lookup at `path` answered with a profile: from now on (for every worker of the
    /// account) its 404 with Okra's error envelope means "no such identity".
    pub async fn prove_lookup(&self, path: &str) {
        if self.proven.lock().unwrap().contains(path) {
            return;
        }
        let Some(account) = self.account() else {
            return;
        };
        match account.prove_lookup(path).await {
            Ok(()) => {
                self.proven.lock().unwrap().insert(path.to_string());
            }
            Err(e) => {
                warn!(error = %e, lookup = path, "could not record that the lookup route answers")
            }
        }
    }

    /// Whether the lookup at `path` has answered with a profile (any worker of the account);
    /// false when it cannot be told (no account, Redis away): never a guess that pays.
    pub async fn lookup_proven(&self, path: &str) -> bool {
        if self.proven.lock().unwrap().contains(path) {
            return true;
        }
        let Some(account) = self.account() else {
            return false;
        };
        match account.lookup_proven(path).await {
            Ok(true) => {
                self.proven.lock().unwrap().insert(path.to_string());
                true
            }
            Ok(false) => false,
            Err(e) => {
                warn!(error = %e, lookup = path, "could not read whether the lookup route answers; not taking its 404 as an answer");
                false
            }
        }
    }

    /// A success: the drain guard's run of `not_found` ends.
    pub fn found(&self) {
        self.tally.found();
    }
}

/// How a paid call (or the lookup before it) ended, for the pay lock.
pub enum Settled<'a> {
    /// A profile: stored for reuse. The job's [`OkraResult`] as the JSON text it returns
    /// (`serde_json::value::to_raw_value(&result)`), so the answer is serialised once.
    Answer(&'a RawValue),
    /// No answer came: the next job for the person looks first.
    Unsure,
    /// Nothing was paid for.
    Nothing,
}

/// The credits a paid answer's `receipt` says it cost (the revamped API's answers carry one:
/// `amount`, or `credits`; 0 when there is none).
pub fn receipt_credits(data: &Value) -> f64 {
    let receipt = &data["receipt"];
    ["amount", "credits", "cost"]
        .iter()
        .find_map(|f| match &receipt[*f] {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|c: &f64| c.is_finite() && *c > 0.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_are_read_leniently() {
        assert_eq!(
            receipt_credits(&serde_json::json!({"receipt": {"amount": 0.1}})),
            0.1
        );
        assert_eq!(
            receipt_credits(&serde_json::json!({"receipt": {"credits": "2.5"}})),
            2.5
        );
        assert_eq!(receipt_credits(&serde_json::json!({"identity": {}})), 0.0);
        assert_eq!(
            receipt_credits(&serde_json::json!({"receipt": {"amount": -1}})),
            0.0
        );
    }

    #[test]
    fn the_stored_text_is_what_serde_writes_and_reads_back() {
        #[derive(serde::Serialize)]
        struct StoredRef<'a> {
            matcher: &'a str,
            result: &'a RawValue,
        }
        let result =
            serde_json::value::to_raw_value(&serde_json::json!({"bvn": "22234567890"})).unwrap();
        for matcher in ["", "044", "a \"quoted\" bank é", "back\\slash", "tab\there"] {
            let text = stored_text(matcher, &result);
            let want = serde_json::to_string(&StoredRef {
                matcher,
                result: &result,
            })
            .unwrap();
            assert_eq!(text, want);
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back["matcher"], matcher);
        }
    }
}
