use super::*;
use std::collections::VecDeque;

const G: u64 = MinuteRing::WIDTH_MS;
const W: u64 = 60_000;

fn rpm(n: u32) -> WalletLimits {
    WalletLimits {
        requests_per_minute: Some(n),
        ..WalletLimits::default()
    }
}

#[test]
fn ring_counts_a_bucket_until_it_leaves_the_window() {
    let mut r = MinuteRing::default();
    r.advance(1_000);
    r.add(3);
    r.advance(26_000); // bucket 5
    r.add(2);
    assert_eq!(r.total(), 5);
    // Bucket 0 is counted until the current bucket is 13 (65 s), bucket 5 until 18 (90 s).
    r.advance(64_999);
    assert_eq!(r.total(), 5);
    r.advance(65_000);
    assert_eq!(r.total(), 2);
    r.advance(90_000);
    assert_eq!(r.total(), 0);
    assert!(r.is_idle(90_000));
}

#[test]
fn a_long_gap_clears_everything_and_a_clock_going_back_keeps_the_head() {
    let mut r = MinuteRing::default();
    r.advance(10 * G);
    r.add(7);
    r.advance(5 * G); // backwards: ignored
    r.add(1);
    assert_eq!(r.total(), 8);
    r.advance(1_000 * G);
    assert_eq!(r.total(), 0);
}

#[test]
fn retry_after_is_when_enough_old_buckets_have_left() {
    let mut r = MinuteRing::default();
    r.advance(1_000);
    r.add(3);
    r.advance(26_000);
    r.add(2);
    // Limit 5: full. Bucket 0 (3 requests) leaves at 65 s.
    assert_eq!(r.retry_after_ms(5, 30_000), 35_000);
    // Limit 2: bucket 5 must leave too (90 s).
    assert_eq!(r.retry_after_ms(2, 30_000), 60_000);
    assert_eq!(r.retry_after_ms(6, 30_000), 0);
    assert_eq!(r.reset_after_ms(30_000), 60_000);
}

#[test]
fn admit_counts_until_the_limit_then_refuses_with_retry_after() {
    let mut w = WalletWindows::default();
    for i in 0..3 {
        let v = w.admit(&rpm(3), 5_000 + i);
        assert_eq!(v.refused, None);
        assert_eq!(v.requests.unwrap().remaining, 2 - i);
        assert_eq!(v.requests.unwrap().limit, 3);
    }
    let v = w.admit(&rpm(3), 20_000);
    assert_eq!(
        v.refused,
        Some((Reason::RequestsPerMinute, 70_000 - 20_000))
    );
    assert_eq!(v.requests.unwrap().remaining, 0);
    assert_eq!(v.requests.unwrap().reset_ms, 50_000);
    assert_eq!(v.tokens, None);
    // A refused request is not counted: admitted again once bucket 2 (10 s) left.
    assert_eq!(
        w.admit(&rpm(3), 69_999).refused.map(|r| r.0),
        Some(Reason::RequestsPerMinute)
    );
    assert_eq!(w.admit(&rpm(3), 70_000).refused, None);
}

#[test]
fn the_binding_request_window_is_reported() {
    let limits = WalletLimits {
        requests_per_minute: Some(10),
        requests_per_day: Some(3),
        ..WalletLimits::default()
    };
    let mut w = WalletWindows::default();
    let v = w.admit(&limits, 0);
    assert_eq!(v.requests.unwrap().limit, 3);
    assert_eq!(v.requests.unwrap().remaining, 2);
    w.admit(&limits, 1);
    w.admit(&limits, 2);
    let v = w.admit(&limits, 120_000);
    let (reason, retry) = v.refused.unwrap();
    assert_eq!(reason, Reason::RequestsPerDay);
    assert_eq!(retry, 25 * 3_600_000 - 120_000);
    assert_eq!(v.requests.unwrap().limit, 3);
}

#[test]
fn tokens_refuse_the_next_request_once_over_the_limit() {
    let limits = WalletLimits {
        tokens_per_minute: Some(100),
        ..WalletLimits::default()
    };
    let mut w = WalletWindows::default();
    assert_eq!(w.admit(&limits, 0).refused, None);
    w.charge_tokens(60, 1_000);
    assert_eq!(w.admit(&limits, 2_000).tokens.unwrap().remaining, 40);
    w.charge_tokens(60, 3_000);
    let v = w.admit(&limits, 4_000);
    assert_eq!(v.refused, Some((Reason::TokensPerMinute, 61_000)));
    assert_eq!(v.requests, None);
    assert!(!w.is_idle(64_999));
    assert!(w.is_idle(65_000));
}

// ---- error measurement ----------------------------------------------------------------------

/// xorshift64*: deterministic traffic without a rand dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Arrival times (ms) of several traffic shapes over `minutes`.
fn traffic(shape: &str, limit: u64, minutes: u64, rng: &mut Rng) -> Vec<u64> {
    let end = minutes * W;
    let mut out = Vec::new();
    match shape {
        // Poisson arrivals at `x` times the limit.
        "poisson_1.2x" | "poisson_3x" => {
            let factor = if shape == "poisson_1.2x" { 1.2 } else { 3.0 };
            let rate = factor * limit as f64 / W as f64;
            let mut t = 0.0;
            while t < end as f64 {
                t += -(1.0 - rng.unit()).ln() / rate;
                out.push(t as u64);
            }
        }
        // The worst case for estimators that assume uniform traffic: the whole limit in the
        // last millisecond of every sub-bucket, then again right after.
        "bursts_at_bucket_edges" => {
            let mut t = G - 1;
            while t < end {
                out.extend(std::iter::repeat_n(t, limit as usize));
                out.extend(std::iter::repeat_n(t + 1, limit as usize));
                t += G * (1 + rng.next() % 13);
            }
        }
        // Random bursts of random size at random times.
        _ => {
            let mut t = 0;
            while t < end {
                t += rng.next() % (W / 2);
                let n = 1 + rng.next() % (2 * limit);
                out.extend(std::iter::repeat_n(t, n as usize));
            }
        }
    }
    out.sort_unstable();
    out
}

/// Most admitted requests in any window `(t − W, t]`.
fn max_in_any_window(admitted: &[u64]) -> usize {
    let mut lo = 0;
    let mut best = 0;
    for hi in 0..admitted.len() {
        while admitted[lo] + W <= admitted[hi] {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// The reference: an exact sliding log.
fn exact(arrivals: &[u64], limit: usize) -> Vec<u64> {
    let mut log = VecDeque::new();
    let mut out = Vec::new();
    for &t in arrivals {
        while log.front().is_some_and(|&s| s + W <= t) {
            log.pop_front();
        }
        if log.len() < limit {
            log.push_back(t);
            out.push(t);
        }
    }
    out
}

fn ring(arrivals: &[u64], limit: u32) -> Vec<u64> {
    let mut w = WalletWindows::default();
    arrivals
        .iter()
        .copied()
        .filter(|&t| w.admit(&rpm(limit), t).refused.is_none())
        .collect()
}

/// The common two-bucket estimator (fixed windows, the previous one weighted by overlap).
fn weighted_two_buckets(arrivals: &[u64], limit: u64) -> Vec<u64> {
    let (mut window, mut prev, mut cur) = (0, 0u64, 0u64);
    let mut out = Vec::new();
    for &t in arrivals {
        let k = t / W;
        if k != window {
            prev = if k == window + 1 { cur } else { 0 };
            cur = 0;
            window = k;
        }
        let weight = (W - t % W) as f64 / W as f64;
        if (prev as f64 * weight) + (cur as f64) < limit as f64 {
            cur += 1;
            out.push(t);
        }
    }
    out
}

/// Measures the ring against the exact log (and the two-bucket estimator for comparison).
/// `cargo test -p tollgate-gateway error_against_an_exact_log -- --nocapture` prints the
/// table quoted in docs/benchmarks.md.
#[test]
fn error_against_an_exact_log() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    eprintln!(
        "{:<24} {:>6} {:>12} {:>14} {:>16} {:>18}",
        "traffic", "limit", "arrivals", "ring max/W", "ring vs exact", "2-bucket max/W"
    );
    for shape in [
        "poisson_1.2x",
        "poisson_3x",
        "bursts_at_bucket_edges",
        "random_bursts",
    ] {
        for limit in [10u32, 100, 1_000] {
            let arrivals = traffic(shape, u64::from(limit), 240, &mut rng);
            let exact = exact(&arrivals, limit as usize);
            let ours = ring(&arrivals, limit);
            let theirs = weighted_two_buckets(&arrivals, u64::from(limit));
            let ours_max = max_in_any_window(&ours);
            // Zero over-admission, whatever the traffic.
            assert!(
                ours_max <= limit as usize,
                "{shape}: {ours_max} in a window, limit {limit}"
            );
            // Under-admission is bounded: the count spans at most W + W/12.
            let ratio = ours.len() as f64 / exact.len() as f64;
            assert!(
                ratio > 12.0 / 13.0 - 0.02,
                "{shape}: admitted {ratio} of exact"
            );
            eprintln!(
                "{:<24} {:>6} {:>12} {:>14.3} {:>16.3} {:>18.3}",
                shape,
                limit,
                arrivals.len(),
                ours_max as f64 / f64::from(limit),
                ratio,
                max_in_any_window(&theirs) as f64 / f64::from(limit),
            );
        }
    }
}
