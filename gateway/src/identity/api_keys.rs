//! Who is calling: API keys → wallet.
//!
//! [`Authenticator`] is the seam; call sites only see [`Principal`]. [`StaticKeys`] are listed in
//! the config file, [`LedgerKeys`] are stored (hashed) in the ledger and revocable.

use crate::config::StaticKey;
use async_trait::async_trait;
use pingora::http::RequestHeader;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Keys stored (as SHA-256) in the ledger's `api_keys` table, looked up once and then served
/// from memory.
///
/// A bearer token that is not `sk-` + 64 hex (the only keys the ledger issues) is refused
/// without a lookup, so junk cannot become queries. Unknown keys are remembered apart from
/// known ones, in a smaller map: a flood of made-up keys evicts only other made-up keys.
///
/// Revocation reaches every node through Postgres `LISTEN/NOTIFY`
/// ([`tollgate_billing::ledger::watch_key_revocations`]): a revoked hash is evicted the moment
/// the notification arrives, so positive lookups can be cached for `TRUSTED_TTL`. While the feed
/// is down, cached lookups are trusted for `UNWATCHED_TTL` only (1 s), which keeps the
/// "revoked within a second" promise without the feed. Unknown keys are cached for
/// `NEGATIVE_TTL` so a flood of bad keys cannot become a flood of queries.
pub struct LedgerKeys {
    ledger: tollgate_billing::ledger::Ledger,
    /// Known, valid keys, with when they were looked up.
    known: std::sync::Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
    /// Keys the ledger does not know (or revoked: they answer the same), likewise.
    unknown: std::sync::Mutex<HashMap<[u8; 32], Instant>>,
    /// Entries each map holds at most (known, unknown).
    limits: (usize, usize),
    /// True while the revocation feed is connected.
    watched: std::sync::atomic::AtomicBool,
    /// Bumped by every revocation event: a lookup that raced one is not cached.
    epoch: std::sync::atomic::AtomicU64,
    /// Lookups that went to Postgres (a cache miss or an untrusted entry).
    lookups: prometheus::IntCounter,
}

const TRUSTED_TTL: Duration = Duration::from_secs(300);
const UNWATCHED_TTL: Duration = Duration::from_secs(1);
const NEGATIVE_TTL: Duration = Duration::from_secs(1);
const KNOWN_MAX: usize = 100_000;
const UNKNOWN_MAX: usize = 10_000;

/// `sk-` + 64 lower-case hex: what `tollgate keys create` and `POST /v1/auth/keys` issue.
pub fn is_ledger_key(key: &str) -> bool {
    key.len() == 67
        && key.starts_with("sk-")
        && key.as_bytes()[3..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// Insert into a bounded map: a full map starts over (cheap, and it only costs lookups).
fn insert_bounded<V>(map: &mut HashMap<[u8; 32], V>, limit: usize, hash: [u8; 32], v: V) {
    if map.len() >= limit {
        map.clear();
    }
    map.insert(hash, v);
}

impl LedgerKeys {
    pub fn new(
        ledger: tollgate_billing::ledger::Ledger,
        metrics: &crate::metrics::Metrics,
    ) -> Self {
        Self::with_cache_limits(ledger, metrics, KNOWN_MAX, UNKNOWN_MAX)
    }

    /// [`Self::new`] with the caches' sizes: `known` keys, `unknown` keys.
    pub fn with_cache_limits(
        ledger: tollgate_billing::ledger::Ledger,
        metrics: &crate::metrics::Metrics,
        known: usize,
        unknown: usize,
    ) -> Self {
        LedgerKeys {
            lookups: metrics.counter(
                "tollgate_api_key_lookups_total",
                "API-key lookups that went to Postgres (cache misses).",
            ),
            ledger,
            known: std::sync::Mutex::new(HashMap::new()),
            unknown: std::sync::Mutex::new(HashMap::new()),
            limits: (known.max(1), unknown.max(1)),
            watched: std::sync::atomic::AtomicBool::new(false),
            epoch: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Follow the revocation feed until the process ends (a background service runs this).
    pub async fn follow_revocations(self: Arc<Self>) {
        let weak = Arc::downgrade(&self);
        let ledger = self.ledger.clone();
        drop(self);
        tollgate_billing::ledger::watch_key_revocations(ledger, move |event| {
            if let Some(keys) = weak.upgrade() {
                keys.on_key_event(event);
            }
        })
        .await
    }

    fn on_key_event(&self, event: tollgate_billing::ledger::KeyEvent) {
        use std::sync::atomic::Ordering;
        use tollgate_billing::ledger::KeyEvent;
        match event {
            KeyEvent::Revoked(hash) => self.evict(&hash),
            KeyEvent::Listening => {
                self.epoch.fetch_add(1, Ordering::AcqRel);
                // Revocations made while nobody listened were missed: start over.
                self.known.lock().unwrap_or_else(|p| p.into_inner()).clear();
                self.watched.store(true, Ordering::Release);
            }
            KeyEvent::Lost => self.watched.store(false, Ordering::Release),
        }
    }

    fn evict(&self, hash: &[u8; 32]) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(hash);
    }

    /// A fresh enough answer from the caches: `Some(None)` for a key known not to exist.
    fn cached(&self, hash: &[u8; 32], now: Instant) -> Option<Option<Principal>> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, at)) = known.get(hash) {
            let ttl = if self.watched.load(std::sync::atomic::Ordering::Acquire) {
                TRUSTED_TTL
            } else {
                UNWATCHED_TTL
            };
            return (now.duration_since(*at) < ttl).then(|| Some(p.clone()));
        }
        drop(known);
        let unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        let at = unknown.get(hash)?;
        (now.duration_since(*at) < NEGATIVE_TTL).then_some(None)
    }
}

#[async_trait]
impl Authenticator for LedgerKeys {
    async fn authenticate(&self, api_key: &str) -> Option<Principal> {
        use std::sync::atomic::Ordering;
        if !is_ledger_key(api_key) {
            return None;
        }
        let hash = tollgate_billing::ledger::hash_api_key(api_key);
        let now = Instant::now();
        if let Some(hit) = self.cached(&hash, now) {
            return hit;
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        self.lookups.inc();
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
        // A revocation event during the query may be for this very key: answer, don't cache.
        if self.epoch.load(Ordering::Acquire) == epoch {
            match &principal {
                Some(p) => {
                    let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
                    insert_bounded(&mut known, self.limits.0, hash, (p.clone(), now));
                }
                None => {
                    let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
                    insert_bounded(&mut unknown, self.limits.1, hash, now);
                }
            }
        }
        principal
    }

    fn forget(&self, key_hash: &[u8; 32]) {
        self.evict(key_hash);
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
