//! Who is calling: API keys → wallet.
//!
//! [`Authenticator`] is the seam; call sites only see [`Principal`]. [`StaticKeys`] are listed in
//! the config file, [`LedgerKeys`] are stored (hashed) in the ledger and revocable.

use crate::config::StaticKey;
use async_trait::async_trait;
use pingora::http::RequestHeader;
use std::collections::HashMap;
use std::sync::Arc;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Lower-case 0x address that pays.
    pub wallet: Arc<str>,
    /// Identifies the key in logs and the request log (never the key itself).
    pub key_id: Arc<str>,
    pub kind: PrincipalKind,
}

/// How a caller proved who pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An `sk-…` key: the wallet's prepaid balance pays.
    ApiKey,
    /// No key: an x402 payment signed by `wallet` pays for this one call (pay per call).
    Payer,
}

impl Principal {
    /// The payer of a pay-per-call request: its address is its identity (rate limits, the
    /// request log), and the `key_id` says it came without a key.
    pub fn payer(address: &str) -> Principal {
        let wallet: Arc<str> = Arc::from(address.to_ascii_lowercase());
        Principal {
            key_id: Arc::from(format!("x402:{wallet}")),
            wallet,
            kind: PrincipalKind::Payer,
        }
    }
}

/// The key store could not be asked (Postgres down or saturated): the caller gets a 503,
/// not the 401 of a bad key, and may retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysUnavailable;

#[async_trait]
pub trait Authenticator: Send + Sync {
    /// `Ok(None)` for unknown or revoked keys. Must not say which.
    async fn authenticate(&self, api_key: &str) -> Result<Option<Principal>, KeysUnavailable>;

    /// A key (by SHA-256) was revoked through this node: stop accepting it now, without
    /// waiting for the fleet-wide notification.
    fn forget(&self, _key_hash: &[u8; 32]) {}
}

/// The API key of a request: `Authorization: Bearer sk-…` (OpenAI SDKs) or `x-api-key: sk-…`
/// (Anthropic SDKs). Either header works on either API.
pub fn api_key(req: &RequestHeader) -> Option<&str> {
    if let Some(v) = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            let key = v[7..].trim();
            if !key.is_empty() {
                return Some(key);
            }
        }
    }
    req.headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// The caller behind `api_key`: 401 for a missing, unknown or revoked key (one answer for
/// all three), 503 when the key store cannot be asked.
pub async fn principal(
    auth: &dyn Authenticator,
    api_key: Option<&str>,
) -> Result<Principal, crate::wire::ApiError> {
    use crate::wire::ApiError;
    let key = api_key.ok_or_else(ApiError::unauthorized)?;
    if key.starts_with("pk-") {
        return Err(ApiError::new(
            401,
            "UNAUTHORIZED",
            "A provider key (pk-…) manages listings and cannot call this endpoint; use a buyer key (sk-…)",
        ));
    }
    match auth.authenticate(key).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(ApiError::unauthorized()),
        Err(KeysUnavailable) => Err(ApiError::billing_unavailable()),
    }
}

/// Keys from `auth.static_keys`.
pub struct StaticKeys {
    keys: HashMap<String, Principal>,
}

impl StaticKeys {
    pub fn new(keys: &[StaticKey]) -> Self {
        StaticKeys {
            keys: keys
                .iter()
                .map(|k| {
                    let p = Principal {
                        kind: PrincipalKind::ApiKey,
                        wallet: Arc::from(k.wallet.as_str()),
                        key_id: Arc::from(k.label.as_str()),
                    };
                    (k.key.expose().to_string(), p)
                })
                .collect(),
        }
    }
}

#[async_trait]
impl Authenticator for StaticKeys {
    async fn authenticate(&self, api_key: &str) -> Result<Option<Principal>, KeysUnavailable> {
        Ok(self.keys.get(api_key).cloned())
    }
}

/// Tries each authenticator in turn (static keys from the file, then the ledger's keys).
pub struct AnyOf(pub Vec<Arc<dyn Authenticator>>);

#[async_trait]
impl Authenticator for AnyOf {
    async fn authenticate(&self, api_key: &str) -> Result<Option<Principal>, KeysUnavailable> {
        for a in &self.0 {
            if let Some(p) = a.authenticate(api_key).await? {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    fn forget(&self, key_hash: &[u8; 32]) {
        for a in &self.0 {
            a.forget(key_hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/v1/messages", None).unwrap();
        for (k, v) in headers {
            r.insert_header(k.to_string(), v.to_string()).unwrap();
        }
        r
    }

    #[test]
    fn reads_either_header() {
        assert_eq!(
            api_key(&req(&[("authorization", "Bearer sk-1")])),
            Some("sk-1")
        );
        assert_eq!(
            api_key(&req(&[("authorization", "bearer  sk-1 ")])),
            Some("sk-1")
        );
        assert_eq!(api_key(&req(&[("x-api-key", "sk-2")])), Some("sk-2"));
        assert_eq!(api_key(&req(&[("authorization", "Basic abc")])), None);
        assert_eq!(api_key(&req(&[("authorization", "Bearer ")])), None);
        assert_eq!(api_key(&req(&[])), None);
    }
}
