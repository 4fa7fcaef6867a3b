//! The producer API: enqueue jobs and read them back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::error::{QueueError, Result};
use crate::job::{
    EnqueueOptions, Enqueued, Job, JobMeta, JobRecord, JobState, epoch_ms, make_record, new_id,
    now_ms,
};
use crate::keys::{Keys, validate_queue_name};
use crate::policy::RetryPolicy;
use crate::rdb::{MAX_BATCH, NewJob, RateLimit, Rdb, RedisConn, RedisSettings};
use crate::stats::Stats;

/// Queue-wide settings that producers, workers and operators share.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Queue name (the Redis hash tag).
    pub name: String,
    /// Retry budget and backoff.
    pub retry: RetryPolicy,
    /// Most dead letters kept (oldest trimmed first); 0 = no cap.
    pub dead_max: u64,
    /// Dead letters older than this are trimmed; zero = kept forever.
    pub dead_ttl: Duration,
    /// How long completed jobs keep their record and result.
    pub completed_retention: Duration,
    /// How long an idempotency key blocks duplicates.
    pub idempotency_ttl: Duration,
    /// Attempt-history entries kept per job.
    pub history_cap: usize,
    /// Fleet-wide limit on job starts (claims) per window.
    pub rate_limit: Option<RateLimit>,
}

impl QueueConfig {
    /// Defaults for queue `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            retry: RetryPolicy::default(),
            dead_max: 100_000,
            dead_ttl: Duration::from_secs(30 * 24 * 3600),
            completed_retention: Duration::from_secs(24 * 3600),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            history_cap: 25,
            rate_limit: None,
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
    /// Kept to open the workers' blocking connection; `None` for wrapped connections.
    pub(crate) redis: Option<Arc<RedisSettings>>,
}

/// One job of a bulk enqueue whose payload is already JSON (from a file, another producer).
#[derive(Debug, Clone)]
pub struct RawJob {
    /// Job kind.
    pub kind: String,
    /// Payload JSON text.
    pub payload: String,
    /// Options.
    pub options: EnqueueOptions,
}

/// How often `wait` looks at the job.
const WAIT_POLL: Duration = Duration::from_millis(20);

impl Queue {
    /// Connects to Redis and checks it answers.
    pub async fn connect(redis: &RedisSettings, cfg: QueueConfig) -> Result<Self> {
        cfg.validate()?;
        let conn = RedisConn::connect(redis).await?;
        let mut queue = Self::with_conn(conn, cfg);
        queue.redis = Some(Arc::new(redis.clone()));
        queue.rdb.ping().await.map_err(|e| match e {
            QueueError::Redis(source) => QueueError::Connect {
                url: redis.display_url(),
                source,
            },
            other => other,
        })?;
        Ok(queue)
    }

    /// Wraps an existing connection. Workers made from it poll instead of blocking on the
    /// wake-up key (they need a second connection for that; use [`Queue::connect`]).
    pub fn with_conn(conn: RedisConn, cfg: QueueConfig) -> Self {
        let keys = Keys::new(&cfg.name);
        Self {
            rdb: Rdb::new(conn, keys),
            cfg: Arc::new(cfg),
            redis: None,
        }
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
        job.validate().map_err(QueueError::InvalidJob)?;
        let raw = RawJob {
            kind: job.kind().to_string(),
            payload: serde_json::to_string(job)
                .map_err(|e| QueueError::InvalidJob(e.to_string()))?,
            options,
        };
        let mut out = self.enqueue_raw_bulk(vec![raw], |_| {}).await?;
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
                job.validate()
                    .map_err(|e| QueueError::InvalidJob(format!("job #{}: {e}", i + 1)))?;
                Ok(RawJob {
                    kind: job.kind().to_string(),
                    payload: serde_json::to_string(&job)
                        .map_err(|e| QueueError::InvalidJob(format!("job #{}: {e}", i + 1)))?,
                    options,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.enqueue_raw_bulk(raws, |_| {}).await
    }

    /// Enqueues jobs whose payloads are already JSON, without validating them (tools that
    /// validated already, and producers written in other languages). `progress` is called with
    /// the number of jobs written after each chunk.
    pub async fn enqueue_raw_bulk(
        &self,
        jobs: Vec<RawJob>,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Enqueued>> {
        let now = now_ms();
        let default_max = self.cfg.retry.max_attempts;
        let mut news = Vec::with_capacity(jobs.len());
        for job in jobs {
            let o = job.options;
            let meta = JobMeta {
                kind: job.kind,
                max_attempts: o.max_attempts.unwrap_or(default_max).max(1),
                created_at: now,
                window_start: now,
                idempotency_key: o.idempotency_key.clone(),
                requeues: 0,
            };
            news.push(NewJob {
                id: new_id(),
                record: make_record(
                    &serde_json::to_string(&meta)
                        .map_err(|e| QueueError::InvalidJob(e.to_string()))?,
                    &job.payload,
                ),
                delay_ms: o.delay.map_or(0, |d| d.as_millis() as u64),
                at_ms: o.run_at.map_or(0, epoch_ms),
                idempotency_key: o.idempotency_key,
            });
        }
        let ttl = self.cfg.idempotency_ttl;
        let chunks: Vec<Vec<NewJob>> = news.chunks(MAX_BATCH).map(<[NewJob]>::to_vec).collect();
        let mut results = stream::iter(chunks)
            .map(|chunk| async move {
                let n = chunk.len();
                self.rdb.enqueue(&chunk, ttl).await.map(|r| (n, r))
            })
            .buffered(4);
        let mut out = Vec::with_capacity(news.len());
        while let Some((n, r)) = results.try_next().await? {
            out.extend(r);
            progress(n);
        }
        Ok(out)
    }

    /// Everything stored about a job, `None` if unknown (or past its retention).
    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>> {
        self.rdb.job(id).await
    }

    /// A job's state.
    pub async fn state(&self, id: &str) -> Result<Option<JobState>> {
        Ok(self.rdb.states(&[id.to_string()]).await?.pop().flatten())
    }

    /// A completed job's result (`None` while not completed).
    pub async fn result(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let job = self
            .rdb
            .job(id)
            .await?
            .ok_or_else(|| QueueError::NotFound(id.into()))?;
        Ok(job.result)
    }

    /// Waits until the job is completed or dead, up to `timeout`.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Result<JobRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            let job = self
                .rdb
                .job(id)
                .await?
                .ok_or_else(|| QueueError::NotFound(id.into()))?;
            if matches!(job.state, JobState::Completed | JobState::Dead) {
                return Ok(job);
            }
            if Instant::now() >= deadline {
                return Err(QueueError::Timeout(id.into()));
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    /// Counts per state, lifetime totals, live workers and flags.
    pub async fn stats(&self) -> Result<Stats> {
        let live_since = now_ms().saturating_sub(crate::backend::WORKER_TTL.as_millis() as u64);
        let raw = self.rdb.stats(live_since).await?;
        Ok(Stats::from_raw(&self.cfg.name, raw))
    }

    /// Stops every worker from claiming (running jobs finish).
    pub async fn pause(&self) -> Result<()> {
        self.rdb.set_paused(true).await
    }

    /// Lets workers claim again.
    pub async fn resume(&self) -> Result<()> {
        self.rdb.set_paused(false).await
    }

    /// Stops every worker from claiming for `d` (upstream asked the fleet to back off).
    pub async fn throttle(&self, d: Duration) -> Result<Duration> {
        self.rdb.throttle(d).await
    }

    /// Takes one extra slot of the queue's rate limit for a second upstream call inside a job;
    /// `Some(wait)` when none is free.
    pub async fn permit(&self) -> Result<Option<Duration>> {
        self.rdb.permit(self.cfg.rate_limit).await
    }

    /// Registered workers with their last heartbeat.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        let live_since = now_ms().saturating_sub(crate::backend::WORKER_TTL.as_millis() as u64);
        Ok(self
            .rdb
            .workers()
            .await?
            .into_iter()
            .map(|w| {
                let mut info: WorkerInfo = serde_json::from_str(&w.info).unwrap_or_default();
                info.id = w.id;
                info.last_seen = w.last_seen;
                info.alive = w.last_seen >= live_since;
                info
            })
            .collect())
    }
}

/// What a worker process says about itself in its heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Worker id (`host:pid:suffix`).
    #[serde(default)]
    pub id: String,
    /// Host name.
    #[serde(default)]
    pub host: String,
    /// Process id.
    #[serde(default)]
    pub pid: u32,
    /// Start time (ms).
    #[serde(default)]
    pub started_at: u64,
    /// Concurrent jobs per worker loop.
    #[serde(default)]
    pub concurrency: usize,
    /// Worker loops in the process.
    #[serde(default)]
    pub loops: usize,
    /// Jobs held right now.
    #[serde(default)]
    pub in_flight: usize,
    /// Last heartbeat (ms).
    #[serde(default)]
    pub last_seen: u64,
    /// Heartbeat is recent.
    #[serde(default)]
    pub alive: bool,
    /// Crate version.
    #[serde(default)]
    pub version: String,
}
