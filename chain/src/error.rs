//! The one error type of the chain side (`ChainClient`, contract wrappers, deployment).
//!
//! x402 header/signature problems are *not* here: they are [`crate::x402::PaymentError`], which
//! needs no RPC and maps onto the x402 `invalidReason` codes.
//!
//! Messages never contain key material: a bad private key is reported as [`ChainError::InvalidKey`]
//! with no text from the input.

use std::time::Duration;

use alloy::primitives::{Address, Bytes, TxHash, B256, U256};
use alloy::transports::{RpcError, TransportErrorKind};

/// Anything that can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The private key is not 32 bytes of hex (the value itself is never shown).
    #[error("invalid private key: expected 32 bytes of hex (value not shown)")]
    InvalidKey,
    /// The RPC URL does not parse.
    #[error("invalid RPC URL: {0}")]
    InvalidUrl(String),
    /// The node serves another chain than configured.
    #[error("chain id mismatch: configured {expected}, node reports {actual}")]
    ChainIdMismatch { expected: u64, actual: u64 },
    /// An RPC call failed (after the bounded retries for transient transport errors).
    /// `message` is the transport's error with every URL redacted: the RPC URL often carries
    /// the RPC provider's API key.
    #[error("RPC {op} failed after {attempts} attempt(s): {message}")]
    Rpc {
        op: &'static str,
        attempts: u32,
        message: String,
    },
    /// The node refused the transaction's nonce as too low: the key sent elsewhere meanwhile.
    /// Nothing was accepted.
    #[error("the node refused the nonce as too low (attempt {attempts})")]
    StaleNonce { attempts: u32 },
    /// The call would revert (seen by `eth_estimateGas` / `eth_call`, before anything was sent).
    /// `reason` is the decoded custom error or `Error(string)` when known.
    #[error("call reverts: {reason}")]
    Reverted { reason: String, data: Option<Bytes> },
    /// The transaction was mined but failed (`status = 0`).
    #[error("transaction {tx_hash} reverted in block {block}")]
    TxReverted { tx_hash: TxHash, block: u64 },
    /// Sent, but not confirmed in time. It may still be mined: check `tx_hash` before re-sending.
    #[error(
        "transaction {tx_hash} not confirmed ({confirmations} confirmation(s)) within {waited:?}"
    )]
    ConfirmationTimeout {
        tx_hash: TxHash,
        confirmations: u64,
        waited: Duration,
    },
    /// Signing or encoding the transaction failed.
    #[error("could not build/sign transaction: {0}")]
    Signing(String),
    /// A contract returned data that does not decode, or an artifact is unusable.
    #[error("contract/ABI error: {0}")]
    Abi(String),

    // ---- ERC-3009 settlement -------------------------------------------------------------
    /// `authorizationState(from, nonce)` is already true: the authorization was used or canceled.
    #[error("authorization already used or canceled (authorizer {authorizer}, nonce {nonce})")]
    AuthorizationAlreadyUsed { authorizer: Address, nonce: B256 },
    /// The payer's token balance does not cover the authorized value.
    #[error("insufficient token balance: {payer} holds {balance}, needs {required}")]
    InsufficientBalance {
        payer: Address,
        balance: U256,
        required: U256,
    },

    // ---- TreasuryVault deposits ------------------------------------------------------------
    /// No receipt for that hash (unknown, or still pending).
    #[error("transaction {0} not found or not yet mined")]
    TxNotFound(TxHash),
    /// The deposit has fewer confirmations than required.
    #[error("transaction {tx_hash} has {have} confirmation(s), {need} required")]
    NotEnoughConfirmations {
        tx_hash: TxHash,
        have: u64,
        need: u64,
    },
    /// The transaction emitted no `Deposited` event of this vault.
    #[error("transaction {tx_hash} has no Deposited event from vault {vault}")]
    NotFromVault { tx_hash: TxHash, vault: Address },

    // ---- vault idempotency -------------------------------------------------------------------
    /// `PayoutVault.payout` with a `batchId` that already paid out.
    #[error("payout batch {0} already executed")]
    BatchAlreadyExecuted(B256),
    /// `TreasuryVault.operatorWithdraw`/`release` with a `withdrawalId` already used.
    #[error("withdrawal {0} already executed")]
    WithdrawalAlreadyExecuted(B256),
    /// The vault's pool (or payout vault balance) does not cover the amount.
    #[error("vault balance too low: available {available}, requested {requested}")]
    VaultInsufficient { available: U256, requested: U256 },
    /// The signing key is not the vault's operator.
    #[error("{caller} is not the vault operator")]
    NotOperator { caller: Address },
    /// The vault is paused by its admin.
    #[error("vault is paused")]
    Paused,
}

impl ChainError {
    /// An RPC failure, its message redacted ([`crate::client::redact_urls_in`]).
    pub fn rpc(op: &'static str, attempts: u32, e: &RpcError<TransportErrorKind>) -> Self {
        ChainError::Rpc {
            op,
            attempts,
            message: crate::client::redact_urls_in(&e.to_string()),
        }
    }

    /// What a client may be told: no endpoint, no transport detail (those go to the logs,
    /// redacted); everything else names only public facts (hashes, addresses, amounts).
    pub fn client_text(&self) -> String {
        match self {
            ChainError::Rpc { op, .. } => format!("the chain could not be reached ({op})"),
            ChainError::InvalidUrl(_) => "the chain RPC endpoint is misconfigured".into(),
            other => other.to_string(),
        }
    }

    /// True when retrying later might succeed (transport trouble, confirmation timeout).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChainError::Rpc { .. } | ChainError::ConfirmationTimeout { .. }
        )
    }
}
