//! API keys: created (shown once, stored as SHA-256), listed, revoked — and the revocation
//! feed every gateway node listens to (`LISTEN tollgate_key_revoked`), so that a revoked key
//! stops working everywhere within a second without a query per request.

use super::feed::Feed;
use super::{hash_api_key, normalise_wallet, random_hex, Ledger, LedgerError};
use serde::Serialize;

/// The channel revocations are announced on; the payload is the key hash in hex.
const CHANNEL: &str = "tollgate_key_revoked";

/// A freshly created API key: `key` is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub key: String,
    pub wallet: String,
    pub label: String,
    pub created_at: String,
}

/// What an API key hash resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub wallet: String,
    pub revoked: bool,
}

/// One key as its owner sees it (never the key itself).
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub label: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// What a node hears on the revocation feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// Listening (again). Anything cached before may have missed a revocation: drop it.
    Listening,
    /// The feed is down; caches must stop trusting old lookups until `Listening`.
    Lost,
    /// This key hash was revoked.
    Revoked([u8; 32]),
}

impl Ledger {
    /// Create an API key for a wallet: `sk-` + 64 hex (256 random bits). Only its SHA-256 is
    /// stored.
    pub async fn create_api_key(
        &self,
        wallet: &str,
        label: &str,
    ) -> Result<NewApiKey, LedgerError> {
        if label.chars().count() > 100 {
            return Err(LedgerError::Invalid(
                "label is longer than 100 characters".into(),
            ));
        }
        let wallet = normalise_wallet(wallet)?;
        self.ensure_wallet(&wallet).await?;
        let key = format!("sk-{}", random_hex(32)?);
        let id = format!("key_{}", random_hex(8)?);
        let hash = hash_api_key(&key);
        let c = self.conn().await?;
        let row = c
            .query_one(
                concat!(
                    "INSERT INTO api_keys (id, wallet, key_hash, label) VALUES ($1, $2, $3, $4) RETURNING ",
                    iso!("created_at")
                ),
                &[&id, &wallet, &&hash[..], &label],
            )
            .await?;
        Ok(NewApiKey {
            id,
            key,
            wallet,
            label: label.to_string(),
            created_at: row.get(0),
        })
    }

    pub async fn find_api_key(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, LedgerError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT id, wallet, revoked_at IS NOT NULL FROM api_keys WHERE key_hash = $1",
                &[&&hash[..]],
            )
            .await?;
        Ok(row.map(|r| ApiKeyRecord {
            id: r.get(0),
            wallet: r.get(1),
            revoked: r.get(2),
        }))
    }

    /// A wallet's keys, oldest first, revoked ones included.
    pub async fn list_api_keys(&self, wallet: &str) -> Result<Vec<ApiKeyInfo>, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        let rows = c
            .query(
                concat!(
                    "SELECT id, label, ",
                    iso!("created_at"),
                    ", ",
                    iso!("revoked_at"),
                    " FROM api_keys WHERE wallet = $1 ORDER BY created_at, id"
                ),
                &[&wallet],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ApiKeyInfo {
                id: r.get(0),
                label: r.get(1),
                created_at: r.get(2),
                revoked_at: r.get(3),
            })
            .collect())
    }

    /// Revoke one of `wallet`'s keys and announce it to every node, in one transaction (the
    /// notification is delivered at commit). Returns the key's hash (so the caller's node can
    /// forget it at once), `None` when the wallet has no such key. Revoking twice is fine: the
    /// first `revoked_at` stays.
    pub async fn revoke_api_key(
        &self,
        wallet: &str,
        id: &str,
    ) -> Result<Option<[u8; 32]>, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let row = tx
            .query_opt(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())
                 WHERE id = $1 AND wallet = $2 RETURNING encode(key_hash, 'hex')",
                &[&id, &wallet],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let hash: String = row.get(0);
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &hash])
            .await?;
        tx.commit().await?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&hash, &mut bytes)
            .map_err(|e| LedgerError::Invalid(format!("stored key hash: {e}")))?;
        Ok(Some(bytes))
    }
}

/// Follow the revocation feed forever (see [`super::feed::watch`]).
pub async fn watch_key_revocations(ledger: Ledger, mut on_event: impl FnMut(KeyEvent) + Send) {
    super::feed::watch(ledger, CHANNEL, move |e| match e {
        Feed::Listening => on_event(KeyEvent::Listening),
        Feed::Lost => on_event(KeyEvent::Lost),
        Feed::Notified(payload) => {
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(payload, &mut hash).is_ok() {
                on_event(KeyEvent::Revoked(hash));
            }
        }
    })
    .await
}
