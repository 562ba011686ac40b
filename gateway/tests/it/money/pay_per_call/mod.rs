//! Pay per call (x402 `upto`, Permit2) against the real gateway, Postgres and anvil with
//! Permit2 and x402's upto proxy at their canonical addresses: a keyless chat call answered
//! 402 with `upto` offers whose amount is the call's worst case, served on a signed maximum,
//! settled on chain for exactly its metered cost after the response; a replay refused; a
//! payer who revokes the allowance between admission and settlement costs at most that one
//! call and is refused afterwards; the per-payer limit on concurrent unsettled calls
//! (`settles.rs`); what bounds the calls of one signature, one payer, one nonce (`bounds.rs`);
//! what bounds the fleet's risk beyond one payer (`at_risk.rs`); a node killed before it
//! recorded a served call (`crash.rs`).

mod at_risk;
mod bounds;
mod crash;
mod settles;

use crate::common::chain::{chain_client, Chain};
use crate::common::ledger::*;
use crate::common::*;
use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tollgate_chain::anvil::{ANVIL_CHAIN_ID, DEV_KEYS};
use tollgate_chain::deploy::AssetDeployment;
use tollgate_chain::x402::{
    self, sign_upto, upto_authorization_for, v2, RequirementsV2, UptoPayload, UptoPaymentV2,
    PERMIT2_ADDRESS,
};

pub(super) const CHAT: &str = "/v1/chat/completions";

/// One pay-per-call stack: anvil with USDC, a 6-decimal USDT, Permit2 and the upto proxy
/// (`payer`, dev account 4, holds 100 of each), a migrated Postgres, the mock, and a gateway
/// with `pay_per_call:` set to `pay_per_call` (lines indented by two spaces).
pub(super) struct Stack {
    pub payer: PrivateKeySigner,
    pub chain: Chain,
    pub usdt: AssetDeployment,
    pub url: String,
    pub db: tokio_postgres::Client,
    pub mock: Mock,
    pub gw: Gateway,
    pay_per_call: String,
    spool: std::path::PathBuf,
}

impl Stack {
    pub async fn start(pay_per_call: &str) -> Stack {
        Self::start_with_spool(pay_per_call, spool_dir()).await
    }

    /// ... with its billing spool in `spool`.
    pub async fn start_with_spool(pay_per_call: &str, spool: std::path::PathBuf) -> Stack {
        let payer = tollgate_chain::client::parse_private_key(PAYER_KEY).unwrap();
        let chain = Chain::with_usdt_on(ANVIL_CHAIN_ID, 6, &[(payer.address(), 100)]).await;
        let usdt = chain.dep.assets[0].clone();
        let url = migrated_db().await;
        let db = crate::common::pg::client(&url).await;
        let mock = Mock::start().await;
        let opts = Self::opts(&chain, &mock, &url, &spool, pay_per_call);
        Stack {
            payer,
            chain,
            usdt,
            url,
            db,
            mock,
            gw: Gateway::start(opts).await,
            pay_per_call: pay_per_call.to_string(),
            spool,
        }
    }

    /// Start the gateway again (the old one has exited), on the same spool and database.
    pub async fn restart(&mut self) {
        let opts = Self::opts(&self.chain, &self.mock, &self.url, &self.spool, &self.pay_per_call);
        self.gw = Gateway::start(opts).await;
    }

    fn opts(chain: &Chain, mock: &Mock, url: &str, spool: &std::path::Path, ppc: &str) -> GatewayOpts {
        let mut opts = GatewayOpts::new(format!(
            "\n  - {{ id: pa, kind: openai, base_url: \"http://{}/v1\", models: [{{ id: m, pricing: {{ prompt: 1, completion: 2 }} }}] }}\n",
            mock.addr
        ));
        opts.billing = billing_yaml(url, &format!("  spool: {{ dir: \"{}\" }}\n", spool.display()));
        opts.public_url = Some(String::new());
        opts.extra = format!(
            "{}pay_per_call:\n{ppc}",
            chain.yaml("  receipt_timeout: 20s\n  reconcile_every: 300ms\n")
        );
        opts.env = vec![chain.env()];
        opts
    }
}

/// The payer's key (anvil dev account 4).
pub(super) const PAYER_KEY: &str = DEV_KEYS[4];

/// `key` approves Permit2 to take `amount` of `token`.
pub(super) async fn approve_permit2(chain: &Chain, key: &str, token: Address, amount: U256) {
    chain_client(&chain.anvil, key)
        .await
        .approve(token, PERMIT2_ADDRESS, amount)
        .await
        .unwrap();
}

pub(super) fn chat(max_tokens: u64) -> Value {
    json!({"model": "m", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]})
}

/// `POST` a chat call without a key, with `extra` headers.
pub(super) async fn call(gw: &Gateway, body: &Value, extra: &[(&str, &str)]) -> reqwest::Response {
    post_json(&gw.url(CHAT), None, body, extra).await
}

/// The 402 of a keyless call with no payment: its v2 body.
pub(super) async fn challenge(gw: &Gateway, body: &Value) -> Value {
    let r = call(gw, body, &[]).await;
    assert_eq!(r.status(), 402);
    let header = r
        .headers()
        .get("payment-required")
        .expect("x402 v2 carries the offers in PAYMENT-REQUIRED")
        .to_str()
        .unwrap()
        .to_string();
    let v: Value = r.json().await.unwrap();
    let from_header: Value = x402::decode_header(&header).unwrap();
    assert_eq!(
        from_header["accepts"], v["accepts"],
        "body and header agree"
    );
    v
}

/// An upto payment for `offer`, signed by `payer` as the official client does.
pub(super) fn upto_header(offer: &Value, payer: &PrivateKeySigner) -> String {
    let nonce = U256::from_be_bytes(crate::common::chain::random_nonce().0);
    upto_header_with_nonce(offer, payer, nonce)
}

/// ... with Permit2 nonce `nonce`.
pub(super) fn upto_header_with_nonce(
    offer: &Value,
    payer: &PrivateKeySigner,
    nonce: U256,
) -> String {
    let accepted: RequirementsV2 = serde_json::from_value(offer.clone()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let auth = upto_authorization_for(&accepted, payer.address(), nonce, now).unwrap();
    let signature = sign_upto(payer, &auth, ANVIL_CHAIN_ID).unwrap();
    let payment: UptoPaymentV2 = v2::PaymentPayload {
        accepted,
        payload: UptoPayload {
            signature,
            permit2_authorization: auth,
        },
        resource: None,
        x402_version: v2::X402Version2,
        extensions: Default::default(),
    };
    x402::encode_header(&payment)
}

/// The `paid_calls` row of a request once its status is one of `want` (10 s at most).
pub(super) async fn paid_call(
    db: &tokio_postgres::Client,
    request_id: &str,
    want: &[&str],
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let row = db
            .query_opt(
                "SELECT json_build_object('id', id, 'status', status, 'amount', amount,
                        'max_amount', max_amount, 'tx_hash', tx_hash, 'error', error,
                        'transfer_id', transfer_id, 'payer', payer)::TEXT
                 FROM paid_calls WHERE request_id = $1",
                &[&request_id],
            )
            .await
            .unwrap()
            .map(|r| serde_json::from_str::<Value>(r.get::<_, &str>(0)).unwrap());
        if let Some(v) = &row {
            if want.contains(&v["status"].as_str().unwrap()) {
                return v.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{request_id}: {row:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) async fn provider_balance(db: &tokio_postgres::Client) -> i64 {
    db.query_opt(
        "SELECT balance FROM accounts WHERE kind = 'provider' AND ref = 'pa'",
        &[],
    )
    .await
    .unwrap()
    .map_or(0, |r| r.get(0))
}

/// A call that takes 1.5 s to its first byte, paid with `header`, running in the background.
pub(super) fn spawn_slow(
    gw: &Gateway,
    body: &Value,
    header: String,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let url = gw.url(CHAT);
    let body = body.clone();
    tokio::spawn(async move {
        post_json(
            &url,
            None,
            &body,
            &[("payment-signature", &header), ("x-mock-ttft-ms", "1500")],
        )
        .await
    })
}

/// Until `n` calls of `payer` are being served (10 s at most).
pub(super) async fn wait_serving(db: &tokio_postgres::Client, payer: Address, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let serving: i64 = db
            .query_one(
                "SELECT COUNT(*) FROM paid_calls WHERE status = 'serving' AND payer = $1",
                &[&format!("{payer:#x}")],
            )
            .await
            .unwrap()
            .get(0);
        if serving == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{serving} calls serving, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `token.mint(to, amount)` (the mock tokens mint to anyone), sent by the chain's admin.
pub(super) async fn mint(chain: &Chain, token: Address, to: Address, amount: U256) {
    use alloy::sol_types::SolCall;
    let call = tollgate_chain::contracts::MockUSDC::mintCall { to, amount };
    let tx = chain
        .rpc(
            "eth_sendTransaction",
            json!([{ "from": format!("{:#x}", chain.admin.address()), "to": format!("{token:#x}"), "data": format!("0x{}", hex::encode(call.abi_encode())) }]),
        )
        .await;
    assert!(tx.is_string(), "{tx}");
}
