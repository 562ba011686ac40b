//! Several chains and assets at once: two anvils with different chain ids, each with its own
//! contracts (MockUSDC through EIP-3009 and a MockUSDT through Permit2, 6 decimals on the first
//! chain and 18 on the second), one gateway settling on both.

use crate::common::chain::{
    balance, chain_client, offer, offers_for, payment, permit2_authorization, permit2_header,
    post_topup, token_of, Chain, USDC,
};
use crate::common::ledger::*;
use crate::common::siwe::SiweMsg;
use crate::common::*;
use alloy::primitives::{Address, U256};
use serde_json::{json, Value};
use tollgate_chain::anvil::DEV_KEYS;
use tollgate_chain::x402::PERMIT2_ADDRESS;

const A: u64 = 31337;
const B: u64 = 31338;

struct Two {
    a: Chain,
    b: Chain,
    gw: Gateway,
    url: String,
    _mock: Mock,
}

/// Provider `pa` is paid in USDT on chain B, to `payee`.
async fn two_chains(payer: Address, payee: Address) -> Two {
    let a = Chain::with_usdt_on(A, 6, &[(payer, 100)]).await;
    let b = Chain::with_usdt_on(B, 18, &[(payer, 100)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(format!(
        "\n  - {{ id: pa, kind: openai, base_url: \"http://{}/v1\", payout_address: \"{payee:#x}\", payout_chain_id: {B}, payout_asset: usdt, models: [{{ id: m, pricing: {{ prompt: 1, completion: 2 }} }}] }}\n",
        mock.addr
    ));
    opts.billing = billing_yaml(&url, "");
    opts.public_url = Some(String::new());
    let payouts = "    payouts: { threshold_usd: 0.000001, min_interval: 1ms }\n";
    opts.extra = format!("chain:\n{}{}", a.list_entry(payouts), b.list_entry(""));
    opts.env = vec![a.env()];
    let gw = Gateway::start(opts).await;
    Two {
        a,
        b,
        gw,
        url,
        _mock: mock,
    }
}

/// The 402 offers every (chain, asset) pair in both wire forms; a USDT payment through Permit2
/// on the second chain (18 decimals) and a USDC one through EIP-3009 on the first are each
/// credited exactly once, at what moved; a withdrawal is paid on the chain and in the asset the
/// buyer names (signed in with that chain's id), up to that vault's reserves; the chain check
/// proves reserves per chain and asset; a vault deposit on the second chain is credited once;
/// a provider that asked to be paid in USDT on the second chain is paid there.
#[tokio::test]
async fn every_asset_on_every_chain_is_offered_paid_once_and_withdrawn_where_asked() {
    let payer = tollgate_chain::client::parse_private_key(DEV_KEYS[4]).unwrap();
    let payee = alloy::signers::local::PrivateKeySigner::random();
    let t = two_chains(payer.address(), payee.address()).await;
    let b_usdt = t.b.dep.assets[0].clone();

    // Four offers, v1 body and v2 header alike, in configuration order.
    let (v2, v1) = offers_for(&t.gw, json!(5)).await;
    let nets: Vec<(String, String)> = v2["accepts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["network"].as_str().unwrap().into(),
                a["amount"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        nets,
        [
            ("eip155:31337".into(), "5000000".into()),
            ("eip155:31337".into(), "5000000".into()),
            ("eip155:31338".into(), "5000000".into()),
            ("eip155:31338".into(), "5000000000000000000".into()),
        ],
        "{v2}"
    );
    assert_eq!(v1["accepts"].as_array().unwrap().len(), 4, "{v1}");
    let usdt_b = offer(&v2, B, b_usdt.address);
    assert_eq!(usdt_b["extra"]["assetTransferMethod"], "permit2");
    assert_eq!(usdt_b["payTo"], format!("{:#x}", b_usdt.treasury_vault));
    let usdc_a = offer(&v2, A, t.a.dep.usdc);
    assert_eq!(usdc_a["extra"]["name"], "USD Coin");

    // USDT through Permit2 on chain B: approve Permit2 once, then sign per payment.
    let on_b = chain_client(&t.b.anvil, DEV_KEYS[4]).await;
    on_b.approve(b_usdt.address, PERMIT2_ADDRESS, U256::MAX)
        .await
        .unwrap();
    let auth = permit2_authorization(&usdt_b, payer.address(), |_| {});
    let header = permit2_header(&usdt_b, &payer, &auth);
    let r = post_topup(&t.gw, json!(5), Some(("payment-signature", header.clone()))).await;
    let status = r.status();
    assert!(r.headers().contains_key("payment-response"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["credited_usdc"].as_i64(), v["chain_id"].as_u64()),
        (Some(5 * USDC), Some(B)),
        "{v}"
    );
    assert_eq!(v["asset"], "USDT");
    let units = U256::from(10u64).pow(U256::from(18u64));
    assert_eq!(
        token_of(&t.b, b_usdt.address, b_usdt.treasury_vault).await,
        units * U256::from(5u64)
    );
    // The same payment again: refused, nothing credited twice.
    let r = post_topup(&t.gw, json!(5), Some(("payment-signature", header))).await;
    assert_eq!(r.status(), 402);

    // USDC through EIP-3009 on chain A (v1 header, first offer).
    let r = post_topup(&t.gw, json!(2), None).await;
    let first: Value = r.json().await.unwrap();
    let header = payment(&first["accepts"][0], &payer, &t.a, |_| {});
    let r = post_topup(&t.gw, json!(2), Some(("x-payment", header))).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["credited_usdc"].as_i64(), v["chain_id"].as_u64()),
        (Some(2 * USDC), Some(A)),
        "{v}"
    );
    assert_eq!(v["balance_usdc"], 7 * USDC, "one balance per wallet: {v}");

    // The ledger names the chain and asset of every credit.
    let db = crate::common::pg::client(&t.url).await;
    let rows: Vec<(i64, String, i64)> = db
        .query("SELECT chain_id, asset, amount FROM chain_credits WHERE status = 'credited' ORDER BY created_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        [
            (B as i64, format!("{:#x}", b_usdt.address), 5 * USDC),
            (A as i64, format!("{:#x}", t.a.dep.usdc), 2 * USDC)
        ]
    );

    // Withdraw on chain B in USDT, signed in with chain B's id; more than that vault holds is
    // refused before any debit.
    let withdraw_signed_on = |siwe_chain: u64, amount: Value, chain_id: u64, asset: &str| {
        let (message, signature) =
            SiweMsg::for_gateway(&payer, &t.gw.base, siwe_chain).signed(&payer);
        reqwest::Client::new().post(t.gw.url("/v1/withdraw")).json(&json!({
            "message": message, "signature": signature, "amount": amount, "chain_id": chain_id, "asset": asset
        }))
    };
    let withdraw = |amount: Value, chain_id: u64, asset: &str| {
        withdraw_signed_on(chain_id, amount, chain_id, asset)
    };
    let r = withdraw(json!(6), B, "USDT").send().await.unwrap();
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "VAULT_SHORT", "{v}");
    let r = withdraw(json!(3), B, "usdt").send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "paid", "{v}");
    assert_eq!(
        (v["chain_id"].as_u64(), v["asset"].as_str()),
        (Some(B), Some("USDT"))
    );
    assert_eq!(v["balance_usdc"], 4 * USDC);
    assert_eq!(
        token_of(&t.b, b_usdt.address, payer.address()).await,
        units * U256::from(98u64),
        "100 − 5 paid + 3 withdrawn, in 18-decimal units"
    );
    let r = withdraw_signed_on(1, json!(1), A, "USDC")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "a chain this gateway does not settle on is not a SIWE chain"
    );
    let r = withdraw(json!(1), 1, "USDC").send().await.unwrap();
    assert_eq!(r.status(), 400, "nor a chain to withdraw on");
    let r = withdraw(json!(1), A, "DAI").send().await.unwrap();
    assert_eq!(r.status(), 400);

    // A TreasuryVault deposit of USDT on chain B, reported naming its chain and asset: credited
    // once, in micro-USD (18-decimal units converted exactly); the same report again is a no-op.
    let deposit = on_b
        .approve_and_deposit(b_usdt.address, b_usdt.treasury_vault, units * U256::from(2u64))
        .await
        .unwrap();
    let key = create_key(&t.gw, &format!("{:#x}", payer.address()));
    let report = || {
        reqwest::Client::new()
            .post(t.gw.url("/v1/deposits"))
            .bearer_auth(&key)
            .json(&json!({"tx_hash": format!("{deposit:#x}"), "chain_id": B, "asset": "USDT"}))
            .send()
    };
    let v: Value = report().await.unwrap().json().await.unwrap();
    assert_eq!(v["credited_usdc"], 2 * USDC, "{v}");
    let v: Value = report().await.unwrap().json().await.unwrap();
    assert_eq!(v["credited_usdc"], 0, "credited once: {v}");
    assert_eq!(balance(&t.gw, payer.address()).await, 6 * USDC);

    // Traffic earns provider `pa`; its payout goes out in USDT on chain B, as it asked.
    let r = post_json(
        &t.gw.url("/v1/chat/completions"),
        Some(&key),
        &json!({"model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}),
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    let _ = r.bytes().await;
    let earned = wait_for_earnings(&t.url, "pa").await;
    let out = t.gw.cli(&["payouts", "run"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let row = db
        .query_one("SELECT amount, status, chain_id, asset FROM payouts", &[])
        .await
        .unwrap();
    let (amount, status, chain_id, asset): (i64, String, i64, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        (amount, status.as_str(), chain_id, asset),
        (earned, "paid", B as i64, format!("{:#x}", b_usdt.address)),
        "{text}"
    );
    assert_eq!(
        token_of(&t.b, b_usdt.address, payee.address()).await,
        U256::from(earned as u64) * U256::from(10u64).pow(U256::from(12u64)),
        "paid in 18-decimal USDT on chain B"
    );
    assert_eq!(token_of(&t.a, b_usdt.address, payee.address()).await, U256::ZERO);

    ledger_check(&t.gw);
    let (ok, out) = ledger_check_chain(&t.gw);
    assert!(ok, "{out}");
    for rail in [
        "USDC on eip155:31337",
        "USDT on eip155:31337",
        "USDC on eip155:31338",
        "USDT on eip155:31338",
    ] {
        assert!(
            out.contains(&format!("reserves in {rail}")),
            "{rail}: {out}"
        );
    }
    assert!(
        out.contains(&format!("reserves: {} micro-USD", 6 * USDC - earned)),
        "5 + 2 + 2 in, 3 and the payout out: {out}"
    );
}

/// The provider's pending earnings, once the call's settlement batch committed.
async fn wait_for_earnings(url: &str, provider: &str) -> i64 {
    let db = crate::common::pg::client(url).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let earned: Option<i64> = db
            .query_opt(
                "SELECT a.balance FROM providers p JOIN accounts a ON a.id = p.account_id WHERE p.id = $1",
                &[&provider],
            )
            .await
            .unwrap()
            .map(|r| r.get(0));
        if let Some(e) = earned.filter(|e| *e > 0) {
            return e;
        }
        assert!(std::time::Instant::now() < deadline, "no earnings");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
