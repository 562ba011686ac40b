//! One provider's health as this node sees it: a circuit breaker (closed → open on a
//! failure → half-open after the cooldown, where one trial request decides), a
//! peak-sensitive moving average of time to first byte, and the requests in flight to it.
//!
//! A cell outlives catalog snapshots (see [`super::Market`]): a reload neither forgets a
//! failure nor a recovery. Everything is atomics: the request path never takes a lock here.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Times are milliseconds since this instant (one per process, so cells carried from one
/// snapshot to the next keep meaning the same thing). It lies an hour before the process
/// started where the clock allows, so a failure another node saw before this one started
/// can be placed in the past.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        let now = Instant::now();
        now.checked_sub(Duration::from_secs(3600)).unwrap_or(now)
    })
}

/// Milliseconds since [`epoch`], never 0 (0 means "never" in the cells below).
pub fn now_ms() -> u64 {
    (epoch().elapsed().as_millis() as u64).saturating_add(1)
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

/// The breaker's state now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaker {
    /// Healthy or unknown: requests flow.
    Closed,
    /// Failed less than a cooldown ago: ranks last.
    Open,
    /// The cooldown has passed: the next request to claim the trial decides.
    HalfOpen,
}

impl Breaker {
    pub fn name(self) -> &'static str {
        match self {
            Breaker::Closed => "closed",
            Breaker::Open => "open",
            Breaker::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
pub struct HealthCell {
    health: AtomicU8,
    /// [`now_ms`] of the failure that opened the breaker.
    failed_at_ms: AtomicU64,
    /// [`now_ms`] of the last half-open trial handed out (0: none).
    trial_at_ms: AtomicU64,
    /// The state was learned from another node (dropped when the fleet feed is lost).
    remote: AtomicBool,
    /// Peak EWMA of time to first byte in ms (f64 bits; 0.0: no sample yet) and when it was
    /// last updated.
    ewma_bits: AtomicU64,
    ewma_at_ms: AtomicU64,
    in_flight: AtomicU64,
}

const UNKNOWN: u8 = Health::Unknown as u8;

impl Default for HealthCell {
    fn default() -> Self {
        HealthCell {
            health: AtomicU8::new(UNKNOWN),
            failed_at_ms: AtomicU64::new(0),
            trial_at_ms: AtomicU64::new(0),
            remote: AtomicBool::new(false),
            ewma_bits: AtomicU64::new(0),
            ewma_at_ms: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        }
    }
}

impl HealthCell {
    pub fn new() -> Self {
        Self::default()
    }

    fn raw(&self) -> Health {
        match self.health.load(Ordering::Relaxed) {
            0 => Health::Healthy,
            2 => Health::Unhealthy,
            _ => Health::Unknown,
        }
    }

    pub fn breaker(&self, cooldown: Duration) -> Breaker {
        if self.raw() != Health::Unhealthy {
            return Breaker::Closed;
        }
        let since = self.failed_at_ms.load(Ordering::Relaxed);
        if now_ms().saturating_sub(since) >= cooldown.as_millis() as u64 {
            Breaker::HalfOpen
        } else {
            Breaker::Open
        }
    }

    /// The health shown (an unhealthy provider past its cooldown reads as unknown).
    pub fn health(&self, cooldown: Duration) -> Health {
        match self.breaker(cooldown) {
            Breaker::Closed => self.raw(),
            Breaker::Open => Health::Unhealthy,
            Breaker::HalfOpen => Health::Unknown,
        }
    }

    /// Claim the half-open trial: true for exactly one caller per cooldown (a trial that
    /// never reported back is replaced after another cooldown).
    pub fn claim_trial(&self, cooldown: Duration) -> bool {
        if self.breaker(cooldown) != Breaker::HalfOpen {
            return false;
        }
        let now = now_ms();
        let failed = self.failed_at_ms.load(Ordering::Relaxed);
        let last = self.trial_at_ms.load(Ordering::Relaxed);
        let free = last < failed || now.saturating_sub(last) >= cooldown.as_millis() as u64;
        free && self
            .trial_at_ms
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// A success. Returns whether this closed the breaker (a transition to announce).
    pub fn mark_healthy(&self) -> bool {
        self.remote.store(false, Ordering::Relaxed);
        self.health.swap(Health::Healthy as u8, Ordering::AcqRel) != Health::Healthy as u8
    }

    /// A failure. Returns whether this opened the breaker (it was closed or half-open).
    pub fn mark_unhealthy(&self, cooldown: Duration) -> bool {
        let was = self.breaker(cooldown);
        self.remote.store(false, Ordering::Relaxed);
        self.failed_at_ms.store(now_ms(), Ordering::Relaxed);
        self.health
            .store(Health::Unhealthy as u8, Ordering::Release);
        was != Breaker::Open
    }

    /// Another node's transition, `age_ms` ago.
    pub fn apply_remote(&self, healthy: bool, age_ms: u64) {
        if healthy {
            self.health.store(Health::Healthy as u8, Ordering::Release);
        } else {
            self.failed_at_ms
                .store(now_ms().saturating_sub(age_ms).max(1), Ordering::Relaxed);
            self.health
                .store(Health::Unhealthy as u8, Ordering::Release);
        }
        self.remote.store(true, Ordering::Relaxed);
    }

    /// The fleet feed is lost: a state only another node vouched for is forgotten (this
    /// node's own passive health goes on; never a stale "healthy").
    pub fn forget_remote(&self) {
        if self.remote.swap(false, Ordering::AcqRel) {
            self.health.store(UNKNOWN, Ordering::Release);
        }
    }

    /// Fold a time to first byte into the peak EWMA: a slower sample is taken at once, a
    /// faster one blends in by how long ago the last sample was (`decay` is the time
    /// constant). A lost update under a race only skips one sample.
    pub fn observe_ttfb(&self, ms: u64, decay: Duration) {
        let now = now_ms();
        let sample = ms as f64;
        let prev = f64::from_bits(self.ewma_bits.load(Ordering::Relaxed));
        let next = if prev == 0.0 || sample > prev {
            sample.max(f64::MIN_POSITIVE)
        } else {
            let dt = now.saturating_sub(self.ewma_at_ms.load(Ordering::Relaxed)) as f64;
            let w = (-dt / decay.as_millis().max(1) as f64).exp();
            prev * w + sample * (1.0 - w)
        };
        self.ewma_bits.store(next.to_bits(), Ordering::Relaxed);
        self.ewma_at_ms.store(now, Ordering::Relaxed);
    }

    /// The average time to first byte in ms, once one response was seen.
    pub fn latency_ms(&self) -> Option<u64> {
        let v = f64::from_bits(self.ewma_bits.load(Ordering::Relaxed));
        (v > 0.0).then(|| v.round() as u64)
    }

    /// The load-balancing cost (Linkerd's PeakEWMA): the average, decayed toward zero while
    /// no sample arrives (so an idle provider is tried again), times the requests in flight
    /// plus one. A provider never measured costs 0 and is tried first.
    pub fn cost(&self, decay: Duration) -> f64 {
        let v = f64::from_bits(self.ewma_bits.load(Ordering::Relaxed));
        let dt = now_ms().saturating_sub(self.ewma_at_ms.load(Ordering::Relaxed)) as f64;
        let decayed = v * (-dt / decay.as_millis().max(1) as f64).exp();
        decayed * (self.in_flight.load(Ordering::Relaxed) + 1) as f64
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// One attempt in flight to a provider, counted until dropped.
#[derive(Debug)]
pub struct InFlight(Arc<HealthCell>);

impl InFlight {
    pub fn start(cell: &Arc<HealthCell>) -> InFlight {
        cell.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(cell.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_then_one_trial_per_cooldown_then_closes() {
        let c = HealthCell::new();
        let cd = Duration::from_millis(40);
        assert_eq!(c.breaker(cd), Breaker::Closed);
        assert!(c.mark_unhealthy(cd), "closed → open is a transition");
        assert!(!c.mark_unhealthy(cd), "open → open is not");
        assert_eq!(c.breaker(cd), Breaker::Open);
        assert!(!c.claim_trial(cd), "no trial while open");
        std::thread::sleep(Duration::from_millis(45));
        assert_eq!(c.breaker(cd), Breaker::HalfOpen);
        assert_eq!(c.health(cd), Health::Unknown);
        assert!(c.claim_trial(cd));
        assert!(!c.claim_trial(cd), "one trial, not a burst");
        assert!(c.mark_unhealthy(cd), "a failed trial re-opens");
        assert_eq!(c.breaker(cd), Breaker::Open);
        std::thread::sleep(Duration::from_millis(45));
        assert!(c.claim_trial(cd), "a new cooldown, a new trial");
        assert!(c.mark_healthy());
        assert!(!c.mark_healthy());
        assert_eq!(c.breaker(cd), Breaker::Closed);
    }

    #[test]
    fn a_hung_trial_is_replaced_after_a_cooldown() {
        let c = HealthCell::new();
        let cd = Duration::from_millis(30);
        c.mark_unhealthy(cd);
        std::thread::sleep(Duration::from_millis(35));
        assert!(c.claim_trial(cd));
        std::thread::sleep(Duration::from_millis(35));
        assert!(c.claim_trial(cd));
    }

    #[test]
    fn remote_state_is_forgotten_when_the_feed_is_lost_but_local_is_kept() {
        let c = HealthCell::new();
        let cd = Duration::from_secs(30);
        c.apply_remote(true, 0);
        assert_eq!(c.health(cd), Health::Healthy);
        c.forget_remote();
        assert_eq!(c.health(cd), Health::Unknown, "never a stale healthy");
        c.apply_remote(false, 29_000);
        assert_eq!(c.health(cd), Health::Unhealthy);
        std::thread::sleep(Duration::from_millis(1_050));
        assert_eq!(
            c.breaker(cd),
            Breaker::HalfOpen,
            "the cooldown ran on the other node"
        );
        c.mark_unhealthy(cd);
        c.forget_remote();
        assert_eq!(
            c.health(cd),
            Health::Unhealthy,
            "this node's own failure stays"
        );
    }

    #[test]
    fn peak_ewma_takes_peaks_at_once_and_decays_toward_faster_samples() {
        let c = HealthCell::new();
        let tau = Duration::from_millis(50);
        assert_eq!(c.latency_ms(), None);
        assert_eq!(c.cost(tau), 0.0, "unmeasured: tried first");
        c.observe_ttfb(100, tau);
        assert_eq!(c.latency_ms(), Some(100));
        c.observe_ttfb(500, tau);
        assert_eq!(c.latency_ms(), Some(500), "a peak is taken at once");
        c.observe_ttfb(100, tau);
        let v = c.latency_ms().unwrap();
        assert!(v > 400, "a fast sample right after blends slowly: {v}");
        std::thread::sleep(Duration::from_millis(200));
        c.observe_ttfb(100, tau);
        let v = c.latency_ms().unwrap();
        assert!(
            v < 120,
            "four time constants later it is mostly the new sample: {v}"
        );
        let idle = c.cost(tau);
        let g = InFlight::start(&Arc::new(HealthCell::new()));
        drop(g);
        let cell = Arc::new(HealthCell::new());
        cell.observe_ttfb(100, Duration::from_secs(10));
        let one = cell.cost(Duration::from_secs(10));
        let _a = InFlight::start(&cell);
        let _b = InFlight::start(&cell);
        assert_eq!(cell.in_flight(), 2);
        let three = cell.cost(Duration::from_secs(10));
        assert!(three > 2.9 * one && three <= 3.0 * one, "{one} {three}");
        assert!(idle < 120.0, "{idle}");
    }
}
