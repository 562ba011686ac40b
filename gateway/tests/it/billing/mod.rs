//! Billing against a real PostgreSQL: the ledger, reservations that never overspend (one node
//! and two), the settlement pipeline's backpressure and recovery, crashes and shutdown.

mod charging;
mod crashes;
mod locks;
mod receipts;
mod reservations;
mod spool;

use crate::common::ledger::*;
use crate::common::pg::{self, PrivateCluster};
use crate::common::*;
use serde_json::{json, Value};
use std::time::Duration;

const BUYER: &str = "0x00000000000000000000000000000000000000b1";

/// Providers priced so that one default mock response (12 in, 16 out) costs exactly
/// 12×1 + 16×2 = 44 micro-USDC for the provider, ceil(44 / 0.7) = 63 for the buyer.
fn providers(mock: std::net::SocketAddr) -> String {
    format!(
        r#"
  - {{ id: pa, kind: openai, base_url: "http://{mock}/v1", models: [{{ id: m, pricing: {{ prompt: 1, completion: 2 }} }}] }}
  - {{ id: pb, kind: anthropic, base_url: "http://{mock}", models: [{{ id: c, pricing: {{ prompt: 1, completion: 2 }} }}] }}
"#
    )
}

fn chat(max_tokens: u64) -> Value {
    json!({"model": "m", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]})
}

/// A migrated database, a gateway on it, a funded wallet and its API key.
struct Stack {
    mock: Mock,
    gw: Gateway,
    url: String,
    key: String,
}

async fn stack_on(url: String, extra: &str, fund_usd: Option<&str>) -> Stack {
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(providers(mock.addr));
    opts.billing = billing_yaml(&url, extra);
    let gw = Gateway::start(opts).await;
    let key = create_key(&gw, BUYER);
    if let Some(usd) = fund_usd {
        credit(&gw, BUYER, usd);
    }
    Stack { mock, gw, url, key }
}

/// (balance, locked, Σ buyer_cost in the request log, rows in the request log).
async fn books(url: &str, wallet: &str) -> (i64, i64, i64, i64) {
    let c = pg::client(url).await;
    let r = c
        .query_one(
            "SELECT a.balance, w.locked,
                    (SELECT COALESCE(SUM(buyer_cost), 0)::BIGINT FROM request_log WHERE wallet = $1),
                    (SELECT COUNT(*) FROM request_log WHERE wallet = $1)
             FROM wallets w JOIN accounts a ON a.id = w.account_id WHERE w.address = $1",
            &[&wallet],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

/// Fire `n` requests at once (spread over `gateways`) and count the statuses.
async fn burst(gateways: &[&Gateway], key: &str, n: usize, body: Value) -> (usize, usize, usize) {
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let url = gateways[i % gateways.len()].url("/v1/chat/completions");
            let (c, key, body) = (c.clone(), key.to_string(), body.clone());
            tokio::spawn(async move {
                let r = c
                    .post(url)
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let s = r.status().as_u16();
                let body = r.bytes().await.unwrap_or_default();
                let code = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_string));
                (s, code)
            })
        })
        .collect();
    let (mut ok, mut poor, mut other) = (0, 0, 0);
    let mut others = std::collections::BTreeMap::new();
    for t in tasks {
        match t.await.unwrap() {
            (200, _) => ok += 1,
            (402, _) => poor += 1,
            unexpected => {
                other += 1;
                *others.entry(unexpected).or_insert(0) += 1;
            }
        }
    }
    if other > 0 {
        eprintln!("burst: unexpected answers {others:?}");
    }
    (ok, poor, other)
}
