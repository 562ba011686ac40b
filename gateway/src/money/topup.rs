//! Money in: x402 top-ups (`POST /v1/topup`), TreasuryVault deposits (`POST /v1/deposits`)
//! and their history (`GET /v1/topups/:wallet`).
//!
//! A top-up follows x402 (v1 `X-PAYMENT`, v2 `PAYMENT-SIGNATURE`): without a payment the answer
//! is 402 with the requirements; with one, the EIP-3009 authorization is verified (pure checks
//! in [`tollgate_chain::x402`]), written to the ledger as `pending`, settled by sending
//! `transferWithAuthorization` from the operator key, and credited once confirmed. Every step
//! after the ledger row is recoverable by [`crate::credit_reconciler`].

use crate::account_api::{ledger_error, read_json, reply, Accounts};
use crate::api_error::{respond_json_with, ApiError};
use crate::onchain::OnChain;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, TxHash, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use bytes::Bytes;
use http::HeaderValue;
use pingora::proxy::Session;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use tollgate_billing::ledger::{Begun, Ledger};
use tollgate_billing::{MicroUsdc, Price};
use tollgate_chain::contracts::{TreasuryVault, IEIP3009};
use tollgate_chain::x402::{self, ExactRequirements, PaymentError, PaymentPayload, VerifiedAuthorization};
use tollgate_chain::ChainError;

/// `POST /v1/topup {"amount": 5}` (USD).
pub async fn topup(session: &mut Session, accounts: &Accounts) -> pingora::Result<()> {
    let chain = match accounts.chain() {
        Ok(c) => c,
        Err(e) => return reply(session, 200, Err(e)).await,
    };
    let answer = match topup_answer(session, accounts, chain).await {
        Ok(a) => a,
        Err(e) => return reply(session, 200, Err(e)).await,
    };
    let headers: Vec<(&'static str, HeaderValue)> = answer
        .headers
        .into_iter()
        .filter_map(|(k, v)| HeaderValue::from_str(&v).ok().map(|v| (k, v)))
        .collect();
    respond_json_with(
        session,
        answer.status,
        Bytes::from(answer.body.to_string()),
        None,
        false,
        &headers,
    )
    .await
}

/// A response with x402 headers.
struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

fn requirements(chain: &OnChain, amount: MicroUsdc) -> ExactRequirements {
    ExactRequirements {
        network: chain.network.clone(),
        asset: chain.usdc,
        pay_to: chain.treasury_vault,
        amount: U256::from(amount as u64),
        max_timeout_seconds: chain.settings.max_timeout_seconds,
        resource: chain.topup_resource.clone(),
        description: format!("Tollgate prepaid balance top-up of {} USDC", usdc_text(amount)),
        mime_type: "application/json".into(),
    }
}

/// 402 with the requirements: the v1 body plus the v2 `PAYMENT-REQUIRED` header. `code` is the
/// machine-readable reason (x402's `invalidReason` when a payment was refused).
fn payment_required(chain: &OnChain, req: &ExactRequirements, code: &str, message: &str) -> Answer {
    let v1 = x402::payment_required_v1(message, vec![req.to_v1(&chain.token)]);
    let mut body = serde_json::to_value(&v1).expect("x402 types serialize");
    // The gateway's error shape alongside x402's: `error` is the code, `message` the reason.
    body["error"] = json!(code);
    body["message"] = json!(message);
    let v2 = x402::payment_required_v2(message, req.resource_info(), vec![req.to_v2(&chain.token)]);
    Answer {
        status: 402,
        body,
        headers: vec![("payment-required", x402::encode_header(&v2))],
    }
}

async fn topup_answer(
    session: &mut Session,
    accounts: &Accounts,
    chain: &OnChain,
) -> Result<Answer, ApiError> {
    let header = |name: &str| {
        session
            .req_header()
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let payment = header("x-payment").or_else(|| header("payment-signature"));
    let body = read_json(session).await?;
    let amount = topup_amount(&body, chain)?;
    let req = requirements(chain, amount);
    let Some(payment) = payment else {
        return Ok(payment_required(
            chain,
            &req,
            "PAYMENT_REQUIRED",
            "X-PAYMENT header is required",
        ));
    };
    let payload = x402::decode_payment_header(&payment).map_err(|e| {
        ApiError::new(400, "INVALID_PAYMENT", format!("{e}"))
    })?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let verified = match x402::verify_exact_payment(&payload, &req, &chain.token, now) {
        Ok(v) => v,
        Err(e @ PaymentError::DomainMismatch(_)) => {
            log::error!("x402 configuration error: {e}");
            return Err(ApiError::new(500, "INTERNAL_ERROR", "payment configuration error"));
        }
        Err(e) => return Ok(payment_required(chain, &req, e.reason(), &e.to_string())),
    };
    settle(&accounts.ledger, chain, &req, &payload, &verified, amount).await
}

/// USD amount of the top-up, checked against the configured bounds (400 before any 402).
fn topup_amount(body: &Value, chain: &OnChain) -> Result<MicroUsdc, ApiError> {
    let text = match body.get("amount") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(ApiError::validation(
                "amount (USD) is required, e.g. {\"amount\": 5}",
            ))
        }
    };
    let micro = Price::parse_usd(&text)
        .ok()
        .map(|p| p.micros_per_million())
        .filter(|m| *m > 0 && *m <= i64::MAX as u64)
        .ok_or_else(|| {
            ApiError::validation(format!(
                "amount {text:?} must be a positive USD amount with at most 6 decimals"
            ))
        })? as MicroUsdc;
    let s = &chain.settings;
    if micro < s.topup_min {
        return Err(ApiError::validation(format!(
            "amount must be at least {} USD",
            usdc_text(s.topup_min)
        )));
    }
    if micro > s.topup_max {
        return Err(ApiError::validation(format!(
            "amount must be at most {} USD",
            usdc_text(s.topup_max)
        )));
    }
    Ok(micro)
}

/// The ledger id of an x402 payment: the chain's own identity of the authorization.
pub fn topup_id(chain: &OnChain, payer: Address, nonce: alloy::primitives::B256) -> String {
    format!("x402:{}:{:#x}:{payer:#x}:{nonce:#x}", chain.chain_id, chain.usdc)
}

async fn settle(
    ledger: &Ledger,
    chain: &OnChain,
    req: &ExactRequirements,
    payload: &PaymentPayload,
    v: &VerifiedAuthorization,
    amount: MicroUsdc,
) -> Result<Answer, ApiError> {
    let payer = v.payer();
    let auth = &v.authorization;
    let id = topup_id(chain, payer, auth.nonce);
    let wallet = format!("{payer:#x}");
    let refuse = |code: &str, message: String| Ok(payment_required(chain, req, code, &message));
    match ledger.begin_topup(&id, &wallet, amount).await.map_err(ledger_error)? {
        Begun::New => {}
        Begun::Seen(row) if row.status == "pending" => {
            return Err(ApiError::new(
                409,
                "PAYMENT_IN_PROGRESS",
                "This payment is already being settled; check GET /v1/topups/:wallet",
            ))
        }
        Begun::Seen(_) => {
            return refuse(
                "invalid_exact_evm_payload_authorization_nonce",
                "This payment authorization was already used".into(),
            )
        }
    }
    let unavailable = |e: ChainError| {
        log::warn!("x402 settlement: {e}");
        ApiError::new(503, "CHAIN_UNAVAILABLE", "The chain could not be reached; retry shortly")
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
        if client.authorization_state(chain.usdc, payer, auth.nonce).await? {
            return Ok(Some((
                "invalid_exact_evm_payload_authorization_nonce",
                "This payment authorization was already used or canceled".to_string(),
            )));
        }
        let balance = client.token_balance(chain.usdc, payer).await?;
        if balance < auth.value {
            return Ok(Some((
                "insufficient_funds",
                format!("The payer holds {balance} USDC units, the payment needs {}", auth.value),
            )));
        }
        Ok::<_, ChainError>(None)
    };
    match pre.await {
        Ok(None) => {}
        Ok(Some((code, message))) => {
            let _ = ledger.fail_credit(&id, &message).await;
            return refuse(code, message);
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
            return Err(ApiError::new(
                503,
                "CHAIN_UNAVAILABLE",
                "The payment could not be confirmed; if it settles it will be credited (GET /v1/topups/:wallet)",
            ));
        }
        Err(e) => {
            let _ = ledger.fail_credit(&id, &e.to_string()).await;
            return refuse("unexpected_settle_error", format!("Settlement refused by the token: {e}"));
        }
    };
    let hash_text = format!("{tx_hash:#x}");
    ledger.set_credit_tx(&id, &hash_text).await.map_err(ledger_error)?;
    match client
        .wait_for_confirmations(tx_hash, chain.settings.confirmations)
        .await
    {
        Ok(receipt) if receipt.status() => {}
        Ok(_) | Err(ChainError::TxReverted { .. }) => {
            let _ = ledger.fail_credit(&id, "settlement transaction reverted").await;
            return refuse(
                "unexpected_settle_error",
                format!("The settlement transaction {hash_text} reverted"),
            );
        }
        Err(e) => {
            log::warn!("x402 settlement of {id}: {e}");
            return Err(ApiError::new(
                504,
                "CHAIN_TIMEOUT",
                format!("Payment sent ({hash_text}) but not confirmed yet; it will be credited once it is (GET /v1/topups/:wallet)"),
            ));
        }
    }
    let credited = ledger
        .complete_credit(&id, &format!("x402 top-up {hash_text}"))
        .await
        .map_err(ledger_error)?;
    // Count the payment into the vault's pool; if this fails the reconciler retries it.
    if let Err(e) = record_top_up(chain, &id, payer, amount).await {
        log::warn!("recordTopUp for {id} deferred: {e}");
    } else {
        let _ = ledger.mark_vault_recorded(&id).await;
    }
    let settled = x402::SettlementResponse::success(tx_hash, payload.network(), payer).to_header();
    let header = if payload.x402_version() == 1 {
        "x-payment-response"
    } else {
        "payment-response"
    };
    Ok(Answer {
        status: 200,
        body: json!({
            "wallet": wallet,
            "credited_usdc": amount,
            "balance_usdc": credited.balance,
            "tx_hash": hash_text,
        }),
        headers: vec![(header, settled)],
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

/// `POST /v1/deposits {"tx_hash"}` by the depositor (API key, or SIWE `message`/`signature` in
/// the body): credits each `Deposited` event of the configured TreasuryVault in that
/// transaction to its buyer, once (idempotent on tx hash + log index).
pub async fn deposit(session: &mut Session, accounts: &Accounts) -> pingora::Result<()> {
    let result = async {
        let chain = accounts.chain()?;
        let body = read_json(session).await?;
        let field = |k: &str| body.get(k).and_then(Value::as_str);
        let caller = match (field("message"), field("signature")) {
            (None, None) => accounts.caller_wallet(session).await?,
            (m, s) => accounts.siwe_wallet(m.unwrap_or(""), s.unwrap_or("")).await?,
        };
        let tx_hash: TxHash = field("tx_hash")
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| ApiError::validation("tx_hash must be a 0x-prefixed 32-byte hex hash"))?;
        let client = chain.client().await.map_err(chain_error)?;
        let found = client
            .find_deposit(chain.treasury_vault, tx_hash, chain.settings.confirmations)
            .await
            .map_err(chain_error)?;
        let mine: Vec<_> = found
            .iter()
            .filter(|d| format!("{:#x}", d.buyer) == caller)
            .collect();
        if mine.is_empty() {
            return Err(ApiError::new(
                403,
                "FORBIDDEN",
                "This transaction's deposit was made by another wallet",
            ));
        }
        let (mut credited, mut balance, mut rows) = (0i64, 0i64, Vec::new());
        for d in mine {
            let amount = i64::try_from(d.amount)
                .map_err(|_| ApiError::validation("deposit amount out of range"))?;
            let id = format!("deposit:{}:{:#x}:{}", chain.chain_id, d.tx_hash, d.log_index);
            let r = accounts
                .ledger
                .credit_deposit(&id, &caller, amount, &format!("{:#x}", d.tx_hash))
                .await
                .map_err(ledger_error)?;
            if r.applied {
                credited += amount;
            }
            balance = r.balance;
            rows.push(json!({"log_index": d.log_index, "amount_usdc": amount, "newly_credited": r.applied}));
        }
        Ok(json!({
            "wallet": caller,
            "tx_hash": format!("{tx_hash:#x}"),
            "credited_usdc": credited,
            "balance_usdc": balance,
            "deposits": rows,
        }))
    }
    .await;
    reply(session, 200, result).await
}

/// `GET /v1/topups/:wallet` (the wallet's API key or SIWE): top-ups and deposits with their
/// transaction hashes, newest first.
pub async fn history(
    session: &mut Session,
    accounts: &Accounts,
    wallet: &str,
) -> pingora::Result<()> {
    let result = async {
        let wallet = accounts.caller_owns(session, wallet).await?;
        let rows = accounts
            .ledger
            .credit_history(&wallet, 100)
            .await
            .map_err(ledger_error)?;
        Ok(json!({ "wallet": wallet, "data": rows }))
    }
    .await;
    reply(session, 200, result).await
}

/// Chain errors a client can act on get their own status; the rest are 503.
fn chain_error(e: ChainError) -> ApiError {
    match e {
        ChainError::TxNotFound(h) => {
            ApiError::new(404, "NOT_FOUND", format!("No mined transaction {h:#x}"))
        }
        ChainError::NotEnoughConfirmations { .. } => ApiError::new(
            409,
            "NOT_CONFIRMED",
            format!("{e}; retry once it has enough confirmations"),
        ),
        ChainError::TxReverted { .. } | ChainError::NotFromVault { .. } => {
            ApiError::validation(e.to_string())
        }
        other => {
            log::warn!("chain: {other}");
            ApiError::new(503, "CHAIN_UNAVAILABLE", "The chain could not be reached; retry shortly")
        }
    }
}

/// `5000000` µUSDC → `"5"`, `1500000` → `"1.5"`.
fn usdc_text(micro: MicroUsdc) -> String {
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
