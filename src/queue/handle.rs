//! The queue handle and its producer API: connect, enqueue (one, bulk, raw), and read a job
//! back. Steering (pause, throttles), inspection (stats), dead letters, events and listings
//! extend [`Queue`] from their own files beside this one.

use std::ops::Range;
use std::sync::{Arc, Once};
use std::time::Duration;

use futures::{StreamExt, stream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{PartialEnqueue, QueueError, Result};
use crate::ident::IndexKey;
use crate::job::{EnqueueOptions, Enqueued, Job, JobMeta, JobRecord, JobState, epoch_ms, new_id};
use crate::keys::{Keys, validate_queue_name};
use crate::policy::RetryPolicy;
use crate::rdb::{
    Account, AccountLimit, Durable, MAX_BATCH, NewJob, RateLimit, Rdb, RedisConn, RedisSettings,
};
use crate::seal::{self, Column, Place, Sealer};

use super::raw::RawJob;

/// Queue-wide settings that producers, workers and operators share. The fields of a
/// settings file's `[queue]` section deserialize into it directly; the rest come from their
/// own sections (`[retry]`, `[dead]`) or from the Okra account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Queue name; every key of the queue is `okq:{name}:…` (one Redis Cluster slot).
    pub name: String,
    /// How long completed (and cancelled) jobs keep their record and result.
    #[serde(with = "humantime_serde")]
    pub completed_retention: Duration,
    /// How long an idempotency key blocks duplicates.
    #[serde(with = "humantime_serde")]
    pub idempotency_ttl: Duration,
    /// Attempt-history entries kept per job.
    pub history_cap: usize,
    /// Events kept in the queue's stream, about (0 = no events are written).
    pub events_max: u64,
    /// Key of the identity index (a secret of at least 16 bytes); without it jobs are not
    /// indexed and cannot be found by identifier.
    pub index_key: Option<IndexKey>,
    /// Retry budget and backoff (a settings file's `[retry]`).
    #[serde(skip)]
    pub retry: RetryPolicy,
    /// Dead-letter limits (`[dead]`).
    #[serde(skip)]
    pub dead: DeadLimits,
    /// Fleet-wide limit on job starts (claims) per window, for this queue alone.
    #[serde(skip)]
    pub rate_limit: Option<RateLimit>,
    /// An upstream account whose limit and throttle this queue shares with every other queue
    /// on the same account (instead of `rate_limit`).
    #[serde(skip)]
    pub account: Option<AccountLimit>,
    /// Seals what can hold personal data before it leaves the process, and opens it on the
    /// way back (a settings file's `[seal] keys_file`; needs `index_key`).
    #[serde(skip)]
    pub seal: Option<Arc<Sealer>>,
    /// Who makes the operator changes this handle records in the audit trail (`user@host`).
    #[serde(skip)]
    pub actor: Option<String>,
}

/// How many dead letters a queue keeps, and for how long (a settings file's `[dead]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadLimits {
    /// Most dead letters kept (the oldest are trimmed first, and counted); 0 = no cap.
    pub max: u64,
    /// Dead letters older than this are trimmed; `0s` = kept forever.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Okra's answer (the body excerpt) is dropped from a dead letter this long after it died;
    /// its class, status and history stay. `0s` = kept as long as the letter.
    #[serde(with = "humantime_serde")]
    pub answer_retention: Duration,
}

impl Default for DeadLimits {
    fn default() -> Self {
        Self {
            max: 100_000,
            ttl: Duration::from_secs(30 * 24 * 3600),
            answer_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            name: "identity".into(),
            completed_retention: Duration::from_secs(24 * 3600),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            history_cap: 25,
            events_max: crate::rdb::EVENTS_MAX,
            index_key: None,
            retry: RetryPolicy::default(),
            dead: DeadLimits::default(),
            rate_limit: None,
            account: None,
            seal: None,
            actor: None,
        }
    }
}

impl QueueConfig {
    /// Defaults for queue `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<()> {
        validate_queue_name(&self.name).map_err(QueueError::Config)?;
        self.retry.validate().map_err(QueueError::Config)?;
        if self.history_cap == 0 {
            return Err(QueueError::Config("history cap must be at least 1".into()));
        }
        if self.idempotency_ttl.is_zero() {
            return Err(QueueError::Config(
                "idempotency TTL must be positive".into(),
            ));
        }
        if self.seal.is_some() && self.index_key.is_none() {
            return Err(QueueError::Config(
                "seal.keys_file needs queue.index_key: sealed queues store idempotency keys and identities as keyed hashes".into(),
            ));
        }
        if let Some(a) = &self.account {
            crate::keys::validate_name("account", &a.name).map_err(QueueError::Config)?;
            if self.rate_limit.is_some() {
                return Err(QueueError::Config(
                    "a queue limits its rate either by itself or by its account, not both".into(),
                ));
            }
        }
        if let Some(r) = self.rate_limit
            && (r.limit == 0 || r.window.is_zero())
        {
            return Err(QueueError::Config(
                "rate limit needs a positive limit and window".into(),
            ));
        }
        Ok(())
    }
}

/// Handle to one queue. Cheap to clone; share it.
#[derive(Debug, Clone)]
pub struct Queue {
    pub(crate) rdb: Rdb,
    pub(crate) cfg: Arc<QueueConfig>,
    /// The upstream account's shared limiter, when the config names one.
    pub(crate) account: Option<Arc<Account>>,
    /// Kept to open the workers' blocking connection; `None` for wrapped connections.
    pub(crate) redis: Option<Arc<RedisSettings>>,
    /// Set once this handle has added the queue to the registry.
    pub(crate) registered: Arc<std::sync::atomic::AtomicBool>,
    /// The shared event reader that wakes `wait`, started on first use.
    pub(crate) waiters: super::waiters::WaitersCell,
}

/// Most chunk writes of one bulk enqueue in flight at once.
const BULK_IN_FLIGHT: usize = 4;

impl Queue {
    /// Connects to Redis and checks it answers.
    pub async fn connect(redis: &RedisSettings, cfg: QueueConfig) -> Result<Self> {
        cfg.validate()?;
        let conn = RedisConn::connect(redis).await?;
        let mut queue = Self::with_conn(conn, cfg)?;
        queue.redis = Some(Arc::new(redis.clone()));
        queue.rdb.ping().await.map_err(|e| match e {
            QueueError::Redis(source) => QueueError::Connect {
                url: redis.display_url(),
                source,
            },
            other => other,
        })?;
        if redis.durability != crate::rdb::Durability::None {
            let version = queue.rdb.server_info().await?.version;
            let durable = Durable::open(redis, queue.rdb.keys().durable(), &version).await?;
            queue.rdb = queue.rdb.with_durable(durable.map(Arc::new));
        }
        queue.check_keys().await?;
        Ok(queue)
    }

    /// With keys: each key's check value must be the one Redis knows under its id (recorded on
    /// the id's first use), so other bytes under a known id stop the process before it seals
    /// or opens anything. One line naming the id, never the key.
    /// The index key is checked the same way (id `#index`): idempotency claims and the
    /// identity index are its hashes, so a producer with another one would miss duplicates.
    pub async fn check_keys(&self) -> Result<()> {
        let index = self.cfg.index_key.as_ref().map(|k| k.check_value());
        let mut checks = self.sealer().map(|s| s.check_values()).unwrap_or_default();
        checks.extend(index.as_deref().map(|c| (crate::ident::INDEX_CHECK_ID, c)));
        match self.rdb.check_keys(&checks).await? {
            None => Ok(()),
            Some(id) if id == crate::ident::INDEX_CHECK_ID => {
                Err(QueueError::Config(crate::ident::INDEX_MISMATCH.into()))
            }
            Some(id) => Err(QueueError::Config(seal::mismatch_message(&id))),
        }
    }

    /// Wraps an existing connection, after checking the settings (the queue and account
    /// names above all: they become key prefixes). Workers made from it poll instead of
    /// blocking on the wake-up key (they need a second connection for that; use
    /// [`Queue::connect`]).
    pub fn with_conn(conn: RedisConn, cfg: QueueConfig) -> Result<Self> {
        cfg.validate()?;
        let keys = Keys::new(&cfg.name);
        Ok(Self {
            account: cfg
                .account
                .clone()
                .map(|a| Arc::new(Account::new(conn.clone(), a))),
            rdb: Rdb::new(conn, keys)
                .with_events_max(cfg.events_max)
                .sealing(cfg.seal.is_some()),
            registered: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            waiters: Default::default(),
            cfg: Arc::new(cfg),
            redis: None,
        })
    }

    /// A handle on another queue over the same connection, with this handle's settings.
    pub fn sibling(&self, name: &str) -> Result<Self> {
        let mut cfg = (*self.cfg).clone();
        cfg.name = name.to_string();
        let mut queue = Self::with_conn(self.rdb.conn(), cfg)?;
        queue.redis = self.redis.clone();
        // Confirming is per connection, not per queue: the sibling's writes go the same way.
        queue.rdb = queue.rdb.with_durable(self.rdb.durable());
        Ok(queue)
    }

    /// A handle on a connection of its own, for blocking reads that wait up to `longest` (a
    /// blocked read holds up every command behind it on a shared connection); `None` for a
    /// handle made with [`Queue::with_conn`], which has no settings to open one from.
    pub(crate) async fn blocking_rdb(&self, longest: Duration) -> Option<Result<Rdb>> {
        let settings = self.redis.as_ref()?;
        Some(
            RedisConn::connect_blocking(settings, longest)
                .await
                .map(|conn| Rdb::new(conn, self.rdb.keys().clone())),
        )
    }

    /// Queue name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Settings.
    pub fn config(&self) -> &QueueConfig {
        &self.cfg
    }

    /// Low-level Redis access for this queue.
    pub fn rdb(&self) -> &Rdb {
        &self.rdb
    }

    /// Enqueues one job after validating it.
    pub async fn enqueue<J: Job>(&self, job: &J, options: EnqueueOptions) -> Result<Enqueued> {
        let mut raw = RawJob::of(job, options).map_err(QueueError::InvalidJob)?;
        let _span = crate::telemetry::send_span(self.name(), [&mut raw.options]);
        let mut out = self
            .rdb
            .enqueue(&[self.new_job(raw)], self.cfg.idempotency_ttl)
            .await?;
        self.register_quietly().await;
        self.confirmed(&out).await?;
        out.pop()
            .ok_or_else(|| QueueError::Protocol("enqueue returned nothing".into()))
    }

    /// Enqueues many jobs: all are validated first (one invalid job refuses the whole call and
    /// names its position), then written in chunks of 1,000, one round trip per chunk.
    pub async fn enqueue_bulk<J: Job>(
        &self,
        jobs: impl IntoIterator<Item = (J, EnqueueOptions)>,
    ) -> Result<Vec<Enqueued>> {
        let raws = jobs
            .into_iter()
            .enumerate()
            .map(|(i, (job, options))| {
                RawJob::of(&job, options)
                    .map_err(|e| QueueError::InvalidJob(format!("job #{}: {e}", i + 1)))
            })
            .collect::<Result<Vec<_>>>()?;
        self.enqueue_raw_bulk(raws, |_| {}).await
    }

    /// Enqueues jobs whose payloads are already JSON, without validating them (tools that
    /// validated already, and producers written in other languages). `progress` is called with
    /// the number of jobs written after each chunk of 1,000 (one script call each, up to four
    /// in flight). If a chunk fails, no further chunk is started and the error is
    /// [`QueueError::PartialEnqueue`]: exactly which jobs were written (with their ids), which
    /// were not, and which could not be checked, so running the rest again duplicates nothing.
    pub async fn enqueue_raw_bulk(
        &self,
        mut jobs: Vec<RawJob>,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Enqueued>> {
        // Unvalidated payloads, but options are checked: a due time past MAX_DELAY is refused.
        for (i, j) in jobs.iter().enumerate() {
            j.options
                .check()
                .map_err(|e| QueueError::InvalidJob(format!("job #{}: {e}", i + 1)))?;
        }
        let _span =
            crate::telemetry::send_span(self.name(), jobs.iter_mut().map(|j| &mut j.options));
        let news: Vec<NewJob> = jobs.into_iter().map(|j| self.new_job(j)).collect();
        let ttl = self.cfg.idempotency_ttl;
        let failed = std::sync::atomic::AtomicBool::new(false);
        let failed = &failed;
        let mut results = stream::iter(news.chunks(MAX_BATCH).enumerate())
            .map(|(i, chunk)| async move {
                // After a failure, chunks not yet started are not sent at all.
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    return (i, chunk, None);
                }
                let r = self.rdb.enqueue(chunk, ttl).await;
                if r.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                (i, chunk, Some(r))
            })
            .buffered(BULK_IN_FLIGHT);
        let mut out = Vec::with_capacity(news.len());
        let mut partial = PartialEnqueue::default();
        while let Some((i, chunk, r)) = results.next().await {
            let start = i * MAX_BATCH;
            match r {
                Some(Ok(r)) => {
                    progress(chunk.len());
                    partial.written.extend((start..).zip(r.iter().cloned()));
                    out.extend(r);
                }
                None => partial.unwritten.push(start..start + chunk.len()),
                Some(Err(e)) => {
                    if partial.error.is_empty() {
                        partial.error = e.to_string();
                    }
                    self.settle_failed_chunk(start, chunk, &mut partial).await;
                }
            }
        }
        if !out.is_empty() {
            self.register_quietly().await;
        }
        if partial.error.is_empty() {
            // Nothing written, nothing to confirm (a batch of refused items is not a failure).
            if !out.is_empty() {
                self.confirmed(&out).await?;
            }
            return Ok(out);
        }
        partial.unwritten = merge_ranges(std::mem::take(&mut partial.unwritten));
        // What was written is confirmed as any enqueue is (or said not to be).
        if !partial.written.is_empty() {
            partial.unconfirmed = self.rdb.confirm().await.err().map(not_durable_why);
        }
        Err(QueueError::PartialEnqueue(Box::new(partial)))
    }

    /// The enqueued ids once `redis.durability` confirms them; else `Unconfirmed` with the ids.
    async fn confirmed(&self, out: &[Enqueued]) -> Result<()> {
        self.rdb
            .confirm()
            .await
            .map_err(|e| QueueError::Unconfirmed {
                ids: out.iter().map(|e| e.id.clone()).collect(),
                why: not_durable_why(e),
            })
    }

    /// A job as the enqueue script takes it, with a fresh id. The budget stays unset unless the
    /// job asked for one, so the fleet's `retry.max_attempts` applies at decision time. With an
    /// index key, the identifier's keyed hash goes into the metadata and the identity index.
    fn new_job(&self, job: RawJob) -> NewJob {
        let o = job.options;
        let ident = match (&self.cfg.index_key, &job.identity) {
            (Some(key), Some((ty, value))) => Some(key.hash(*ty, value)),
            _ => None,
        };
        let id = new_id();
        let idempotency_key = o.idempotency_key.as_deref().map(|k| self.idem_key(k));
        let legacy_key = o
            .idempotency_key
            .as_deref()
            .and_then(|k| self.legacy_idem_key(k));
        let seal = |column, text: String| match self.sealer() {
            Some(s) => s.seal(&Place::job(self.name(), &id, column), &text),
            None => text,
        };
        let payload = seal(Column::Payload, job.payload);
        let metadata = o.metadata.map(|m| seal(Column::Metadata, m));
        let meta = JobMeta {
            kind: job.kind,
            max_attempts: o.max_attempts,
            idempotency_key: idempotency_key.clone(),
            requeues: 0,
            created_at: 0,
            window_start: 0,
            due_at: 0,
            ix: ident.clone(),
            fresh: o.fresh,
            trace: o.trace,
            metadata,
        };
        NewJob {
            id,
            meta_tail: meta.tail(),
            payload,
            delay_ms: o.delay.map_or(0, |d| d.as_millis() as u64),
            at_ms: o.run_at.map_or(0, epoch_ms),
            idempotency_key,
            legacy_key,
            kind: meta.kind,
            ident,
        }
    }

    /// Registers the queue after a write. The jobs are in Redis whatever happens here, so a
    /// failure is not the enqueue's: a queue with data counts as known anyway.
    async fn register_quietly(&self) {
        if let Err(e) = self.register().await {
            tracing::debug!(error = %e, "queue registry not updated");
        }
    }

    /// Finds out what a failed chunk wrote, by looking its ids up (a few tries): a lost
    /// connection or a timeout may come after the write, and a chunk's keyed jobs and its
    /// ready ones are written by two calls, the second of which can fail after the first.
    async fn settle_failed_chunk(
        &self,
        start: usize,
        chunk: &[NewJob],
        partial: &mut PartialEnqueue,
    ) {
        let ids: Vec<String> = chunk.iter().map(|j| j.id.clone()).collect();
        for wait in [0, 200, 1000] {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            if let Ok(states) = self.rdb.states(&ids).await {
                for (k, (job, state)) in chunk.iter().zip(states).enumerate() {
                    match state {
                        Some(_) => partial.written.push((
                            start + k,
                            Enqueued {
                                id: job.id.clone(),
                                duplicate: false,
                            },
                        )),
                        None => partial.unwritten.push(start + k..start + k + 1),
                    }
                }
                return;
            }
        }
        partial
            .unknown
            .extend((start..).zip(chunk.iter().map(|j| j.id.clone())));
    }

    /// Checks the server can run the queue: Redis 6.2 or newer (`RPOP` with a count), and
    /// warns once per process when its eviction policy could silently drop jobs.
    pub async fn check_server(&self) -> Result<()> {
        let info = self.rdb.server_info().await?;
        if !version_supported(&info.version) {
            return Err(QueueError::Config(format!(
                "Redis {} is too old: okra-queue needs Redis 6.2 or newer",
                info.version
            )));
        }
        if !info.maxmemory_policy.is_empty() && info.maxmemory_policy != "noeviction" {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    maxmemory_policy = %info.maxmemory_policy,
                    "Redis may evict keys when it runs out of memory, and an evicted key is a lost job: set maxmemory-policy to noeviction"
                )
            });
        }
        Ok(())
    }

    /// The keys that seal and open this queue's personal data, when sealing is on.
    pub fn sealer(&self) -> Option<&Sealer> {
        self.cfg.seal.as_deref()
    }

    /// An idempotency key as the queue stores it, on every queue: `#` and its keyed hash (32
    /// hex digits, under `queue.index_key`), so a key made of personal data never reaches
    /// Redis. Without an index key the hash is unkeyed: it hides the key from a glance, not
    /// from someone who tries every BVN.
    pub fn idem_key(&self, key: &str) -> String {
        crate::ident::idem_hash(self.cfg.index_key.as_ref(), key)
    }

    /// The name a claim had before idempotency keys were hashed on unsealed queues (the key as
    /// given), still looked up for one `queue.idempotency_ttl` after an upgrade so a repeat of
    /// a key claimed before it is still a duplicate. `None` on a sealed queue (always hashed).
    pub(crate) fn legacy_idem_key(&self, key: &str) -> Option<String> {
        (self.sealer().is_none() && !key.starts_with('#')).then(|| key.to_string())
    }

    /// The upstream account's limiter, when the config names one.
    pub fn account(&self) -> Option<&Account> {
        self.account.as_deref()
    }

    /// The upstream account's limiter as a shared handle, for what outlives a borrow.
    pub fn account_handle(&self) -> Option<Arc<Account>> {
        self.account.clone()
    }

    /// Everything stored about a job, `None` if unknown (or past its retention). A job without
    /// a budget of its own shows the one its workers apply (as they published it), else this
    /// handle's `retry.max_attempts`. On a sealed queue its payload, metadata, result and
    /// messages are opened with this handle's keys; without the key each reads `sealed (key k1)`.
    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>> {
        let Some((mut rec, result)) = self.rdb.job(id).await? else {
            return Ok(None);
        };
        let sealed = self.sealer().is_some() || self.rdb.is_sealed().await?;
        let fleet = match rec.meta.max_attempts {
            Some(_) => self.cfg.retry.max_attempts,
            None => self.fleet_max().await?,
        };
        rec.max_attempts = rec.meta.budget(fleet);
        self.open_record(&mut rec, result, sealed)?;
        Ok(Some(rec))
    }

    /// Opens what a record keeps sealed (for display: a value that does not open here reads
    /// `sealed (key k1)`, a plaintext on a `sealed` queue reads as not trusted), and decodes
    /// its result.
    fn open_record(&self, rec: &mut JobRecord, result: Option<String>, sealed: bool) -> Result<()> {
        let (q, id, sealer) = (self.name(), rec.id.clone(), self.sealer());
        let shown = |column, text: &str| {
            seal::shown_on(sealer, sealed, &Place::job(q, &id, column), text).into_owned()
        };
        rec.payload = shown(Column::Payload, &rec.payload);
        let metadata = rec.meta.metadata.take();
        rec.meta.metadata = metadata.map(|m| shown(Column::Metadata, &m));
        if let Some(f) = &mut rec.last_error {
            f.message = shown(Column::ErrorMessage, &f.message);
            f.body = f.body.as_deref().map(|b| shown(Column::ErrorBody, b));
        }
        for h in &mut rec.history {
            h.message = h
                .message
                .as_deref()
                .map(|m| shown(Column::HistoryMessage, m));
        }
        rec.result = match result {
            None => None,
            Some(r) => Some(
                match seal::open_on(sealer, sealed, &Place::job(q, &id, Column::Result), &r) {
                    Ok(text) => serde_json::from_str(&text).map_err(|e| QueueError::Corrupt {
                        id: id.clone(),
                        reason: format!("result: {}", crate::job::json_error_rule(&e)),
                    })?,
                    Err(_) => serde_json::Value::String(seal::placeholder(&r)),
                },
            ),
        };
        Ok(())
    }

    /// A job's state.
    pub async fn state(&self, id: &str) -> Result<Option<JobState>> {
        Ok(self.rdb.states(&[id.to_string()]).await?.pop().flatten())
    }

    /// A completed job's result (`None` while not completed).
    pub async fn result(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let job = self
            .job(id)
            .await?
            .ok_or_else(|| QueueError::NotFound(id.into()))?;
        Ok(job.result)
    }

    /// A completed job's result decoded as `T` (`None` while not completed).
    pub async fn result_as<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>> {
        self.job(id)
            .await?
            .ok_or_else(|| QueueError::NotFound(id.into()))?
            .result_as()
    }
}

impl JobRecord {
    /// The result decoded as `T` (`Ok(None)` while the job has none): for Okra jobs,
    /// [`crate::okra::OkraResult`]. A result of another shape is [`QueueError::Corrupt`].
    pub fn result_as<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.result
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| QueueError::Corrupt {
                id: self.id.clone(),
                reason: format!(
                    "result is not a {}: {}",
                    std::any::type_name::<T>(),
                    crate::job::json_error_rule(&e)
                ),
            })
    }
}

/// Redis 6.2 or newer (an unknown version is given the benefit of the doubt: proxies and
/// managed services sometimes hide it).
fn version_supported(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    version.is_empty() || (major, minor) >= (6, 2)
}

/// Why a write was not confirmed at `redis.durability`, in words.
fn not_durable_why(e: QueueError) -> String {
    match e {
        QueueError::NotDurable(why) => why,
        other => other.to_string(),
    }
}

/// Adjacent and overlapping ranges merged, in order.
fn merge_ranges(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{merge_ranges, version_supported};

    #[test]
    fn redis_before_6_2_is_refused() {
        assert!(version_supported("7.0.15"));
        assert!(version_supported("6.2.0"));
        assert!(!version_supported("6.0.16"));
        assert!(!version_supported("5.0.7"));
        assert!(version_supported(""));
    }

    #[test]
    fn ranges_merge() {
        assert_eq!(
            merge_ranges(vec![5..6, 0..2, 2..3, 7..9]),
            vec![0..3, 5..6, 7..9]
        );
        assert!(merge_ranges(vec![]).is_empty());
    }
}
