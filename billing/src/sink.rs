//! Where outcomes go: the seam between the proxy and the ledger.

use crate::Outcome;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Receives one [`Outcome`] per request, from Pingora's `logging` phase.
///
/// `record` runs on the proxy's worker threads: it must not block (the Postgres
/// implementation pushes into a bounded queue and flushes in batches elsewhere).
pub trait BillingSink: Send + Sync {
    fn record(&self, outcome: Outcome);

    /// Whether paid requests may be admitted now. A sink whose queue is full answers
    /// `false` and the gateway refuses work with 503 instead of serving it unbilled.
    fn accepting(&self) -> bool {
        true
    }

    /// The recorded outcomes, newest last, for sinks that keep them in memory (tests, demo).
    fn recent(&self) -> Option<Vec<Outcome>> {
        None
    }
}

/// Keeps the most recent outcomes in memory. For the demo and the test-suite, which read
/// them back through the admin listener; bounded so a long demo cannot grow without limit.
pub struct MemorySink {
    cap: usize,
    outcomes: Mutex<VecDeque<Outcome>>,
}

impl MemorySink {
    pub fn new(cap: usize) -> Self {
        MemorySink {
            cap: cap.max(1),
            outcomes: Mutex::new(VecDeque::new()),
        }
    }
}

impl BillingSink for MemorySink {
    fn record(&self, outcome: Outcome) {
        // The lock is held for a push only; never across an await.
        let mut q = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == self.cap {
            q.pop_front();
        }
        q.push_back(outcome);
    }

    fn recent(&self) -> Option<Vec<Outcome>> {
        let q = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        Some(q.iter().cloned().collect())
    }
}
