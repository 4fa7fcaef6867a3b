//! Login sessions: a random id in the cookie, its SHA-256 in Redis (`okq:web:session:*`) with
//! the session's lifetime as TTL, holding the token's name and a fingerprint of the token. A
//! session ends when its TTL runs out, at log-out (the key is deleted), and when its token is
//! removed from or changed in the token file (the fingerprint no longer matches).

use std::time::Duration;

use sha2::{Digest, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "okq_session";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new session id: 32 bytes from the system's random source, as hex.
pub fn new_id() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system's random source answers");
    hex(&bytes)
}

/// What Redis stores a session under: the id's SHA-256, so the stored key is no cookie.
/// `None` for a value that is no session id (not 64 hex digits): no need to ask Redis.
pub fn id_hash(id: &str) -> Option<String> {
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex(&Sha256::digest(id.as_bytes())))
}

/// The session id a request's cookies carry, if any.
pub fn from_cookies<'a>(cookies: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    cookies
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find_map(|(k, v)| (k == COOKIE).then_some(v))
}

/// The `Set-Cookie` value of a new session: `HttpOnly`, `SameSite=Strict`, expiring with the
/// session, and `Secure` when the dashboard is reached over TLS (a public name is configured).
pub fn set_cookie(id: &str, ttl: Duration, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        ttl.as_secs().max(1),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that clears the cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// What a session's Redis value holds: `NAME FINGERPRINT`.
pub fn holder(name: &str, fingerprint: &str) -> String {
    format!("{name} {fingerprint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex_and_stored_hashed() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        let h = id_hash(&a).unwrap();
        assert_eq!(h.len(), 64);
        assert_ne!(h, a);
        assert_eq!(id_hash("not-a-session"), None);
        assert_eq!(
            from_cookies(["x=1; okq_session=abc", "y=2"].into_iter()),
            Some("abc")
        );
        assert!(set_cookie(&a, Duration::from_secs(60), true).ends_with("Max-Age=60; Secure"));
    }
}
