//! Credits TreasuryVault deposits without anyone calling `POST /v1/deposits`
//! (`chain.deposits.watch`): every interval, find the vault's `Deposited` logs in the blocks
//! that are deep enough, read each transaction's receipt, and credit its deposits under the
//! same key as the endpoint (transaction and position in it), so a deposit found by both —
//! or found again after a reorg moved it — is credited once.
//!
//! The cursor lives in memory: after a restart the last `RESCAN_BLOCKS` blocks are read again,
//! which the idempotency key makes harmless.

use crate::money::{deposits, OnChain};
use alloy::primitives::B256;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tollgate_billing::ledger::Ledger;

/// How far back a fresh watcher looks (providers cap `eth_getLogs` ranges too).
const RESCAN_BLOCKS: u64 = 10_000;

pub struct DepositWatcher {
    pub ledger: Ledger,
    pub chain: Arc<OnChain>,
    pub every: Duration,
    /// Next block to read (0: not started).
    next: AtomicU64,
}

impl DepositWatcher {
    pub fn new(ledger: Ledger, chain: Arc<OnChain>, every: Duration) -> Self {
        DepositWatcher {
            ledger,
            chain,
            every,
            next: AtomicU64::new(0),
        }
    }

    /// One pass; returns how many deposits were newly credited.
    pub async fn scan(&self) -> Result<usize, String> {
        let client = self.chain.client().await.map_err(|e| e.to_string())?;
        let latest = client.block_number().await.map_err(|e| e.to_string())?;
        // Only blocks with `confirmations` on top of them (1 = mined).
        let Some(to) = latest.checked_sub(self.chain.settings.confirmations.saturating_sub(1))
        else {
            return Ok(0);
        };
        let from = match self.next.load(Ordering::Acquire) {
            0 => to.saturating_sub(RESCAN_BLOCKS),
            n => n,
        };
        if from > to {
            return Ok(0);
        }
        let topic = alloy::primitives::keccak256(b"Deposited(address,uint256)");
        let params = serde_json::json!([{
            "address": format!("{:#x}", self.chain.treasury_vault),
            "fromBlock": format!("{from:#x}"),
            "toBlock": format!("{to:#x}"),
            "topics": [format!("{topic:#x}")],
        }]);
        let logs: Vec<serde_json::Value> = client
            .raw_request("eth_getLogs", params)
            .await
            .map_err(|e| e.to_string())?;
        // Each transaction once, in the order its first log appears.
        let mut txs: Vec<B256> = Vec::new();
        for log in &logs {
            match log
                .get("transactionHash")
                .and_then(|h| h.as_str())
                .and_then(|h| B256::from_str(h).ok())
            {
                Some(tx) if !txs.contains(&tx) => txs.push(tx),
                Some(_) => {}
                None => log::warn!("unreadable Deposited log: {log}"),
            }
        }
        let mut credited = 0;
        for tx in txs {
            let found = client
                .find_deposit(
                    self.chain.treasury_vault,
                    tx,
                    self.chain.settings.confirmations,
                )
                .await
                .map_err(|e| e.to_string())?;
            let done =
                deposits::credit_logs(&self.ledger, &self.chain, &found.iter().collect::<Vec<_>>())
                    .await
                    .map_err(|e| format!("{e:?}"))?;
            credited += done.logs.iter().filter(|l| l.newly_credited).count();
        }
        // Only advance once every log of the range is in the ledger.
        self.next.store(to + 1, Ordering::Release);
        Ok(credited)
    }
}

#[async_trait]
impl BackgroundService for DepositWatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            match self.scan().await {
                Ok(0) => {}
                Ok(n) => log::info!("deposit watcher credited {n} deposit(s)"),
                Err(e) => log::warn!("deposit watcher: {e}"),
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
    }
}
