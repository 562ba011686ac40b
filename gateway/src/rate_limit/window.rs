//! Sliding-window counters: the arithmetic shared by the in-process limiter and, line for line,
//! by the Redis script (`limiter.lua`).
//!
//! A window of length `W` is cut into `N` sub-buckets of width `g = W / N`, kept in a ring of
//! `N + 1` slots. Bucket `b` holds the requests (or tokens) that arrived in `[b·g, (b+1)·g)`.
//! At time `t` (bucket `b(t)`) the count is the sum of buckets `b(t)−N ..= b(t)`, which covers
//! `[t − W − (t mod g), t]`: **a superset of the exact window `(t − W, t]`**. The count is
//! therefore never below the exact sliding-window count, so a limit is never exceeded in any
//! window of length `W` (zero over-admission); the price is that a request may be counted for
//! up to `g` longer than `W` (refused early by at most one sub-bucket's worth of time).
//! `tests::error_against_an_exact_log` measures both against an exact timestamp log.

use crate::config::WalletLimits;

/// One sliding window of `S − 1` sub-buckets of `WIDTH_MS` each.
#[derive(Clone, Debug)]
pub struct Ring<const S: usize, const WIDTH_MS: u64> {
    /// Newest bucket index the ring has advanced to.
    head: u64,
    /// `slots[j % S]` = count of bucket `j`, for `j` in `head − (S − 1) ..= head`.
    slots: [u32; S],
}

/// Requests per minute, tokens per minute: 12 buckets of 5 s (a request is counted 60–65 s).
pub type MinuteRing = Ring<13, 5_000>;
/// Requests per day: 24 buckets of 1 h (a request is counted 24–25 h).
pub type DayRing = Ring<25, 3_600_000>;

impl<const S: usize, const WIDTH_MS: u64> Default for Ring<S, WIDTH_MS> {
    fn default() -> Self {
        Ring {
            head: 0,
            slots: [0; S],
        }
    }
}

impl<const S: usize, const WIDTH_MS: u64> Ring<S, WIDTH_MS> {
    /// Sub-buckets in the window (`N`).
    pub const BUCKETS: u64 = S as u64 - 1;
    pub const WIDTH_MS: u64 = WIDTH_MS;

    /// Move to the bucket of `now_ms`, clearing the buckets that left the window. A clock that
    /// went backwards keeps the newer head.
    pub fn advance(&mut self, now_ms: u64) {
        let b = now_ms / WIDTH_MS;
        if b <= self.head {
            return;
        }
        if b - self.head >= S as u64 {
            self.slots = [0; S];
        } else {
            for j in self.head + 1..=b {
                self.slots[(j % S as u64) as usize] = 0;
            }
        }
        self.head = b;
    }

    /// The count over the window (call [`advance`](Self::advance) first).
    pub fn total(&self) -> u64 {
        self.slots.iter().map(|&c| u64::from(c)).sum()
    }

    /// Count `n` in the current bucket.
    pub fn add(&mut self, n: u64) {
        let slot = &mut self.slots[(self.head % S as u64) as usize];
        *slot = slot.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// Milliseconds until the count drops below `limit` (0 if it already is).
    pub fn retry_after_ms(&self, limit: u64, now_ms: u64) -> u64 {
        let total = self.total();
        if total < limit {
            return 0;
        }
        let mut left = total;
        for j in self.head.saturating_sub(Self::BUCKETS)..=self.head {
            left -= u64::from(self.slots[(j % S as u64) as usize]);
            if left < limit {
                return self.leaves_at(j).saturating_sub(now_ms);
            }
        }
        self.leaves_at(self.head).saturating_sub(now_ms)
    }

    /// Milliseconds until the window holds nothing (OpenAI's "resets to its initial state").
    pub fn reset_after_ms(&self, now_ms: u64) -> u64 {
        (self.head.saturating_sub(Self::BUCKETS)..=self.head)
            .rev()
            .find(|j| self.slots[(j % S as u64) as usize] > 0)
            .map_or(0, |j| self.leaves_at(j).saturating_sub(now_ms))
    }

    /// Nothing counted any more at `now_ms`.
    pub fn is_idle(&self, now_ms: u64) -> bool {
        now_ms / WIDTH_MS >= self.head + S as u64 || self.slots.iter().all(|&c| c == 0)
    }

    /// When bucket `j` stops being counted: once the current bucket is `j + N + 1`.
    fn leaves_at(&self, j: u64) -> u64 {
        (j + S as u64) * WIDTH_MS
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    RequestsPerMinute,
    RequestsPerDay,
    TokensPerMinute,
    InFlight,
    WalletInFlight,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::RequestsPerMinute => "requests_per_minute",
            Reason::RequestsPerDay => "requests_per_day",
            Reason::TokensPerMinute => "tokens_per_minute",
            Reason::InFlight => "in_flight",
            Reason::WalletInFlight => "wallet_in_flight",
        }
    }

    /// The code the Redis script returns.
    pub fn from_code(code: i64) -> Option<Reason> {
        match code {
            1 => Some(Reason::RequestsPerMinute),
            2 => Some(Reason::RequestsPerDay),
            3 => Some(Reason::TokensPerMinute),
            _ => None,
        }
    }
}

/// One limit's state as reported in the `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    /// Until the window is empty again.
    pub reset_ms: u64,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// The limit that refused the request and how long until it would be admitted.
    pub refused: Option<(Reason, u64)>,
    /// The binding request limit (the refusing one, else the one with the least remaining).
    pub requests: Option<Quota>,
    pub tokens: Option<Quota>,
}

/// A wallet's three windows.
#[derive(Clone, Debug, Default)]
pub struct WalletWindows {
    minute: MinuteRing,
    day: DayRing,
    tokens: MinuteRing,
}

fn quota<const S: usize, const W: u64>(ring: &Ring<S, W>, limit: u64, now_ms: u64) -> Quota {
    Quota {
        limit,
        remaining: limit.saturating_sub(ring.total()),
        reset_ms: ring.reset_after_ms(now_ms),
    }
}

impl WalletWindows {
    /// Check every configured window and, when all have room, count one request.
    pub fn admit(&mut self, limits: &WalletLimits, now_ms: u64) -> Verdict {
        let rpm = limits.requests_per_minute.map(u64::from);
        let rpd = limits.requests_per_day.map(u64::from);
        let tpm = limits.tokens_per_minute;
        let mut refused: Option<(Reason, u64)> = None;
        let mut refuse = |reason, retry_ms: u64| {
            if refused.is_none_or(|(_, r)| retry_ms > r) {
                refused = Some((reason, retry_ms));
            }
        };
        if let Some(l) = tpm {
            self.tokens.advance(now_ms);
            if self.tokens.total() >= l {
                refuse(
                    Reason::TokensPerMinute,
                    self.tokens.retry_after_ms(l, now_ms),
                );
            }
        }
        if let Some(l) = rpm {
            self.minute.advance(now_ms);
            if self.minute.total() >= l {
                refuse(
                    Reason::RequestsPerMinute,
                    self.minute.retry_after_ms(l, now_ms),
                );
            }
        }
        if let Some(l) = rpd {
            self.day.advance(now_ms);
            if self.day.total() >= l {
                refuse(Reason::RequestsPerDay, self.day.retry_after_ms(l, now_ms));
            }
        }
        if refused.is_none() {
            if rpm.is_some() {
                self.minute.add(1);
            }
            if rpd.is_some() {
                self.day.add(1);
            }
        }
        let minute = rpm.map(|l| quota(&self.minute, l, now_ms));
        let day = rpd.map(|l| quota(&self.day, l, now_ms));
        let requests = match (refused, minute, day) {
            (Some((Reason::RequestsPerDay, _)), _, d) => d,
            (Some((Reason::RequestsPerMinute, _)), m, _) => m,
            (_, Some(m), Some(d)) => Some(if d.remaining < m.remaining { d } else { m }),
            (_, m, d) => m.or(d),
        };
        Verdict {
            refused,
            requests,
            tokens: tpm.map(|l| quota(&self.tokens, l, now_ms)),
        }
    }

    /// Charge a finished call's tokens to the tokens-per-minute window.
    pub fn charge_tokens(&mut self, tokens: u64, now_ms: u64) {
        self.tokens.advance(now_ms);
        self.tokens.add(tokens);
    }

    pub fn is_idle(&self, now_ms: u64) -> bool {
        self.minute.is_idle(now_ms) && self.day.is_idle(now_ms) && self.tokens.is_idle(now_ms)
    }
}

#[cfg(test)]
mod tests;
