//! The gateway's front door, before any handler: the `Host` must name this server and a
//! change must not come from another site ([`okra_queue::http_guard`], shared with the
//! dashboard); headers and body within their limits; then the bearer token: its key (looked
//! up by the token's SHA-256, remembered for at most a second, so a revocation holds on every
//! gateway within a second), the key's request rate on this gateway (429), and Redis
//! answering (503: a key that cannot be checked is not a wrong key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use okra_queue::api_keys::{ApiKey, Scope, token_hash};
use okra_queue::http_guard::changes_state;

use crate::Shared;
use crate::problem::{ApiError, Kind};

/// Most bytes of request headers taken (names and values together).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long a key looked up stays remembered: the longest a revoked key still works.
const KEY_CACHE: Duration = Duration::from_millis(900);

/// Most tokens remembered at once (the memory a flood of wrong tokens can take).
const CACHE_MAX: usize = 10_000;

/// When a token was looked up, and its key (`None`: no such key).
type Seen = (Instant, Option<Arc<ApiKey>>);

/// Keys as recently read from Redis (by token hash), and each key's requests this second.
#[derive(Default)]
pub struct Keys {
    seen: Mutex<HashMap<String, Seen>>,
    rates: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Keys {
    fn remembered(&self, hash: &str, now: Instant) -> Option<Option<Arc<ApiKey>>> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(hash)
            .filter(|(at, _)| now.saturating_duration_since(*at) < KEY_CACHE)
            .map(|(_, k)| k.clone())
    }

    fn remember(&self, hash: String, key: Option<Arc<ApiKey>>, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= CACHE_MAX {
            seen.retain(|_, (at, _)| now.saturating_duration_since(*at) < KEY_CACHE);
            if seen.len() >= CACHE_MAX {
                seen.clear();
            }
        }
        seen.insert(hash, (now, key));
    }

    /// Counts one request of `key`; over its rate this second: the time left in the second.
    fn take(&self, key: &ApiKey, now: Instant) -> Result<(), Duration> {
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        if !rates.contains_key(&key.name) {
            rates.insert(key.name.clone(), (now, 0));
        }
        let (start, n) = rates.get_mut(&key.name).expect("inserted above");
        if now.saturating_duration_since(*start) >= Duration::from_secs(1) {
            (*start, *n) = (now, 0);
        }
        if *n >= key.rate {
            return Err(Duration::from_secs(1).saturating_sub(now - *start));
        }
        *n += 1;
        Ok(())
    }
}

/// `Host`, cross-site changes, header size and declared body size: refused before anything
/// else is read.
pub async fn front_door(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let size: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return ApiError::new(
            Kind::HeadersTooLarge,
            format!("the request's headers exceed {MAX_HEADER_BYTES} bytes"),
        )
        .into_response();
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST.as_str())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    if !app.hosts.allows(&host) {
        return ApiError::new(
            Kind::MisdirectedHost,
            "the Host header names neither this server nor a gateway.public_hosts name",
        )
        .into_response();
    }
    if changes_state(req.method().as_str())
        && app
            .hosts
            .cross_site(&host, text(header::ORIGIN.as_str()), text("sec-fetch-site"))
    {
        return ApiError::new(
            Kind::CrossSite,
            "a browser sent this change from another site; the gateway is for servers",
        )
        .into_response();
    }
    let declared = text(header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > app.max_body) {
        return ApiError::new(
            Kind::TooLarge,
            format!("the body exceeds gateway.max_body ({} bytes)", app.max_body),
        )
        .into_response();
    }
    next.run(req).await
}

/// The bearer token's key, checked and counted; handlers find it in the request's extensions
/// and check its queue and scope with [`permit`].
pub async fn authenticate(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme's name is case-insensitive (RFC 9110 §11.1): `bearer` is as good.
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return ApiError::new(
            Kind::Unauthorized,
            "send the API key as `Authorization: Bearer <token>`",
        )
        .into_response();
    };
    let hash = token_hash(token);
    let now = Instant::now();
    let key = match app.keys.remembered(&hash, now) {
        Some(k) => k,
        None => {
            let base = match app.hub.base().await {
                Ok(q) => q,
                Err(e) => return e.into_response(),
            };
            match base.api_key_for(token).await {
                Ok(k) => {
                    let k = k.map(Arc::new);
                    app.keys.remember(hash, k.clone(), now);
                    k
                }
                Err(_) => return ApiError::unavailable().into_response(),
            }
        }
    };
    let Some(key) = key else {
        return ApiError::new(Kind::Unauthorized, "the API key is unknown or was revoked")
            .into_response();
    };
    if let Err(wait) = app.keys.take(&key, now) {
        return ApiError::new(
            Kind::RateLimited,
            format!(
                "this key may make {} requests a second on each gateway",
                key.rate
            ),
        )
        .retry_after(wait)
        .into_response();
    }
    req.extensions_mut().insert(key);
    next.run(req).await
}

/// Refuses a key acting on another queue than its own, or without `scope`.
pub fn permit(key: &ApiKey, queue: &str, scope: Scope) -> Result<(), ApiError> {
    if key.queue != queue {
        return Err(ApiError::new(
            Kind::Forbidden,
            "this API key belongs to another queue",
        ));
    }
    if !key.allows(scope) {
        return Err(ApiError::new(
            Kind::Forbidden,
            format!("this API key lacks the `{}` scope", scope.as_str()),
        ));
    }
    Ok(())
}
