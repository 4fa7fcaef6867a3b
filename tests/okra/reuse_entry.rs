//! The reuse store's one entry per person and kind (`reuse:<kind>:<person>`): the pay lock, the
//! note that a call got no answer, or the stored profile with the hashes it names, each state
//! driven through the account's own calls against a real Redis: the common case as plain
//! commands (no script), the rest by the scripts, and what a plain settle stored that must not
//! stay (another's lock, a tombstone, a sealed account) put right; entries written by the
//! earlier layout (a bare profile, `paying:` and `names:` keys) still reused, erased and
//! re-sealed.

use std::time::Duration;

use okra_queue::rdb::{Begin, End};
use okra_queue::{Queue, QueueConfig};

use super::common::RedisServer;
use super::common::cpu::commandstats;

const KIND: &str = "bvn_verify";
const ANNE: &str = "0123456789abcdef0123456789abcdef";
const BOLA: &str = "fedcba9876543210fedcba9876543210";
const HOUR: Duration = Duration::from_secs(3600);
const LOCK: Duration = Duration::from_secs(35);

/// A begin that took the lock, with nothing to look up first.
const GO: Begin = Begin::Go { look_first: false };

/// What `person`'s reuse entry holds now (empty when there is none).
fn entry_of(server: &RedisServer, person: &str) -> String {
    server
        .cli(&["GET", &key("reuse", person)])
        .trim()
        .to_string()
}

fn key(what: &str, person: &str) -> String {
    format!("okq:{{acct:default}}:{what}:{KIND}:{person}")
}

/// How many times Redis ran each command since the last `CONFIG RESETSTAT` (0 for one it
/// did not run).
async fn calls(server: &RedisServer) -> impl Fn(&str) -> f64 {
    let stats = commandstats(&server.url()).await;
    move |cmd| {
        stats
            .iter()
            .find(|(c, ..)| c == cmd)
            .map_or(0.0, |(_, n, _)| *n)
    }
}

async fn queue(server: &RedisServer) -> Queue {
    let mut cfg = QueueConfig::new("entries");
    cfg.account = Some(okra_queue::rdb::AccountLimit {
        name: "default".into(),
        limit: 0,
        window: Duration::from_secs(60),
    });
    Queue::connect(&server.settings(), cfg).await.unwrap()
}

/// Settles `who`'s call for `person` as `end`; whether the lock was `who`'s.
async fn settle(q: &Queue, who: &str, person: &str, end: End<'_>, carried: &[String]) -> bool {
    q.account()
        .unwrap()
        .charge_end_many(&[okra_queue::rdb::EndAsk {
            kind: KIND,
            person,
            me: who,
            end,
            window: HOUR,
            unsure_for: HOUR,
            lock: LOCK,
            carried,
        }])
        .await
        .unwrap()[0]
}

async fn paid(q: &Queue, who: &str, person: &str, value: &str, carried: &[String]) -> bool {
    settle(q, who, person, End::Paid(value), carried).await
}

/// Begins for `who` (`queue|job|token`), which holds its job's lease as a running job does.
async fn begin(q: &Queue, who: &str, person: &str, reuse: bool) -> Begin {
    hold_lease(q, who).await;
    q.account()
        .unwrap()
        .charge_begin(KIND, person, who, LOCK, reuse)
        .await
        .unwrap()
}

/// `who`'s job holds its lease (`okq:{queue}:lease`, job → token).
async fn hold_lease(q: &Queue, who: &str) {
    let mut parts = who.split('|');
    let (Some(queue), Some(job), Some(token)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("{who}: not queue|job|token")
    };
    let _: () = redis::cmd("HSET")
        .arg(okra_queue::keys::Keys::new(queue).lease())
        .arg(job)
        .arg(token)
        .query_async(&mut q.rdb().conn())
        .await
        .unwrap();
}

/// A lock whose holder no longer holds its job's lease (its worker died mid-call, or the job
/// was reaped and claimed again) is taken over at once, with look-first: that call may have
/// been paid. A lock whose holder holds its lease is waited for.
#[tokio::test]
async fn a_lock_whose_holder_lost_its_lease_is_taken_over_with_look_first() {
    let server = RedisServer::start();
    let q = queue(&server).await;
    assert_eq!(begin(&q, "q|1|7", ANNE, true).await, GO);
    assert!(matches!(
        begin(&q, "q|2|8", ANNE, true).await,
        Begin::Wait(_)
    ));
    // Job 1's worker is SIGKILLed; the reaper takes its lease back and it is claimed again.
    server.cli(&["HSET", "okq:{q}:lease", "1", "9"]);
    assert_eq!(
        begin(&q, "q|2|8", ANNE, true).await,
        Begin::Go { look_first: true }
    );
    assert_eq!(entry_of(&server, ANNE), "run|q|2|8");
    // Its own next attempt now waits for job 2 (which holds its lease), as any job would.
    assert!(matches!(
        begin(&q, "q|1|9", ANNE, true).await,
        Begin::Wait(_)
    ));
    // A job that finished and left its lock (its settle failed): a fresh job looks first too.
    server.cli(&["HDEL", "okq:{q}:lease", "2"]);
    assert_eq!(
        begin(&q, "q|3|10", ANNE, false).await,
        Begin::Go { look_first: true }
    );
}

#[tokio::test]
async fn one_entry_holds_the_lock_then_the_profile_with_what_it_names() {
    let server = RedisServer::start();
    let q = queue(&server).await;
    assert_eq!(begin(&q, "q|1|a", ANNE, true).await, GO);
    assert_eq!(entry_of(&server, ANNE), "run|q|1|a");
    // A second job for the same person waits for the first one's answer.
    let Begin::Wait(left) = begin(&q, "q|2|b", ANNE, true).await else {
        panic!("a second job waits")
    };
    assert!(left <= LOCK && left > Duration::ZERO, "{left:?}");
    assert!(paid(&q, "q|1|a", ANNE, "{\"p\":1}", &[BOLA.to_string()]).await);
    assert_eq!(
        entry_of(&server, ANNE),
        format!("profile|{BOLA}|{{\"p\":1}}")
    );
    let ttl: u64 = server
        .cli(&["PTTL", &key("reuse", ANNE)])
        .trim()
        .parse()
        .unwrap();
    assert!(
        ttl > LOCK.as_millis() as u64,
        "the window's life, not the lock's: {ttl}"
    );
    assert_eq!(
        server
            .cli(&["SMEMBERS", &format!("okq:{{acct:default}}:carries:{BOLA}")])
            .trim(),
        key("reuse", ANNE)
    );
    // Reused without the hashes.
    assert_eq!(
        begin(&q, "q|3|c", ANNE, true).await,
        Begin::Reuse("{\"p\":1}".into())
    );
    // No `paying:` or `names:` key is written.
    let keys = server.cli(&["KEYS", "*"]);
    assert!(
        !keys.contains(":paying:") && !keys.contains(":names:"),
        "{keys}"
    );
    // A fresh job's lock replaces the stored profile: the others wait for its answer.
    assert_eq!(begin(&q, "q|4|d", ANNE, false).await, GO);
    assert_eq!(entry_of(&server, ANNE), "run|q|4|d");
    assert!(matches!(
        begin(&q, "q|5|e", ANNE, true).await,
        Begin::Wait(_)
    ));
    assert!(matches!(
        begin(&q, "q|6|f", ANNE, false).await,
        Begin::Wait(_)
    ));
    assert!(paid(&q, "q|4|d", ANNE, "{\"p\":2}", &[]).await);
    assert_eq!(entry_of(&server, ANNE), "profile||{\"p\":2}");
    let keys = server.cli(&["KEYS", "*"]);
    assert!(!keys.contains(":paying:"), "{keys}");
}

/// The common case (nothing stored: take the lock; then store the profile over it) runs no
/// script at all: two plain `SET`s and one `EXISTS` of the tombstones.
#[tokio::test]
async fn the_common_case_is_plain_commands() {
    let server = RedisServer::start();
    let q = queue(&server).await;
    server.cli(&["CONFIG", "RESETSTAT"]);
    assert_eq!(begin(&q, "q|1|a", ANNE, true).await, GO);
    assert!(paid(&q, "q|1|a", ANNE, "{\"p\":1}", &[]).await);
    assert_eq!(
        begin(&q, "q|2|b", ANNE, true).await,
        Begin::Reuse("{\"p\":1}".into())
    );
    let calls = calls(&server).await;
    assert_eq!(calls("evalsha") + calls("eval"), 0.0);
    assert_eq!(calls("set"), 3.0);
    assert_eq!(calls("exists"), 1.0);
}

/// Begins and settles of one batch share one round trip (`Account::charge_many`), the
/// settles' commands first: a begin for the person a settle of the same round trip stores a
/// profile for reuses it, a begin for somebody else takes its lock, and all of it is plain
/// commands in one pipeline.
#[tokio::test]
async fn a_begin_in_a_settles_round_trip_finds_its_profile() {
    let server = RedisServer::start();
    let q = queue(&server).await;
    assert_eq!(begin(&q, "q|1|a", ANNE, true).await, GO);
    hold_lease(&q, "q|2|b").await;
    hold_lease(&q, "q|3|c").await;
    server.cli(&["CONFIG", "RESETSTAT"]);
    let ask = |who: &str, person: &str| okra_queue::rdb::BeginAsk {
        kind: KIND,
        person: person.into(),
        me: who.into(),
        lock: LOCK,
        reuse: true,
    };
    let (anne, bola) = (ask("q|2|b", ANNE), ask("q|3|c", BOLA));
    let (ended, began) = q
        .account()
        .unwrap()
        .charge_many(
            &[okra_queue::rdb::EndAsk {
                kind: KIND,
                person: ANNE,
                me: "q|1|a",
                end: End::Paid("{\"p\":1}"),
                window: HOUR,
                unsure_for: HOUR,
                lock: LOCK,
                carried: &[],
            }],
            &[&anne, &bola],
        )
        .await
        .unwrap();
    assert_eq!(ended, [true]);
    assert_eq!(began, [Begin::Reuse("{\"p\":1}".into()), GO]);
    let calls = calls(&server).await;
    assert_eq!(calls("evalsha") + calls("eval"), 0.0);
    assert_eq!(calls("set"), 3.0);
    assert_eq!(entry_of(&server, BOLA), "run|q|3|c");
}

/// What a plain settle stored that must not stay is put right by `charge_fix.lua`: a profile
/// naming someone erased while the call was in flight goes (with its `carries:` entry), and
/// so does a plaintext profile once the account stored a sealed one; a sealed profile marks
/// the account sealed.
#[tokio::test]
async fn a_plain_settle_that_met_a_tombstone_or_the_seal_is_taken_back() {
    let server = RedisServer::start();
    let q = queue(&server).await;
    let account = q.account().unwrap();
    assert_eq!(begin(&q, "q|1|a", ANNE, true).await, GO);
    // Bola, whom Anne's answer names, is erased while Anne's call is in flight.
    assert_eq!(account.erase_person(BOLA, &[KIND], false).await.unwrap(), 0);
    assert!(paid(&q, "q|1|a", ANNE, "{\"a\":1}", &[BOLA.to_string()]).await);
    assert_eq!(server.cli(&["EXISTS", &key("reuse", ANNE)]).trim(), "0");
    let carries = format!("okq:{{acct:default}}:carries:{BOLA}");
    assert_eq!(server.cli(&["SCARD", &carries]).trim(), "0");
    // A sealed profile marks the account; a plaintext one after it is not kept.
    let sealed = "profile||sealed1:k9:AAAA";
    let carol = "11112222333344445555666677778888";
    begin(&q, "q|2|c", carol, true).await;
    assert!(paid(&q, "q|2|c", carol, "sealed1:k9:AAAA", &[]).await);
    assert_eq!(entry_of(&server, carol), sealed);
    assert_eq!(
        server
            .cli(&["HEXISTS", "okq:{acct:default}:sealed", "k9"])
            .trim(),
        "1"
    );
    let dayo = "99990000aaaabbbbccccddddeeeeffff";
    begin(&q, "q|3|d", dayo, true).await;
    assert!(paid(&q, "q|3|d", dayo, "{\"plain\":1}", &[]).await);
    assert_eq!(server.cli(&["EXISTS", &key("reuse", dayo)]).trim(), "0");
    // A profile stored over a newer one (the lock expired, another job stored) stays: both
    // are answers, and nothing is erased.
    begin(&q, "q|4|e", ANNE, true).await;
    server.cli(&[
        "SET",
        &key("reuse", ANNE),
        "profile||sealed1:k9:BBBB",
        "PX",
        "60000",
    ]);
    assert!(!paid(&q, "q|4|e", ANNE, "sealed1:k9:CCCC", &[]).await);
    assert_eq!(entry_of(&server, ANNE), "profile||sealed1:k9:CCCC");
}

/// A caller whose lock expired and was taken by another job: its profile does not replace the
/// other's lock (`SET ... GET` tells, and the lock is put back), and the other's settle stores.
#[tokio::test]
async fn a_settle_after_the_lock_was_taken_leaves_the_other_lock() {
    let server = RedisServer::start();
    let q = queue(&server).await;
    assert_eq!(begin(&q, "q|1|a", ANNE, true).await, GO);
    // The lock expires; another job takes it.
    server.cli(&["DEL", &key("reuse", ANNE)]);
    assert_eq!(begin(&q, "q|2|b", ANNE, true).await, GO);
    assert!(
        !paid(&q, "q|1|a", ANNE, "{\"late\":1}", &[BOLA.to_string()]).await,
        "not its lock"
    );
    assert_eq!(entry_of(&server, ANNE), "run|q|2|b");
    let ttl: i64 = server
        .cli(&["PTTL", &key("reuse", ANNE)])
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= LOCK.as_millis() as i64, "{ttl}");
    let carries = server.cli(&["EXISTS", &format!("okq:{{acct:default}}:carries:{BOLA}")]);
    assert_eq!(
        carries.trim(),
        "0",
        "nothing indexed for a profile not stored"
    );
    // A third job still waits for the second.
    assert!(matches!(
        begin(&q, "q|3|c", ANNE, true).await,
        Begin::Wait(_)
    ));
    assert!(paid(&q, "q|2|b", ANNE, "{\"p\":2}", &[]).await);
    assert_eq!(entry_of(&server, ANNE), "profile||{\"p\":2}");
}

/// An answer that never came leaves the note in the entry: the next job looks first, and its
/// profile clears it; a definite failure just releases the lock.
#[tokio::test]
async fn an_unsure_call_makes_the_next_job_look_first() {
    let server = RedisServer::start();
    let q = queue(&server).await;
    assert_eq!(begin(&q, "q|1|a", ANNE, true).await, GO);
    settle(&q, "q|1|a", ANNE, End::Unsure, &[]).await;
    assert_eq!(entry_of(&server, ANNE), "unsure|q|1|a");
    assert_eq!(
        begin(&q, "q|2|b", ANNE, true).await,
        Begin::Go { look_first: true }
    );
    assert!(paid(&q, "q|2|b", ANNE, "{\"p\":1}", &[]).await);
    assert_eq!(
        begin(&q, "q|3|c", ANNE, true).await,
        Begin::Reuse("{\"p\":1}".into())
    );
    // A fresh job's call over the stored profile gets no answer: its lock had replaced the
    // profile, so the note does too, and the next job looks first.
    assert_eq!(begin(&q, "q|6|f", ANNE, false).await, GO);
    settle(&q, "q|6|f", ANNE, End::Unsure, &[]).await;
    assert_eq!(entry_of(&server, ANNE), "unsure|q|6|f");
    assert_eq!(
        begin(&q, "q|7|g", ANNE, true).await,
        Begin::Go { look_first: true }
    );
    // Nothing: the lock goes, and the next job neither waits nor looks first.
    assert_eq!(begin(&q, "q|4|d", BOLA, true).await, GO);
    settle(&q, "q|4|d", BOLA, End::Nothing, &[]).await;
    assert_eq!(server.cli(&["EXISTS", &key("reuse", BOLA)]).trim(), "0");
    // An unsure settle from a caller that lost its lock leaves the other's lock alone.
    assert_eq!(begin(&q, "q|5|e", BOLA, true).await, GO);
    settle(&q, "q|9|z", BOLA, End::Unsure, &[]).await;
    assert_eq!(entry_of(&server, BOLA), "run|q|5|e");
}

/// A bare profile an earlier version wrote under `reuse:` is reused until it expires (its
/// locks under `paying:` are not seen: stop the earlier workers first, docs/costs.md).
#[tokio::test]
async fn a_bare_profile_of_the_earlier_layout_is_reused() {
    let server = RedisServer::start();
    let q = queue(&server).await;
    server.cli(&["SET", &key("reuse", ANNE), "{\"old\":1}", "PX", "3600000"]);
    assert_eq!(
        begin(&q, "q|1|a", ANNE, true).await,
        Begin::Reuse("{\"old\":1}".into())
    );
    // A fresh job takes the lock over it.
    assert_eq!(begin(&q, "q|2|b", ANNE, false).await, GO);
    assert_eq!(entry_of(&server, ANNE), "run|q|2|b");
}

/// Erasing: a person's own entry in any state and the earlier layout's keys go; someone else's
/// profile that names them goes (found through `carries:`, old layout or new), but an entry
/// of someone else that holds a lock now stays.
#[tokio::test]
async fn erase_takes_new_and_earlier_entries_and_never_another_s_lock() {
    let server = RedisServer::start();
    let q = queue(&server).await;
    let account = q.account().unwrap();
    let carol = "11112222333344445555666677778888";
    let dayo = "99990000aaaabbbbccccddddeeeeffff";
    // Earlier layout: Anne's bare profile naming Bola, with names: and carries:, and her note.
    let anne = key("reuse", ANNE);
    server.cli(&["SET", &anne, "{\"old\":1}", "PX", "3600000"]);
    server.cli(&["SET", &key("names", ANNE), BOLA, "PX", "3600000"]);
    server.cli(&[
        "SET",
        &key("paying", ANNE),
        "unsure|old|1|x",
        "PX",
        "3600000",
    ]);
    let bola_carries = format!("okq:{{acct:default}}:carries:{BOLA}");
    server.cli(&["SADD", &bola_carries, &anne]);
    // New layout: Carol's profile names Bola too; Dayo's entry once named Bola but is a lock now.
    assert_eq!(begin(&q, "q|1|c", carol, true).await, GO);
    assert!(
        paid(
            &q,
            "q|1|c",
            carol,
            "{\"c\":1}",
            &[BOLA.to_string(), dayo.to_string()]
        )
        .await
    );
    server.cli(&["SADD", &bola_carries, &key("reuse", dayo)]);
    server.cli(&["SET", &key("reuse", dayo), "run|q|2|d", "PX", "30000"]);

    let dry = account.erase_person(BOLA, &[KIND], true).await.unwrap();
    assert_eq!(dry, 2, "Anne's and Carol's profiles name Bola");
    assert_eq!(account.erase_person(BOLA, &[KIND], false).await.unwrap(), 2);
    for gone in [
        anne.clone(),
        key("names", ANNE),
        key("reuse", carol),
        bola_carries.clone(),
    ] {
        assert_eq!(server.cli(&["EXISTS", &gone]).trim(), "0", "{gone}");
    }
    assert_eq!(entry_of(&server, dayo), "run|q|2|d", "a lock stays");
    // Carol's entry left Dayo's carries set too.
    let dayo_carries = format!("okq:{{acct:default}}:carries:{dayo}");
    assert_eq!(server.cli(&["SCARD", &dayo_carries]).trim(), "0");
    // Anne's earlier-layout note is hers, not Bola's: it stays until Anne is erased.
    assert_eq!(server.cli(&["EXISTS", &key("paying", ANNE)]).trim(), "1");
    assert_eq!(account.erase_person(ANNE, &[KIND], false).await.unwrap(), 0);
    assert_eq!(server.cli(&["EXISTS", &key("paying", ANNE)]).trim(), "0");
    // A late answer for Bola is not stored.
    assert_eq!(begin(&q, "q|3|b", BOLA, true).await, GO);
    paid(&q, "q|3|b", BOLA, "{\"b\":1}", &[]).await;
    assert_eq!(server.cli(&["EXISTS", &key("reuse", BOLA)]).trim(), "0");
}

/// Re-sealing walks stored values only (not locks or notes) and keeps a profile's hashes.
#[tokio::test]
async fn rekey_reseals_the_value_and_keeps_the_hashes() {
    let server = RedisServer::start();
    let q = queue(&server).await;
    let account = q.account().unwrap();
    assert_eq!(begin(&q, "q|1|a", ANNE, true).await, GO);
    assert!(paid(&q, "q|1|a", ANNE, "{\"a\":1}", &[BOLA.to_string()]).await);
    server.cli(&["SET", &key("reuse", BOLA), "{\"old\":1}", "PX", "3600000"]);
    assert_eq!(begin(&q, "q|2|c", "cccc", true).await, GO);
    let (next, mut items) = account.reuse_step(0, 100).await.unwrap();
    assert_eq!(next, 0);
    items.sort();
    assert_eq!(
        items,
        vec![
            (key("reuse", ANNE), "{\"a\":1}".to_string()),
            (key("reuse", BOLA), "{\"old\":1}".to_string()),
        ]
    );
    let values: Vec<okra_queue::rdb::Reseal> = items
        .iter()
        .map(|(at, was)| okra_queue::rdb::Reseal {
            at: at.clone(),
            was: was.clone(),
            new: format!("sealed:{was}"),
            claim: None,
        })
        .collect();
    assert_eq!(account.reseal_reuse("done", &values).await.unwrap(), (2, 0));
    assert_eq!(
        entry_of(&server, ANNE),
        format!("profile|{BOLA}|sealed:{{\"a\":1}}")
    );
    assert_eq!(entry_of(&server, BOLA), "sealed:{\"old\":1}");
    assert!(
        server
            .cli(&["PTTL", &key("reuse", ANNE)])
            .trim()
            .parse::<i64>()
            .unwrap()
            > 0
    );
}
