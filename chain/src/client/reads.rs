//! Reads: typed `eth_call`s, balances, ERC-3009 and EIP-1271 state, receipts, raw requests.
//! All retried on transient transport errors only.

use super::ChainClient;
use crate::error::ChainError;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, TxHash, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol;
use alloy::sol_types::SolCall;
use std::borrow::Cow;
use std::fmt;
use std::future::IntoFuture;

sol! {
    interface IERC20Read {
        function balanceOf(address owner) external view returns (uint256);
    }
    interface IERC3009Read {
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
    }
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
    }
}

/// EIP-1271 success value: `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`.
pub const EIP1271_MAGIC_VALUE: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

impl ChainClient {
    /// `eth_call` of a typed call, retried; a revert is [`ChainError::Reverted`].
    pub async fn call<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, ChainError> {
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(call.abi_encode());
        let out = self
            .retry("eth_call", || {
                self.inner.provider.call(tx.clone()).into_future()
            })
            .await?;
        C::abi_decode_returns(&out).map_err(|e| ChainError::Abi(format!("{}: {e}", C::SIGNATURE)))
    }

    pub async fn block_number(&self) -> Result<u64, ChainError> {
        self.retry("eth_blockNumber", || {
            self.inner.provider.get_block_number().into_future()
        })
        .await
    }

    /// ERC-20 `balanceOf(owner)`.
    pub async fn token_balance(&self, token: Address, owner: Address) -> Result<U256, ChainError> {
        self.call(token, IERC20Read::balanceOfCall { owner }).await
    }

    /// ERC-3009 `authorizationState(authorizer, nonce)`: true once used or canceled.
    pub async fn authorization_state(
        &self,
        token: Address,
        authorizer: Address,
        nonce: B256,
    ) -> Result<bool, ChainError> {
        self.call(
            token,
            IERC3009Read::authorizationStateCall { authorizer, nonce },
        )
        .await
    }

    /// EIP-1271: does `contract` accept `signature` over `hash`? False when the address has no
    /// code, when the call reverts, or when it returns anything but `0x1626ba7e`.
    pub async fn is_valid_signature_1271(
        &self,
        contract: Address,
        hash: B256,
        signature: &[u8],
    ) -> Result<bool, ChainError> {
        let code = self
            .retry("eth_getCode", || {
                self.inner.provider.get_code_at(contract).into_future()
            })
            .await?;
        if code.is_empty() {
            return Ok(false);
        }
        let call = IERC1271::isValidSignatureCall {
            hash,
            signature: Bytes::copy_from_slice(signature),
        };
        let tx = TransactionRequest::default()
            .with_to(contract)
            .with_input(call.abi_encode());
        match self
            .retry("eth_call", || {
                self.inner.provider.call(tx.clone()).into_future()
            })
            .await
        {
            // Decode leniently: only the first word matters, and non-conforming returns are "no".
            Ok(out) => Ok(out.len() >= 4
                && out[..4] == EIP1271_MAGIC_VALUE
                && out[4..out.len().min(32)].iter().all(|b| *b == 0)),
            Err(ChainError::Reverted { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The receipt, if mined.
    pub async fn receipt(&self, tx_hash: TxHash) -> Result<Option<TransactionReceipt>, ChainError> {
        self.retry("eth_getTransactionReceipt", || {
            self.inner
                .provider
                .get_transaction_receipt(tx_hash)
                .into_future()
        })
        .await
    }

    /// The transaction, if the node knows it (mined or pending).
    pub async fn transaction(
        &self,
        tx_hash: TxHash,
    ) -> Result<Option<alloy::rpc::types::Transaction>, ChainError> {
        self.retry("eth_getTransactionByHash", || {
            self.inner
                .provider
                .get_transaction_by_hash(tx_hash)
                .into_future()
        })
        .await
    }

    /// Number of confirmations of a mined receipt (1 = in the head block).
    pub async fn confirmations_of(&self, receipt: &TransactionReceipt) -> Result<u64, ChainError> {
        let head = self.block_number().await?;
        Ok(match receipt.block_number {
            Some(b) if head >= b => head - b + 1,
            _ => 0,
        })
    }

    /// A raw JSON-RPC request (tests use it for `evm_mine`).
    pub async fn raw_request<R>(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<R, ChainError>
    where
        R: serde::de::DeserializeOwned + fmt::Debug + Send + Sync + Unpin + 'static,
    {
        self.retry(method, || {
            self.inner
                .provider
                .raw_request::<_, R>(Cow::Borrowed(method), params.clone())
        })
        .await
    }
}
