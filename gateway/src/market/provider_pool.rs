//! Candidate ordering: healthy before unknown before unhealthy, then lower priority first,
//! then round-robin among equals — or, with `routing: latency`, power of two choices on
//! [`HealthCell::cost`] among the healthy candidates of the best priority.
//!
//! Health is learned from real traffic (a connect failure, a first-byte timeout or a 5xx
//! opens a provider's breaker; any answer closes it), from probes, and from the other nodes
//! ([`super::shared_health`]). An open breaker ranks last until the cooldown; then exactly
//! one request (the trial) ranks it as healthy, and the others keep ranking it last until
//! the trial has decided.

use super::catalog::{ModelEntry, Route};
pub use super::health_cell::{Breaker, Health, HealthCell, InFlight};
use crate::config::Routing;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How long an open breaker waits for its trial, and the latency average's time constant.
#[derive(Debug, Clone, Copy)]
pub struct PoolTiming {
    pub cooldown: Duration,
    pub latency_decay: Duration,
}

struct ProviderState {
    cell: Arc<HealthCell>,
    priority: u32,
}

pub struct ProviderPool {
    providers: Vec<ProviderState>,
    cooldown: Duration,
    latency_decay: Duration,
}

/// A round-robin cursor value → a well-mixed number (splitmix64): the two random choices
/// of [`Routing::Latency`] without a random-number generator on the request path.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl ProviderPool {
    /// A pool with fresh (unknown) health for each priority.
    pub fn new(priorities: impl IntoIterator<Item = u32>, cooldown: Duration) -> Self {
        Self::with_cells(
            priorities
                .into_iter()
                .map(|p| (Arc::new(HealthCell::new()), p)),
            PoolTiming {
                cooldown,
                latency_decay: Duration::from_secs(10),
            },
        )
    }

    /// A pool over existing health cells, with each provider's priority.
    pub fn with_cells(
        cells: impl IntoIterator<Item = (Arc<HealthCell>, u32)>,
        timing: PoolTiming,
    ) -> Self {
        ProviderPool {
            providers: cells
                .into_iter()
                .map(|(cell, priority)| ProviderState { cell, priority })
                .collect(),
            cooldown: timing.cooldown,
            latency_decay: timing.latency_decay,
        }
    }

    pub fn cell(&self, provider: usize) -> &Arc<HealthCell> {
        &self.providers[provider].cell
    }

    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// The health shown now (an open breaker past its cooldown reads as `Unknown`).
    pub fn health(&self, provider: usize) -> Health {
        self.cell(provider).health(self.cooldown)
    }

    pub fn breaker(&self, provider: usize) -> Breaker {
        self.cell(provider).breaker(self.cooldown)
    }

    /// Returns whether the breaker closed (a transition to announce).
    pub fn mark_healthy(&self, provider: usize) -> bool {
        self.cell(provider).mark_healthy()
    }

    /// Returns whether the breaker opened (a transition to announce).
    pub fn mark_unhealthy(&self, provider: usize) -> bool {
        self.cell(provider).mark_unhealthy(self.cooldown)
    }

    pub fn observe_ttfb(&self, provider: usize, ms: u64) {
        self.cell(provider).observe_ttfb(ms, self.latency_decay);
    }

    /// The average time to first byte in ms, once one response was seen.
    pub fn latency_ms(&self, provider: usize) -> Option<u64> {
        self.cell(provider).latency_ms()
    }

    /// Candidates for one request, best first, and whether the first is a half-open trial.
    /// Advances the entry's round-robin cursor.
    pub fn order(&self, entry: &ModelEntry, routing: Routing) -> (Vec<Route>, bool) {
        self.order_preferring(entry, routing, &|_| false)
    }

    /// [`Self::order`], where among candidates of equal health and priority those for which
    /// `translated` is false (the client's own format) come first: translation is what a
    /// provider of the other format needs, not a reason to be picked.
    pub fn order_preferring(
        &self,
        entry: &ModelEntry,
        routing: Routing,
        translated: &dyn Fn(&Route) -> bool,
    ) -> (Vec<Route>, bool) {
        let n = entry.routes.len();
        let turn = entry.cursor.fetch_add(1, Ordering::Relaxed);
        let start = turn % n.max(1);
        let mut trial = false;
        let mut ranked: Vec<(Health, u32, bool, usize, Route)> = entry
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let cell = self.cell(r.provider);
                let prio = self.providers[r.provider].priority;
                let rot = (i + n - start) % n;
                let foreign = translated(r);
                match cell.breaker(self.cooldown) {
                    Breaker::Closed => (cell.health(self.cooldown), prio, foreign, rot, *r),
                    Breaker::Open => (Health::Unhealthy, prio, foreign, rot, *r),
                    Breaker::HalfOpen if !trial && cell.claim_trial(self.cooldown) => {
                        trial = true;
                        (Health::Healthy, prio, false, 0, *r)
                    }
                    Breaker::HalfOpen => (Health::Unhealthy, prio, foreign, rot, *r),
                }
            })
            .collect();
        ranked.sort_unstable_by_key(|(h, prio, foreign, rot, _)| (*h, *prio, *foreign, *rot));
        let is_trial = trial
            && ranked
                .first()
                .is_some_and(|f| self.breaker(f.4.provider) == Breaker::HalfOpen);
        if routing == Routing::Latency && !is_trial {
            self.two_choices(&mut ranked, turn);
        }
        (ranked.into_iter().map(|(.., r)| r).collect(), is_trial)
    }

    /// Power of two choices among the leading healthy candidates of the best priority: the
    /// cheaper of two picked at random goes first.
    fn two_choices(&self, ranked: &mut [(Health, u32, bool, usize, Route)], turn: usize) {
        let Some(&(h, prio, foreign, ..)) = ranked.first() else {
            return;
        };
        if h != Health::Healthy {
            return;
        }
        let group = ranked
            .iter()
            .take_while(|(h2, p2, f2, ..)| *h2 == h && *p2 == prio && *f2 == foreign)
            .count();
        if group < 2 {
            return;
        }
        let r = mix(turn as u64);
        let a = (r % group as u64) as usize;
        let b = (a + 1 + ((r >> 32) % (group as u64 - 1)) as usize) % group;
        let cost = |i: usize| self.cell(ranked[i].4.provider).cost(self.latency_decay);
        let best = if cost(b) < cost(a) { b } else { a };
        ranked[..=best].rotate_right(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Routing::{Latency, RoundRobin};
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
    fn a_provider_of_the_clients_own_format_goes_before_a_translated_one_of_equal_rank() {
        let pool = ProviderPool::new([1, 1, 1, 0], Duration::from_secs(30));
        let e = entry(&[0, 1, 2, 3]);
        let translated = |r: &Route| r.provider != 1;
        for _ in 0..4 {
            let (order, _) = pool.order_preferring(&e, RoundRobin, &translated);
            // Priority first (3 is translated but ranks higher), then the native one.
            assert_eq!((order[0].provider, order[1].provider), (3, 1));
        }
        // A failed native provider ranks after healthy translated ones.
        pool.mark_unhealthy(1);
        let (order, _) = pool.order_preferring(&e, RoundRobin, &translated);
        assert_eq!(order.last().unwrap().provider, 1);
    }

    #[test]
    fn priority_then_round_robin() {
        let pool = ProviderPool::new([1, 1, 0], Duration::from_secs(30));
        let e = entry(&[0, 1, 2]);
        let firsts: Vec<usize> = (0..4)
            .map(|_| pool.order(&e, RoundRobin).0[0].provider)
            .collect();
        assert_eq!(firsts, vec![2, 2, 2, 2], "lower priority value wins");
        let seconds: Vec<usize> = (0..4)
            .map(|_| pool.order(&e, RoundRobin).0[1].provider)
            .collect();
        assert!(
            seconds.contains(&0) && seconds.contains(&1),
            "equal priorities rotate: {seconds:?}"
        );
    }

    #[test]
    fn health_beats_priority_and_one_trial_decides_after_the_cooldown() {
        let pool = ProviderPool::new([0, 5], Duration::from_millis(50));
        let e = entry(&[0, 1]);
        pool.mark_unhealthy(0);
        assert_eq!(pool.order(&e, RoundRobin).0[0].provider, 1);
        pool.mark_healthy(1);
        assert_eq!(pool.order(&e, RoundRobin).0[0].provider, 1);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(pool.health(0), Health::Unknown);
        // Half-open: one request is the trial (first, by its priority) ...
        let (order, trial) = pool.order(&e, RoundRobin);
        assert_eq!((order[0].provider, trial), (0, true));
        // ... and until it decides, every other request ranks it last.
        for _ in 0..5 {
            let (order, trial) = pool.order(&e, Latency);
            assert_eq!((order[0].provider, trial), (1, false));
        }
        assert!(pool.mark_healthy(0), "the trial closed the breaker");
        assert_eq!(pool.order(&e, RoundRobin).0[0].provider, 0);
    }

    #[test]
    fn latency_routing_sends_most_requests_to_the_faster_of_equals() {
        let pool = ProviderPool::new([0, 0, 0, 1], Duration::from_secs(30));
        let e = entry(&[0, 1, 2, 3]);
        for p in 0..4 {
            pool.mark_healthy(p);
        }
        pool.observe_ttfb(0, 500);
        pool.observe_ttfb(1, 100);
        pool.observe_ttfb(2, 480);
        pool.observe_ttfb(3, 1);
        let mut firsts = [0usize; 4];
        for _ in 0..3000 {
            firsts[pool.order(&e, Latency).0[0].provider] += 1;
        }
        // Of three equals, the fast one wins every pair it is drawn into (2 in 3).
        assert!(firsts[1] > 1800, "{firsts:?}");
        assert_eq!(firsts[3], 0, "a worse priority is never chosen by latency");
        let rr: Vec<usize> = (0..3)
            .map(|_| pool.order(&e, RoundRobin).0[0].provider)
            .collect();
        assert!(
            rr.contains(&0) && rr.contains(&2),
            "round-robin ignores latency: {rr:?}"
        );
        // Load counts: a fast provider with many requests in flight sheds the next ones.
        let _busy: Vec<_> = (0..10).map(|_| InFlight::start(pool.cell(1))).collect();
        let mut firsts = [0usize; 4];
        for _ in 0..300 {
            firsts[pool.order(&e, Latency).0[0].provider] += 1;
        }
        assert!(firsts[1] < 100, "{firsts:?}");
    }

    #[test]
    fn the_two_choices_are_distinct_and_cover_the_group() {
        for turn in 0..64usize {
            let r = mix(turn as u64);
            for group in 2..6u64 {
                let a = (r % group) as usize;
                let b = (a + 1 + ((r >> 32) % (group - 1)) as usize) % group as usize;
                assert_ne!(a, b);
                assert!(b < group as usize);
            }
        }
    }
}
