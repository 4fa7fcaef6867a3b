//! The HTTP front door every server of this project shares (the dashboard now, the gateway
//! later): which `Host` names it answers to, whether a state-changing request came from
//! another site, and fixed-window attempt limits per client and overall. Plain `&str` and std
//! types in, decisions out: no web framework, so any server can wrap it in its own middleware.
//!
//! Why a `Host` check: a page on `evil.example` can re-point its own name at 127.0.0.1 (DNS
//! rebinding); the browser then talks to a loopback server as `evil.example`, with that
//! site's scripts reading the answers. The name in `Host` is the only thing that gives it
//! away, so a server answers only to names it knows: loopback names, IP literals (a literal
//! cannot be re-pointed), and the public names it is configured with.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The names a server answers to.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    bound: IpAddr,
    public: Vec<String>,
}

/// `host[:port]` or `[v6][:port]` → the host, lowercase, without a trailing dot.
fn host_of(authority: &str) -> Option<String> {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(valid_port)) {
            return None;
        }
        h
    } else {
        match a.split_once(':') {
            Some((h, port)) if valid_port(port) => h,
            Some(_) => return None,
            None => a,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

fn valid_port(p: &str) -> bool {
    p.parse::<u16>().is_ok()
}

impl HostPolicy {
    /// A server bound to `bound`, also reachable as each of `public` (names as a browser sends
    /// them, e.g. `okq.example.com`; case and a trailing dot do not matter).
    pub fn new(bound: SocketAddr, public: &[String]) -> Self {
        Self {
            bound: bound.ip(),
            public: public.iter().filter_map(|n| host_of(n)).collect(),
        }
    }

    /// Whether a public name is configured.
    pub fn has_public_names(&self) -> bool {
        !self.public.is_empty()
    }

    /// Whether `host` (a `Host` header or an `:authority`) names this server: `localhost`, a
    /// loopback IP literal, the bound IP (any IP literal when bound to every address), or a
    /// configured public name. The port is not checked: the name is what a rebinding forges.
    pub fn allows(&self, host: &str) -> bool {
        let Some(name) = host_of(host) else {
            return false;
        };
        if name == "localhost" || self.public.contains(&name) {
            return true;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == self.bound || self.bound.is_unspecified(),
            Err(_) => false,
        }
    }

    /// Whether `origin` (an `Origin` header) is this server as the request reached it (the
    /// same `host[:port]` as its `Host`), or one of the configured public names (a TLS proxy
    /// in front may send another `Host` than the browser's origin).
    fn own_origin(&self, origin: &str, host: &str) -> bool {
        let Some((_, authority)) = origin.split_once("://") else {
            return false; // `null`, or not an origin at all
        };
        authority.eq_ignore_ascii_case(host.trim())
            || host_of(authority).is_some_and(|h| self.public.contains(&h))
    }

    /// Whether a request that changes something came from another site. `Sec-Fetch-Site`
    /// (sent by every current browser) must be `same-origin` or `none` (typed, bookmarked);
    /// then an `Origin` may be `null` (a page with `Referrer-Policy: no-referrer` sends that
    /// for its own forms), or else must be this server's. Without `Sec-Fetch-Site` an `Origin`
    /// must be this server's (`null` is refused: a sandboxed frame on any site sends it). A
    /// request with neither (curl, scripts) is no browser's cross-site request and passes:
    /// the CSRF token and the login still apply.
    pub fn cross_site(&self, host: &str, origin: Option<&str>, fetch_site: Option<&str>) -> bool {
        let foreign = |o: &str| !self.own_origin(o, host);
        match fetch_site.map(str::trim) {
            Some("same-origin" | "none") => origin.is_some_and(|o| o != "null" && foreign(o)),
            Some(_) => true,
            None => origin.is_some_and(foreign),
        }
    }
}

/// Whether an HTTP method changes state (everything but `GET`, `HEAD` and `OPTIONS`).
pub fn changes_state(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Attempts allowed per client and overall in each fixed window (a login form's tries).
/// Memory is bounded: a window holds at most `total` clients.
#[derive(Debug)]
pub struct Limiter {
    per_client: u32,
    total: u32,
    window: Duration,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    total: u32,
    clients: HashMap<IpAddr, u32>,
}

impl Limiter {
    /// At most `per_client` attempts from one client and `total` from everyone in each
    /// `window`.
    pub fn new(per_client: u32, total: u32, window: Duration) -> Self {
        Self {
            per_client,
            total,
            window,
            state: Mutex::new(Window {
                started: Instant::now(),
                total: 0,
                clients: HashMap::new(),
            }),
        }
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts one attempt by `client` at `now`; over either limit: `Err(retry after)`, the
    /// time left in the window (at least a second), and the attempt is not counted.
    pub fn attempt(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_duration_since(w.started) >= self.window {
            w.started = now;
            w.total = 0;
            w.clients.clear();
        }
        let mine = w.clients.get(&client).copied().unwrap_or(0);
        if w.total >= self.total || mine >= self.per_client {
            let left = (w.started + self.window).saturating_duration_since(now);
            return Err(left.max(Duration::from_secs(1)));
        }
        w.total += 1;
        w.clients.insert(client, mine + 1);
        Ok(())
    }
}

/// A `Retry-After` value: whole seconds, rounded up.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(bound: &str, public: &[&str]) -> HostPolicy {
        let names: Vec<String> = public.iter().map(|s| s.to_string()).collect();
        HostPolicy::new(bound.parse().unwrap(), &names)
    }

    #[test]
    fn hosts_are_loopback_names_the_bound_ip_or_public_names() {
        let p = policy("127.0.0.1:7400", &[]);
        for ok in [
            "127.0.0.1:7400",
            "localhost:7400",
            "LOCALHOST",
            "[::1]:7400",
            "127.0.0.2",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:7400",
            "evil.example",
            "10.0.0.5:7400",
            "",
            ":7400",
            "[::1",
            "a:b:c",
            "localhost:x",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
        let p = policy("0.0.0.0:7400", &["Okq.Example.com."]);
        for ok in ["okq.example.com", "OKQ.example.com:443", "10.0.0.5:7400"] {
            assert!(p.allows(ok), "{ok}");
        }
        assert!(!p.allows("evil.example"));
        assert!(!policy("10.0.0.5:7400", &[]).allows("10.0.0.6:7400"));
    }

    #[test]
    fn a_cross_site_change_is_told_apart() {
        let p = policy("127.0.0.1:7400", &[]);
        let host = "127.0.0.1:7400";
        assert!(!p.cross_site(host, None, None), "curl");
        assert!(!p.cross_site(host, Some("http://127.0.0.1:7400"), Some("same-origin")));
        assert!(!p.cross_site(host, None, Some("none")));
        assert!(p.cross_site(host, Some("http://evil.example:7400"), None));
        assert!(
            p.cross_site(host, Some("http://127.0.0.1:3000"), None),
            "another local app"
        );
        assert!(p.cross_site(host, Some("null"), None));
        assert!(
            !p.cross_site(host, Some("null"), Some("same-origin")),
            "no-referrer forms"
        );
        assert!(p.cross_site(host, Some("http://evil.example"), Some("same-origin")));
        assert!(p.cross_site(host, None, Some("cross-site")));
        assert!(p.cross_site(host, None, Some("same-site")));
        let p = policy("127.0.0.1:7400", &["okq.example.com"]);
        assert!(
            !p.cross_site(host, Some("https://okq.example.com"), None),
            "behind a proxy"
        );
        assert!(changes_state("POST") && !changes_state("GET"));
    }

    #[test]
    fn attempts_are_limited_per_client_and_overall() {
        let l = Limiter::new(2, 3, Duration::from_secs(60));
        let t = Instant::now();
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        assert!(l.attempt(a, t).is_ok() && l.attempt(a, t).is_ok());
        let wait = l.attempt(a, t + Duration::from_millis(500)).unwrap_err();
        assert_eq!(retry_after_secs(wait), 60);
        assert!(l.attempt(b, t).is_ok());
        assert!(l.attempt(c, t).is_err(), "the overall limit");
        assert!(
            l.attempt(a, t + Duration::from_secs(60)).is_ok(),
            "a new window"
        );
    }
}
