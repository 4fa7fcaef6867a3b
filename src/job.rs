//! The vocabulary every layer shares: jobs as producers write them, their state, metadata,
//! failures and attempt history, and the lease a worker holds. Types only; storage is `rdb`.

mod excerpt;
mod options;
mod shown;
mod trace;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub use excerpt::excerpt;
pub use options::{EnqueueOptions, METADATA_MAX, check_metadata};
pub use shown::{RULE_PREFIX, json_error_rule, kind_for_log, kind_for_metrics};
pub use trace::TraceContext;

/// Job ids are ULIDs: unique across machines and sortable by creation time.
pub type JobId = String;

/// A job type the queue can carry.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Short name stored with the job and used by filters (e.g. `bvn_verify`).
    fn kind(&self) -> &str;

    /// Checked before enqueue; an error refuses the job and nothing is written.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// The identifier the job verifies, for the keyed-hash identity index (`job find --bvn`).
    fn identity(&self) -> Option<(crate::ident::IdType, &str)> {
        None
    }
}

/// One claim of one job: the id and the fencing token Redis handed out with it. Everything that
/// holds, extends, releases or finishes a claim speaks of a `Lease`, never of a bare id, so the
/// outcome of one run can never touch the claim of another run of the same job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lease {
    /// Job id.
    pub id: JobId,
    /// Fencing token of the claim (unique per queue, increasing; the jobs of one claim call
    /// share it).
    pub token: u64,
    /// The job's lease as Redis stores it: the claim's token, as text. An outcome is applied
    /// only while the stored lease is still exactly this (one comparison, no parsing).
    pub stored: String,
    /// The job never ran before this claim (no attempts, no history): a success needs no
    /// history to be kept (it is implied).
    pub first_run: bool,
}

impl Lease {
    /// The lease of job `id` under the claim `token` (one per claim call, shared by its jobs).
    pub fn claimed(id: JobId, token: u64, first_run: bool) -> Self {
        Self {
            stored: token.to_string(),
            id,
            token,
            first_run,
        }
    }
}

impl std::fmt::Display for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.id, self.token)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its due time (a delayed job or a retry).
    Scheduled,
    /// Waiting for a worker.
    Ready,
    /// Claimed by a worker, under a lease.
    Running,
    /// Finished; kept with its result until the retention ends.
    Completed,
    /// A dead letter.
    Dead,
    /// Cancelled before it started; kept like a completed job until the retention ends.
    Cancelled,
}

impl JobState {
    /// The states `jobs list` and the dashboard list (dead letters have a listing of their own).
    pub const LISTABLE: [JobState; 5] = [
        Self::Ready,
        Self::Scheduled,
        Self::Running,
        Self::Completed,
        Self::Cancelled,
    ];

    /// Parses a state's name (a state is never stored: it follows from where the job is).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "scheduled" => Self::Scheduled,
            "ready" => Self::Ready,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "dead" => Self::Dead,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Ready => "ready",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest a job may wait for its due time: 365 days. A delay or run-at time past it is
/// refused where it enters (enqueue options, `dlq requeue`, okra-admin's flags and files);
/// a retry's wait (backoff, an upstream's `Retry-After`) is capped at it. So every due time is
/// an integer of ms far below 2^53, which Redis's Lua writes as digits, never as a float
/// (`1.2e+14`) that no reader would parse. The scripts cap due times at the same value
/// (`MAX_DELAY_MS` in `lua/lib.lua`).
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// Checks a delay and a run-at time against [`MAX_DELAY`] (this machine's clock for the
/// run-at time; a time in the past means now). The message names the rule, not the value.
pub fn check_delay(delay: Option<Duration>, run_at: Option<SystemTime>) -> Result<(), String> {
    let days = MAX_DELAY.as_secs() / 86_400;
    if delay.is_some_and(|d| d > MAX_DELAY) {
        return Err(format!("delay is longer than the maximum of {days} days"));
    }
    if let Some(at) = run_at
        && at
            .duration_since(SystemTime::now())
            .is_ok_and(|ahead| ahead > MAX_DELAY)
    {
        return Err(format!(
            "run-at time is more than the maximum of {days} days ahead"
        ));
    }
    Ok(())
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    /// The new job's id, or the original job's id for a duplicate.
    pub id: JobId,
    /// True when the idempotency key was already claimed and nothing was enqueued.
    pub duplicate: bool,
}

/// Metadata stored beside the payload. A ready job's `window_start` and `due_at` are its
/// `created_at` and are not stored (a record is most of what a waiting job costs in Redis);
/// reading fills them in, so no reader can see them missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredMeta")]
pub struct JobMeta {
    /// The job's kind.
    pub kind: String,
    /// Attempt budget given at enqueue; `None` follows the fleet's `retry.max_attempts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Idempotency key, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Times the job was requeued from dead letters.
    #[serde(default)]
    pub requeues: u32,
    /// Enqueue time (Redis server time, ms since the epoch).
    #[serde(default)]
    pub created_at: u64,
    /// Start of the retry window (enqueue, or the last requeue from dead; Redis time).
    #[serde(default)]
    pub window_start: u64,
    /// When it was first due to run: enqueue time plus delay, or the last requeue's due time
    /// (Redis time, ms).
    #[serde(default)]
    pub due_at: u64,
    /// Keyed hash of the identifier the job verifies (its identity-index entry), if indexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ix: Option<String>,
    /// The job asked for a fresh answer: no answer stored for reuse is handed to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fresh: bool,
    /// The W3C trace context of the span that enqueued it (plain, never sealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
    /// The app's metadata as JSON text ([`EnqueueOptions::metadata`]); sealed at rest on a
    /// sealed queue, opened by [`crate::Queue::job`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

/// [`JobMeta`] as stored: the times a ready job shares with `created_at` may be absent.
#[derive(Deserialize)]
struct StoredMeta {
    kind: String,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    requeues: u32,
    #[serde(default)]
    created_at: u64,
    #[serde(default)]
    window_start: Option<u64>,
    #[serde(default)]
    due_at: Option<u64>,
    #[serde(default)]
    ix: Option<String>,
    #[serde(default)]
    fresh: bool,
    #[serde(default)]
    trace: Option<TraceContext>,
    metadata: Option<String>,
}

impl From<StoredMeta> for JobMeta {
    fn from(m: StoredMeta) -> Self {
        Self {
            kind: m.kind,
            max_attempts: m.max_attempts,
            idempotency_key: m.idempotency_key,
            requeues: m.requeues,
            created_at: m.created_at,
            window_start: m.window_start.unwrap_or(m.created_at),
            due_at: m.due_at.unwrap_or(m.created_at),
            ix: m.ix,
            fresh: m.fresh,
            trace: m.trace,
            metadata: m.metadata,
        }
    }
}

impl JobMeta {
    /// The attempt budget that applies now: the job's own, or the fleet's default.
    pub fn budget(&self, fleet_default: u32) -> u32 {
        self.max_attempts.unwrap_or(fleet_default).max(1)
    }

    /// The metadata as `enqueue.lua` takes it: the JSON object's fields after the Redis-time
    /// `created_at`, `window_start` and `due_at` the script writes first (`,"kind":…}`).
    pub(crate) fn tail(&self) -> String {
        #[derive(Serialize)]
        struct Head<'a> {
            kind: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            max_attempts: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            idempotency_key: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            ix: Option<&'a str>,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            fresh: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            trace: Option<&'a TraceContext>,
            // Last: the scripts read `kind` and `ix` as the first match in the line.
            #[serde(skip_serializing_if = "Option::is_none")]
            metadata: Option<&'a str>,
        }
        let mut text = serde_json::to_string(&Head {
            kind: &self.kind,
            max_attempts: self.max_attempts,
            idempotency_key: self.idempotency_key.as_deref(),
            ix: self.ix.as_deref(),
            fresh: self.fresh,
            trace: self.trace.as_ref(),
            metadata: self.metadata.as_deref(),
        })
        .expect("metadata serializes");
        // `{"kind":…}` → `,"kind":…}`
        text.replace_range(..1, ",");
        text
    }
}

/// What a history entry records: how an attempt ended, or an operator's action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// The attempt succeeded.
    #[default]
    Success,
    /// The attempt failed and another is scheduled.
    Retry,
    /// The job became a dead letter.
    Dead,
    /// Given back unstarted or unfinished at shutdown (the attempt refunded).
    Released,
    /// Sent back to work from the dead letters by an operator.
    Requeued,
    /// Cancelled by an operator before it started.
    Cancelled,
}

impl HistoryKind {
    /// The name stored in the history and used as the `outcome` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Retry => "retry",
            Self::Dead => "dead",
            Self::Released => "released",
            Self::Requeued => "requeued",
            Self::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for HistoryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a job's attempt history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When it was recorded (Redis server time, ms).
    #[serde(default)]
    pub at: u64,
    /// What happened.
    pub outcome: HistoryKind,
    /// The attempt number this entry closes (0 for operator actions).
    #[serde(default)]
    pub attempt: u32,
    /// Failure class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Upstream HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Upstream error type (Okra's `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Worker that ran the attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// How long the attempt ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Delay chosen before the next attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
}

impl HistoryEntry {
    /// The entry as the Lua side appends it: a JSON object without its opening brace (the
    /// script prepends `{"at":<server time>,`).
    pub(crate) fn to_script_arg(&self) -> String {
        let mut value = serde_json::to_value(self).expect("history entries serialize");
        if let Some(map) = value.as_object_mut() {
            map.remove("at");
        }
        let text = value.to_string();
        text[1..].to_string()
    }
}

/// Why a job failed, as recorded on retries and on dead letters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Failure class (e.g. `server_error`, `rate_limited`, `flagged_user`, `lease_expired`).
    pub class: String,
    /// Why it died (`terminal`, `attempts_exhausted`, `retry_window_exceeded`); unset on retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Error message (the whole error chain).
    pub message: String,
    /// Upstream HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Upstream error type (Okra's `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Upstream error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Upstream method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The start of the upstream body (at most 4 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Attempt that failed.
    #[serde(default)]
    pub attempt: u32,
    /// The attempt may have taken effect upstream without its answer arriving (a timeout, a
    /// reset, a lost lease): the next attempt looks before it acts again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncertain: bool,
    /// With `uncertain`: the latest moment (ms, Redis time) the uncertain action can have
    /// started. A provider still finishing it may say "no such record" until its answer
    /// deadline has passed since then, so an absence only counts after that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain_at: Option<u64>,
    /// The attempt's lease was taken back (its holder stopped renewing it: crashed, killed,
    /// cut off) at this moment (ms, Redis time). What the holder did meanwhile is unknown; a
    /// handler decides what that means (the Okra handler: a charge that may have happened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_lost_at: Option<u64>,
    /// The upstream service the attempt called (`prembly`), so an uncertain attempt's next
    /// one goes back to the service that may have done the work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The upstream service certainly did not take the call (its own "try later", a refused
    /// connection): the next attempt may go to another one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unavailable: bool,
}

impl Failure {
    /// When the attempt may have had an effect upstream that nobody saw, the latest moment
    /// that effect can have started (ms, Redis time): an uncertain call, or a lost lease
    /// (`now` for a record written before these times were kept). `None` when the attempt
    /// ended knowing what it did.
    pub fn unseen_effect_since(&self, now: u64) -> Option<u64> {
        self.uncertain_at
            .or(self.lease_lost_at)
            .or_else(|| self.uncertain.then_some(now))
    }
}

/// Longest upstream body excerpt kept on a failure.
pub const BODY_EXCERPT_MAX: usize = 4096;

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Everything stored about one job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    /// Job id.
    pub id: JobId,
    /// Current state.
    pub state: JobState,
    /// Kind and timestamps.
    pub meta: JobMeta,
    /// The payload as stored (JSON text; it may not decode if another producer wrote it).
    pub payload: String,
    /// Attempts spent in the current budget.
    pub attempts: u32,
    /// The budget in force: the job's own, or the fleet's `retry.max_attempts` (as this
    /// handle's config says) when the job was enqueued without one.
    pub max_attempts: u32,
    /// Due time while scheduled (ms).
    pub due_at: Option<u64>,
    /// Lease deadline while running (ms).
    pub lease_until: Option<u64>,
    /// Worker holding the lease while running.
    pub worker: Option<String>,
    /// Time of death (ms) while dead.
    pub died_at: Option<u64>,
    /// Finish time (ms) while completed.
    pub finished_at: Option<u64>,
    /// Handler result while completed.
    pub result: Option<serde_json::Value>,
    /// Last failure, if any attempt failed.
    pub last_error: Option<Failure>,
    /// The last attempts, oldest first.
    pub history: Vec<HistoryEntry>,
}

impl JobRecord {
    /// The app's metadata given at enqueue (`None` without any; a JSON string
    /// `sealed (key k1)` when it does not open with this handle's keys).
    pub fn metadata(&self) -> Option<serde_json::Value> {
        let text = self.meta.metadata.as_deref()?;
        Some(
            serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.to_string())),
        )
    }
}

/// Splits a stored record into (metadata JSON, payload JSON): JSON text never holds a raw
/// newline, so the first one splits them and one hash field serves both.
pub(crate) fn split_record(record: &str) -> (&str, &str) {
    record.split_once('\n').unwrap_or((record, ""))
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Now, in ms since the epoch (this machine's clock).
pub fn now_ms() -> u64 {
    epoch_ms(SystemTime::now())
}

/// A fresh job id.
pub fn new_id() -> JobId {
    ulid::Ulid::new().to_string()
}

/// A stored result: `<15-digit ms>|<result>`, stamped with the Redis time it was written (the
/// job's finish), or a bare result from before results were stamped.
pub fn split_result(stored: &str) -> (Option<u64>, &str) {
    let b = stored.as_bytes();
    if b.len() > 15 && b[15] == b'|' && b[..15].iter().all(u8::is_ascii_digit) {
        (stored[..15].parse().ok(), &stored[16..])
    } else {
        (None, stored)
    }
}

/// Attempts as shown: `attempts` holds what finished runs spent, and a running or completed
/// job's last attempt is one more (it is not written on the hot path).
pub fn attempts_shown(stored: u32, state: JobState) -> u32 {
    match state {
        JobState::Running | JobState::Completed => stored + 1,
        _ => stored,
    }
}

/// The machine's name (worker ids, `okra-admin workers`, the audit trail's default actor).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_bounded_here_and_in_the_scripts() {
        assert!(check_delay(Some(MAX_DELAY), None).is_ok());
        let e = check_delay(Some(MAX_DELAY + Duration::from_millis(1)), None).unwrap_err();
        assert_eq!(e, "delay is longer than the maximum of 365 days");
        assert!(check_delay(Some(Duration::from_millis(u64::MAX)), None).is_err());
        let far = SystemTime::now() + MAX_DELAY + Duration::from_secs(3600);
        assert!(check_delay(None, Some(far)).is_err());
        assert!(
            check_delay(None, Some(UNIX_EPOCH)).is_ok(),
            "a past time means now"
        );
        let lib = include_str!("rdb/lua/lib.lua");
        let line = format!("local MAX_DELAY_MS = {}\n", MAX_DELAY.as_millis());
        assert!(lib.contains(&line), "lua/lib.lua must say {line}");
    }

    #[test]
    fn a_ready_job_stores_one_time_and_reads_three() {
        let meta: JobMeta =
            serde_json::from_str(r#"{"created_at":1000,"kind":"bvn_verify"}"#).unwrap();
        assert_eq!(
            (meta.created_at, meta.window_start, meta.due_at),
            (1000, 1000, 1000)
        );
        let later: JobMeta = serde_json::from_str(
            r#"{"created_at":1000,"due_at":5000,"window_start":3000,"kind":"bvn_verify"}"#,
        )
        .unwrap();
        assert_eq!((later.window_start, later.due_at), (3000, 5000));
    }

    #[test]
    fn history_entries_lose_their_brace_and_time_for_the_script() {
        let entry = HistoryEntry {
            at: 99,
            outcome: HistoryKind::Retry,
            attempt: 2,
            http_status: Some(503),
            ..HistoryEntry::default()
        };
        let arg = entry.to_script_arg();
        assert!(!arg.contains("\"at\""));
        let full: HistoryEntry = serde_json::from_str(&format!("{{\"at\":5,{arg}")).unwrap();
        assert_eq!(full.at, 5);
        assert_eq!(full.http_status, Some(503));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
