//! Errors of the library API (producers, dead-letter operations, stats), with what a failed
//! bulk enqueue managed to write.

use std::ops::Range;

use crate::job::{Enqueued, JobId};

/// What went wrong talking to the queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis could not be reached at all (connect refused, DNS, auth).
    #[error("cannot reach Redis at {url}: {}", explain_connect(source))]
    Connect {
        /// The URL that was tried, password removed.
        url: String,
        /// What the client reported.
        source: redis::RedisError,
    },
    /// A Redis command or script failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The job was refused before it reached Redis.
    #[error("invalid job: {0}")]
    InvalidJob(String),
    /// No job (or dead letter) with this id.
    #[error("no job with id {0}")]
    NotFound(String),
    /// Bad configuration value.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Redis answered something this version does not understand.
    #[error("unexpected reply from Redis: {0}")]
    Protocol(String),
    /// `wait` gave up.
    #[error("job {0} did not finish in time")]
    Timeout(String),
    /// A write Redis answered was not confirmed at `redis.durability` in time: it may be lost
    /// if the primary fails now (an enqueue's jobs are written; enqueueing them again with
    /// their idempotency keys finds them).
    #[error("not durable: {0}")]
    NotDurable(String),
    /// Jobs were written but not confirmed at `redis.durability` in time: they may be lost if
    /// the primary fails now. Enqueue them again with their idempotency keys (a duplicate is
    /// found, not written twice), or look them up by id.
    #[error("enqueued {} jobs, not durable: {why}", ids.len())]
    Unconfirmed {
        /// The ids written.
        ids: Vec<crate::job::JobId>,
        /// What was not confirmed.
        why: String,
    },
    /// A bulk enqueue stopped part-way: what was written, what was not, and why.
    #[error("bulk enqueue incomplete: {0}")]
    PartialEnqueue(Box<PartialEnqueue>),
    /// The job is not in a state the action applies to.
    #[error("job {id} is {state}: {hint}")]
    WrongState {
        /// The job.
        id: String,
        /// Where it is.
        state: crate::job::JobState,
        /// What the operator can do instead.
        hint: String,
    },
    /// No queue by this name is registered or holds data.
    #[error("no queue named {name}; known: {}", if known.is_empty() { "none yet".to_string() } else { known.join(", ") })]
    UnknownQueue {
        /// The name asked for.
        name: String,
        /// Registered queues.
        known: Vec<String>,
    },
    /// The queue still holds jobs.
    #[error("{0}")]
    NotEmpty(String),
    /// A stored record could not be decoded.
    #[error("corrupt record for job {id}: {reason}")]
    Corrupt {
        /// The job.
        id: String,
        /// What failed to parse.
        reason: String,
    },
}

/// What a bulk enqueue wrote when it could not write everything. Positions are 0-based
/// indexes into the jobs as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialEnqueue {
    /// Jobs written (or found to be duplicates), with their position.
    pub written: Vec<(usize, Enqueued)>,
    /// Positions certainly not written, as ranges.
    pub unwritten: Vec<Range<usize>>,
    /// Jobs sent whose fate could not be checked (Redis stopped answering): look them up by id
    /// once Redis is back.
    pub unknown: Vec<(usize, JobId)>,
    /// What stopped the enqueue.
    pub error: String,
    /// Set when the written jobs were not confirmed at `redis.durability` either (why): they
    /// may be lost if the primary fails now.
    pub unconfirmed: Option<String>,
}

impl std::fmt::Display for PartialEnqueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unwritten: usize = self.unwritten.iter().map(|r| r.len()).sum();
        write!(
            f,
            "wrote {} jobs, {} not written, {} unknown: {}",
            self.written.len(),
            unwritten,
            self.unknown.len(),
            self.error
        )?;
        match &self.unconfirmed {
            Some(why) => write!(f, " (the written ones not durable: {why})"),
            None => Ok(()),
        }
    }
}

/// Result alias for the library.
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// What a failed connection says, in one line a person can act on. TLS failures come from
/// rustls as a debug dump repeated by every layer (`invalid peer certificate:
/// Other(OtherError(CaUsedAsEndEntity))`, three times); they are named with their fix.
pub(crate) fn explain_connect(e: &redis::RedisError) -> String {
    let text = e.to_string();
    const FIXES: [(&str, &str); 9] = [
        (
            "CaUsedAsEndEntity",
            "TLS: the server's certificate is a CA certificate (as a one-line `openssl req -x509` makes); give redis-server a certificate signed by a CA and set redis.tls_ca to that CA (README: TLS to Redis)",
        ),
        (
            "UnknownIssuer",
            "TLS: the server's certificate is not signed by redis.tls_ca (or, without it, by a CA this system trusts); set redis.tls_ca to the CA that signed it",
        ),
        (
            "NotValidForName",
            "TLS: the server's certificate does not name the host in redis.url; connect by a name it lists, or add the host to its subjectAltName",
        ),
        (
            "Expired",
            "TLS: the server's certificate has expired; renew it",
        ),
        (
            "NotValidYet",
            "TLS: the server's certificate is not valid yet; check the clocks",
        ),
        (
            "CertificateRequired",
            "TLS: the server requires a client certificate; set redis.tls_cert and redis.tls_key",
        ),
        (
            "UnknownCA",
            "TLS: the server does not trust the client certificate (redis.tls_cert); sign it with the CA redis-server's tls-ca-cert-file names",
        ),
        (
            "BadCertificate",
            "TLS: the server refused the client certificate (redis.tls_cert)",
        ),
        (
            "InvalidContentType",
            "TLS: the server did not answer TLS; is this port plain Redis? use redis:// for it, or the server's tls-port",
        ),
    ];
    if let Some((_, fix)) = FIXES.iter().find(|(marker, _)| text.contains(marker)) {
        return (*fix).to_string();
    }
    // The same message repeated by nested layers (`a: b- a: b`): said once.
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split(" - ").flat_map(|p| p.split(": ")) {
        let part = part.trim();
        if !part.is_empty() && !parts.contains(&part) {
            parts.push(part);
        }
    }
    parts.join(": ")
}

/// Removes the password from a Redis URL before it is shown or logged.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            let masked = if creds.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_string()
            };
            format!("{}{}{}", &url[..scheme + 3], masked, &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("redis://user:secret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact_url("redis://:secret@host"), "redis://:***@host");
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
