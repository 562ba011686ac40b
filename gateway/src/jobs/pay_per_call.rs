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

/// Calls one pass claims at most.
const BATCH: i64 = 32;
/// How long a claim keeps other nodes off a call (a settlement waits for its confirmations).
const HOLD_SECS: i64 = 120;

pub struct PayPerCallSettler(pub Arc<PayPerCall>);

impl PayPerCallSettler {
    /// One pass: every claimable call, then the vaults' pools. Returns the steps taken.
    pub async fn pass(&self) -> Vec<(String, Result<Step, String>)> {
        let p = &self.0;
        let claimed = match p.ledger.claim_paid_calls(BATCH, HOLD_SECS).await {
            Ok(c) => c,
            Err(e) => {
                log::warn!("pay per call: claiming calls to settle: {e}");
                return Vec::new();
            }
        };
        let mut steps = Vec::with_capacity(claimed.len());
        for row in claimed {
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
                Ok(_) => {}
                Err(e) => log::warn!("pay per call {}: {e}", row.id),
            }
            // A call waiting for its transaction stays claimed until the hold ends; the others
            // are released at once (a refused one is retried on the next pass).
            if !matches!(step, Ok(Step::Waiting)) {
                if let Err(e) = p.ledger.release_paid_call(&row.id).await {
                    log::warn!("pay per call {}: releasing: {e}", row.id);
                }
            }
            steps.push((row.id, step));
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
