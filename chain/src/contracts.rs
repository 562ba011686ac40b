//! Bindings for Tollgate's contracts (from the forge artifacts in `chain/abi/`, written by
//! `scripts/contracts.sh artifacts`) and the typed operations the gateway performs with them.
//!
//! All operations are methods on [`ChainClient`]; the client's key is the facilitator (x402
//! settlement) or the vault operator (payouts, withdrawals, funding), so a gateway typically holds
//! one client per key. Every send first runs `eth_estimateGas`, so contract reverts come back as
//! typed [`ChainError`]s (e.g. [`ChainError::BatchAlreadyExecuted`], [`ChainError::NotOperator`])
//! without spending gas; a transaction that still fails on-chain is [`ChainError::TxReverted`].
//!
//! Idempotency lives in the contracts: a `batchId` pays out once, a `withdrawalId` executes once,
//! an ERC-3009 nonce transfers once — so a job that crashed after sending can simply retry.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, Signature, TxHash, B256, U256};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol;
use alloy::sol_types::{SolCall, SolEvent, SolInterface};
use serde::{Deserialize, Serialize};

use crate::client::ChainClient;
use crate::error::ChainError;
use crate::x402::ExactAuthorization;

sol!(
    #[allow(missing_docs, clippy::too_many_arguments)]
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    MockUSDC,
    "abi/MockUSDC.json"
);

sol!(
    #[allow(missing_docs, clippy::too_many_arguments)]
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    MockUSDT,
    "abi/MockUSDT.json"
);

/// Tollgate's implementation of x402's exact Permit2 proxy (its code is placed on local chains).
pub mod exact_proxy {
    alloy::sol!(
        #[allow(missing_docs, clippy::too_many_arguments)]
        #[derive(Debug, PartialEq, Eq)]
        X402ExactPermit2Proxy,
        "abi/X402ExactPermit2Proxy.json"
    );
}

/// Tollgate's implementation of x402's upto Permit2 proxy (its code is placed on local chains).
pub mod upto_proxy {
    alloy::sol!(
        #[allow(missing_docs, clippy::too_many_arguments)]
        #[derive(Debug, PartialEq, Eq)]
        X402UptoPermit2Proxy,
        "abi/X402UptoPermit2Proxy.json"
    );
}

pub use exact_proxy::X402ExactPermit2Proxy;
pub use upto_proxy::X402UptoPermit2Proxy;

sol!(
    #[allow(missing_docs, clippy::too_many_arguments)]
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TreasuryVault,
    "abi/TreasuryVault.json"
);

sol!(
    #[allow(missing_docs, clippy::too_many_arguments)]
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    PayoutVault,
    "abi/PayoutVault.json"
);

sol! {
    /// The EIP-3009 entry point every USDC version has (FiatToken v2.0+), `(v, r, s)` form.
    interface IEIP3009 {
        function transferWithAuthorization(
            address from, address to, uint256 value, uint256 validAfter, uint256 validBefore,
            bytes32 nonce, uint8 v, bytes32 r, bytes32 s
        ) external;
    }
    interface IERC20Write {
        function approve(address spender, uint256 amount) external returns (bool);
    }
}

/// The `transferWithAuthorization(from, to, value, validAfter, validBefore, nonce, v, r, s)`
/// transaction on `token` that executes a signed EIP-3009 authorization (the `(v, r, s)` form
/// every FiatToken version has).
pub fn transfer_with_authorization_tx(
    token: Address,
    auth: &ExactAuthorization,
    (v, r, s): (u8, B256, B256),
) -> TransactionRequest {
    let call = IEIP3009::transferWithAuthorizationCall {
        from: auth.from,
        to: auth.to,
        value: auth.value,
        validAfter: U256::from(auth.valid_after),
        validBefore: U256::from(auth.valid_before),
        nonce: auth.nonce,
        v,
        r,
        s,
    };
    TransactionRequest::default()
        .with_to(token)
        .with_input(call.abi_encode())
}

/// One `Deposited` event of a TreasuryVault: credit `amount` to `buyer`. `(tx_hash, position)`
/// identifies it, and keeps identifying it when a reorg re-includes the transaction at another
/// place in another block (`log_index`, the block-level index, then changes): use it as the
/// ledger idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    pub tx_hash: TxHash,
    /// The log's position among its transaction's logs.
    pub position: u64,
    /// The log's index in its block (informational: it moves with a reorg).
    pub log_index: u64,
    pub block_number: u64,
    pub buyer: Address,
    pub amount: U256,
}

impl ChainClient {
    /// Sends `call` to `to` and waits for the configured confirmations; reverts are decoded
    /// against the vault and token errors.
    async fn transact<C: SolCall>(
        &self,
        to: Address,
        call: C,
    ) -> Result<TransactionReceipt, ChainError> {
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(call.abi_encode());
        self.send_and_confirm(tx).await.map_err(map_revert)
    }

    // ------------------------------------------------------------------------ x402 / EIP-3009

    /// Settles a verified x402 payment: `transferWithAuthorization(…, v, r, s)` on `token`, sent
    /// by this client's key (the facilitator; it pays the gas). Checks first, without sending:
    /// `authorizationState` → [`ChainError::AuthorizationAlreadyUsed`], the payer's balance →
    /// [`ChainError::InsufficientBalance`]. Returns the hash once confirmed.
    ///
    /// Two concurrent settlements of the same authorization can both pass the checks; the loser
    /// then fails (estimate → `AuthorizationAlreadyUsed`, or on-chain → `TxReverted`). Callers
    /// should also dedupe on `(from, nonce)` in their ledger.
    pub async fn settle_transfer_with_authorization(
        &self,
        token: Address,
        auth: &ExactAuthorization,
        signature: &Signature,
    ) -> Result<TxHash, ChainError> {
        if self
            .authorization_state(token, auth.from, auth.nonce)
            .await?
        {
            return Err(ChainError::AuthorizationAlreadyUsed {
                authorizer: auth.from,
                nonce: auth.nonce,
            });
        }
        let balance = self.token_balance(token, auth.from).await?;
        if balance < auth.value {
            return Err(ChainError::InsufficientBalance {
                payer: auth.from,
                balance,
                required: auth.value,
            });
        }
        let vrs = (
            27 + signature.v() as u8,
            B256::from(signature.r()),
            B256::from(signature.s()),
        );
        let tx = transfer_with_authorization_tx(token, auth, vrs);
        let receipt = self
            .send_and_confirm(tx)
            .await
            .map_err(map_revert)
            .map_err(|e| match e {
                ChainError::Reverted { ref reason, .. } if is_used_authorization(reason) => {
                    ChainError::AuthorizationAlreadyUsed {
                        authorizer: auth.from,
                        nonce: auth.nonce,
                    }
                }
                ChainError::Reverted { ref reason, .. }
                    if reason.contains("ERC20InsufficientBalance")
                        || reason.contains("exceeds balance") =>
                {
                    ChainError::InsufficientBalance {
                        payer: auth.from,
                        balance,
                        required: auth.value,
                    }
                }
                other => other,
            })?;
        Ok(receipt.transaction_hash)
    }

    // ------------------------------------------------------------------------ deposits

    /// The `Deposited` events that transaction `tx_hash` emitted from `vault`, once it has at
    /// least `min_confirmations` (1 = mined). Errors: [`ChainError::TxNotFound`],
    /// [`ChainError::TxReverted`], [`ChainError::NotEnoughConfirmations`],
    /// [`ChainError::NotFromVault`] (no `Deposited` log of that vault — events of other
    /// contracts with the same signature are ignored).
    pub async fn find_deposit(
        &self,
        vault: Address,
        tx_hash: TxHash,
        min_confirmations: u64,
    ) -> Result<Vec<Deposit>, ChainError> {
        let receipt = self
            .receipt(tx_hash)
            .await?
            .ok_or(ChainError::TxNotFound(tx_hash))?;
        let block_number = receipt.block_number.unwrap_or_default();
        if !receipt.status() {
            return Err(ChainError::TxReverted {
                tx_hash,
                block: block_number,
            });
        }
        let have = self.confirmations_of(&receipt).await?;
        let need = min_confirmations.max(1);
        if have < need {
            return Err(ChainError::NotEnoughConfirmations {
                tx_hash,
                have,
                need,
            });
        }
        let mut deposits = Vec::new();
        for (position, log) in receipt.logs().iter().enumerate() {
            if log.address() != vault
                || log.topic0() != Some(&TreasuryVault::Deposited::SIGNATURE_HASH)
            {
                continue;
            }
            let event = TreasuryVault::Deposited::decode_log_data(log.data())
                .map_err(|e| ChainError::Abi(format!("Deposited log: {e}")))?;
            deposits.push(Deposit {
                tx_hash,
                position: position as u64,
                log_index: log.log_index.unwrap_or_default(),
                block_number,
                buyer: event.buyer,
                amount: event.amount,
            });
        }
        if deposits.is_empty() {
            return Err(ChainError::NotFromVault { tx_hash, vault });
        }
        Ok(deposits)
    }

    /// `token.approve(spender, amount)` from this client's key (a payer approving Permit2, tests).
    pub async fn approve(
        &self,
        token: Address,
        spender: Address,
        amount: U256,
    ) -> Result<TxHash, ChainError> {
        Ok(self
            .transact(token, IERC20Write::approveCall { spender, amount })
            .await?
            .transaction_hash)
    }

    /// Buyer side (demo clients, tests): `approve(vault, amount)` then `deposit(amount)`; returns
    /// the deposit transaction's hash.
    pub async fn approve_and_deposit(
        &self,
        token: Address,
        vault: Address,
        amount: U256,
    ) -> Result<TxHash, ChainError> {
        self.transact(
            token,
            IERC20Write::approveCall {
                spender: vault,
                amount,
            },
        )
        .await?;
        Ok(self
            .transact(vault, TreasuryVault::depositCall { amount })
            .await?
            .transaction_hash)
    }

    // ------------------------------------------------------------------------ payouts

    /// `PayoutVault.payout(to, amount, batchId)` (payout operator key). A used `batch_id` is
    /// [`ChainError::BatchAlreadyExecuted`] (nothing is sent).
    pub async fn payout(
        &self,
        vault: Address,
        to: Address,
        amount: U256,
        batch_id: B256,
    ) -> Result<TxHash, ChainError> {
        let call = PayoutVault::payoutCall {
            to,
            amount,
            batchId: batch_id,
        };
        Ok(self.transact(vault, call).await?.transaction_hash)
    }

    /// Whether `batch_id` has paid out.
    pub async fn executed_batch(&self, vault: Address, batch_id: B256) -> Result<bool, ChainError> {
        self.call(
            vault,
            PayoutVault::executedBatchIdsCall { batchId: batch_id },
        )
        .await
    }

    /// `TreasuryVault.fundPayoutVault(amount)` (treasury operator key): pool → the PayoutVault.
    pub async fn fund_payout_vault(
        &self,
        treasury: Address,
        amount: U256,
    ) -> Result<TxHash, ChainError> {
        Ok(self
            .transact(treasury, TreasuryVault::fundPayoutVaultCall { amount })
            .await?
            .transaction_hash)
    }

    // ------------------------------------------------------------------------ buyer withdrawals

    /// `TreasuryVault.operatorWithdraw(to, amount, withdrawalId)` (treasury operator key): pays
    /// a buyer withdrawal already debited in the ledger. A used id is
    /// [`ChainError::WithdrawalAlreadyExecuted`].
    pub async fn operator_withdraw(
        &self,
        treasury: Address,
        to: Address,
        amount: U256,
        withdrawal_id: B256,
    ) -> Result<TxHash, ChainError> {
        let call = TreasuryVault::operatorWithdrawCall {
            to,
            amount,
            withdrawalId: withdrawal_id,
        };
        Ok(self.transact(treasury, call).await?.transaction_hash)
    }

    /// `TreasuryVault.release(user, amount, withdrawalId)`: the pull variant — credits the
    /// user's on-contract balance, which only they can `withdraw`. Shares the id space with
    /// [`Self::operator_withdraw`].
    pub async fn release(
        &self,
        treasury: Address,
        user: Address,
        amount: U256,
        withdrawal_id: B256,
    ) -> Result<TxHash, ChainError> {
        let call = TreasuryVault::releaseCall {
            user,
            amount,
            withdrawalId: withdrawal_id,
        };
        Ok(self.transact(treasury, call).await?.transaction_hash)
    }

    /// Whether `withdrawal_id` was used by `operatorWithdraw` or `release`.
    pub async fn executed_withdrawal(
        &self,
        treasury: Address,
        withdrawal_id: B256,
    ) -> Result<bool, ChainError> {
        self.call(
            treasury,
            TreasuryVault::executedWithdrawalIdsCall {
                withdrawalId: withdrawal_id,
            },
        )
        .await
    }

    /// Deposits not yet paid out, funded out, released or rescued (backs off-chain balances).
    pub async fn pool_balance(&self, treasury: Address) -> Result<U256, ChainError> {
        self.call(treasury, TreasuryVault::poolBalanceCall {}).await
    }

    /// The vault's current operator (either vault type).
    pub async fn vault_operator(&self, vault: Address) -> Result<Address, ChainError> {
        self.call(vault, PayoutVault::operatorCall {}).await
    }
}

/// A revert reason that says an EIP-3009 authorization was already used.
pub fn is_used_authorization(reason: &str) -> bool {
    // MockUSDC (OpenZeppelin) custom error, or Circle USDC's revert string.
    reason.contains("ERC3009UsedAuthorization") || reason.contains("authorization is used")
}

/// Turns [`ChainError::Reverted`] carrying a vault or token custom error into the typed variant;
/// otherwise names the decoded error in `reason`.
fn map_revert(e: ChainError) -> ChainError {
    let ChainError::Reverted { reason, data } = e else {
        return e;
    };
    let Some(bytes) = data.as_ref() else {
        return ChainError::Reverted { reason, data };
    };
    if let Ok(err) = PayoutVault::PayoutVaultErrors::abi_decode(bytes) {
        use PayoutVault::PayoutVaultErrors as P;
        return match err {
            P::BatchAlreadyExecuted(x) => ChainError::BatchAlreadyExecuted(x.batchId),
            P::NotOperator(x) => ChainError::NotOperator { caller: x.caller },
            P::EnforcedPause(_) => ChainError::Paused,
            other => ChainError::Reverted {
                reason: format!("PayoutVault: {other:?}"),
                data,
            },
        };
    }
    if let Ok(err) = TreasuryVault::TreasuryVaultErrors::abi_decode(bytes) {
        use TreasuryVault::TreasuryVaultErrors as T;
        return match err {
            T::WithdrawalAlreadyExecuted(x) => {
                ChainError::WithdrawalAlreadyExecuted(x.withdrawalId)
            }
            T::InsufficientBalance(x) => ChainError::VaultInsufficient {
                available: x.available,
                requested: x.requested,
            },
            T::NotOperator(x) => ChainError::NotOperator { caller: x.caller },
            T::EnforcedPause(_) => ChainError::Paused,
            other => ChainError::Reverted {
                reason: format!("TreasuryVault: {other:?}"),
                data,
            },
        };
    }
    if let Ok(err) = MockUSDC::MockUSDCErrors::abi_decode(bytes) {
        return ChainError::Reverted {
            reason: format!("token: {err:?}"),
            data,
        };
    }
    ChainError::Reverted { reason, data }
}

/// Decodes raw revert data against all known errors, for logs (`None` if unknown).
pub fn describe_revert(data: &Bytes) -> Option<String> {
    match map_revert(ChainError::Reverted {
        reason: String::new(),
        data: Some(data.clone()),
    }) {
        ChainError::Reverted { reason, .. } if reason.is_empty() => {
            alloy::sol_types::decode_revert_reason(data)
        }
        other => Some(other.to_string()),
    }
}
