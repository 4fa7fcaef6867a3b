//! The endpoints registry: add (the URL checked by the SSRF guard, a new secret shown once),
//! list, remove, rotate the secret (both sign for a day), and disable (a 410 Gone). Each
//! change goes to the audit trail, by endpoint id and host, never the secret.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{EventType, guard, signing};
use crate::error::{QueueError, Result};
use crate::job::epoch_ms;
use crate::queue::Queue;
use crate::rdb::{HookWrite, HookWritten};

/// How long the secret a rotation replaced still signs.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// One endpoint, as stored in the queue's `hooks` hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `ep_` and a ULID.
    pub id: String,
    /// The queue whose outcomes it takes.
    pub queue: String,
    /// Where deliveries go.
    pub url: String,
    /// The events it takes.
    pub events: Vec<EventType>,
    /// Full events carry the result (and failure messages); thin ones (the default) do not.
    #[serde(default)]
    pub full: bool,
    /// The signing secret (`whsec_...`).
    pub secret: String,
    /// The secret a rotation replaced, still signing until `previous_until` (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// End of the previous secret's overlap (ms since the epoch).
    #[serde(default)]
    pub previous_until: u64,
    /// Why deliveries stopped (a 410 Gone), when they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<String>,
    /// When it was added (ms since the epoch).
    #[serde(default)]
    pub created_at: u64,
}

impl Endpoint {
    /// The secrets that sign at `now_ms`: the current one, and the previous one during its
    /// overlap.
    pub fn signing_secrets(&self, now_ms: u64) -> Vec<&str> {
        let mut s = vec![self.secret.as_str()];
        if let Some(p) = &self.previous
            && now_ms < self.previous_until
        {
            s.push(p);
        }
        s
    }

    /// Whether it takes `event`.
    pub fn takes(&self, event: EventType) -> bool {
        self.disabled.is_none() && self.events.contains(&event)
    }

    /// The URL's host, for the audit trail and listings.
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// What `webhook add` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    /// The URL.
    pub url: String,
    /// Events (empty = `job.completed` and `job.dead`).
    pub events: Vec<EventType>,
    /// Full events.
    pub full: bool,
}

fn json_of(e: &Endpoint) -> String {
    serde_json::to_string(e).unwrap_or_default()
}

impl Queue {
    /// Adds an endpoint after checking its URL (`allow`: `[webhooks] allow_insecure_hosts`);
    /// the answer holds its secret, which nothing shows again.
    pub async fn webhook_add(&self, new: NewEndpoint, allow: &[String]) -> Result<Endpoint> {
        let deliveries = super::companion(self.name());
        crate::keys::validate_queue_name(&deliveries).map_err(|_| {
            QueueError::Config(format!(
                "queue {} has too long a name for webhooks: its deliveries' queue {deliveries} must be at most 64 bytes",
                self.name()
            ))
        })?;
        guard::resolve(&new.url, allow)
            .await
            .map_err(|e| QueueError::Config(e.to_string()))?;
        let mut events = if new.events.is_empty() {
            vec![EventType::Completed, EventType::Dead]
        } else {
            new.events
        };
        events.dedup();
        let e = Endpoint {
            id: format!("ep_{}", ulid::Ulid::new().to_string().to_ascii_lowercase()),
            queue: self.name().to_string(),
            url: new.url.trim().to_string(),
            events,
            full: new.full,
            secret: signing::new_secret().map_err(QueueError::Config)?,
            previous: None,
            previous_until: 0,
            disabled: None,
            created_at: epoch_ms(SystemTime::now()),
        };
        let r = self
            .rdb
            .hook_write(&e.id, &json_of(&e), HookWrite::Add)
            .await
            .map(|_| e);
        self.audited(
            "webhook-add",
            &self.hook_filter(&r),
            r,
            |e| json!({"events": e.events, "full": e.full}),
        )
        .await
    }

    fn hook_filter(&self, r: &Result<Endpoint>) -> String {
        r.as_ref()
            .map(|e| format!("{} {}", e.id, e.host()))
            .unwrap_or_default()
    }

    /// The queue's endpoints, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<Endpoint>> {
        let mut out: Vec<Endpoint> = self
            .rdb
            .hooks()
            .await?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_str(&v).ok())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// One endpoint of this queue.
    pub async fn webhook(&self, id: &str) -> Result<Option<Endpoint>> {
        Ok(self
            .rdb
            .hook(id)
            .await?
            .and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// The handle of the queue endpoint `id` belongs to (any queue), if it exists.
    pub async fn webhook_owner(&self, id: &str) -> Result<Option<Queue>> {
        match self.rdb.hook_queue(id).await? {
            Some(q) if q == self.name() => Ok(Some(self.clone())),
            Some(q) => Ok(Some(self.sibling(&q)?)),
            // The index is written after the endpoint: one it missed is still this queue's.
            None => Ok(self.rdb.hook(id).await?.map(|_| self.clone())),
        }
    }

    /// Removes endpoint `id` (of any queue); false when there is none. Its pending deliveries
    /// find it gone and send nothing.
    pub async fn webhook_remove(&self, id: &str) -> Result<bool> {
        let Some(q) = self.webhook_owner(id).await? else {
            return Ok(false);
        };
        let r = q
            .rdb
            .hook_write(id, "", HookWrite::Delete)
            .await
            .map(|w| w == HookWritten::Done);
        q.audited("webhook-remove", id, r, |found| json!({"removed": found}))
            .await
    }

    /// A new secret for endpoint `id` (of any queue); the old one keeps signing for
    /// [`ROTATION_OVERLAP`]. The answer holds the new secret; `None` when there is no endpoint.
    pub async fn webhook_rotate(&self, id: &str) -> Result<Option<Endpoint>> {
        let Some(q) = self.webhook_owner(id).await? else {
            return Ok(None);
        };
        let secret = signing::new_secret().map_err(QueueError::Config)?;
        let r = q
            .webhook_change(id, |e| {
                e.previous = Some(std::mem::replace(&mut e.secret, secret.clone()));
                e.previous_until =
                    epoch_ms(SystemTime::now()) + ROTATION_OVERLAP.as_millis() as u64;
            })
            .await;
        q.audited("webhook-rotate", id, r, |_| json!({})).await
    }

    /// Stops deliveries to endpoint `id` of this queue (the receiver answered 410 Gone).
    pub async fn webhook_disable(&self, id: &str, why: &str) -> Result<()> {
        let r = self
            .webhook_change(id, |e| e.disabled = Some(why.to_string()))
            .await;
        if matches!(r, Ok(None)) {
            return Ok(());
        }
        self.audited("webhook-disable", id, r, |_| json!({"why": why}))
            .await
            .map(|_| ())
    }

    /// Applies `change` to endpoint `id` of this queue, compare-and-set: when another change
    /// (a rotation and a disable at once) wrote first, it reads again and applies `change` to
    /// that, so neither is lost. `None` when there is no endpoint.
    async fn webhook_change(
        &self,
        id: &str,
        change: impl Fn(&mut Endpoint),
    ) -> Result<Option<Endpoint>> {
        for _ in 0..16 {
            let Some(was) = self.rdb.hook(id).await? else {
                return Ok(None);
            };
            let Ok(mut e) = serde_json::from_str::<Endpoint>(&was) else {
                return Ok(None);
            };
            change(&mut e);
            let update = HookWrite::Update { was: &was };
            match self.rdb.hook_write(id, &json_of(&e), update).await? {
                HookWritten::Done => return Ok(Some(e)),
                HookWritten::Absent => return Ok(None),
                HookWritten::Changed => continue,
            }
        }
        Err(QueueError::Protocol(format!(
            "webhook endpoint {id} kept changing while it was updated; try again"
        )))
    }
}
