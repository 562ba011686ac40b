//! In the gateway: settle the calls paid per call (x402 `upto`) once served — off the request
//! path, woken by each hand-off and every `pay_per_call.settle_every` — and count the settled
//! ones into their vaults' pools.

use crate::money::pay_per_call::settle::Step;
use crate::money::pay_per_call::PayPerCall;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Calls one pass settles at most.
const BATCH: usize = 32;
/// A claim outlasts one call's settlement (its receipt wait) by this much.
const HOLD_SLACK_SECS: i64 = 60;

pub struct PayPerCallSettler(pub Arc<PayPerCall>);

impl PayPerCallSettler {
    /// One pass: the claimable calls (earliest deadline first), then the vaults' pools.
    /// Returns the steps taken.
    ///
    /// Each call is claimed just before it is worked on, for longer than one settlement can
    /// take: a batch claimed at once would see its last calls' claims lapse while the first
    /// ones wait for their receipts, and another node settle them too.
    pub async fn pass(&self) -> Vec<(String, Result<Step, String>)> {
        let p = &self.0;
        let hold = p
            .chains
            .all()
            .iter()
            .map(|r| r.settings.receipt_timeout.as_secs() as i64)
            .max()
            .unwrap_or(120)
            + HOLD_SLACK_SECS;
        let mut steps = Vec::new();
        while steps.len() < BATCH {
            let row = match p.ledger.claim_paid_calls(1, hold).await {
                Ok(mut c) => match c.pop() {
                    Some(row) => row,
                    None => break,
                },
                Err(e) => {
                    log::warn!("pay per call: claiming calls to settle: {e}");
                    break;
                }
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let step = p.settle(&row, now).await;
            match &step {
                Ok(Step::Settled(moved)) => {
                    log::info!("pay per call {}: settled {moved} micro-USD", row.id)
                }
                Ok(Step::Refused(why)) | Ok(Step::Failed(why)) => {
                    log::warn!("pay per call {}: {why}", row.id)
                }
                Ok(Step::Expired) => log::warn!(
                    "pay per call {}: not settled before its payment's deadline (not charged): settle sooner (settle_margin, gas, confirmations)",
                    row.id
                ),
                Ok(_) => {}
                Err(e) => log::warn!("pay per call {}: {e}", row.id),
            }
            steps.push((row.id, step));
        }
        // A call waiting for its transaction stays claimed until the hold ends; the others
        // are released after the pass (not during it, which would claim a refused one again
        // at once), so the next pass retries them.
        for (id, step) in &steps {
            if !matches!(step, Ok(Step::Waiting)) {
                if let Err(e) = p.ledger.release_paid_call(id).await {
                    log::warn!("pay per call {id}: releasing: {e}");
                }
            }
        }
        if let Err(e) = p.record_in_vaults().await {
            log::warn!("pay per call: counting settled calls into the vaults: {e}");
        }
        steps
    }
}

#[async_trait]
impl BackgroundService for PayPerCallSettler {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            self.pass().await;
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = self.0.served.notified() => {}
                _ = tokio::time::sleep(self.0.config.settle_every) => {}
            }
        }
    }
}
