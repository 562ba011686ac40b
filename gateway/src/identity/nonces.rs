//! Spent SIWE nonces: each `(wallet, nonce)` is accepted once, remembered for as long as its
//! message could still be accepted. Fleet-wide in Redis when configured, else in Postgres when
//! the ledger is (a fleet without Redis still shares one Postgres), else in this process.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[async_trait]
pub trait NonceStore: Send + Sync {
    /// `Ok(true)` the first time `key` is claimed within `ttl`, `Ok(false)` after that.
    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, String>;
}

/// In-process store, bounded: expired entries are swept when it fills up, and when nothing has
/// expired a claim is refused rather than growing without limit.
pub struct MemoryNonces {
    spent: Mutex<HashMap<String, Instant>>,
    capacity: usize,
}

impl MemoryNonces {
    pub fn new(capacity: usize) -> Self {
        MemoryNonces {
            spent: Mutex::new(HashMap::new()),
            capacity,
        }
    }
}

#[async_trait]
impl NonceStore for MemoryNonces {
    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, String> {
        let now = Instant::now();
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = spent.get(key) {
            if *until > now {
                return Ok(false);
            }
        }
        if spent.len() >= self.capacity {
            spent.retain(|_, until| *until > now);
            if spent.len() >= self.capacity {
                return Err(format!("{} unexpired nonces held", spent.len()));
            }
        }
        spent.insert(key.to_string(), now + ttl);
        Ok(true)
    }
}

/// Shared store: `SET <prefix>siwe:nonce:<key> 1 NX PX <ttl>` — one atomic round trip, bounded
/// by `redis.timeout`. When Redis cannot answer the claim fails and so does the sign-in (503):
/// accepting a message whose nonce could not be recorded would allow a replay.
pub struct RedisNonces {
    redis: std::sync::Arc<crate::redis::RedisHandle>,
}

impl RedisNonces {
    pub fn new(redis: std::sync::Arc<crate::redis::RedisHandle>) -> Self {
        RedisNonces { redis }
    }
}

#[async_trait]
impl NonceStore for RedisNonces {
    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, String> {
        use fred::interfaces::KeysInterface;
        use fred::types::{Expiration, SetOptions};
        let ttl_ms = ttl.as_millis().clamp(1, i64::MAX as u128) as i64;
        let set = self.redis.cmd().set::<Option<String>, _, _>(
            self.redis.key(&format!("siwe:nonce:{key}")),
            1,
            Some(Expiration::PX(ttl_ms)),
            Some(SetOptions::NX),
            false,
        );
        // fred's own `redis.timeout` decides; the outer bound only guards a command queued
        // during a reconnect (equal bounds could abandon a command fred still sends).
        match tokio::time::timeout(self.redis.timeout() * 2, set).await {
            Ok(Ok(v)) => Ok(v.is_some()),
            Ok(Err(e)) => {
                self.redis.report_error("siwe_nonce", &e);
                Err(e.to_string())
            }
            Err(_) => {
                self.redis.report_error("siwe_nonce", &"timed out");
                Err("redis timed out".into())
            }
        }
    }
}

/// Shared store without Redis: the ledger's `siwe_nonces` table, one statement per claim.
/// As with Redis, a claim that cannot be recorded fails the sign-in (503).
pub struct PostgresNonces {
    ledger: tollgate_billing::ledger::Ledger,
}

impl PostgresNonces {
    pub fn new(ledger: tollgate_billing::ledger::Ledger) -> Self {
        PostgresNonces { ledger }
    }
}

#[async_trait]
impl NonceStore for PostgresNonces {
    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, String> {
        self.ledger
            .claim_siwe_nonce(key, ttl)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_nonce_is_accepted_once_until_it_expires() {
        let s = MemoryNonces::new(10);
        assert_eq!(s.claim("a", Duration::from_millis(30)).await, Ok(true));
        assert_eq!(s.claim("a", Duration::from_millis(30)).await, Ok(false));
        assert_eq!(s.claim("b", Duration::from_millis(30)).await, Ok(true));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(s.claim("a", Duration::from_secs(1)).await, Ok(true));
    }

    #[tokio::test]
    async fn a_full_store_sweeps_then_refuses() {
        let s = MemoryNonces::new(2);
        assert_eq!(s.claim("a", Duration::from_millis(10)).await, Ok(true));
        assert_eq!(s.claim("b", Duration::from_secs(60)).await, Ok(true));
        tokio::time::sleep(Duration::from_millis(20)).await;
        // "a" expired: swept to make room.
        assert_eq!(s.claim("c", Duration::from_secs(60)).await, Ok(true));
        assert!(s.claim("d", Duration::from_secs(60)).await.is_err());
        assert_eq!(s.claim("b", Duration::from_secs(60)).await, Ok(false));
    }
}
