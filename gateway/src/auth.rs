//! Who is calling: API keys → wallet.
//!
//! [`Authenticator`] is the seam the keys/SIWE work replaces; call sites only see
//! [`Principal`]. This issue ships [`StaticKeys`], keys listed in the config file.

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
}

#[async_trait]
pub trait Authenticator: Send + Sync {
    /// `None` for unknown or revoked keys. Must not say which.
    async fn authenticate(&self, api_key: &str) -> Option<Principal>;
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
    async fn authenticate(&self, api_key: &str) -> Option<Principal> {
        self.keys.get(api_key).cloned()
    }
}

/// Keys stored (as SHA-256) in the ledger's `api_keys` table.
///
/// Lookups are cached briefly so the hot path stays in memory: a known key for
/// `CACHE_TTL`, an unknown one for `NEGATIVE_TTL` (so a flood of bad keys cannot turn into a
/// flood of queries). Revocation therefore takes effect within `CACHE_TTL` on every node.
pub struct LedgerKeys {
    ledger: tollgate_billing::ledger::Ledger,
    cache: std::sync::Mutex<HashMap<[u8; 32], CachedLookup>>,
}

/// A key hash's last lookup (`None`: unknown or revoked) and when it was made.
type CachedLookup = (Option<Principal>, std::time::Instant);

const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
const NEGATIVE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
const CACHE_MAX: usize = 100_000;

impl LedgerKeys {
    pub fn new(ledger: tollgate_billing::ledger::Ledger) -> Self {
        LedgerKeys {
            ledger,
            cache: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Authenticator for LedgerKeys {
    async fn authenticate(&self, api_key: &str) -> Option<Principal> {
        let hash = tollgate_billing::ledger::hash_api_key(api_key);
        let now = std::time::Instant::now();
        if let Some((p, at)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
        {
            let ttl = if p.is_some() { CACHE_TTL } else { NEGATIVE_TTL };
            if now.duration_since(*at) < ttl {
                return p.clone();
            }
        }
        let found = match self.ledger.find_api_key(&hash).await {
            Ok(r) => r,
            Err(e) => {
                log::warn!("API key lookup failed: {e}");
                return None;
            }
        };
        let principal = found.filter(|k| !k.revoked).map(|k| Principal {
            wallet: Arc::from(k.wallet.as_str()),
            key_id: Arc::from(k.id.as_str()),
        });
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(hash, (principal.clone(), now));
        principal
    }
}

/// Tries each authenticator in turn (static keys from the file, then the ledger's keys).
pub struct AnyOf(pub Vec<Arc<dyn Authenticator>>);

#[async_trait]
impl Authenticator for AnyOf {
    async fn authenticate(&self, api_key: &str) -> Option<Principal> {
        for a in &self.0 {
            if let Some(p) = a.authenticate(api_key).await {
                return Some(p);
            }
        }
        None
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
