//! Finding 6: deposits and chain reorganisations.
//!
//! - A deposit credited, reorganised out, and re-included at another place in another block is
//!   the same money: it is credited once. The old key used the block-level log index, which
//!   the reorg moved, so the second report made a second key and a second credit.
//! - A deposit that was never final and then dropped by a reorg is never credited: the chain's
//!   default depth (Base: 30 blocks here) is waited for. The old default was 1 block.

use crate::common::chain::{balance, chain_client, gateway_on, gateway_with, Chain, USDC};
use crate::common::ledger::*;
use crate::common::*;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use serde_json::{json, Value};
use std::time::Duration;
use tollgate_chain::anvil::DEV_KEYS;
use tollgate_chain::contracts::{MockUSDC, TreasuryVault};
use tollgate_chain::ChainClient;

const DEPOSIT: u64 = 7_000_000;

/// The depositor approves the vault and deposits; returns the deposit's hash and its signed
/// bytes, to send again after a reorg.
async fn approve_then_deposit(chain: &Chain, depositor: &ChainClient) -> (B256, String) {
    let approve = TransactionRequest::default()
        .with_to(chain.dep.usdc)
        .with_input(
            tollgate_chain::contracts::IERC20Write::approveCall {
                spender: chain.dep.treasury_vault,
                amount: U256::from(DEPOSIT),
            }
            .abi_encode(),
        );
    depositor.send_and_confirm(approve).await.unwrap();
    let deposit = TransactionRequest::default()
        .with_to(chain.dep.treasury_vault)
        .with_input(
            TreasuryVault::depositCall {
                amount: U256::from(DEPOSIT),
            }
            .abi_encode(),
        );
    let receipt = depositor.send_and_confirm(deposit).await.unwrap();
    let hash = receipt.transaction_hash;
    let raw = chain
        .rpc("eth_getRawTransactionByHash", json!([format!("{hash:#x}")]))
        .await;
    (hash, raw.as_str().expect("raw transaction").to_string())
}

async fn report(gw: &Gateway, key: &str, tx: B256) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(gw.url("/v1/deposits"))
        .bearer_auth(key)
        .json(&json!({ "tx_hash": format!("{tx:#x}") }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_deposit_reorganised_into_another_place_is_credited_once() {
    let depositor = tollgate_chain::client::parse_private_key(DEV_KEYS[1]).unwrap();
    // FIFO ordering lets the test decide what precedes the deposit in the re-included block.
    let chain =
        Chain::deployed_by_cli_on(31337, &["--order", "fifo"], &[(depositor.address(), 50)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &chain, &mock).await;
    let key = create_key(&gw, &format!("{:#x}", depositor.address()));
    let client = chain_client(&chain.anvil, DEV_KEYS[1]).await;

    let snapshot = chain.rpc("evm_snapshot", json!([])).await;
    let (tx, raw) = approve_then_deposit(&chain, &client).await;
    let (status, v) = report(&gw, &key, tx).await;
    assert_eq!(
        (status, v["credited_usdc"].as_u64()),
        (200, Some(DEPOSIT)),
        "{v}"
    );
    let first_index = v["deposits"][0]["log_index"].clone();

    // The reorg: back to before the approval, then the same two transactions again — with a
    // mint by someone else mined first, so every log of the deposit moves in its block.
    chain.rpc("evm_revert", json!([snapshot])).await;
    chain.automine(false).await;
    let mint = MockUSDC::mintCall {
        to: Address::repeat_byte(0xee),
        amount: U256::from(1u64),
    };
    chain
        .rpc(
            "eth_sendTransaction",
            json!([{ "from": format!("{:#x}", chain.admin.address()), "to": format!("{:#x}", chain.dep.usdc), "data": format!("0x{}", hex::encode(mint.abi_encode())) }]),
        )
        .await;
    let gone = chain
        .rpc("eth_getRawTransactionByHash", json!([format!("{tx:#x}")]))
        .await;
    assert!(gone.is_null(), "the reorg dropped the deposit");
    // The approval is re-sent by the depositor's own client; the deposit by its old bytes.
    let approve = TransactionRequest::default()
        .with_to(chain.dep.usdc)
        .with_input(
            tollgate_chain::contracts::IERC20Write::approveCall {
                spender: chain.dep.treasury_vault,
                amount: U256::from(DEPOSIT),
            }
            .abi_encode(),
        );
    let client = chain_client(&chain.anvil, DEV_KEYS[1]).await; // fresh nonces after the revert
    client.send(approve).await.unwrap();
    let resent: Value = chain.rpc("eth_sendRawTransaction", json!([raw])).await;
    assert_eq!(
        resent.as_str(),
        Some(format!("{tx:#x}").as_str()),
        "the same transaction"
    );
    chain.rpc("evm_mine", json!([])).await;
    chain.automine(true).await;

    let (status, v) = report(&gw, &key, tx).await;
    assert_eq!(status, 200, "{v}");
    assert_ne!(
        v["deposits"][0]["log_index"], first_index,
        "the reorg moved the log: {v}"
    );
    assert_eq!(v["credited_usdc"], 0, "credited once: {v}");
    assert_eq!(balance(&gw, depositor.address()).await, DEPOSIT as i64);
    ledger_check(&gw);
    let (ok, out) = ledger_check_chain(&gw);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn a_deposit_dropped_before_it_was_final_is_never_credited() {
    let depositor = tollgate_chain::client::parse_private_key(DEV_KEYS[1]).unwrap();
    // Base's chain id: the gateway's default depth there is 30 blocks.
    let chain = Chain::deployed_by_cli_on(8453, &[], &[(depositor.address(), 50)])
        .await
        .with_default_confirmations();
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_with(&url, &chain, &mock, "20s", "  deposits: { watch: 100ms }\n").await;
    let key = create_key(&gw, &format!("{:#x}", depositor.address()));
    let client = chain_client(&chain.anvil, DEV_KEYS[1]).await;

    let snapshot = chain.rpc("evm_snapshot", json!([])).await;
    let (tx, _) = approve_then_deposit(&chain, &client).await;
    let (status, v) = report(&gw, &key, tx).await;
    assert_eq!(status, 409, "one block deep is not final on Base: {v}");
    assert_eq!(v["error"], "NOT_CONFIRMED");
    tokio::time::sleep(Duration::from_millis(500)).await; // the watcher looked too

    chain.rpc("evm_revert", json!([snapshot])).await;
    chain.rpc("anvil_mine", json!([40])).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = report(&gw, &key, tx).await;
    assert_eq!(status, 404, "the deposit is gone");
    assert_eq!(
        balance(&gw, depositor.address()).await,
        0,
        "and was never credited"
    );
    assert_eq!(chain.usdc_of(depositor.address()).await, 50 * USDC);
    ledger_check(&gw);
}
