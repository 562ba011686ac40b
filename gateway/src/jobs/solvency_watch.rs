//! The reserve surplus as a gauge: every `chain.solvency_every`, the vaults' tokens on every
//! chain and asset (in micro-USD) minus what the
//! ledger owes ([`crate::money::solvency::surplus`]) goes to
//! `tollgate_reserve_surplus_microusdc`. Negative means the vaults could not pay every balance,
//! earning and fee: alert on it. The full check, credit by credit, is `tollgate ledger check
//! --chain`.

use crate::metrics::Metrics;
use crate::money::{solvency, ChainSet};
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use prometheus::IntGauge;
use std::sync::Arc;
use tollgate_billing::ledger::Ledger;

pub struct SolvencyWatch {
    ledger: Ledger,
    chains: Arc<ChainSet>,
    surplus: IntGauge,
}

impl SolvencyWatch {
    pub fn new(ledger: Ledger, chains: Arc<ChainSet>, metrics: &Metrics) -> Self {
        SolvencyWatch {
            ledger,
            chains,
            surplus: metrics.gauge(
                "tollgate_reserve_surplus_microusdc",
                "The vaults' tokens on every chain and asset (micro-USD) minus every balance, earning, fee and pending withdrawal or payout the ledger owes (negative: insolvent).",
            ),
        }
    }
}

#[async_trait]
impl BackgroundService for SolvencyWatch {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut warned = false;
        loop {
            match solvency::surplus(&self.ledger, &self.chains).await {
                Ok(s) => {
                    self.surplus.set(s);
                    if s < 0 && !warned {
                        log::error!(
                            "the vaults are short of what the ledger owes by {} micro-USDC",
                            -s
                        );
                    }
                    warned = s < 0;
                }
                Err(e) => log::warn!("solvency check: {e}"),
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(self.chains.default_rail().settings.solvency_every) => {}
            }
        }
    }
}
