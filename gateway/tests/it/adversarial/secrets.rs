//! Finding 8: no client-facing text, info-level log line or metric carries a secret — the RPC
//! URL (RPC providers put their API key in it), a provider's upstream key, the operator key, or
//! an `sk-` key. Every secret is configured as a marker; a full run (calls, top-ups,
//! withdrawals, then the same with the chain gone) is scanned for them. The old code put the
//! RPC URL into withdrawal errors, into the `error` of `GET /v1/topups/:wallet` and into its logs.

use crate::common::chain::{accepts_for, payment, post_topup, Chain};
use crate::common::ledger::*;
use crate::common::siwe::SiweMsg;
use crate::common::*;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};
use tollgate_chain::anvil::DEV_KEYS;

const RPC_MARKER: &str = "rpcsecret7f3a9c";
const UPSTREAM_MARKER: &str = "sk-upstream-9a1b2c3d";

/// Every response the run saw: status, headers and body as text.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn keep(&mut self, what: &str, r: reqwest::Response) -> (u16, Value) {
        let status = r.status().as_u16();
        let headers = format!("{:?}", r.headers());
        let text = r.text().await.unwrap();
        self.0.push(format!("{what}: {status} {headers} {text}"));
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn no_secret_reaches_a_client_a_log_line_or_a_metric() {
    let buyer = PrivateKeySigner::random();
    let mut chain = Chain::deployed_by_cli(&[(buyer.address(), 100)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let log = temp_path("tollgate-secrets", ".log");
    let mut opts = GatewayOpts::new(format!(
        "\n  - {{ id: pa, kind: openai, base_url: \"http://{}/v1\", api_key: \"${{UPSTREAM_KEY}}\", models: [{{ id: m, pricing: {{ prompt: 1, completion: 2 }} }}] }}\n",
        mock.addr
    ));
    opts.billing = billing_yaml(&url, "");
    opts.public_url = Some(String::new());
    let rpc = format!("{}/?apikey={RPC_MARKER}", chain.anvil.url());
    opts.extra = chain
        .yaml("  receipt_timeout: 5s\n  reconcile_every: 200ms\n")
        .replace(&format!("\"{}\"", chain.anvil.url()), "\"${TEST_RPC_URL}\"");
    opts.env = vec![
        chain.env(),
        ("UPSTREAM_KEY".into(), UPSTREAM_MARKER.into()),
        ("TEST_RPC_URL".into(), rpc),
    ];
    opts.log_file = Some(log.clone());
    let gw = Gateway::start(opts).await;
    let wallet = wallet_of(&buyer);
    let key = create_key(&gw, &wallet);
    let mut seen = Seen::default();
    let chat =
        json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let c = reqwest::Client::new();

    // With the chain up: a paid call, a bad key, a top-up, a withdrawal.
    credit(&gw, &wallet, "1");
    let r = post_json(&gw.url("/v1/chat/completions"), Some(&key), &chat, &[]).await;
    assert_eq!(seen.keep("chat", r).await.0, 200);
    assert_eq!(
        mock.last().header("authorization"),
        Some(&*format!("Bearer {UPSTREAM_MARKER}"))
    );
    let junk = format!("sk-{}", "ab".repeat(32));
    let r = post_json(&gw.url("/v1/chat/completions"), Some(&junk), &chat, &[]).await;
    assert_eq!(seen.keep("bad key", r).await.0, 401);
    let a = accepts_for(&gw, 2).await;
    let r = post_topup(
        &gw,
        json!(2),
        Some(("x-payment", payment(&a, &buyer, &chain, |_| {}))),
    )
    .await;
    assert_eq!(seen.keep("top-up", r).await.0, 200);
    let chain_id = chain.anvil.chain_id();
    let withdraw = |amount: &str| {
        let (message, signature) = SiweMsg::for_gateway(&buyer, &gw.base, chain_id).signed(&buyer);
        c.post(gw.url("/v1/withdraw"))
            .json(&json!({"message": message, "signature": signature, "amount": amount}))
            .send()
    };
    let r = withdraw("0.5").await.unwrap();
    assert_eq!(seen.keep("withdraw", r).await.0, 200);

    // The chain goes away: every money path answers without naming the endpoint.
    chain.anvil.stop();
    let a = accepts_for(&gw, 1).await;
    let r = post_topup(
        &gw,
        json!(1),
        Some(("x-payment", payment(&a, &buyer, &chain, |_| {}))),
    )
    .await;
    assert_eq!(seen.keep("top-up, chain down", r).await.0, 503);
    let r = withdraw("0.25").await.unwrap();
    assert_eq!(seen.keep("withdraw, chain down", r).await.0, 503);
    let r = c
        .post(gw.url("/v1/deposits"))
        .bearer_auth(&key)
        .json(&json!({"tx_hash": format!("0x{}", "11".repeat(32))}))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.keep("deposit, chain down", r).await.0, 503);
    let r = c
        .get(gw.url(&format!("/v1/topups/{wallet}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let (status, history) = seen.keep("top-up history", r).await;
    assert_eq!(status, 200);
    assert!(
        history["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["status"] == "failed"),
        "the failed top-up is in the history, with its error: {history}"
    );
    let r = c.get(format!("{}/metrics", gw.admin)).send().await.unwrap();
    seen.keep("metrics", r).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await; // a reconciler pass or two

    let operator = DEV_KEYS[0].trim_start_matches("0x").to_ascii_lowercase();
    let secrets = [
        RPC_MARKER,
        UPSTREAM_MARKER,
        operator.as_str(),
        key.as_str(),
        KEY,
    ];
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("INFO"), "the log was written at info level");
    for secret in secrets {
        for text in &seen.0 {
            assert!(
                !text.contains(secret),
                "a response carries a secret ({secret}): {text}"
            );
        }
        for line in logs.lines() {
            assert!(
                !line.contains(secret),
                "a log line carries a secret ({secret}): {line}"
            );
        }
    }
    let _ = std::fs::remove_file(log);
}
