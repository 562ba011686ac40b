//! The in-process limiter: each wallet's windows in a sharded map.
//!
//! A shard's mutex is held for a few arithmetic operations, never across an `.await`. A wallet
//! costs one map entry (its `Arc<str>` is the principal's, so nothing is allocated after its
//! first request). Memory is bounded: a shard that is full first drops wallets whose windows
//! are all empty, then the least recently seen one; `sweep` drops idle wallets periodically.

use super::window::{Verdict, WalletWindows};
use crate::config::WalletLimits;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const SHARDS: usize = 64;

pub struct LocalLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    base: Instant,
    per_shard: usize,
    warned_full: AtomicBool,
}

#[derive(Default)]
struct Shard {
    wallets: HashMap<Arc<str>, Entry>,
}

struct Entry {
    windows: WalletWindows,
    last_seen_ms: u64,
}

impl LocalLimiter {
    /// `max_wallets`: how many wallets are tracked at most (spread over the shards).
    pub fn new(max_wallets: usize) -> Self {
        LocalLimiter {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            base: Instant::now(),
            per_shard: max_wallets.div_ceil(SHARDS).max(1),
            warned_full: AtomicBool::new(false),
        }
    }

    /// Milliseconds on this limiter's monotonic clock.
    pub fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    fn shard(&self, wallet: &str) -> std::sync::MutexGuard<'_, Shard> {
        let i = self.hasher.hash_one(wallet) as usize % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn admit(&self, wallet: &Arc<str>, limits: &WalletLimits) -> Verdict {
        let now = self.now_ms();
        self.with_entry(wallet, now, |w| w.admit(limits, now))
    }

    pub fn charge_tokens(&self, wallet: &Arc<str>, tokens: u64) {
        let now = self.now_ms();
        self.with_entry(wallet, now, |w| w.charge_tokens(tokens, now));
    }

    fn with_entry<R>(
        &self,
        wallet: &Arc<str>,
        now: u64,
        f: impl FnOnce(&mut WalletWindows) -> R,
    ) -> R {
        let mut shard = self.shard(wallet);
        if let Some(e) = shard.wallets.get_mut(&**wallet) {
            e.last_seen_ms = now;
            return f(&mut e.windows);
        }
        if shard.wallets.len() >= self.per_shard {
            shard.wallets.retain(|_, e| !e.windows.is_idle(now));
            if shard.wallets.len() >= self.per_shard {
                if !self.warned_full.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "rate limiter: more active wallets than limits.max_wallets; \
                         forgetting the least recently seen ones"
                    );
                }
                let oldest = shard
                    .wallets
                    .iter()
                    .min_by_key(|(_, e)| e.last_seen_ms)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    shard.wallets.remove(&k);
                }
            }
        }
        let e = shard.wallets.entry(wallet.clone()).or_insert(Entry {
            windows: WalletWindows::default(),
            last_seen_ms: now,
        });
        f(&mut e.windows)
    }

    /// Forget wallets whose windows are all empty.
    pub fn sweep(&self) {
        let now = self.now_ms();
        for s in self.shards.iter() {
            s.lock()
                .unwrap_or_else(|p| p.into_inner())
                .wallets
                .retain(|_, e| !e.windows.is_idle(now));
        }
    }

    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).wallets.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_bounded_and_idle_wallets_go_first() {
        let l = LocalLimiter::new(SHARDS * 2);
        let limits = WalletLimits {
            requests_per_minute: Some(5),
            ..WalletLimits::default()
        };
        let wallets: Vec<Arc<str>> = (0..10_000).map(|i| Arc::from(format!("w{i}"))).collect();
        for w in &wallets {
            l.admit(w, &limits);
        }
        assert!(l.tracked() <= SHARDS * 2);
        let w = &wallets[9_999];
        for _ in 0..4 {
            assert_eq!(l.admit(w, &limits).refused, None);
        }
        assert!(l.admit(w, &limits).refused.is_some());
    }

    #[test]
    fn concurrent_admissions_never_exceed_the_limit() {
        let l = Arc::new(LocalLimiter::new(1000));
        let limits = WalletLimits {
            requests_per_minute: Some(1_000),
            ..WalletLimits::default()
        };
        let wallet: Arc<str> = Arc::from("0xabc");
        let admitted: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..1_000)
                            .filter(|_| l.admit(&wallet, &limits).refused.is_none())
                            .count()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 1_000);
    }
}
