//! Spent SIWE nonces in Postgres, for a fleet without Redis: one node's sign-in spends the
//! nonce for every node (a captured message cannot be replayed on another one).

use super::{Ledger, LedgerError};
use std::time::Duration;

/// Expired rows removed per claim: enough to keep up with sign-ins, small enough that a
/// claim stays one short statement.
const SWEEP_PER_CLAIM: i64 = 8;

impl Ledger {
    /// `true` the first time `key` is claimed while unexpired, `false` after that. A claim
    /// also deletes a few expired rows, so the table holds only live nonces.
    pub async fn claim_siwe_nonce(&self, key: &str, ttl: Duration) -> Result<bool, LedgerError> {
        let ttl_ms = ttl.as_millis().clamp(1, i64::MAX as u128) as i64;
        let c = self.conn().await?;
        let claimed = c
            .query_opt(
                "WITH swept AS (
                     DELETE FROM siwe_nonces WHERE key IN (
                         SELECT key FROM siwe_nonces
                          WHERE expires_at <= now() AND key <> $1
                          LIMIT $3 FOR UPDATE SKIP LOCKED))
                 INSERT INTO siwe_nonces (key, expires_at)
                 VALUES ($1, now() + $2::BIGINT * interval '1 millisecond')
                 ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
                  WHERE siwe_nonces.expires_at <= now()
                 RETURNING 1",
                &[&key, &ttl_ms, &SWEEP_PER_CLAIM],
            )
            .await?;
        Ok(claimed.is_some())
    }
}
