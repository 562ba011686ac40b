//! Pay per call: an LLM call without an account, paid with x402 `upto` (Permit2).
//!
//! Without an API key, `POST /v1/chat/completions` (or `/v1/messages`) is answered 402 with one
//! `upto` offer per rail whose `amount` is the call's worst-case cost (the reservation the proxy
//! computes; at least `min_call_usd`). The client signs that maximum ([`tollgate_chain::x402`]
//! `upto`); the gateway verifies it without I/O, reads on chain that the payer's Permit2 nonce
//! is unused and that its allowance to Permit2 and its balance cover the maximum, claims the
//! payment in Postgres under the payer's limits ([`admit`]), serves the call, and hands the
//! outcome over ([`PayPerCall::hand_off`]): the job in `jobs/pay_per_call.rs` then settles the
//! actual cost on chain, off the request path ([`settle`]), and books it only once it moved.
//!
//! | module | job |
//! | --- | --- |
//! | [`admit`] | the payment header → the payer; the 402 and its offers; verification, chain reads, the claim |
//! | [`settle`] | one served call → its settlement transaction → the ledger; batched `recordTopUp` |

pub mod admit;
pub mod settle;

use super::onchain::{ChainSet, OnChain};
use crate::config::PayPerCallConfig;
use std::sync::Arc;
use tokio::sync::Notify;
use tollgate_billing::ledger::Ledger;
use tollgate_billing::spool::{Spool, SpoolTicket};
use tollgate_billing::{MicroUsdc, Outcome};

pub use admit::{PaidCall, Pending};

/// The pay-per-call side of the gateway: shared by the proxy (admission, hand-off) and the
/// settlement job.
pub struct PayPerCall {
    pub ledger: Ledger,
    pub chains: Arc<ChainSet>,
    pub config: PayPerCallConfig,
    /// Woken by each hand-off, so a served call is settled at once rather than at the next tick.
    pub served: Notify,
    /// The billing spool paid outcomes are sealed in (as balance-paid ones), when there is one.
    pub(super) spool: Option<Arc<Spool>>,
}

impl PayPerCall {
    pub fn new(
        ledger: Ledger,
        chains: Arc<ChainSet>,
        config: PayPerCallConfig,
        spool: Option<Arc<Spool>>,
    ) -> Arc<Self> {
        Arc::new(PayPerCall {
            ledger,
            chains,
            config,
            served: Notify::new(),
            spool,
        })
    }

    /// The call was served (or failed): what it cost (already raised to `min_call`, see
    /// `proxy::outcome::build`) is kept for the settlement job, with the request-log row.
    /// Awaited in `logging`, after the response is complete (off the client's path), so a
    /// graceful shutdown waits for it like any in-flight call; retried for a few seconds.
    /// The outcome was spooled before the response's last bytes (`spooled`, handed back once
    /// recorded): a node that dies first records it when it replays its spool at start-up.
    pub async fn hand_off(&self, paid: &PaidCall, outcome: &Outcome, spooled: Option<SpoolTicket>) {
        let mut backoff = std::time::Duration::from_millis(100);
        for _ in 0..8 {
            match self.ledger.served_paid_call(&paid.id, outcome).await {
                Ok(()) => {
                    if let (Some(spool), Some(t)) = (&self.spool, spooled) {
                        spool.committed(t);
                    }
                    self.served.notify_one();
                    return;
                }
                Err(e) => {
                    log::warn!("pay per call {}: recording the outcome: {e}", paid.id);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
        log::error!(
            "pay per call {}: outcome not recorded; it stays in the billing spool (replayed at the next start) or, without one, the call is not charged",
            paid.id
        );
    }

    /// The rail of an offer's `(network, asset)`.
    fn rail_for(
        &self,
        network: &tollgate_chain::x402::ChainId,
        asset: alloy_primitives::Address,
    ) -> Option<&Arc<OnChain>> {
        self.chains
            .all()
            .iter()
            .find(|r| &r.network.caip2() == network && r.asset == asset)
    }

    /// The maximum a call of worst case `max_cost` is offered at.
    pub fn maximum(&self, max_cost: MicroUsdc) -> MicroUsdc {
        max_cost.max(self.config.min_call).max(1)
    }
}
