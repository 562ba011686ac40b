//! Sending: estimate first, then fill and sign under the submission lock, submit the signed
//! bytes with back-off, and wait for confirmations.

use super::retry::{classify, is_already_known, is_transient};
use super::ChainClient;
use crate::error::ChainError;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TransactionBuilder;
use alloy::primitives::TxHash;
use alloy::providers::{Provider, SendableTx};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use std::future::IntoFuture;
use std::time::Instant;

impl ChainClient {
    /// Estimates, signs, submits and waits for `config.confirmations`. `from` is set to the
    /// client's address. See the module docs for nonce handling and retries.
    pub async fn send_and_confirm(
        &self,
        tx: TransactionRequest,
    ) -> Result<TransactionReceipt, ChainError> {
        let tx_hash = self.send(tx).await?;
        self.wait_for_confirmations(tx_hash, self.inner.config.confirmations)
            .await
    }

    /// Estimates, signs and submits; returns the hash without waiting.
    pub async fn send(&self, mut tx: TransactionRequest) -> Result<TxHash, ChainError> {
        tx.set_from(self.inner.address);
        if tx.gas.is_none() {
            let estimate = self
                .retry("eth_estimateGas", || {
                    self.inner.provider.estimate_gas(tx.clone()).into_future()
                })
                .await?;
            tx.set_gas_limit(estimate.saturating_mul(self.inner.config.gas_limit_percent) / 100);
        }
        let _guard = self.inner.submit.lock().await;
        let mut rebuilt = false;
        loop {
            let result = self.fill_and_submit(tx.clone()).await;
            if result.is_err() {
                // The nonce may have been allocated without reaching the node: re-read it next time.
                self.inner.nonces.reset(self.inner.address).await;
            }
            match result {
                // Our cached nonce was stale (the key was used elsewhere). The node rejected these
                // bytes outright, so signing again with a fresh nonce cannot double-send. Once.
                Err(ChainError::StaleNonce { attempts: 1 }) if !rebuilt => {
                    log::warn!(
                        "chain: nonce too low for {}; re-reading the nonce and re-signing",
                        self.inner.address
                    );
                    rebuilt = true;
                }
                other => return other,
            }
        }
    }

    async fn fill_and_submit(&self, tx: TransactionRequest) -> Result<TxHash, ChainError> {
        let sendable = self
            .retry("fill transaction", || self.inner.provider.fill(tx.clone()))
            .await?;
        let SendableTx::Envelope(envelope) = sendable else {
            return Err(ChainError::Signing(
                "fillers did not produce a signed transaction".into(),
            ));
        };
        let tx_hash = *envelope.tx_hash();
        let raw = envelope.encoded_2718();
        let cfg = &self.inner.config;
        let mut delay = cfg.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.inner.provider.send_raw_transaction(&raw).await {
                Ok(_) => {
                    log::debug!("chain: submitted {tx_hash}");
                    return Ok(tx_hash);
                }
                // A retry of bytes the node already has (first attempt went through).
                Err(e) if attempt > 1 && is_already_known(&e) => return Ok(tx_hash),
                Err(e) if attempt <= cfg.max_retries && is_transient(&e) => {
                    log::warn!(
                        "chain: submitting {tx_hash} failed ({}); retrying in {delay:?}",
                        super::redact_urls_in(&e.to_string())
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(cfg.max_backoff);
                }
                Err(e) => return Err(classify("eth_sendRawTransaction", attempt, e)),
            }
        }
    }

    /// Polls until `tx_hash` is `confirmations` blocks deep (1 = in a block), up to
    /// `config.confirmation_timeout`. Fails with [`ChainError::TxReverted`] if it was mined but
    /// failed.
    pub async fn wait_for_confirmations(
        &self,
        tx_hash: TxHash,
        confirmations: u64,
    ) -> Result<TransactionReceipt, ChainError> {
        let confirmations = confirmations.max(1);
        let cfg = &self.inner.config;
        let started = Instant::now();
        loop {
            if let Some(receipt) = self.receipt(tx_hash).await? {
                let block = receipt.block_number.unwrap_or_default();
                if !receipt.status() {
                    return Err(ChainError::TxReverted { tx_hash, block });
                }
                let head = self.block_number().await?;
                if head + 1 >= block + confirmations {
                    return Ok(receipt);
                }
            }
            if started.elapsed() >= cfg.confirmation_timeout {
                return Err(ChainError::ConfirmationTimeout {
                    tx_hash,
                    confirmations,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(cfg.poll_interval).await;
        }
    }
}
