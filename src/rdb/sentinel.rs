//! Redis Sentinel (`redis.sentinels`, `redis.sentinel_master`): the primary is asked of the
//! sentinels at connect; a sentinel's `+switch-master` announcement switches to the promoted
//! replica at once, and a command that finds the connection gone or refused, timed out, or
//! answered `READONLY` (a demoted primary) makes it ask again: the failed command's caller
//! retries as it does through any outage, and its next try reaches the new primary. Every loop
//! (claim, acker, lease keeper, reaper, scheduler, events) follows without a restart, because
//! they all share this connection. (The redis crate's own sentinel client does not follow a
//! failover by itself: redis-rs #1438.)

use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Value};
use tracing::{info, warn};

use super::settings::RedisSettings;
use crate::error::{QueueError, Result, redact_url};

/// A connection to whichever server the sentinels name as the primary.
#[derive(Clone)]
pub struct SentinelConn {
    inner: Arc<Inner>,
}

struct Inner {
    settings: RedisSettings,
    response: Duration,
    /// The primary in use: (generation, connection, `host:port`).
    current: RwLock<(u64, ConnectionManager, String)>,
    /// One re-resolution at a time; the others wait for its result.
    resolving: tokio::sync::Mutex<()>,
}

impl SentinelConn {
    /// Asks the sentinels for the primary and connects to it.
    pub async fn connect(settings: &RedisSettings, response: Duration) -> Result<Self> {
        let (host, port) = primary(settings).await?;
        let conn = open(settings, &host, port, response).await?;
        info!(primary = %format!("{host}:{port}"), master = settings.sentinel_master, "Redis primary from Sentinel");
        let inner = Arc::new(Inner {
            settings: settings.clone(),
            response,
            current: RwLock::new((0, conn, format!("{host}:{port}"))),
            resolving: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(announcements(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    fn snapshot(&self) -> (u64, ConnectionManager) {
        let c = self.inner.current.read().unwrap_or_else(|e| e.into_inner());
        (c.0, c.1.clone())
    }

    /// Asks the sentinels again after a failure seen on generation `seen`.
    async fn follow(&self, seen: u64) {
        let s = &self.inner.settings;
        match primary(s).await {
            Ok((host, port)) => self.inner.switch(Some(seen), &host, port).await,
            Err(e) => {
                warn!(error = %e, "Sentinel did not name a primary yet; trying again on the next failure")
            }
        }
    }
}

impl Inner {
    fn generation(&self) -> (u64, String) {
        let c = self.current.read().unwrap_or_else(|e| e.into_inner());
        (c.0, c.2.clone())
    }

    /// Switches to `host:port` unless it is the primary in use (or, with `seen`, unless another
    /// caller switched since generation `seen`).
    async fn switch(&self, seen: Option<u64>, host: &str, port: u16) {
        let _one = self.resolving.lock().await;
        let (generation, old) = self.generation();
        let addr = format!("{host}:{port}");
        if seen.is_some_and(|g| g != generation) || addr == old {
            return;
        }
        match open(&self.settings, host, port, self.response).await {
            Ok(conn) => {
                let mut c = self.current.write().unwrap_or_else(|e| e.into_inner());
                *c = (generation + 1, conn, addr.clone());
                warn!(from = %old, to = %addr, "Redis primary changed (Sentinel): following it");
            }
            Err(e) => warn!(error = %e, primary = %addr, "cannot reach the new primary yet"),
        }
    }
}

/// Listens to the sentinels' `+switch-master` (one sentinel at a time, the next when it goes
/// away) and switches as soon as one announces this master's promotion. Ends with the
/// connection.
async fn announcements(inner: std::sync::Weak<Inner>) {
    let mut turn = 0usize;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let settings = strong.settings.clone();
        drop(strong);
        let url = sentinel_url(
            &settings,
            &settings.sentinels[turn % settings.sentinels.len()],
        );
        turn += 1;
        let listened = async {
            let client = match settings.tls_certificates().ok().flatten() {
                Some(c) => redis::Client::build_with_tls(url.as_str(), c)?,
                None => redis::Client::open(url.as_str())?,
            };
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe("+switch-master").await?;
            let mut messages = pubsub.into_on_message();
            use futures::StreamExt as _;
            loop {
                // A connection dropped by its owners ends this listener within 5 s.
                let msg = tokio::select! {
                    m = messages.next() => m,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {
                        if inner.strong_count() == 0 {
                            return Ok(());
                        }
                        continue;
                    }
                };
                let Some(msg) = msg else { break };
                // `<master> <old ip> <old port> <new ip> <new port>`
                let text: String = msg.get_payload().unwrap_or_default();
                let parts: Vec<&str> = text.split_whitespace().collect();
                if let [name, _, _, host, port] = parts[..]
                    && name == settings.sentinel_master
                    && let Ok(port) = port.parse::<u16>()
                {
                    let Some(strong) = inner.upgrade() else {
                        return Ok(());
                    };
                    strong.switch(None, host, port).await;
                }
            }
            Ok::<(), redis::RedisError>(())
        };
        if let Err(e) = listened.await {
            tracing::debug!(error = %e, sentinel = %redact_url(&url), "sentinel announcements lost; trying the next sentinel");
        }
        if inner.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Errors after which the primary may have moved.
fn moved(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.to_string().contains("READONLY")
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (seen, mut conn) = self.snapshot();
            let r = conn.req_packed_command(cmd).await;
            if let Err(e) = &r
                && moved(e)
            {
                self.follow(seen).await;
            }
            r
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (seen, mut conn) = self.snapshot();
            let r = conn.req_packed_commands(pipeline, offset, count).await;
            if let Err(e) = &r
                && moved(e)
            {
                self.follow(seen).await;
            }
            r
        })
    }

    fn get_db(&self) -> i64 {
        self.snapshot().1.get_db()
    }
}

/// A sentinel's URL: `host:port` takes `redis.url`'s scheme (so `rediss://` makes every
/// sentinel connection TLS too); a full URL carries its own password.
fn sentinel_url(settings: &RedisSettings, s: &str) -> String {
    if s.contains("://") {
        s.to_string()
    } else if settings.url.starts_with("rediss://") {
        format!("rediss://{s}")
    } else {
        format!("redis://{s}")
    }
}

/// The primary the first answering sentinel names, checked with `ROLE`.
async fn primary(settings: &RedisSettings) -> Result<(String, u16)> {
    let certs = settings.tls_certificates()?;
    let mut why = Vec::new();
    for s in &settings.sentinels {
        let url = sentinel_url(settings, s);
        let asked = async {
            let client = match &certs {
                Some(c) => redis::Client::build_with_tls(url.as_str(), c.clone())?,
                None => redis::Client::open(url.as_str())?,
            };
            let mut conn = client.get_multiplexed_async_connection().await?;
            let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(&settings.sentinel_master)
                .query_async(&mut conn)
                .await?;
            Ok::<_, redis::RedisError>(addr)
        };
        match tokio::time::timeout(settings.connect_timeout, asked).await {
            Ok(Ok(Some(addr))) => return Ok(addr),
            Ok(Ok(None)) => why.push(format!(
                "{} knows no master named {}",
                redact_url(&url),
                settings.sentinel_master
            )),
            Ok(Err(e)) => why.push(format!("{}: {e}", redact_url(&url))),
            Err(_) => why.push(format!("{}: no answer", redact_url(&url))),
        }
    }
    Err(QueueError::Config(format!(
        "no sentinel named the primary of {}: {}",
        settings.sentinel_master,
        why.join("; ")
    )))
}

/// A connection manager to `host:port` with `redis.url`'s credentials, database and TLS.
async fn open(
    settings: &RedisSettings,
    host: &str,
    port: u16,
    response: Duration,
) -> Result<ConnectionManager> {
    let fail = |source| QueueError::Connect {
        url: format!("{host}:{port} (primary of {})", settings.sentinel_master),
        source,
    };
    let info = settings.url.as_str().into_connection_info().map_err(fail)?;
    let addr = match info.addr() {
        redis::ConnectionAddr::TcpTls { insecure, .. } => redis::ConnectionAddr::TcpTls {
            host: host.to_string(),
            port,
            insecure: *insecure,
            tls_params: None,
        },
        _ => redis::ConnectionAddr::Tcp(host.to_string(), port),
    };
    let info = info.set_addr(addr);
    let client = match settings.tls_certificates()? {
        Some(c) => redis::Client::build_with_tls(info, c),
        None => redis::Client::open(info),
    }
    .map_err(fail)?;
    // No retries on this connection: after a failover the caller should try the new
    // primary, not this one.
    super::settings::manager(client, settings.connect_timeout, response, 0)
        .await
        .map_err(fail)
}
