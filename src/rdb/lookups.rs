//! Which free lookup routes have proven themselves: a route that once answered with a profile
//! (any job, any worker of the account) is a lookup, so its 404 with the provider's error
//! envelope means "no such identity" rather than "no such path". Kept per account, under its
//! hash tag, one hash field per path; a field is only ever added.

use super::account::Account;
use crate::error::Result;

impl Account {
    /// Records that the lookup at `path` answered with a profile (first time wins).
    pub async fn prove_lookup(&self, path: &str) -> Result<()> {
        // This process's clock: the time is for people reading `okra-admin check lookups`.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let _: u64 = redis::cmd("HSETNX")
            .arg(self.keys.lookups())
            .arg(path)
            .arg(now)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Whether the lookup at `path` has answered with a profile before.
    pub async fn lookup_proven(&self, path: &str) -> Result<bool> {
        Ok(redis::cmd("HEXISTS")
            .arg(self.keys.lookups())
            .arg(path)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Every proven route, with the time (ms) it first answered with a profile.
    pub async fn proven_lookups(&self) -> Result<Vec<(String, u64)>> {
        Ok(redis::cmd("HGETALL")
            .arg(self.keys.lookups())
            .query_async(&mut self.conn.clone())
            .await?)
    }
}
