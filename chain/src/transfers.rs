//! What moved on chain, read from receipts and logs — the only source a credit may be taken
//! from. A request says what a payer *meant* to pay; the token's logs say what it *did*.
//!
//! An EIP-3009 authorization moves money at most once per `(token, payer, nonce)`, and both
//! FiatToken (Circle's USDC) and OpenZeppelin's ERC-3009 emit `AuthorizationUsed(payer, nonce)`
//! immediately followed by the `Transfer(payer, to, value)` it executes. [`authorized_transfer`]
//! reads exactly that pair from a receipt, so a credit is the value of the one transfer the
//! authorization made — never an amount a client or a stored row claims, and never another
//! transfer in the same transaction (a batch of authorizations, a multicall).

use crate::client::ChainClient;
use crate::contracts::MockUSDC;
use crate::error::ChainError;
use alloy::primitives::{Address, TxHash, B256, U256};
use alloy::rpc::types::{Log, TransactionReceipt};
use alloy::sol_types::SolEvent;

/// The transfer an authorization executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorizedTransfer {
    pub tx_hash: TxHash,
    pub to: Address,
    pub value: U256,
}

/// The `Transfer` that `(payer, nonce)`'s authorization made in this receipt, if it used the
/// authorization: the token's first `Transfer` log from `payer` after its
/// `AuthorizationUsed(payer, nonce)` log. `None` when the receipt failed, did not use that
/// authorization, or the token emitted no matching transfer.
pub fn authorized_transfer(
    receipt: &TransactionReceipt,
    token: Address,
    payer: Address,
    nonce: B256,
) -> Option<AuthorizedTransfer> {
    if !receipt.status() {
        return None;
    }
    let logs: Vec<&Log> = receipt
        .logs()
        .iter()
        .filter(|l| l.address() == token)
        .collect();
    let used = logs.iter().position(|l| {
        l.topic0() == Some(&MockUSDC::AuthorizationUsed::SIGNATURE_HASH)
            && MockUSDC::AuthorizationUsed::decode_log_data(l.data())
                .is_ok_and(|e| e.authorizer == payer && e.nonce == nonce)
    })?;
    logs[used + 1..].iter().find_map(|l| {
        if l.topic0() != Some(&MockUSDC::Transfer::SIGNATURE_HASH) {
            return None;
        }
        let e = MockUSDC::Transfer::decode_log_data(l.data()).ok()?;
        (e.from == payer).then_some(AuthorizedTransfer {
            tx_hash: receipt.transaction_hash,
            to: e.to,
            value: e.value,
        })
    })
}

impl ChainClient {
    /// The transaction that used `(payer, nonce)` on `token`, from its `AuthorizationUsed` log
    /// in the last `lookback` blocks (an authorization lives minutes; providers cap log
    /// ranges). `None` when no mined transaction used it in that range.
    pub async fn authorization_used_by(
        &self,
        token: Address,
        payer: Address,
        nonce: B256,
        lookback: u64,
    ) -> Result<Option<TxHash>, ChainError> {
        let latest = self.block_number().await?;
        let from = latest.saturating_sub(lookback);
        let params = serde_json::json!([{
            "address": format!("{token:#x}"),
            "fromBlock": format!("{from:#x}"),
            "toBlock": "latest",
            "topics": [
                format!("{:#x}", MockUSDC::AuthorizationUsed::SIGNATURE_HASH),
                format!("{:#x}", B256::left_padding_from(payer.as_slice())),
                format!("{nonce:#x}"),
            ],
        }]);
        let logs: Vec<serde_json::Value> = self.raw_request("eth_getLogs", params).await?;
        Ok(logs
            .first()
            .and_then(|l| l.get("transactionHash"))
            .and_then(|h| h.as_str())
            .and_then(|h| h.parse().ok()))
    }

    /// What `(payer, nonce)`'s authorization moved in transaction `tx_hash`, once the
    /// transaction is `min_confirmations` deep. `Ok(None)`: mined, but it did not use that
    /// authorization (or failed). Errors: not mined ([`ChainError::TxNotFound`]), not deep
    /// enough ([`ChainError::NotEnoughConfirmations`]), RPC.
    pub async fn authorized_transfer_in(
        &self,
        tx_hash: TxHash,
        token: Address,
        payer: Address,
        nonce: B256,
        min_confirmations: u64,
    ) -> Result<Option<AuthorizedTransfer>, ChainError> {
        let receipt = self
            .receipt(tx_hash)
            .await?
            .ok_or(ChainError::TxNotFound(tx_hash))?;
        let have = self.confirmations_of(&receipt).await?;
        let need = min_confirmations.max(1);
        if have < need {
            return Err(ChainError::NotEnoughConfirmations {
                tx_hash,
                have,
                need,
            });
        }
        Ok(authorized_transfer(&receipt, token, payer, nonce))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{address, b256};
    use serde_json::json;

    const TOKEN: Address = address!("0x5fbdb2315678afecb367f032d93f642f64180aa3");
    const PAYER: Address = address!("0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
    const VAULT: Address = address!("0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0");
    const OTHER: Address = address!("0x00000000000000000000000000000000000000e1");
    const NONCE: B256 = b256!("0x1111111111111111111111111111111111111111111111111111111111111111");
    const NONCE_2: B256 =
        b256!("0x2222222222222222222222222222222222222222222222222222222222222222");

    fn word(a: Address) -> String {
        format!("{:#x}", B256::left_padding_from(a.as_slice()))
    }

    fn used(token: Address, payer: Address, nonce: B256) -> serde_json::Value {
        json!({
            "address": format!("{token:#x}"),
            "topics": [format!("{:#x}", MockUSDC::AuthorizationUsed::SIGNATURE_HASH), word(payer), format!("{nonce:#x}")],
            "data": "0x",
        })
    }

    fn transfer(token: Address, from: Address, to: Address, value: u64) -> serde_json::Value {
        json!({
            "address": format!("{token:#x}"),
            "topics": [format!("{:#x}", MockUSDC::Transfer::SIGNATURE_HASH), word(from), word(to)],
            "data": format!("{:#x}", B256::from(U256::from(value))),
        })
    }

    fn receipt(status: bool, logs: Vec<serde_json::Value>) -> TransactionReceipt {
        let tx = "0xabababababababababababababababababababababababababababababababab";
        let logs: Vec<serde_json::Value> = logs
            .into_iter()
            .enumerate()
            .map(|(i, mut l)| {
                l["logIndex"] = json!(format!("{i:#x}"));
                l["transactionHash"] = json!(tx);
                l["blockNumber"] = json!("0x10");
                l["transactionIndex"] = json!("0x0");
                l["blockHash"] =
                    json!("0xcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd");
                l["removed"] = json!(false);
                l
            })
            .collect();
        serde_json::from_value(json!({
            "transactionHash": tx,
            "transactionIndex": "0x0",
            "blockHash": "0xcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
            "blockNumber": "0x10",
            "from": format!("{OTHER:#x}"),
            "to": format!("{TOKEN:#x}"),
            "cumulativeGasUsed": "0x1",
            "gasUsed": "0x1",
            "effectiveGasPrice": "0x1",
            "contractAddress": null,
            "logs": logs,
            "logsBloom": format!("0x{}", "00".repeat(256)),
            "type": "0x2",
            "status": if status { "0x1" } else { "0x0" },
        }))
        .unwrap()
    }

    #[test]
    fn the_transfer_right_after_the_authorization_is_what_moved() {
        let r = receipt(
            true,
            vec![
                used(TOKEN, PAYER, NONCE),
                transfer(TOKEN, PAYER, VAULT, 1_000_000),
            ],
        );
        let t = authorized_transfer(&r, TOKEN, PAYER, NONCE).unwrap();
        assert_eq!((t.to, t.value), (VAULT, U256::from(1_000_000u64)));
        assert_eq!(t.tx_hash, r.transaction_hash);
    }

    #[test]
    fn another_authorization_in_the_same_transaction_is_not_counted() {
        // A batch: the payer's other authorization moves 5,000 USDC first, then ours moves 1.
        let r = receipt(
            true,
            vec![
                used(TOKEN, PAYER, NONCE_2),
                transfer(TOKEN, PAYER, VAULT, 5_000_000_000),
                used(TOKEN, PAYER, NONCE),
                transfer(TOKEN, PAYER, VAULT, 1_000_000),
            ],
        );
        let t = authorized_transfer(&r, TOKEN, PAYER, NONCE).unwrap();
        assert_eq!(t.value, U256::from(1_000_000u64));
        let t2 = authorized_transfer(&r, TOKEN, PAYER, NONCE_2).unwrap();
        assert_eq!(t2.value, U256::from(5_000_000_000u64));
    }

    #[test]
    fn logs_of_other_contracts_payers_or_nonces_do_not_count() {
        let fake_token = OTHER;
        let r = receipt(
            true,
            vec![
                used(fake_token, PAYER, NONCE),
                transfer(fake_token, PAYER, VAULT, 9),
                used(TOKEN, OTHER, NONCE),
                transfer(TOKEN, OTHER, VAULT, 9),
            ],
        );
        assert_eq!(authorized_transfer(&r, TOKEN, PAYER, NONCE), None);
        // The token's transfer from someone else after our authorization is not ours either.
        let r = receipt(
            true,
            vec![used(TOKEN, PAYER, NONCE), transfer(TOKEN, OTHER, VAULT, 9)],
        );
        assert_eq!(authorized_transfer(&r, TOKEN, PAYER, NONCE), None);
    }

    #[test]
    fn a_transfer_before_the_authorization_or_a_failed_receipt_is_nothing() {
        let r = receipt(
            true,
            vec![transfer(TOKEN, PAYER, VAULT, 7), used(TOKEN, PAYER, NONCE)],
        );
        assert_eq!(authorized_transfer(&r, TOKEN, PAYER, NONCE), None);
        let r = receipt(
            false,
            vec![used(TOKEN, PAYER, NONCE), transfer(TOKEN, PAYER, VAULT, 7)],
        );
        assert_eq!(authorized_transfer(&r, TOKEN, PAYER, NONCE), None);
    }

    #[test]
    fn a_transfer_to_someone_else_is_reported_with_its_recipient() {
        let r = receipt(
            true,
            vec![used(TOKEN, PAYER, NONCE), transfer(TOKEN, PAYER, OTHER, 5)],
        );
        let t = authorized_transfer(&r, TOKEN, PAYER, NONCE).unwrap();
        assert_eq!(t.to, OTHER);
    }
}
