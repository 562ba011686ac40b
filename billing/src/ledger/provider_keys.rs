//! Provider keys (`pk-` + 64 hex, SHA-256 stored, scoped, expiring), created by a provider's
//! wallet over SIWE. A table apart from buyer `api_keys`, so no lookup can confuse the two.

use super::{hash_api_key, normalise_wallet, random_hex, Ledger, LedgerError};
use serde::Serialize;

/// What a provider key may do.
pub const PROVIDER_SCOPES: [&str; 3] = ["models:write", "earnings:read", "status:read"];

#[derive(Debug, Clone, Serialize)]
pub struct NewProviderKey {
    pub id: String,
    pub key: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_at: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderKeyInfo {
    pub id: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_at: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A valid (unrevoked, unexpired) provider key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderKeyRecord {
    pub id: String,
    pub wallet: String,
    pub scopes: Vec<String>,
}

impl Ledger {
    /// A provider key for `wallet`: `pk-` + 64 hex, shown once, stored as SHA-256.
    pub async fn create_provider_key(
        &self,
        wallet: &str,
        label: &str,
        scopes: &[String],
        valid_for_days: u32,
    ) -> Result<NewProviderKey, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        if label.chars().count() > 100 {
            return Err(LedgerError::Invalid(
                "label is longer than 100 characters".into(),
            ));
        }
        if let Some(bad) = scopes
            .iter()
            .find(|s| !PROVIDER_SCOPES.contains(&s.as_str()))
        {
            return Err(LedgerError::Invalid(format!(
                "scopes: unknown scope {bad:?} (expected {})",
                PROVIDER_SCOPES.join(", ")
            )));
        }
        if !(1..=3650).contains(&valid_for_days) {
            return Err(LedgerError::Invalid(
                "valid_for_days must be between 1 and 3650".into(),
            ));
        }
        let key = format!("pk-{}", random_hex(32)?);
        let id = format!("pkey_{}", random_hex(8)?);
        let hash = hash_api_key(&key);
        let c = self.conn().await?;
        let row = c
            .query_one(
                concat!(
                    "INSERT INTO provider_keys (id, wallet, key_hash, label, scopes, expires_at)
                     VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6)) RETURNING ",
                    iso!("expires_at"),
                    ", ",
                    iso!("created_at")
                ),
                &[
                    &id,
                    &wallet,
                    &&hash[..],
                    &label,
                    &scopes,
                    &(valid_for_days as i32),
                ],
            )
            .await?;
        Ok(NewProviderKey {
            id,
            key,
            label: label.to_string(),
            scopes: scopes.to_vec(),
            expires_at: row.get(0),
            created_at: row.get(1),
        })
    }

    /// The key's owner and scopes, when it is neither revoked nor expired. Not cached: the
    /// provider endpoints are rare, and a revocation is then effective on every node at once.
    pub async fn find_provider_key(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<ProviderKeyRecord>, LedgerError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT id, wallet, scopes FROM provider_keys
                 WHERE key_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
                &[&&hash[..]],
            )
            .await?;
        Ok(row.map(|r| ProviderKeyRecord {
            id: r.get(0),
            wallet: r.get(1),
            scopes: r.get(2),
        }))
    }

    pub async fn list_provider_keys(
        &self,
        wallet: &str,
    ) -> Result<Vec<ProviderKeyInfo>, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        let rows = c
            .query(
                concat!(
                    "SELECT id, label, scopes, ",
                    iso!("expires_at"),
                    ", ",
                    iso!("created_at"),
                    ", ",
                    iso!("revoked_at"),
                    " FROM provider_keys WHERE wallet = $1 ORDER BY created_at, id"
                ),
                &[&wallet],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ProviderKeyInfo {
                id: r.get(0),
                label: r.get(1),
                scopes: r.get(2),
                expires_at: r.get(3),
                created_at: r.get(4),
                revoked_at: r.get(5),
            })
            .collect())
    }

    /// Revoke one of `wallet`'s provider keys; false when it has no such key.
    pub async fn revoke_provider_key(&self, wallet: &str, id: &str) -> Result<bool, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        let n = c
            .execute(
                "UPDATE provider_keys SET revoked_at = COALESCE(revoked_at, now())
                 WHERE id = $1 AND wallet = $2",
                &[&id, &wallet],
            )
            .await?;
        Ok(n == 1)
    }
}
