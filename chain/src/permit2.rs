//! Permit2 on chain: the x402 exact proxy's `settle` call, the reads made before sending it
//! (nonce, allowance), and what a settlement moved, read from its transaction.
//!
//! Permit2 emits no event for a signature transfer, so the transaction that used a payer's
//! nonce is recognised by its call: a transaction **to the x402 exact proxy** whose input is
//! `settle(permit, owner, witness, signature)` with that owner, token and nonce. The proxy
//! moves exactly the permitted amount from the owner to `witness.to`, so that transaction's
//! token `Transfer` from the payer is what the payment moved. A settlement nested inside
//! another contract's call cannot be recognised this way ([`permit2_used_by`] then finds
//! nothing, and the ledger row stays pending for an operator).
//!
//! [`permit2_used_by`]: ChainClient::permit2_used_by

use crate::client::ChainClient;
use crate::contracts::MockUSDC;
use crate::error::ChainError;
use crate::transfers::AuthorizedTransfer;
use crate::x402::{
    Permit2Authorization, UptoAuthorization, PERMIT2_ADDRESS, X402_EXACT_PERMIT2_PROXY,
    X402_UPTO_PERMIT2_PROXY,
};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, TxHash, B256, U256};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol;
use alloy::sol_types::{SolCall, SolEvent};

sol! {
    /// The reads Tollgate makes of Permit2.
    interface IPermit2 {
        function nonceBitmap(address owner, uint256 wordPos) external view returns (uint256);
    }
    /// x402's exact Permit2 proxy (the call interface the x402 clients and facilitators use).
    interface IX402ExactPermit2Proxy {
        struct TokenPermissions { address token; uint256 amount; }
        struct PermitTransferFrom { TokenPermissions permitted; uint256 nonce; uint256 deadline; }
        struct Witness { address to; uint256 validAfter; }
        function settle(PermitTransferFrom permit, address owner, Witness witness, bytes signature) external;
    }
    /// x402's upto Permit2 proxy: the facilitator named in the witness settles `amount`.
    interface IX402UptoPermit2Proxy {
        struct TokenPermissions { address token; uint256 amount; }
        struct PermitTransferFrom { TokenPermissions permitted; uint256 nonce; uint256 deadline; }
        struct Witness { address to; address facilitator; uint256 validAfter; }
        function settle(PermitTransferFrom permit, uint256 amount, address owner, Witness witness, bytes signature) external;
    }
    interface IERC20Allowance {
        function allowance(address owner, address spender) external view returns (uint256);
    }
}

/// The proxy's `settle(permit, owner, witness, signature)` transaction for a signed
/// authorization (`signature`: 65 bytes `r‖s‖v`).
pub fn permit2_settle_tx(auth: &Permit2Authorization, signature: &Bytes) -> TransactionRequest {
    use IX402ExactPermit2Proxy as P;
    let call = P::settleCall {
        permit: P::PermitTransferFrom {
            permitted: P::TokenPermissions {
                token: auth.permitted.token,
                amount: auth.permitted.amount,
            },
            nonce: auth.nonce,
            deadline: U256::from(auth.deadline),
        },
        owner: auth.from,
        witness: P::Witness {
            to: auth.witness.to,
            validAfter: U256::from(auth.witness.valid_after),
        },
        signature: signature.clone(),
    };
    TransactionRequest::default()
        .with_to(X402_EXACT_PERMIT2_PROXY)
        .with_input(call.abi_encode())
}

/// The upto proxy's `settle(permit, amount, owner, witness, signature)` transaction: moves
/// `amount` token units (at most the signed maximum) from the payer to `witness.to`. Only
/// `witness.facilitator` may send it.
pub fn upto_settle_tx(
    auth: &UptoAuthorization,
    amount: U256,
    signature: &Bytes,
) -> TransactionRequest {
    use IX402UptoPermit2Proxy as P;
    let call = P::settleCall {
        permit: P::PermitTransferFrom {
            permitted: P::TokenPermissions {
                token: auth.permitted.token,
                amount: auth.permitted.amount,
            },
            nonce: auth.nonce,
            deadline: U256::from(auth.deadline),
        },
        amount,
        owner: auth.from,
        witness: P::Witness {
            to: auth.witness.to,
            facilitator: auth.witness.facilitator,
            validAfter: U256::from(auth.witness.valid_after),
        },
        signature: signature.clone(),
    };
    TransactionRequest::default()
        .with_to(X402_UPTO_PERMIT2_PROXY)
        .with_input(call.abi_encode())
}

/// `(owner, token, nonce)` of a proxy `settle` call's input, if it is one.
pub fn decode_permit2_settle(input: &[u8]) -> Option<(Address, Address, U256)> {
    let call = IX402ExactPermit2Proxy::settleCall::abi_decode(input).ok()?;
    Some((call.owner, call.permit.permitted.token, call.permit.nonce))
}

/// `(owner, token, nonce)` of an upto proxy `settle` call's input, if it is one.
pub fn decode_upto_settle(input: &[u8]) -> Option<(Address, Address, U256)> {
    let call = IX402UptoPermit2Proxy::settleCall::abi_decode(input).ok()?;
    Some((call.owner, call.permit.permitted.token, call.permit.nonce))
}

/// The `Transfer` from `payer` in a successful receipt of a proxy settlement.
pub fn permit2_transfer(
    receipt: &TransactionReceipt,
    token: Address,
    payer: Address,
) -> Option<AuthorizedTransfer> {
    if !receipt.status() {
        return None;
    }
    receipt.logs().iter().find_map(|l| {
        if l.address() != token || l.topic0() != Some(&MockUSDC::Transfer::SIGNATURE_HASH) {
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
    /// Whether `owner`'s Permit2 nonce is used (or cancelled by its owner).
    pub async fn permit2_nonce_used(
        &self,
        owner: Address,
        nonce: U256,
    ) -> Result<bool, ChainError> {
        let word = nonce >> 8;
        let bit = U256::from(1) << (nonce & U256::from(0xff)).to::<usize>();
        let bitmap = self
            .call(
                PERMIT2_ADDRESS,
                IPermit2::nonceBitmapCall {
                    owner,
                    wordPos: word,
                },
            )
            .await?;
        Ok(bitmap & bit != U256::ZERO)
    }

    /// `token.allowance(owner, spender)`.
    pub async fn allowance(
        &self,
        token: Address,
        owner: Address,
        spender: Address,
    ) -> Result<U256, ChainError> {
        self.call(token, IERC20Allowance::allowanceCall { owner, spender })
            .await
    }

    /// What `(payer, nonce)`'s Permit2 authorization moved in transaction `tx_hash` once it is
    /// `min_confirmations` deep: `Ok(None)` when that transaction is not a proxy settlement of
    /// this authorization (or failed).
    pub async fn permit2_transfer_in(
        &self,
        tx_hash: TxHash,
        token: Address,
        payer: Address,
        nonce: U256,
        min_confirmations: u64,
    ) -> Result<Option<AuthorizedTransfer>, ChainError> {
        self.settlement_transfer_in(tx_hash, token, payer, min_confirmations, |to, input| {
            to == X402_EXACT_PERMIT2_PROXY
                && decode_permit2_settle(input) == Some((payer, token, nonce))
        })
        .await
    }

    /// [`Self::permit2_transfer_in`] for x402's upto proxy.
    pub async fn upto_transfer_in(
        &self,
        tx_hash: TxHash,
        token: Address,
        payer: Address,
        nonce: U256,
        min_confirmations: u64,
    ) -> Result<Option<AuthorizedTransfer>, ChainError> {
        self.settlement_transfer_in(tx_hash, token, payer, min_confirmations, |to, input| {
            to == X402_UPTO_PERMIT2_PROXY
                && decode_upto_settle(input) == Some((payer, token, nonce))
        })
        .await
    }

    async fn settlement_transfer_in(
        &self,
        tx_hash: TxHash,
        token: Address,
        payer: Address,
        min_confirmations: u64,
        is_it: impl Fn(Address, &[u8]) -> bool,
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
        let tx = self
            .transaction(tx_hash)
            .await?
            .ok_or(ChainError::TxNotFound(tx_hash))?;
        use alloy::consensus::Transaction as _;
        if !tx.inner.to().is_some_and(|to| is_it(to, tx.inner.input())) {
            return Ok(None);
        }
        Ok(permit2_transfer(&receipt, token, payer))
    }

    /// The transaction that settled `(payer, nonce)` through the exact proxy, looked for among
    /// the token transfers from `payer` to `to` in the last `lookback` blocks (newest first, at
    /// most 32 candidates): `None` when none of them is that settlement.
    pub async fn permit2_used_by(
        &self,
        token: Address,
        payer: Address,
        to: Address,
        nonce: U256,
        lookback: u64,
    ) -> Result<Option<TxHash>, ChainError> {
        self.settlement_among_transfers(token, payer, to, lookback, |tx_to, input| {
            tx_to == X402_EXACT_PERMIT2_PROXY
                && decode_permit2_settle(input) == Some((payer, token, nonce))
        })
        .await
    }

    /// [`Self::permit2_used_by`] for x402's upto proxy.
    pub async fn upto_used_by(
        &self,
        token: Address,
        payer: Address,
        to: Address,
        nonce: U256,
        lookback: u64,
    ) -> Result<Option<TxHash>, ChainError> {
        self.settlement_among_transfers(token, payer, to, lookback, |tx_to, input| {
            tx_to == X402_UPTO_PERMIT2_PROXY
                && decode_upto_settle(input) == Some((payer, token, nonce))
        })
        .await
    }

    /// The newest transaction among the token transfers from `payer` to `to` (last `lookback`
    /// blocks, at most 32 candidates) whose `(to, input)` is the settlement `is_it` looks for.
    async fn settlement_among_transfers(
        &self,
        token: Address,
        payer: Address,
        to: Address,
        lookback: u64,
        is_it: impl Fn(Address, &[u8]) -> bool,
    ) -> Result<Option<TxHash>, ChainError> {
        let latest = self.block_number().await?;
        let from = latest.saturating_sub(lookback);
        let word = |a: Address| format!("{:#x}", B256::left_padding_from(a.as_slice()));
        let params = serde_json::json!([{
            "address": format!("{token:#x}"),
            "fromBlock": format!("{from:#x}"),
            "toBlock": "latest",
            "topics": [format!("{:#x}", MockUSDC::Transfer::SIGNATURE_HASH), word(payer), word(to)],
        }]);
        let logs: Vec<serde_json::Value> = self.raw_request("eth_getLogs", params).await?;
        let mut seen = Vec::new();
        for hash in logs
            .iter()
            .rev()
            .filter_map(|l| l.get("transactionHash")?.as_str()?.parse::<TxHash>().ok())
        {
            if seen.contains(&hash) {
                continue;
            }
            seen.push(hash);
            if seen.len() > 32 {
                break;
            }
            use alloy::consensus::Transaction as _;
            if let Some(tx) = self.transaction(hash).await? {
                if tx.inner.to().is_some_and(|t| is_it(t, tx.inner.input())) {
                    return Ok(Some(hash));
                }
            }
        }
        Ok(None)
    }
}
