//! Redis key layout of one queue.
//!
//! Every key of queue `Q` starts with `okq:{Q}:`. The `{Q}` hash tag puts the whole queue in one
//! Redis Cluster slot, so every Lua script can touch all of its keys on a single node. Scripts get
//! every key they touch through `KEYS`: apart from idempotency claims (one key per claimed
//! idempotency key, known before the script runs) the layout uses a fixed set of keys per queue;
//! per-job data lives in per-queue hashes keyed by job id ("column" hashes), not in per-job keys.
//!
//! A job's state is not stored; it follows from where the job is: a lease means running, the
//! dead set means dead, the scheduled set means scheduled, a result means completed, a
//! cancellation stamp means cancelled, and anything else is ready. One hash write less on every
//! transition.
//!
//! One key lives outside every queue: `okq:queues`, the set of queue names (the registry that
//! `okra-admin queues` lists and every command checks names against). An Okra account's keys
//! (its rate limit, throttle, reuse store, pay locks, spend ledger and daily budget) live under
//! a hash tag of their own, `okq:{acct:NAME}:` (see [`AccountKeys`]).
//!
//! Queue and account names hold only ASCII letters, digits, `-`, `_` and `.`, 1 to 64 bytes
//! ([`validate_name`]). So no queue's hash tag can be an account's (those hold a `:`), and no
//! name holds a glob character: a name that enters a `SCAN` pattern is still escaped
//! ([`glob_escape`]), so a name read back from Redis can never match another queue's keys.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `ready` | list | ids ready to run; producers `LPUSH`, workers `RPOP` (FIFO) |
//! | `scheduled` | zset | ids waiting for a due time (delayed jobs and retries), score = due ms |
//! | `running` | zset | claims (one per claim call: its fencing token), score = their lease deadline ms |
//! | `claims` | hash | claim token → `worker|claimed_at_ms|id id …`: who holds it, since when, which jobs |
//! | `dead` | zset | dead letters, score = time of death ms |
//! | `dead_index` | zset | lexicographic index of dead letters by class / kind / status / type |
//! | `completed` | list | `finish_ms|id` of completed and cancelled jobs, in finish order (for the retention sweep) |
//! | `job` | hash | id → `meta JSON` newline `payload JSON` (kind, budget, timestamps, key; the job) |
//! | `attempts` | hash | id → attempts spent in the current budget (none = 0) |
//! | `lease` | hash | id → the token of the claim that holds it (the jobs of one claim call share it) |
//! | `history` | hash | id → JSON array of the last attempts |
//! | `result` | hash | id → handler result (JSON) |
//! | `error` | hash | id → last failure (JSON) |
//! | `cancelled` | hash | id → cancellation time ms |
//! | `dindex` | hash | id → the `dead_index` members of a dead letter |
//! | `stats` | hash | lifetime counters |
//! | `paused` | string | present while the queue is paused; holds the reason |
//! | `budget` | string | the fleet's `retry.max_attempts`, as its workers last published it (for display) |
//! | `not_found` | string | the drain guard's count of consecutive `not_found` failures |
//! | `throttle` | string | present (with a TTL) while claiming is throttled |
//! | `rate` | zset | claim timestamps inside the rate-limit window |
//! | `seq` | string | fencing-token counter |
//! | `wake` | list | wake-up token idle workers block on (new ready work) |
//! | `sched` | list | wake-up token for the scheduler (a job was scheduled sooner than all others) |
//! | `workers` | zset | worker id → last heartbeat ms |
//! | `worker_info` | hash | worker id → JSON description |
//! | `events` | stream | enqueued / retry / completed / dead / cancelled / requeued events, capped |
//! | `ident` | zset | identity index: `hmac|id` members (score 0), keyed hashes of BVN, NIN, NUBAN |
//! | `minutes` | hash | `minute|p` and `minute|f`: attempts processed and failed per minute (last 2 h) |
//! | `sampler` | string | the worker process that exports the queue-wide gauges, with a TTL |
//! | `erased` | hash | id → time: running jobs of an erased person, deleted when their outcome arrives |
//! | `answers` | string | how far (died-at ms) Okra's answers were dropped from dead letters (`dead.answer_retention`) |
//! | `rekey` | hash | `okra-admin keys rekey`'s progress: column → scan cursor (resumable) |
//! | `sealed` | hash | present once the queue is sealed: key id → when it first sealed here (ms); writers refuse plaintext |
//! | `hooks` | hash | webhook endpoint id → its JSON (URL, events, secrets; src/webhooks/) |
//! | `hooks_on` | string | the events some enabled endpoint takes (`c`, `d`, `r`); absent = none |
//! | `outbox` | list | `c|id|ms` references of outcomes to deliver, written by `outcome.lua` |
//! | `outbox_held` | list | references a worker's forwarder is turning into delivery jobs |
//! | `idem:<key>` | string | idempotency claim → job id, with a TTL; `<key>` is `#` and a keyed hash, never the key as given |
//! | `reqfp:<key>` | string | `okra-gateway`: hash (as `idem:`, keyed under `queue.index_key`) of the SHA-256 of the body that first used idempotency key `<key>`, same TTL; another body under the key is refused (422) |
//!
//! The gateway's API keys live outside every queue: `okq:apikeys` (hash: name → the key's
//! record, with the SHA-256 of its token, never the token), `okq:apikey:<sha256>` (string: the
//! record again, what a request looks up) and `okq:apikey-reads` (capped stream: key name,
//! queue and job id of each result read through the gateway).

/// Keys of one queue. Cheap to clone; build once per queue.
#[derive(Debug, Clone)]
pub struct Keys {
    queue: String,
    prefix: String,
}

macro_rules! keys {
    ($($name:ident),* $(,)?) => {
        impl Keys {
            $(
                #[doc = concat!("`okq:{Q}:", stringify!($name), "`")]
                pub fn $name(&self) -> String {
                    format!("{}{}", self.prefix, stringify!($name))
                }
            )*

            /// Every key of the queue with a fixed name (all but the idempotency claims), for
            /// deleting a queue: generated from the same list as the accessors, so none is missed.
            pub fn all_fixed(&self) -> Vec<String> {
                vec![$(self.$name()),*]
            }
        }
    };
}

keys!(
    ready,
    scheduled,
    running,
    claims,
    dead,
    dead_index,
    completed,
    job,
    attempts,
    lease,
    history,
    result,
    error,
    cancelled,
    dindex,
    events,
    ident,
    sampler,
    minutes,
    stats,
    paused,
    throttle,
    rate,
    seq,
    wake,
    sched,
    not_found,
    budget,
    workers,
    worker_info,
    erased,
    answers,
    rekey,
    durable,
    sealed,
    hooks,
    hooks_on,
    outbox,
    outbox_held,
);

impl Keys {
    /// Key layout for queue `queue`, a name [`validate_name`] accepts (the library's `Queue`
    /// constructors check it): it becomes the hash tag.
    pub fn new(queue: &str) -> Self {
        Self {
            queue: queue.to_string(),
            prefix: format!("okq:{{{queue}}}:"),
        }
    }

    /// The queue name.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The common prefix `okq:{Q}:`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Idempotency claim for `key`.
    pub fn idempotency(&self, key: &str) -> String {
        format!("{}idem:{key}", self.prefix)
    }

    /// The gateway's fingerprint of the first request that used idempotency key `key`.
    pub fn request_fingerprint(&self, key: &str) -> String {
        format!("{}reqfp:{key}", self.prefix)
    }

    /// Every idempotency claim of the queue (a `SCAN` pattern; the name is escaped).
    pub fn idempotency_pattern(&self) -> String {
        format!("{}idem:*", glob_escape(&self.prefix))
    }

    /// Column hashes that hold per-job data: deleting a job means `HDEL` from each.
    /// Scripts take them consecutively, in this order (`dindex` last).
    pub fn job_columns(&self) -> [String; 8] {
        [
            self.job(),
            self.attempts(),
            self.lease(),
            self.history(),
            self.result(),
            self.error(),
            self.cancelled(),
            self.dindex(),
        ]
    }
}

/// The registry of queue names (a set). It lives outside every queue's hash tag, so it is
/// written with its own command, never inside a queue's script.
pub const QUEUES: &str = "okq:queues";

/// The key check values (a hash, outside every hash tag): seal key id → HMAC of a fixed
/// label under the key, written on the key's first use; a process holding other bytes under a
/// known id refuses to start.
pub const KEYCHECK: &str = "okq:keycheck";

/// Webhook endpoint id → its queue (a hash, outside every hash tag): `webhook remove ID`
/// finds the endpoint's queue here.
pub const WEBHOOKS: &str = "okq:webhooks";

/// The audit trail of operator changes in every queue (a capped stream, outside every hash
/// tag like the registry).
pub const AUDIT: &str = "okq:audit";

/// The gateway's API keys by name (a hash of records; outside every hash tag).
pub const API_KEYS: &str = "okq:apikeys";

/// Prefix of the key that finds an API key's record by the SHA-256 of its token.
pub const API_KEY_PREFIX: &str = "okq:apikey:";

/// Result reads through the gateway, per API key (a capped stream of its own).
pub const API_KEY_READS: &str = "okq:apikey-reads";

/// Keys of one upstream account's rate limit and throttle: `okq:{acct:NAME}:…`, a hash tag of
/// their own, so every queue that calls the upstream with that account shares them, and no
/// script ever touches them together with a queue's keys (Redis Cluster keeps working).
#[derive(Debug, Clone)]
pub struct AccountKeys {
    name: String,
    prefix: String,
    scope: String,
}

impl AccountKeys {
    /// Keys of account `name`, a name [`validate_name`] accepts (checked with the queue's
    /// settings): `okq:{acct:NAME}:`, which no queue name (no `:` in it) can produce.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            prefix: format!("okq:{{acct:{name}}}:"),
            scope: format!("acct:{name}"),
        }
    }

    /// The account name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `acct:NAME`, the account's hash tag.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Call times inside the rate-limit window (zset).
    pub fn rate(&self) -> String {
        format!("{}rate", self.prefix)
    }

    /// Present (with a TTL) while the upstream asked the account to back off.
    pub fn throttle(&self) -> String {
        format!("{}throttle", self.prefix)
    }

    /// The limit per window every worker shares (the first worker's config sets it).
    pub fn limit(&self) -> String {
        format!("{}limit", self.prefix)
    }

    /// Counter for slot ids.
    pub fn seq(&self) -> String {
        format!("{}seq", self.prefix)
    }

    /// The person's one entry for a kind (`reuse:<kind>:<keyed hash of the identifier>`, never
    /// the identifier; a string with a TTL): the pay lock while a paid call is in flight
    /// (`run|<queue|job|token>`, a call's life), the note that the last call got no answer
    /// (`unsure|…`), or the profile the account paid for, reused within `okra.reuse_window`
    /// (`profile|<keyed hashes of the others it names>|<value>`; a bare value when written
    /// by an earlier version).
    pub fn reuse(&self, kind: &str, person: &str) -> String {
        self.reuse_parts(kind, person).into_string()
    }

    /// [`Self::reuse`] as its parts: written straight into a command on the reuse store's hot
    /// path (every job, twice), never joined into a `String` of its own.
    pub fn reuse_parts<'a>(&'a self, kind: &'a str, person: &'a str) -> Joined<'a, 5> {
        Joined([&self.prefix, "reuse:", kind, ":", person])
    }

    /// Where an earlier version kept a person's pay lock (`run|…`) or its note (`unsure|…`):
    /// nothing writes it now; erasing the person still removes it.
    pub fn paying(&self, kind: &str, person: &str) -> String {
        format!("{}paying:{kind}:{person}", self.prefix)
    }

    /// The free lookup routes that have answered with a profile (hash: path → ms, Redis time,
    /// of the first such answer): a 404 carrying the provider's error envelope from one of
    /// them is a definite "no such identity", never a path that does not exist.
    pub fn lookups(&self) -> String {
        format!("{}lookups", self.prefix)
    }

    /// The spend ledger of one UTC day (`YYYY-MM-DD`): `<kind>|<counter>` → count.
    pub fn spend(&self, day: &str) -> String {
        format!("{}spend:{day}", self.prefix)
    }

    /// Paid-call slots taken today against `okra.daily_budget` (`<day number>|<count>`).
    pub fn budget(&self) -> String {
        format!("{}budget", self.prefix)
    }

    /// Present while the daily budget holds every queue of the account (the reason; it expires
    /// at the next UTC midnight).
    pub fn hold(&self) -> String {
        format!("{}hold", self.prefix)
    }

    /// Present when an operator lifted today's budget hold (until the next UTC midnight).
    pub fn lifted(&self) -> String {
        format!("{}lifted", self.prefix)
    }

    /// `okra-admin keys rekey`'s progress through the reuse store (hash: cursor, target key).
    pub fn rekey(&self) -> String {
        format!("{}rekey", self.prefix)
    }

    /// Profiles stored for reuse (a `SCAN` pattern; the name is escaped).
    pub fn reuse_pattern(&self) -> String {
        format!("{}reuse:*", glob_escape(&self.prefix))
    }

    /// The reuse-store entries whose profile carries `person` (a keyed hash of a BVN, NIN or
    /// account number found in the answer), so erasing that person finds them (a set with the
    /// reuse window's TTL).
    pub fn carries(&self, person: &str) -> String {
        [&self.prefix, "carries:", person].concat()
    }

    /// Present once a sealed profile was stored (key id → first time, ms): the reuse store
    /// then takes sealed profiles only.
    pub fn sealed(&self) -> String {
        format!("{}sealed", self.prefix)
    }

    /// The earlier layout's list of the keyed hashes (space-separated) the profile stored
    /// under `reuse(kind, person)` names (now inside the entry): still read by erase until it
    /// expires, never written.
    pub fn names(&self, kind: &str, person: &str) -> String {
        format!("{}names:{kind}:{person}", self.prefix)
    }

    /// Present (with a TTL) after a person was erased: no answer that arrives later may store
    /// their profile for reuse again.
    pub fn erased(&self, person: &str) -> String {
        self.erased_parts(person).into_string()
    }

    /// [`Self::erased`] as its parts (see [`Self::reuse_parts`]).
    pub fn erased_parts<'a>(&'a self, person: &'a str) -> Joined<'a, 3> {
        Joined([&self.prefix, "erased:", person])
    }
}

/// The characters a queue or account name may hold besides ASCII letters and digits.
pub const NAME_PUNCTUATION: [char; 3] = ['-', '_', '.'];

/// Longest queue or account name, in bytes.
pub const NAME_MAX: usize = 64;

/// Checks a queue or account name (`what`: "queue" or "account"): 1 to 64 bytes of ASCII
/// letters, digits, `-`, `_` and `.`. Nothing else: not `:` (an account's hash tag is
/// `acct:NAME`, which a queue name could otherwise spell), not `{` `}` (the hash tag), not the
/// glob characters `* ? [ ] \` (names enter `SCAN` patterns), no spaces or control characters.
/// The message is one line and shows the name escaped.
pub fn validate_name(what: &str, name: &str) -> Result<(), String> {
    let rule = format!("{what} names hold 1 to {NAME_MAX} ASCII letters, digits, `-`, `_` and `.`");
    if name.is_empty() {
        return Err(format!("{what} name is empty ({rule})"));
    }
    let shown: String = name
        .chars()
        .take(NAME_MAX)
        .flat_map(char::escape_debug)
        .collect();
    if name.len() > NAME_MAX {
        return Err(format!(
            "{what} name `{shown}…` is longer than {NAME_MAX} bytes ({rule})"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || NAME_PUNCTUATION.contains(c)))
    {
        return Err(format!(
            "{what} name `{shown}` holds {c:?}, which names may not ({rule})"
        ));
    }
    Ok(())
}

/// Checks a queue name ([`validate_name`]).
pub fn validate_queue_name(name: &str) -> Result<(), String> {
    validate_name("queue", name)
}

/// `s` with Redis glob characters (`* ? [ ] \`) escaped, for a literal part of a `SCAN` /
/// `KEYS` pattern: the pattern then matches that text only.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A key or value made of parts: a command argument written piece by piece into the command
/// (no `String` is built for it), or one `String` with [`Joined::into_string`].
#[derive(Clone, Copy)]
pub struct Joined<'a, const N: usize>(pub [&'a str; N]);

impl<const N: usize> Joined<'_, N> {
    pub fn into_string(self) -> String {
        self.0.concat()
    }
}

impl<const N: usize> redis::ToRedisArgs for Joined<'_, N> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        // Joined on the stack (keys are short), written into the command in one piece.
        let mut buf = [0u8; 256];
        let len = self.0.iter().map(|p| p.len()).sum::<usize>();
        if len > buf.len() {
            return out.write_arg(self.0.concat().as_bytes());
        }
        let mut at = 0;
        for part in self.0 {
            buf[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        out.write_arg(&buf[..len]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn joined_parts_are_one_argument_as_if_joined() {
        let long = "x".repeat(300);
        for parts in [
            ["okq:", "{acct:a}:", "reuse:"],
            ["", "", ""],
            ["a", &long, "b"],
        ] {
            let joined = parts.concat();
            let mut by_parts = redis::cmd("SET");
            by_parts.arg(Joined(parts)).arg(1);
            let mut whole = redis::cmd("SET");
            whole.arg(&joined).arg(1);
            assert_eq!(by_parts.get_packed_command(), whole.get_packed_command());
            assert_eq!(Joined(parts).into_string(), joined);
        }
    }

    use super::*;

    #[test]
    fn every_key_shares_the_hash_tag() {
        let k = Keys::new("identity");
        for key in [
            k.ready(),
            k.dead(),
            k.idempotency("order-42"),
            k.worker_info(),
        ] {
            assert!(key.starts_with("okq:{identity}:"), "{key}");
        }
        assert_eq!(k.running(), "okq:{identity}:running");
    }

    #[test]
    fn queue_names_are_checked() {
        assert!(validate_queue_name("identity").is_ok());
        assert!(validate_queue_name("kyc-slow_2.v1").is_ok());
        for bad in [
            "",
            "a{b}",
            "a b",
            "*",
            "a?",
            "[a]",
            "a\\b",
            "acct:default",
            "a\nb",
            "é",
            "a|b",
        ] {
            assert!(validate_queue_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_queue_name(&"a".repeat(64)).is_ok());
        assert!(validate_queue_name(&"a".repeat(65)).is_err());
        let e = validate_name("account", "x\ny*").unwrap_err();
        assert!(
            !e.contains('\n') && e.starts_with("account name `x\\ny*`"),
            "{e}"
        );
    }

    #[test]
    fn no_queue_name_spells_an_account_prefix() {
        // An account's hash tag holds a `:`, which no valid queue name does.
        let account = AccountKeys::new("default");
        assert!(validate_queue_name(account.scope()).is_err());
        assert_eq!(account.budget(), "okq:{acct:default}:budget");
    }

    #[test]
    fn scan_patterns_escape_the_name() {
        assert_eq!(glob_escape(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
        assert_eq!(glob_escape("identity"), "identity");
        assert_eq!(Keys::new("*").idempotency_pattern(), r"okq:{\*}:idem:*");
        assert_eq!(
            AccountKeys::new("a?").reuse_pattern(),
            r"okq:{acct:a\?}:reuse:*"
        );
    }
}
