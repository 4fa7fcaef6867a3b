//! Sending one delivery: the endpoint and the job read back, the body built and signed now,
//! the address checked and pinned, one POST (no proxy, no redirects, 15 s, at most 64 KB of
//! the answer read). The answer decides: 2xx delivered; 408, 429 (its `Retry-After`), 5xx, a
//! timeout or a connection error retried on the schedule; 410 Gone disables the endpoint; any
//! other status, a refused address or a disabled endpoint is a dead letter at once. Every
//! failure has the class [`FAILED_CLASS`]; its message names the status, never the body.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Delivery, FAILED_CLASS, Reference, event, guard, signing};
use crate::job::epoch_ms;
use crate::policy::JobError;
use crate::queue::Queue;
use crate::telemetry::{Propagation, delivery};

/// The longest a receiver may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The most of a receiver's answer read (the rest is dropped unread).
pub const ANSWER_MAX: usize = 64 * 1024;

/// The most pinned clients kept (one per host and checked address).
const CLIENTS_KEPT: usize = 1024;

/// What a delivery did: the receiver's status, or why nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// The receiver's 2xx status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Nothing was sent, and why (the endpoint was removed, the job is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// How long the request took (ms).
    #[serde(default)]
    pub ms: u64,
}

/// Sends the deliveries of one queue's webhooks.
pub struct Deliverer {
    queue: Queue,
    allow: Vec<String>,
    clients: Mutex<HashMap<(String, SocketAddr), reqwest::Client>>,
    /// How a delivery's span relates to the job's stored trace context.
    propagation: Propagation,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("queue", &self.queue.name())
            .finish_non_exhaustive()
    }
}

fn failed(message: String) -> JobError {
    JobError::terminal(FAILED_CLASS, message)
}

/// A refused address never becomes sendable: a dead letter. A host that does not resolve may
/// (a resolver outage): retried on the schedule, like a connection error.
fn unsendable(e: guard::Unsendable) -> JobError {
    match e {
        guard::Unsendable::Refused(m) => failed(m),
        guard::Unsendable::Unresolved(m) => JobError::retryable(FAILED_CLASS, m),
    }
}

fn skipped(why: &str) -> Delivered {
    Delivered {
        status: None,
        skipped: Some(why.into()),
        ms: 0,
    }
}

impl Deliverer {
    /// Deliveries of `queue`'s webhooks (its handle opens the sealed results), to hosts the
    /// guard allows (`allow`: `[webhooks] allow_insecure_hosts`).
    pub fn new(queue: Queue, allow: Vec<String>) -> Self {
        Self {
            queue,
            allow,
            clients: Mutex::new(HashMap::new()),
            propagation: Propagation::default(),
        }
    }

    /// Each delivery's span a child of the job's stored context instead of linked to it
    /// (`[telemetry] propagation`).
    pub fn with_propagation(mut self, propagation: Propagation) -> Self {
        self.propagation = propagation;
        self
    }

    /// The queue whose webhooks these are.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Sends delivery `d`, its attempt `attempt` (1 = first; for its span).
    pub async fn deliver(&self, d: &Delivery, attempt: u32) -> Result<Delivered, JobError> {
        let Some(r) = Reference::parse(&d.event) else {
            return Err(failed(
                "the delivery's event reference does not read".into(),
            ));
        };
        let q = &self.queue;
        let store = |e: crate::QueueError| JobError::retryable("redis", e.to_string());
        let Some(endpoint) = q.webhook(&d.endpoint).await.map_err(store)? else {
            return Ok(skipped("the endpoint was removed"));
        };
        if let Some(why) = &endpoint.disabled {
            return Err(failed(format!("the endpoint is disabled ({why})")));
        }
        // Erased, or past its retention: there is nothing left to tell.
        let Some(rec) = q.job(&r.job_id).await.map_err(store)? else {
            return Ok(skipped("the job is no longer stored"));
        };
        let body = event::body(&r, q.name(), &rec, endpoint.full).to_string();
        let target = guard::resolve(&endpoint.url, &self.allow)
            .await
            .map_err(unsendable)?;
        let now = SystemTime::now();
        let ts = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let id = r.webhook_id();
        let signature = signing::sign(
            &endpoint.signing_secrets(epoch_ms(now)),
            &id,
            ts,
            body.as_bytes(),
        )
        .map_err(failed)?;
        let client = self
            .client(&target)
            .map_err(|m| JobError::retryable(FAILED_CLASS, m))?;
        let span = delivery::span(
            delivery::Request {
                endpoint: &endpoint.id,
                event: r.event.as_str(),
                job_id: &r.job_id,
                attempt,
                host: &target.host,
                port: target.url.port_or_known_default(),
            },
            rec.meta.trace.as_ref(),
            self.propagation,
        );
        let started = Instant::now();
        let sent = client
            .post(target.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut answer = match sent {
            Ok(a) => a,
            Err(e) if e.is_timeout() => {
                delivery::answered(&span, None, "timeout");
                return Err(JobError::retryable(
                    FAILED_CLASS,
                    format!("the receiver did not answer within {}s", TIMEOUT.as_secs()),
                ));
            }
            Err(e) => {
                delivery::answered(&span, None, "transport");
                let e = e.without_url();
                return Err(JobError::retryable(
                    FAILED_CLASS,
                    format!(
                        "cannot reach the receiver: {}",
                        crate::policy::chain_message(&e)
                    ),
                ));
            }
        };
        let status = answer.status().as_u16();
        delivery::answered(&span, Some(status), "");
        let retry_after = answer
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // Read (and drop) at most ANSWER_MAX of the answer, so the connection can be reused.
        let mut read = 0;
        while read < ANSWER_MAX {
            match answer.chunk().await {
                Ok(Some(c)) => read += c.len(),
                _ => break,
            }
        }
        let ms = started.elapsed().as_millis() as u64;
        drop(span);
        match status {
            200..=299 => Ok(Delivered {
                status: Some(status),
                skipped: None,
                ms,
            }),
            410 => {
                let why = "the receiver answered 410 Gone";
                q.webhook_disable(&endpoint.id, why).await.map_err(store)?;
                Err(failed(format!("{why}: endpoint disabled")).http_status(status))
            }
            408 | 429 | 500..=599 => {
                let e =
                    JobError::retryable(FAILED_CLASS, format!("the receiver answered {status}"))
                        .http_status(status);
                Err(match retry_after {
                    Some(d) => e.with_delay(d),
                    None => e,
                })
            }
            _ => Err(failed(format!("the receiver answered {status}")).http_status(status)),
        }
    }

    /// A client pinned to the checked address (so the name cannot be re-resolved elsewhere),
    /// ignoring proxies, following no redirect.
    fn client(&self, t: &guard::Target) -> Result<reqwest::Client, String> {
        let key = (t.host.clone(), t.addr);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let c = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT.min(Duration::from_secs(10)))
            .user_agent(concat!("okra-queue-webhooks/", env!("CARGO_PKG_VERSION")))
            .resolve(&t.host, t.addr)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        if clients.len() >= CLIENTS_KEPT {
            clients.clear();
        }
        clients.insert(key, c.clone());
        Ok(c)
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v.trim()).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resolver outage must not turn every delivery of its hour into a dead letter; an
    /// address the guard refuses must.
    #[tokio::test]
    async fn an_unresolved_host_is_retried_and_a_refused_address_is_not() {
        let e = unsendable(guard::Unsendable::Unresolved("no address".into()));
        assert!(!e.is_terminal() && e.class() == FAILED_CLASS);
        let refused = guard::resolve("https://127.0.0.2/hook", &[])
            .await
            .unwrap_err();
        assert!(unsendable(refused).is_terminal());
    }
}
