//! Where outcomes go: the seam between the proxy and the ledger.

use crate::{MicroUsdc, Outcome};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Money set aside for one request before its upstream call. Dropping it without
/// [`BillingSink::record`] leaks nothing in memory, but the reservation stays counted until
/// the lease is returned; the proxy always records.
#[derive(Debug)]
pub struct Reservation {
    pub wallet: Arc<str>,
    pub amount: MicroUsdc,
    /// Holds a settlement-queue slot from admission until the record is written, so the queue
    /// can never overflow: admission fails first (503), records are never dropped.
    pub slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Where [`BillingSink::persist`] spooled the outcome (`None`: not spooled).
    pub spooled: Option<crate::spool::SpoolTicket>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmitError {
    /// 402: the balance cannot cover the worst-case cost.
    InsufficientBalance,
    /// 503: billing cannot take more work now (queue full, database unreachable, shutdown).
    Unavailable(String),
}

/// The proxy's view of billing: reserve before the upstream call, record after it.
#[async_trait]
pub trait BillingSink: Send + Sync {
    /// Reserve the worst-case buyer cost of a request.
    async fn reserve(
        &self,
        wallet: &Arc<str>,
        max_cost: MicroUsdc,
    ) -> Result<Reservation, AdmitError>;

    /// Make the outcome durable on this node before the response's last bytes are released
    /// (the billing spool), at most once per request. Must not block beyond one `write()`.
    /// An error means the record could not be made durable: the caller withholds the end of
    /// the response and still [`record`](BillingSink::record)s the outcome.
    fn persist(&self, _outcome: &Outcome, _reservation: &mut Reservation) -> Result<(), String> {
        Ok(())
    }

    /// [`persist`](BillingSink::persist) does something: the proxy seals each call's outcome
    /// before its last bytes (else it builds it once, in `logging`).
    fn persists(&self) -> bool {
        false
    }

    /// Called once per admitted request, from Pingora's `logging` phase. Must not block.
    /// The charge never exceeds the reservation; the rest is released.
    fn record(&self, outcome: Outcome, reservation: Reservation);

    /// The recorded outcomes, newest last, for sinks that keep them in memory (tests, demo).
    fn recent(&self) -> Option<Vec<Outcome>> {
        None
    }
}

/// No balances: every reservation succeeds. Keeps the most recent outcomes in memory for the
/// demo and tests (served at `/debug/outcomes`); bounded so a long run cannot grow forever.
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

#[async_trait]
impl BillingSink for MemorySink {
    async fn reserve(
        &self,
        wallet: &Arc<str>,
        max_cost: MicroUsdc,
    ) -> Result<Reservation, AdmitError> {
        Ok(Reservation {
            wallet: wallet.clone(),
            amount: max_cost,
            slot: None,
            spooled: None,
        })
    }

    fn record(&self, outcome: Outcome, _reservation: Reservation) {
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
