//! Where a Responses call that continues an earlier one (`previous_response_id`) must go: to
//! the provider that produced it, and only for the wallet it was produced for.
//!
//! The provider keeps the conversation; Tollgate calls it with one key for every buyer, so a
//! response id of one buyer must never be usable by another (it would read their
//! conversation). The fleet-wide record is the request log (`request_log.response_id`,
//! written by settlement, kept as long as the log is); this node also remembers its own
//! recent ones in memory, because a client may continue before the settlement batch that
//! records the first call commits (`billing.batch_interval`).

use crate::wire::ApiError;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tollgate_billing::ledger::Ledger;

/// Recent ids this node produced, beyond which the request log answers alone.
const RECENT: usize = 100_000;

/// The producer of each Responses object a buyer may continue.
pub struct Continuations {
    recent: Mutex<Recent>,
    ledger: Option<Ledger>,
}

#[derive(Default)]
struct Recent {
    /// response id → (wallet, provider id)
    by_id: HashMap<String, (String, String)>,
    order: VecDeque<String>,
}

impl Continuations {
    pub fn new(ledger: Option<Ledger>) -> Self {
        Continuations {
            recent: Mutex::new(Recent::default()),
            ledger,
        }
    }

    /// `provider` produced `response_id` for `wallet` (called when the call is logged).
    pub fn remember(&self, response_id: &str, wallet: &str, provider: &str) {
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if r.by_id
            .insert(response_id.to_string(), (wallet.to_string(), provider.to_string()))
            .is_none()
        {
            r.order.push_back(response_id.to_string());
        }
        while r.order.len() > RECENT {
            if let Some(old) = r.order.pop_front() {
                r.by_id.remove(&old);
            }
        }
    }

    /// The provider that produced `response_id` for `wallet`; a 400 when it is not one of
    /// this wallet's (unknown, another wallet's, or produced elsewhere).
    pub async fn provider_of(&self, response_id: &str, wallet: &str) -> Result<String, ApiError> {
        let local = {
            let r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            r.by_id.get(response_id).cloned()
        };
        let found = match local {
            Some((w, provider)) => (w == wallet).then_some(provider),
            None => match &self.ledger {
                Some(l) => l.response_provider(response_id, wallet).await.map_err(|e| {
                    log::debug!("looking up a previous response failed: {e}");
                    ApiError::billing_unavailable()
                })?,
                None => None,
            },
        };
        found.ok_or_else(|| {
            ApiError::validation(format!(
                "previous_response_id {response_id:?} is not a response this gateway produced for this wallet"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_response_is_continued_by_its_wallet_only() {
        let c = Continuations::new(None);
        c.remember("resp_1", "0xaa", "openai-a");
        assert_eq!(c.provider_of("resp_1", "0xaa").await.unwrap(), "openai-a");
        let other = c.provider_of("resp_1", "0xbb").await.unwrap_err();
        assert_eq!((other.status, other.code), (400, "VALIDATION_ERROR"));
        assert!(c.provider_of("resp_2", "0xaa").await.is_err());
    }

    #[tokio::test]
    async fn memory_is_bounded() {
        let c = Continuations::new(None);
        for i in 0..RECENT + 5 {
            c.remember(&format!("resp_{i}"), "0xaa", "p");
        }
        assert!(c.provider_of("resp_0", "0xaa").await.is_err());
        assert!(c.provider_of(&format!("resp_{}", RECENT + 4), "0xaa").await.is_ok());
        assert_eq!(c.recent.lock().unwrap().by_id.len(), RECENT);
    }
}
