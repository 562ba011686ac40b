//! Credits TreasuryVault deposits without anyone calling `POST /v1/deposits`
//! (`chain.deposits.watch`): every interval, read the vault's `Deposited` logs of the blocks
//! that are deep enough, and credit each one (idempotent on tx hash + log index, the same key as
//! the endpoint, so a deposit found by both is credited once).
//!
//! The cursor lives in memory: after a restart the last `RESCAN_BLOCKS` blocks are read again,
//! which the idempotency key makes harmless.

use crate::money::{ids, OnChain};
use alloy::primitives::{Address, B256, U256};
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
        let mut credited = 0;
        for log in &logs {
            let Some(d) = parse_deposit(log) else {
                log::warn!("unreadable Deposited log: {log}");
                continue;
            };
            let Ok(amount) = i64::try_from(d.amount) else {
                log::warn!("deposit {:#x}:{} out of range", d.tx_hash, d.log_index);
                continue;
            };
            let id = ids::deposit_id(&self.chain, d.tx_hash, d.log_index);
            let r = self
                .ledger
                .credit_deposit(
                    &id,
                    &format!("{:#x}", d.buyer),
                    amount,
                    &format!("{:#x}", d.tx_hash),
                )
                .await
                .map_err(|e| e.to_string())?;
            if r.applied {
                credited += 1;
            }
        }
        // Only advance once every log of the range is in the ledger.
        self.next.store(to + 1, Ordering::Release);
        Ok(credited)
    }
}

struct FoundDeposit {
    tx_hash: B256,
    log_index: u64,
    buyer: Address,
    amount: U256,
}

fn parse_deposit(log: &serde_json::Value) -> Option<FoundDeposit> {
    let hex_u64 =
        |v: &serde_json::Value| u64::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok();
    let topics = log.get("topics")?.as_array()?;
    let buyer_word = B256::from_str(topics.get(1)?.as_str()?).ok()?;
    Some(FoundDeposit {
        tx_hash: B256::from_str(log.get("transactionHash")?.as_str()?).ok()?,
        log_index: hex_u64(log.get("logIndex")?)?,
        buyer: Address::from_slice(&buyer_word[12..]),
        amount: U256::from_str(log.get("data")?.as_str()?).ok()?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_deposited_log() {
        let log = serde_json::json!({
            "topics": [
                "0x2da466a7b24304f47e87fa2e1e5a81b9831ce54fec19055ce277ca2f39ba42c4",
                "0x00000000000000000000000070997970c51812dc3a010c7d01b50e0d17dc79c8"
            ],
            "data": "0x00000000000000000000000000000000000000000000000000000000004c4b40",
            "transactionHash": "0x1111111111111111111111111111111111111111111111111111111111111111",
            "logIndex": "0x2"
        });
        let d = parse_deposit(&log).unwrap();
        assert_eq!(d.amount, U256::from(5_000_000u64));
        assert_eq!(d.log_index, 2);
        assert_eq!(
            format!("{:#x}", d.buyer),
            "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
        );
        assert!(parse_deposit(&serde_json::json!({"topics": []})).is_none());
    }
}
