//! What the HTTP gateway (`okra-gateway`) is configured with: the `[gateway]` section. The
//! server itself is a binary (`src/bin/okra-gateway/`); its API keys are [`crate::api_keys`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[gateway]`: where `okra-gateway` listens and the limits it applies to every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// `host:port` to listen on (`--addr` wins).
    pub addr: String,
    /// Names the gateway is reached by besides loopback and its address (behind a proxy);
    /// requests naming another `Host` are refused (421).
    pub public_hosts: Vec<String>,
    /// Longest `?wait=` a result read may hold the request.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Largest request body, in bytes (a batch of 1,000 jobs with metadata fits in 4 MiB).
    pub max_body: usize,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:7410".into(),
            public_hosts: Vec::new(),
            max_wait: Duration::from_secs(60),
            max_body: 4 * 1024 * 1024,
        }
    }
}

impl GatewaySettings {
    /// Checks every value; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!("gateway.addr `{}` is not host:port", self.addr));
        }
        if self.max_wait.is_zero() || self.max_body < 1024 {
            return Err(
                "gateway.max_wait must be positive and gateway.max_body at least 1024".into(),
            );
        }
        Ok(())
    }
}
