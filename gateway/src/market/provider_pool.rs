//! Provider health and candidate ordering: healthy before unknown before unhealthy, then
//! lower priority first, then round-robin among equals.
//!
//! Health is local to this node and passive (learned from real traffic): a connect failure,
//! a first-byte timeout or a 5xx marks a provider unhealthy; any success marks it healthy.
//! After `cooldown` an unhealthy provider ranks as unknown again, so it gets retried first
//! once its peers are no better. A provider's [`HealthCell`] outlives catalog snapshots
//! (see [`super::Market`]): a reload neither forgets a failure nor a recovery.

use super::catalog::{ModelEntry, Route};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Failure times are milliseconds since this instant (one per process, so cells carried
/// from one snapshot to the next keep meaning the same thing).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Healthy = 0,
    Unknown = 1,
    Unhealthy = 2,
}

impl Health {
    /// Gauge value: 1 healthy, 0 unknown, -1 unhealthy.
    pub fn gauge(self) -> i64 {
        match self {
            Health::Healthy => 1,
            Health::Unknown => 0,
            Health::Unhealthy => -1,
        }
    }
}

/// One provider's health, shared by every snapshot that lists it.
#[derive(Debug)]
pub struct HealthCell {
    health: AtomicU8,
    /// Milliseconds since [`epoch`] of the last failure.
    failed_at_ms: AtomicU64,
    /// Moving average (weight 1/8) of time to the response header, in ms + 1 (0: none yet).
    ttfb_avg: AtomicU64,
}

impl Default for HealthCell {
    fn default() -> Self {
        HealthCell {
            health: AtomicU8::new(Health::Unknown as u8),
            failed_at_ms: AtomicU64::new(0),
            ttfb_avg: AtomicU64::new(0),
        }
    }
}

struct ProviderState {
    cell: Arc<HealthCell>,
    priority: u32,
}

pub struct ProviderPool {
    providers: Vec<ProviderState>,
    cooldown: Duration,
}

impl ProviderPool {
    /// A pool with fresh (unknown) health for each priority.
    pub fn new(priorities: impl IntoIterator<Item = u32>, cooldown: Duration) -> Self {
        Self::with_cells(
            priorities
                .into_iter()
                .map(|p| (Arc::new(HealthCell::default()), p)),
            cooldown,
        )
    }

    /// A pool over existing health cells, with each provider's priority.
    pub fn with_cells(
        cells: impl IntoIterator<Item = (Arc<HealthCell>, u32)>,
        cooldown: Duration,
    ) -> Self {
        ProviderPool {
            providers: cells
                .into_iter()
                .map(|(cell, priority)| ProviderState { cell, priority })
                .collect(),
            cooldown,
        }
    }

    /// The health used for ordering now (an expired `Unhealthy` reads as `Unknown`).
    pub fn health(&self, provider: usize) -> Health {
        let p = &self.providers[provider].cell;
        match p.health.load(Ordering::Relaxed) {
            0 => Health::Healthy,
            2 => {
                let since = Duration::from_millis(p.failed_at_ms.load(Ordering::Relaxed));
                if epoch().elapsed().saturating_sub(since) >= self.cooldown {
                    Health::Unknown
                } else {
                    Health::Unhealthy
                }
            }
            _ => Health::Unknown,
        }
    }

    pub fn mark_healthy(&self, provider: usize) {
        self.providers[provider]
            .cell
            .health
            .store(Health::Healthy as u8, Ordering::Relaxed);
    }

    pub fn mark_unhealthy(&self, provider: usize) {
        let p = &self.providers[provider].cell;
        p.failed_at_ms
            .store(epoch().elapsed().as_millis() as u64, Ordering::Relaxed);
        p.health.store(Health::Unhealthy as u8, Ordering::Relaxed);
    }

    /// Fold one response's time to first byte into the provider's average (for
    /// `provider.sort: "latency"`). A lost update under a race only skips one sample.
    pub fn observe_ttfb(&self, provider: usize, ms: u64) {
        let cell = &self.providers[provider].cell;
        let old = cell.ttfb_avg.load(Ordering::Relaxed);
        let sample = ms.saturating_add(1);
        let new = if old == 0 {
            sample
        } else {
            (old.saturating_mul(7).saturating_add(sample)) / 8
        };
        cell.ttfb_avg.store(new.max(1), Ordering::Relaxed);
    }

    /// The average time to first byte in ms, once one response was seen.
    pub fn latency_ms(&self, provider: usize) -> Option<u64> {
        match self.providers[provider]
            .cell
            .ttfb_avg
            .load(Ordering::Relaxed)
        {
            0 => None,
            v => Some(v - 1),
        }
    }

    /// Candidates for one request, best first. Advances the entry's round-robin cursor.
    pub fn order(&self, entry: &ModelEntry) -> Vec<Route> {
        let n = entry.routes.len();
        let start = entry.cursor.fetch_add(1, Ordering::Relaxed) % n.max(1);
        let mut ranked: Vec<(Health, u32, usize, Route)> = entry
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    self.health(r.provider),
                    self.providers[r.provider].priority,
                    (i + n - start) % n,
                    *r,
                )
            })
            .collect();
        ranked.sort_unstable_by_key(|(h, prio, rot, _)| (*h, *prio, *rot));
        ranked.into_iter().map(|(.., r)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn entry(providers: &[usize]) -> ModelEntry {
        ModelEntry {
            routes: providers
                .iter()
                .map(|&p| Route {
                    provider: p,
                    model: 0,
                })
                .collect(),
            cursor: AtomicUsize::new(0),
        }
    }

    #[test]
    fn priority_then_round_robin() {
        let pool = ProviderPool::new([1, 1, 0], Duration::from_secs(30));
        let e = entry(&[0, 1, 2]);
        let firsts: Vec<usize> = (0..4).map(|_| pool.order(&e)[0].provider).collect();
        assert_eq!(firsts, vec![2, 2, 2, 2], "lower priority value wins");
        let seconds: Vec<usize> = (0..4).map(|_| pool.order(&e)[1].provider).collect();
        assert!(
            seconds.contains(&0) && seconds.contains(&1),
            "equal priorities rotate: {seconds:?}"
        );
    }

    #[test]
    fn health_beats_priority_and_cooldown_restores() {
        let pool = ProviderPool::new([0, 5], Duration::from_millis(50));
        let e = entry(&[0, 1]);
        pool.mark_unhealthy(0);
        assert_eq!(pool.order(&e)[0].provider, 1);
        pool.mark_healthy(1);
        assert_eq!(pool.order(&e)[0].provider, 1);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(pool.health(0), Health::Unknown);
        // Unknown still ranks below a provider known to be healthy.
        assert_eq!(pool.order(&e)[0].provider, 1);
        pool.mark_healthy(0);
        assert_eq!(pool.order(&e)[0].provider, 0);
    }
}
