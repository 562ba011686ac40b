//! Money in over HTTP: `POST /v1/topup` (x402), `POST /v1/deposits` (a TreasuryVault deposit
//! reported by its depositor) and `GET /v1/topups/:wallet` (their history).
//!
//! A top-up follows x402 (v1 `X-PAYMENT`, v2 `PAYMENT-SIGNATURE`): without a payment the answer
//! is 402 listing one offer per accepted asset on every configured chain ([`offers`]); with one,
//! the header is decoded and verified without I/O against the offer it names, and the offer's
//! settlement does the rest; its outcome becomes the answer here. A Permit2 payer who has not
//! approved Permit2 gets 412 `PERMIT2_ALLOWANCE_REQUIRED` (x402's answer for it).

use super::caller::ledger_error;
use super::Accounts;
use crate::money::deposits::{self, DepositRefused};
use crate::money::offers::{self, Offer};
use crate::money::topup::{usdc_text, TopUpRefused};
use crate::money::{ChainSet, OnChain};
use crate::wire::{read_json, reply, respond_error, respond_json_with, ApiError};
use alloy::primitives::TxHash;
use bytes::Bytes;
use http::HeaderValue;
use pingora::proxy::Session;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use tollgate_billing::{MicroUsdc, Price};
use tollgate_chain::x402::{self, PaymentError};
use tollgate_chain::ChainError;

/// `POST /v1/topup {"amount": 5}` (USD).
pub async fn topup(session: &mut Session, accounts: &Accounts) -> pingora::Result<()> {
    let answer = match accounts.chains() {
        Ok(chains) => topup_answer(session, accounts, chains).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(a) => {
            let headers: Vec<(&'static str, HeaderValue)> = a
                .headers
                .into_iter()
                .filter_map(|(k, v)| HeaderValue::from_str(&v).ok().map(|v| (k, v)))
                .collect();
            let body = Bytes::from(a.body.to_string());
            respond_json_with(session, a.status, body, None, false, &headers).await
        }
        // 413: the body was left unread, so the connection cannot be reused.
        Err(e) => respond_error(session, &e, None, e.status == 413).await,
    }
}

/// A credited top-up with its x402 settlement header.
struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

/// 402 (or `status`) with every offer: the v1 body plus the v2 `PAYMENT-REQUIRED` header.
/// `code` is the machine-readable reason (x402's `invalidReason` when a payment was refused).
fn payment_required(offers: &[Offer], status: u16, code: &'static str, message: &str) -> ApiError {
    let v1 = x402::payment_required_v1(
        message,
        offers
            .iter()
            .map(|o| o.requirements.to_v1_with(o.rail.extra()))
            .collect(),
    );
    let resource = offers[0].requirements.resource_info();
    let v2 = x402::payment_required_v2(
        message,
        resource,
        offers
            .iter()
            .map(|o| o.requirements.to_v2_with(o.rail.extra()))
            .collect(),
    );
    let mut e = ApiError::new(status, code, message);
    e.x402 = Some(Box::new(
        serde_json::to_value(&v1).expect("x402 types serialize"),
    ));
    if let Ok(v) = HeaderValue::from_str(&x402::encode_header(&v2)) {
        e.headers.push(("payment-required", v));
    }
    e
}

async fn topup_answer(
    session: &mut Session,
    accounts: &Accounts,
    chains: &ChainSet,
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
    let amount = topup_amount(&body, chains.default_rail())?;
    let offers = offers::offers(chains, amount);
    let Some(payment) = payment else {
        return Err(payment_required(
            &offers,
            402,
            "PAYMENT_REQUIRED",
            "X-PAYMENT header is required",
        ));
    };
    let payload = x402::decode_payment_header(&payment)
        .map_err(|e| ApiError::new(400, "INVALID_PAYMENT", format!("{e}")))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (offer, verified) = match offers::verify(&offers, &payload, now) {
        Ok(found) => found,
        Err((_, e @ PaymentError::DomainMismatch(_))) => {
            log::error!("x402 configuration error: {e}");
            return Err(ApiError::new(
                500,
                "INTERNAL_ERROR",
                "payment configuration error",
            ));
        }
        Err((offer, e)) => {
            let code = offer.map_or(e.reason(), |o| offers::reason(&o.rail, &e));
            return Err(payment_required(&offers, 402, code, &e.to_string()));
        }
    };
    match offers::settle(&accounts.ledger, offer, &verified, amount).await {
        Ok(done) => {
            let settled = x402::SettlementResponse::success(
                done.tx_hash,
                payload.network(),
                verified.payer(),
            )
            .to_header();
            let header = if payload.x402_version() == 1 {
                "x-payment-response"
            } else {
                "payment-response"
            };
            Ok(Answer {
                status: 200,
                body: json!({
                    "wallet": done.wallet,
                    "credited_usdc": done.credited,
                    "balance_usdc": done.balance,
                    "tx_hash": format!("{:#x}", done.tx_hash),
                    "chain_id": offer.rail.chain_id,
                    "asset": offer.rail.symbol,
                }),
                headers: vec![(header, settled)],
            })
        }
        Err(TopUpRefused::Payment { code, message }) => {
            Err(payment_required(&offers, 402, code, &message))
        }
        Err(TopUpRefused::AllowanceRequired { message }) => {
            let mut e = payment_required(&offers, 412, "PERMIT2_ALLOWANCE_REQUIRED", &message);
            if let Some(body) = e.x402.as_mut() {
                body["invalidReason"] = json!("permit2_allowance_required");
            }
            Err(e)
        }
        Err(refused) => Err(refusal(refused)),
    }
}

/// The answer to a top-up that was not credited for a reason other than the payment itself.
fn refusal(refused: TopUpRefused) -> ApiError {
    match refused {
        TopUpRefused::Payment { code, message } => ApiError::new(402, code, message),
        TopUpRefused::AllowanceRequired { message } => {
            ApiError::new(412, "PERMIT2_ALLOWANCE_REQUIRED", message)
        }
        TopUpRefused::InProgress => ApiError::new(
            409,
            "PAYMENT_IN_PROGRESS",
            "This payment is already being settled; check GET /v1/topups/:wallet",
        ),
        TopUpRefused::ChainUnavailable { maybe_sent: false } => ApiError::new(
            503,
            "CHAIN_UNAVAILABLE",
            "The chain could not be reached; retry shortly",
        ),
        TopUpRefused::ChainUnavailable { maybe_sent: true } => ApiError::new(
            503,
            "CHAIN_UNAVAILABLE",
            "The payment could not be confirmed; if it settles it will be credited (GET /v1/topups/:wallet)",
        ),
        TopUpRefused::NotConfirmed { tx_hash } => ApiError::new(
            504,
            "CHAIN_TIMEOUT",
            format!("Payment sent ({tx_hash:#x}) but not confirmed yet; it will be credited once it is (GET /v1/topups/:wallet)"),
        ),
        TopUpRefused::Ledger(e) => ledger_error(e),
    }
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

/// `POST /v1/deposits {"tx_hash"}` by the depositor (API key, or SIWE `message`/`signature` in
/// the body): credits each `Deposited` event of the configured TreasuryVault in that
/// transaction to its buyer, once (idempotent on tx hash + log index).
pub async fn deposit(session: &mut Session, accounts: &Accounts) -> pingora::Result<()> {
    let result = async {
        let chains = accounts.chains()?;
        let body = read_json(session).await?;
        let field = |k: &str| body.get(k).and_then(Value::as_str);
        let caller = match (field("message"), field("signature")) {
            (None, None) => accounts.caller_wallet(session).await?,
            (m, s) => {
                accounts
                    .siwe_wallet(m.unwrap_or(""), s.unwrap_or(""))
                    .await?
            }
        };
        let tx_hash: TxHash = field("tx_hash")
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| {
                ApiError::validation("tx_hash must be a 0x-prefixed 32-byte hex hash")
            })?;
        // The vaults of the chain named (`chain_id`, default the first), or of one asset there.
        let rails: Vec<&OnChain> = if body.get("asset").is_some() {
            vec![accounts.rail_of(&body)?]
        } else {
            let chain_id = accounts.rail_of(&body)?.chain_id;
            chains
                .all()
                .iter()
                .filter(|r| r.chain_id == chain_id)
                .map(|r| r.as_ref())
                .collect()
        };
        let done = deposits::credit_reported(&accounts.ledger, &rails, tx_hash, &caller)
            .await
            .map_err(|e| match e {
                DepositRefused::Chain(e) => chain_error(e),
                DepositRefused::NotYours => ApiError::new(
                    403,
                    "FORBIDDEN",
                    "This transaction's deposit was made by another wallet",
                ),
                DepositRefused::OutOfRange => ApiError::validation("deposit amount out of range"),
                DepositRefused::Ledger(e) => ledger_error(e),
            })?;
        let rows: Vec<Value> = done
            .logs
            .iter()
            .map(|l| {
                json!({
                    "position": l.position,
                    "log_index": l.log_index,
                    "amount_usdc": l.amount,
                    "newly_credited": l.newly_credited,
                })
            })
            .collect();
        Ok(json!({
            "wallet": caller,
            "tx_hash": format!("{tx_hash:#x}"),
            "credited_usdc": done.credited,
            "balance_usdc": done.balance,
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
            ApiError::new(
                503,
                "CHAIN_UNAVAILABLE",
                "The chain could not be reached; retry shortly",
            )
        }
    }
}
