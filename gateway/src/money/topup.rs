//! Money in through x402 (EIP-3009 `transferWithAuthorization`): settle a verified payment on
//! chain and credit it once.
//!
//! The caller (the `POST /v1/topup` handler) has decoded the payment header and verified it
//! without I/O ([`tollgate_chain::x402::verify_exact_payment`]). [`settle`] then writes the
//! ledger row `pending` **before** anything is sent, checks the chain, sends the transfer from
//! the operator key, waits for confirmations and credits the wallet — every step after the row
//! is recoverable by the credit reconciler (`jobs::credit_reconciler`).

use super::ids;
use super::onchain::OnChain;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, TxHash, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use tollgate_billing::ledger::{Begun, Ledger, LedgerError};
use tollgate_billing::MicroUsdc;
use tollgate_chain::contracts::{TreasuryVault, IEIP3009};
use tollgate_chain::x402::{ExactRequirements, VerifiedAuthorization};
use tollgate_chain::ChainError;

/// A settled and credited top-up.
#[derive(Debug)]
pub struct TopUpCredited {
    pub wallet: String,
    pub credited: MicroUsdc,
    pub balance: MicroUsdc,
    pub tx_hash: TxHash,
}

/// Why a top-up was not credited (now).
#[derive(Debug)]
pub enum TopUpRefused {
    /// The payment itself is refused (x402 402): `code` is x402's `invalidReason`.
    Payment {
        code: &'static str,
        message: String,
    },
    /// The same payment is being settled right now.
    InProgress,
    /// The chain could not be reached. `maybe_sent`: the transfer may have reached the node
    /// (the reconciler decides from the chain); otherwise nothing was sent.
    ChainUnavailable {
        maybe_sent: bool,
    },
    /// Sent, not confirmed in time; the reconciler credits it once it confirms.
    NotConfirmed {
        tx_hash: TxHash,
    },
    Ledger(LedgerError),
}

impl From<LedgerError> for TopUpRefused {
    fn from(e: LedgerError) -> Self {
        TopUpRefused::Ledger(e)
    }
}

/// The x402 `exact` offer for a top-up of `amount`.
pub fn requirements(chain: &OnChain, amount: MicroUsdc) -> ExactRequirements {
    ExactRequirements {
        network: chain.network.clone(),
        asset: chain.usdc,
        pay_to: chain.treasury_vault,
        amount: U256::from(amount as u64),
        max_timeout_seconds: chain.settings.max_timeout_seconds,
        resource: chain.topup_resource.clone(),
        description: format!(
            "Tollgate prepaid balance top-up of {} USDC",
            usdc_text(amount)
        ),
        mime_type: "application/json".into(),
    }
}

/// Settle a verified payment of `amount` and credit it.
pub async fn settle(
    ledger: &Ledger,
    chain: &OnChain,
    v: &VerifiedAuthorization,
    amount: MicroUsdc,
) -> Result<TopUpCredited, TopUpRefused> {
    let payer = v.payer();
    let auth = &v.authorization;
    let id = ids::topup_id(chain, payer, auth.nonce);
    let wallet = format!("{payer:#x}");
    let refuse = |code: &'static str, message: String| TopUpRefused::Payment { code, message };
    match ledger.begin_topup(&id, &wallet, amount).await? {
        Begun::New => {}
        Begun::Seen(row) if row.status == "pending" => return Err(TopUpRefused::InProgress),
        Begun::Seen(_) => {
            return Err(refuse(
                "invalid_exact_evm_payload_authorization_nonce",
                "This payment authorization was already used".into(),
            ))
        }
    }
    let unavailable = |e: ChainError| {
        log::warn!("x402 settlement: {e}");
        TopUpRefused::ChainUnavailable { maybe_sent: false }
    };
    let client = match chain.client().await {
        Ok(c) => c,
        Err(e) => {
            let _ = ledger.fail_credit(&id, &e.to_string()).await;
            return Err(unavailable(e));
        }
    };
    // Checks that need the chain, before anything is sent.
    let pre = async {
        if client
            .authorization_state(chain.usdc, payer, auth.nonce)
            .await?
        {
            return Ok(Some((
                "invalid_exact_evm_payload_authorization_nonce",
                "This payment authorization was already used or canceled".to_string(),
            )));
        }
        let balance = client.token_balance(chain.usdc, payer).await?;
        if balance < auth.value {
            return Ok(Some((
                "insufficient_funds",
                format!(
                    "The payer holds {balance} USDC units, the payment needs {}",
                    auth.value
                ),
            )));
        }
        Ok::<_, ChainError>(None)
    };
    match pre.await {
        Ok(None) => {}
        Ok(Some((code, message))) => {
            let _ = ledger.fail_credit(&id, &message).await;
            return Err(refuse(code, message));
        }
        Err(e) => {
            let _ = ledger.fail_credit(&id, &e.to_string()).await;
            return Err(unavailable(e));
        }
    }
    let (v_byte, r, s) = v.vrs();
    let call = IEIP3009::transferWithAuthorizationCall {
        from: auth.from,
        to: auth.to,
        value: auth.value,
        validAfter: U256::from(auth.valid_after),
        validBefore: U256::from(auth.valid_before),
        nonce: auth.nonce,
        v: v_byte,
        r,
        s,
    };
    let tx = TransactionRequest::default()
        .with_to(chain.usdc)
        .with_input(call.abi_encode());
    let tx_hash = match client.send(tx).await {
        Ok(h) => h,
        Err(e @ ChainError::Rpc { .. }) => {
            // May or may not have reached the node: the reconciler decides from the chain.
            log::warn!("x402 settlement of {id}: {e}");
            return Err(TopUpRefused::ChainUnavailable { maybe_sent: true });
        }
        Err(e) => {
            let _ = ledger.fail_credit(&id, &e.to_string()).await;
            return Err(refuse(
                "unexpected_settle_error",
                format!("Settlement refused by the token: {e}"),
            ));
        }
    };
    let hash_text = format!("{tx_hash:#x}");
    ledger.set_credit_tx(&id, &hash_text).await?;
    match client
        .wait_for_confirmations(tx_hash, chain.settings.confirmations)
        .await
    {
        Ok(receipt) if receipt.status() => {}
        Ok(_) | Err(ChainError::TxReverted { .. }) => {
            let _ = ledger
                .fail_credit(&id, "settlement transaction reverted")
                .await;
            return Err(refuse(
                "unexpected_settle_error",
                format!("The settlement transaction {hash_text} reverted"),
            ));
        }
        Err(e) => {
            log::warn!("x402 settlement of {id}: {e}");
            return Err(TopUpRefused::NotConfirmed { tx_hash });
        }
    }
    let credited = ledger
        .complete_credit(&id, &format!("x402 top-up {hash_text}"))
        .await?;
    // Count the payment into the vault's pool; if this fails the reconciler retries it.
    if let Err(e) = record_top_up(chain, &id, payer, amount).await {
        log::warn!("recordTopUp for {id} deferred: {e}");
    } else {
        let _ = ledger.mark_vault_recorded(&id).await;
    }
    Ok(TopUpCredited {
        wallet,
        credited: amount,
        balance: credited.balance,
        tx_hash,
    })
}

/// `TreasuryVault.recordTopUp(buyer, amount, keccak256(id))` — moves the transferred USDC from
/// the vault's surplus into its pool, once per top-up.
pub async fn record_top_up(
    chain: &OnChain,
    id: &str,
    buyer: Address,
    amount: MicroUsdc,
) -> Result<(), ChainError> {
    let client = chain.client().await?;
    let top_up_id = alloy::primitives::keccak256(id.as_bytes());
    let recorded = client
        .call(
            chain.treasury_vault,
            TreasuryVault::recordedTopUpIdsCall { topUpId: top_up_id },
        )
        .await?;
    if recorded {
        return Ok(());
    }
    let call = TreasuryVault::recordTopUpCall {
        buyer,
        amount: U256::from(amount as u64),
        topUpId: top_up_id,
    };
    let tx = TransactionRequest::default()
        .with_to(chain.treasury_vault)
        .with_input(call.abi_encode());
    client.send_and_confirm(tx).await.map(|_| ())
}

/// `5000000` µUSDC → `"5"`, `1500000` → `"1.5"`.
pub fn usdc_text(micro: MicroUsdc) -> String {
    let whole = micro / 1_000_000;
    let frac = micro % 1_000_000;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:06}").trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn usdc_amounts_print_exactly() {
        assert_eq!(super::usdc_text(5_000_000), "5");
        assert_eq!(super::usdc_text(1_500_000), "1.5");
        assert_eq!(super::usdc_text(1), "0.000001");
    }
}
