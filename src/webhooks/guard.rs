//! The SSRF guard: a webhook goes only to `https` URLs whose addresses are public, checked
//! when the endpoint is added and again at send time on the address the name resolves to;
//! the request is then pinned to that address, so a name re-pointed in between (DNS
//! rebinding) cannot reach anything else. `[webhooks] allow_insecure_hosts` names the hosts
//! (a local test receiver) that may use `http` and any address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::Url;

/// Where a delivery goes: the URL, and the checked address its host is pinned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The endpoint's URL.
    pub url: Url,
    /// Its host as written (a name, or an IP literal).
    pub host: String,
    /// The address that was checked.
    pub addr: SocketAddr,
}

/// Why an address is not public, if it is not.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.to_ipv4_mapped().is_some() {
                Some("an IPv4-mapped IPv6 address")
            } else if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("the unspecified address")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("a private (unique local) address")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if s[0] & 0xffc0 == 0xfec0 {
                Some("a site-local address (fec0::/10)")
            } else if s[0] & 0xff00 == 0xff00 {
                Some("a multicast address")
            } else if s[..6] == [0; 6]
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || s[0] == 0x2002
                || (s[0] == 0x2001 && s[1] == 0)
            {
                // IPv4-compatible, NAT64, 6to4 and Teredo (2001::/32).
                Some("an IPv6 address that embeds an IPv4 one")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Some("a documentation address")
            } else {
                None
            }
        }
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (169.254/16)")
    } else if o[0] == 100 && o[1] & 0xc0 == 64 {
        Some("a shared (CGNAT, 100.64/10) address")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("the unspecified address (0/8)")
    } else if ip.is_broadcast() || ip.is_multicast() || o[0] >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if (o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2))
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)
        || (o[0] == 203 && o[1] == 0 && o[2] == 113)
    {
        Some("a special-purpose address")
    } else {
        None
    }
}

/// Reads and checks a URL's form: `https` (or `http` for an allowed host), with a host. The
/// answer says whether the host is on the allow list (its addresses are then not checked).
pub fn parse(url: &str, allow: &[String]) -> Result<(Url, bool), String> {
    let u = Url::parse(url.trim()).map_err(|e| format!("the webhook URL is not a URL ({e})"))?;
    let host = u.host_str().unwrap_or("").to_ascii_lowercase();
    let allowed = !host.is_empty() && allow.iter().any(|a| a.eq_ignore_ascii_case(&host));
    match u.scheme() {
        "https" => {}
        "http" if allowed => {}
        "http" => {
            return Err(format!(
                "refusing the webhook URL: http is not allowed (use https; only hosts in webhooks.allow_insecure_hosts may use http, and {host} is not one)"
            ));
        }
        other => {
            return Err(format!(
                "refusing the webhook URL: scheme `{other}:` (only https)"
            ));
        }
    }
    if host.is_empty() {
        return Err("refusing the webhook URL: it has no host".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("refusing the webhook URL: credentials in a URL are not allowed (sign with the endpoint's secret instead)".into());
    }
    Ok((u, allowed))
}

/// Longest a webhook host's name lookup may take before the delivery is retried later.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a webhook URL cannot be sent to now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsendable {
    /// The URL, or an address its host resolves to, is refused: it never will be sent to.
    #[error("{0}")]
    Refused(String),
    /// Its host did not resolve (a resolver outage, a name not published yet): later, it may.
    #[error("{0}")]
    Unresolved(String),
}

/// Checks `url` and resolves its host to one checked address. A name is resolved here (an IP
/// literal never is); every address it resolves to must be public, not only the first.
pub async fn resolve(url: &str, allow: &[String]) -> Result<Target, Unsendable> {
    let (u, allowed) = parse(url, allow).map_err(Unsendable::Refused)?;
    let port = u.port_or_known_default().unwrap_or(443);
    let host = u.host_str().unwrap_or_default().to_string();
    // The URL parser writes every IP literal out canonically (`[::1]`, `127.0.0.1`).
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>();
    let addrs: Vec<SocketAddr> = match literal {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        // Bounded like the send itself: a resolver that never answers holds no delivery.
        Err(_) => tokio::time::timeout(
            RESOLVE_TIMEOUT,
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| {
            Unsendable::Unresolved(format!(
                "the webhook host {host} did not resolve within {}s",
                RESOLVE_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| {
            Unsendable::Unresolved(format!("the webhook host {host} does not resolve ({e})"))
        })?
        .collect(),
    };
    let Some(first) = addrs.first().copied() else {
        return Err(Unsendable::Unresolved(format!(
            "the webhook host {host} has no address"
        )));
    };
    if !allowed {
        for a in &addrs {
            if let Some(why) = refusal(a.ip()) {
                return Err(Unsendable::Refused(format!(
                    "refusing the webhook URL: {host} is {why} ({}); only public addresses are allowed",
                    a.ip()
                )));
            }
        }
    }
    Ok(Target {
        url: u,
        host,
        addr: first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        for ip in [
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "::1",
            "::",
            "::ffff:127.0.0.3",
            "::ffff:8.8.8.8",
            "fd00::1",
            "fe80::1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(refusal(ip).is_some(), "{ip} should be refused");
        }
        for ip in [
            "8.8.8.8",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2001:4860::8888",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(refusal(ip), None, "{ip} is public");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_without_resolving_literals() {
        let allow = vec!["127.0.0.1".to_string()];
        for (url, says) in [
            ("https://127.0.0.2/hook", "loopback"),
            ("https://[::1]/hook", "loopback"),
            ("https://[::ffff:127.0.0.3]/hook", "IPv4-mapped"),
            ("file:///etc/passwd", "scheme `file:`"),
            ("http://8.8.8.8/hook", "http is not allowed"),
            ("not a url", "not a URL"),
            ("https://user:pw@8.8.8.8/", "credentials"),
        ] {
            let e = resolve(url, &allow).await.unwrap_err();
            assert!(matches!(e, Unsendable::Refused(_)), "{url}: {e}");
            let e = e.to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains('\n'));
        }
        let t = resolve("http://127.0.0.1:8080/x", &allow).await.unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        let t = resolve("https://8.8.8.8/x", &[]).await.unwrap();
        assert_eq!(t.addr.port(), 443);
    }
}
