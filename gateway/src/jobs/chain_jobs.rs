//! In the gateway: reconcile withdrawals at start-up and every minute, and run payouts every
//! `chain.payouts.schedule` (first at start-up) when it is set.

use crate::money::payouts::{self, Payee, Scope};
use crate::money::ChainSet;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_billing::ledger::Ledger;

/// Withdrawals the gateway reconciles at least this often (when any is stale).
const RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// In the gateway: reconciles withdrawals at start-up and every minute, and runs payouts every
/// `chain.payouts.schedule` (first at start-up) when it is set.
pub struct ChainJobs {
    pub ledger: Ledger,
    pub chains: Arc<ChainSet>,
    pub payees: Vec<Payee>,
}

#[async_trait]
impl BackgroundService for ChainJobs {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let chains = &self.chains;
        let schedule = chains.default_rail().settings.payout_schedule;
        let tick = schedule.map_or(RECONCILE_EVERY, |s| s.min(RECONCILE_EVERY));
        let mut last_payouts: Option<Instant> = None;
        loop {
            let due = schedule.is_some_and(|s| last_payouts.is_none_or(|t| t.elapsed() >= s));
            let scope = if due {
                last_payouts = Some(Instant::now());
                Scope::Payouts
            } else {
                Scope::Withdrawals
            };
            match payouts::run(&self.ledger, chains, &self.payees, scope, Duration::ZERO).await {
                Ok(r) => {
                    let text = r.render();
                    let quiet = r.paid.is_empty()
                        && r.pending.is_empty()
                        && r.withdrawals_paid.is_empty()
                        && r.withdrawals_reversed.is_empty();
                    if !quiet {
                        log::info!("chain jobs:\n{}", text.trim_end());
                    }
                }
                Err(e) => log::warn!("chain jobs: {e}"),
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }
}
