//! What the sealing tests share (`sealed.rs`, `seal_guard.rs`): key files, producers and
//! workers with or without the keys, `okra-admin` with them, and everything Redis holds as text
//! to search for plaintext.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use okra_queue::seal::Sealer;

use super::*;
use crate::common::cli::{Run, admin_with_env};

/// The identity index key every process of these tests shares.
pub(crate) const INDEX_KEY: &str = "sealed-tests-index-key-0123";

/// A key line: `ID` and 32 random bytes in base64.
pub(crate) fn key_line(id: &str) -> String {
    let bytes: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
    format!(
        "{id} {}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Writes a key file readable by its owner only.
pub(crate) fn key_file(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("# test keys\n{}\n", lines.join("\n"))).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A producer on `name` that seals with `keys` (or not, with `None`) and indexes identities.
pub(crate) async fn sealed_queue(server: &RedisServer, name: &str, keys: Option<&Path>) -> Queue {
    let mut cfg = QueueConfig::new(name);
    cfg.retry.max_attempts = 3;
    cfg.index_key = Some(okra_queue::ident::IndexKey::new(INDEX_KEY).unwrap());
    cfg.seal = keys.map(|k| Arc::new(Sealer::from_file(k).unwrap()));
    cfg.account = Some(okra_queue::rdb::AccountLimit {
        name: "default".into(),
        limit: 0,
        window: Duration::from_secs(61),
    });
    Queue::connect(&server.settings(), cfg).await.unwrap()
}

/// A worker's environment: the keys (when any), the index key, reuse on.
pub(crate) fn sealed_env<'a>(keys: Option<&Path>) -> Vec<(&'a str, String)> {
    let mut env = vec![
        ("OKQ_QUEUE__INDEX_KEY", INDEX_KEY.to_string()),
        ("OKQ_OKRA__REUSE_WINDOW", "1h".to_string()),
    ];
    if let Some(k) = keys {
        env.push(("OKQ_SEAL__KEYS_FILE", k.display().to_string()));
    }
    env
}

/// `okra-admin` on `queue` with the keys (or none) and the index key.
pub(crate) fn admin_sealed(
    server: &RedisServer,
    queue: &str,
    keys: Option<&Path>,
    args: &[&str],
) -> Run {
    let keys = keys.map(|k| k.display().to_string()).unwrap_or_default();
    admin_with_env(
        server,
        queue,
        args,
        &[
            ("OKQ_SEAL__KEYS_FILE", keys.as_str()),
            ("OKQ_QUEUE__INDEX_KEY", INDEX_KEY),
        ],
    )
}

/// Every key name and every value Redis holds, read by type (strings, hashes, lists, sets,
/// sorted sets with scores, streams), as one text to search.
pub(crate) async fn everything_in_redis(server: &RedisServer) -> String {
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut all = String::new();
    for key in keys {
        let ty: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let read = |cmd: &str, args: &[&str]| {
            let mut c = redis::cmd(cmd);
            c.arg(&key);
            for a in args {
                c.arg(*a);
            }
            c
        };
        let value: redis::Value = match ty.as_str() {
            "string" => read("GET", &[]),
            "hash" => read("HGETALL", &[]),
            "list" => read("LRANGE", &["0", "-1"]),
            "set" => read("SMEMBERS", &[]),
            "zset" => read("ZRANGE", &["0", "-1", "WITHSCORES"]),
            "stream" => read("XRANGE", &["-", "+"]),
            other => panic!("a key of type {other}: {key}"),
        }
        .query_async(&mut conn)
        .await
        .unwrap();
        all.push_str(&key);
        all.push('\n');
        all.push_str(&format!("{value:?}"));
        all.push('\n');
    }
    all
}

/// Every file under `dir` (the RDB, the AOF directory), as lossy text.
pub(crate) fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

/// A plain value planted in Redis: each at-rest search proves it can see a plain value where
/// it looks by finding this one.
pub(crate) const CANARY: &str = "CANARY PERSON 2349999999999";

/// A `redis-server` that writes everything where an at-rest search can read it (an AOF synced
/// on every write, an uncompressed RDB), with [`CANARY`] planted in it.
pub(crate) fn persisting_redis() -> RedisServer {
    let server = RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--rdbcompression",
        "no",
    ]);
    redis_cli(server.port, &["SET", "canary", CANARY]);
    server
}
