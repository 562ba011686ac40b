//! API keys stored (as SHA-256) in the ledger: looked up once, cached, evicted on revocation.

use super::api_keys::{Authenticator, KeysUnavailable, Principal};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Lookups under way, by key hash, so concurrent misses share one query. An entry lives
    /// only while its query runs: bounded by the requests in flight.
    inflight: std::sync::Mutex<HashMap<[u8; 32], Flight>>,
}

/// One lookup's answer, shared by every request that waited for it.
type Flight = Arc<tokio::sync::OnceCell<Result<Option<Principal>, KeysUnavailable>>>;

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
            inflight: std::sync::Mutex::new(HashMap::new()),
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

    /// Ask Postgres, and cache the answer unless a revocation raced the query.
    async fn lookup(&self, hash: [u8; 32]) -> Result<Option<Principal>, KeysUnavailable> {
        use std::sync::atomic::Ordering;
        let now = Instant::now();
        let epoch = self.epoch.load(Ordering::Acquire);
        self.lookups.inc();
        let found = self.ledger.find_api_key(&hash).await.map_err(|e| {
            log::warn!("API key lookup failed: {e}");
            KeysUnavailable
        })?;
        let principal = found.filter(|k| !k.revoked).map(|k| Principal {
            kind: super::api_keys::PrincipalKind::ApiKey,
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
        Ok(principal)
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
    async fn authenticate(&self, api_key: &str) -> Result<Option<Principal>, KeysUnavailable> {
        if !is_ledger_key(api_key) {
            return Ok(None);
        }
        let hash = tollgate_billing::ledger::hash_api_key(api_key);
        if let Some(hit) = self.cached(&hash, Instant::now()) {
            return Ok(hit);
        }
        // One query per key however many requests miss at once (a popular key after a
        // restart): the rest wait for its answer instead of each taking a pool connection.
        let flight = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            inflight.entry(hash).or_default().clone()
        };
        let answer = flight.get_or_init(|| self.lookup(hash)).await.clone();
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if inflight.get(&hash).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            inflight.remove(&hash);
        }
        answer
    }

    fn forget(&self, key_hash: &[u8; 32]) {
        self.evict(key_hash);
    }
}
