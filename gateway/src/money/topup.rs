//! Money in through x402 (EIP-3009 `transferWithAuthorization`): settle a verified payment on
//! chain and credit it once.
//!
//! The caller (the `POST /v1/topup` handler) has decoded the payment header and verified it
//! without I/O ([`tollgate_chain::x402::verify_exact_payment`]). [`settle`] then writes the
//! ledger row `pending` **before** anything is sent, checks the chain, sends the transfer from
//! the operator key, waits for confirmations and credits the wallet — every step after the row
//! is recoverable by the credit reconciler (`jobs::credit_reconciler`).
//!
//! The amount credited is always the value of the USDC transfer the authorization executed,
//! read from the settling transaction's receipt ([`authorized_transfer`]) — never the amount
//! of the request, nor of an earlier attempt with the same nonce. When another transaction
//! used the authorization first (front-run, or an earlier send of ours), that transaction's
//! transfer is what is credited, if it paid the vault.

use super::ids;
use super::onchain::OnChain;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, TxHash, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use tollgate_billing::ledger::{Begun, Ledger, LedgerError};
use tollgate_billing::MicroUsdc;
use tollgate_chain::contracts::{
    is_used_authorization, transfer_with_authorization_tx, TreasuryVault,
};
use tollgate_chain::transfers::{authorized_transfer, AuthorizedTransfer};
use tollgate_chain::x402::{ExactRequirements, VerifiedAuthorization};
use tollgate_chain::{ChainClient, ChainError};

/// A settled and credited top-up.
#[derive(Debug)]
pub struct TopUpCredited {
    pub wallet: String,
    /// What reached the vault on chain (the settling transaction's transfer), micro-USDC.
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
    /// The same payment is being settled right now, or another transaction that used the
    /// authorization is not final yet: the reconciler credits it if it paid the vault.
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
    /// Permit2: the payer has not approved Permit2 for this token (x402's 412
    /// `PERMIT2_ALLOWANCE_REQUIRED`); nothing was sent.
    AllowanceRequired {
        message: String,
    },
    Ledger(LedgerError),
}

impl From<LedgerError> for TopUpRefused {
    fn from(e: LedgerError) -> Self {
        TopUpRefused::Ledger(e)
    }
}

/// How far back a used authorization's transaction is looked for (an authorization lives at
/// most `max_timeout_seconds`; providers cap `eth_getLogs` ranges).
pub const LOOKBACK_BLOCKS: u64 = 50_000;

pub(super) const USED: &str = "invalid_exact_evm_payload_authorization_nonce";

/// The x402 `exact` offer for a top-up of `amount` micro-USD on `chain` (in its token's units).
pub fn requirements(chain: &OnChain, amount: MicroUsdc) -> ExactRequirements {
    ExactRequirements {
        network: chain.network.clone(),
        asset: chain.asset,
        pay_to: chain.treasury_vault,
        amount: chain.units(amount),
        max_timeout_seconds: chain.settings.max_timeout_seconds,
        resource: chain.topup_resource.clone(),
        description: format!(
            "Tollgate prepaid balance top-up of {} USD in {}",
            usdc_text(amount),
            chain.describe()
        ),
        mime_type: "application/json".into(),
    }
}

/// Settle a verified payment of `amount` and credit what it moved.
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
    match ledger
        .begin_topup(&id, &wallet, amount, &chain.rail())
        .await?
    {
        Begun::New => {}
        Begun::Seen(row) if row.status == "pending" => return Err(TopUpRefused::InProgress),
        Begun::Seen(_) => {
            return Err(refuse(
                USED,
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
            let _ = ledger.fail_credit(&id, &e.client_text()).await;
            return Err(unavailable(e));
        }
    };
    // Checks that need the chain, before anything is sent.
    enum Before {
        Send,
        Used,
        Short(U256),
    }
    let before = async {
        if client
            .authorization_state(chain.asset, payer, auth.nonce)
            .await?
        {
            return Ok(Before::Used);
        }
        let balance = client.token_balance(chain.asset, payer).await?;
        Ok::<_, ChainError>(if balance < auth.value {
            Before::Short(balance)
        } else {
            Before::Send
        })
    };
    match before.await {
        Ok(Before::Send) => {}
        // Already used on chain (front-run, or an earlier attempt of ours): what it moved to
        // the vault is this top-up.
        Ok(Before::Used) => {
            return used_elsewhere(ledger, chain, client, &id, payer, auth.nonce).await
        }
        Ok(Before::Short(balance)) => {
            let message = format!(
                "The payer holds {balance} {} units, the payment needs {}",
                chain.symbol, auth.value
            );
            let _ = ledger.fail_credit(&id, &message).await;
            return Err(refuse("insufficient_funds", message));
        }
        Err(e) => {
            let _ = ledger.fail_credit(&id, &e.client_text()).await;
            return Err(unavailable(e));
        }
    }
    let tx = transfer_with_authorization_tx(chain.asset, auth, v.vrs());
    let tx_hash = match client.send(tx).await {
        Ok(h) => h,
        Err(e @ ChainError::Rpc { .. }) => {
            // May or may not have reached the node: the reconciler decides from the chain.
            log::warn!("x402 settlement of {id}: {e}");
            return Err(TopUpRefused::ChainUnavailable { maybe_sent: true });
        }
        // The estimate found it used: someone sent it between our check and our send.
        Err(ChainError::Reverted { ref reason, .. }) if is_used_authorization(reason) => {
            return used_elsewhere(ledger, chain, client, &id, payer, auth.nonce).await
        }
        Err(e) => {
            let _ = ledger.fail_credit(&id, &e.client_text()).await;
            return Err(refuse(
                "unexpected_settle_error",
                format!("Settlement refused by the token: {}", e.client_text()),
            ));
        }
    };
    let hash_text = format!("{tx_hash:#x}");
    ledger.set_credit_tx(&id, &hash_text).await?;
    match client
        .wait_for_confirmations(tx_hash, chain.settings.confirmations)
        .await
    {
        Ok(receipt) => match authorized_transfer(&receipt, chain.asset, payer, auth.nonce) {
            Some(t) => credit_transfer(ledger, chain, &id, payer, t).await,
            // Reverted (or did not use it): another transaction used it first, or nothing moved.
            None => used_elsewhere(ledger, chain, client, &id, payer, auth.nonce).await,
        },
        Err(ChainError::TxReverted { .. }) => {
            used_elsewhere(ledger, chain, client, &id, payer, auth.nonce).await
        }
        Err(e) => {
            log::warn!("x402 settlement of {id}: {e}");
            Err(TopUpRefused::NotConfirmed { tx_hash })
        }
    }
}

/// The authorization of row `id` is used on chain, by a transaction other than a confirmed
/// one of ours: find it and credit what it moved to the vault. Nothing found yet (canceled, or
/// a transaction not mined yet): the row stays pending for the reconciler, which concludes.
async fn used_elsewhere(
    ledger: &Ledger,
    chain: &OnChain,
    client: &ChainClient,
    id: &str,
    payer: Address,
    nonce: alloy::primitives::B256,
) -> Result<TopUpCredited, TopUpRefused> {
    let unavailable = |e: ChainError| {
        log::warn!("x402 settlement of {id}: {e}");
        TopUpRefused::ChainUnavailable { maybe_sent: true }
    };
    let Some(tx) = client
        .authorization_used_by(chain.asset, payer, nonce, LOOKBACK_BLOCKS)
        .await
        .map_err(unavailable)?
    else {
        return Err(TopUpRefused::InProgress);
    };
    match client
        .authorized_transfer_in(tx, chain.asset, payer, nonce, chain.settings.confirmations)
        .await
    {
        Ok(Some(t)) => credit_transfer(ledger, chain, id, payer, t).await,
        Ok(None) => Err(TopUpRefused::InProgress),
        Err(ChainError::NotEnoughConfirmations { .. }) => Err(TopUpRefused::InProgress),
        Err(e) => Err(unavailable(e)),
    }
}

/// Credit what an authorization moved: its transfer's value when it went to the vault
/// (once, by the row id), nothing when it went anywhere else (the row fails).
pub async fn credit_transfer(
    ledger: &Ledger,
    chain: &OnChain,
    id: &str,
    payer: Address,
    t: AuthorizedTransfer,
) -> Result<TopUpCredited, TopUpRefused> {
    let hash_text = format!("{:#x}", t.tx_hash);
    let moved = chain.micro(t.value);
    if t.to != chain.treasury_vault || moved <= 0 {
        let why = format!(
            "the authorization was used in {hash_text} for {} units to {:#x}, not this gateway's vault",
            t.value, t.to
        );
        let _ = ledger.fail_credit(id, &why).await;
        return Err(TopUpRefused::Payment {
            code: USED,
            message: format!("This payment authorization was already used: {why}"),
        });
    }
    let credited = ledger
        .credit_moved(
            id,
            moved,
            &hash_text,
            &format!("x402 top-up in {} {hash_text}", chain.describe()),
        )
        .await?;
    // Count the payment into the vault's pool; if this fails the reconciler retries it.
    match record_top_up(chain, id, payer, chain.units(moved)).await {
        Ok(()) => {
            let _ = ledger.mark_vault_recorded(id).await;
        }
        Err(e) => log::warn!("recordTopUp for {id} deferred: {e}"),
    }
    Ok(TopUpCredited {
        wallet: format!("{payer:#x}"),
        credited: moved,
        balance: credited.balance,
        tx_hash: t.tx_hash,
    })
}

/// `TreasuryVault.recordTopUp(buyer, units, keccak256(id))` — moves the transferred tokens
/// from the vault's surplus into its pool, once per top-up.
pub async fn record_top_up(
    chain: &OnChain,
    id: &str,
    buyer: Address,
    units: U256,
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
        amount: units,
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
