//! The marketplace against real Postgres and two gateway nodes: providers join with SIWE,
//! list upstreams and models through the API (probed before they route), change prices, rotate
//! keys and go offline; buyers choose among them; strangers' inputs are held to the SSRF and
//! usage-plausibility rules (`usage`).

mod cli;
mod listings;
mod preferences;
mod trust;
mod usage;

use crate::common::ledger::*;
use crate::common::siwe::SiweMsg;
use crate::common::*;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};

pub const CHAIN_ID: u64 = 31337;
pub const MASTER_KEY: &str = "7f3c9a1e5b2d4f6081a3c5e7092b4d6f8a1c3e5072b4d6f8091a2b3c4d5e6f70";

/// A YAML provider `oa` (serving `gpt-test`) on `mock`.
pub fn yaml_provider(mock: std::net::SocketAddr) -> String {
    format!(
        r#"
  - {{ id: oa, kind: openai, base_url: "http://{mock}/v1", api_key: yaml-secret, models: [{{ id: gpt-test, upstream_model: mock-gpt, pricing: {{ prompt: 2, completion: 4 }} }}] }}
"#
    )
}

/// One gateway node on the ledger `db` with the marketplace on; `market` adds lines to the
/// `marketplace:` section.
pub async fn node(db: &str, mock: &Mock, market: &str) -> Gateway {
    let mut opts = GatewayOpts::new(yaml_provider(mock.addr));
    opts.billing = billing_yaml(db, "");
    opts.public_url = Some(String::new());
    let private = if market.contains("allow_private_upstreams") {
        ""
    } else {
        "  allow_private_upstreams: true\n"
    };
    opts.extra = format!(
        "chain: {{ chain_id: {CHAIN_ID} }}\nmarketplace:\n  master_key: ${{TOLLGATE_MASTER_KEY}}\n  probe_timeout: 5s\n{private}{market}"
    );
    opts.env = vec![("TOLLGATE_MASTER_KEY".into(), MASTER_KEY.into())];
    Gateway::start(opts).await
}

/// A provider key for `signer`'s wallet, created over SIWE.
pub async fn provider_key(
    gw: &Gateway,
    signer: &PrivateKeySigner,
    scopes: Option<&[&str]>,
) -> String {
    let (message, signature) = SiweMsg::for_gateway(signer, &gw.base, CHAIN_ID).signed(signer);
    let mut body =
        json!({"message": message, "signature": signature, "label": "ci", "valid_for_days": 90});
    if let Some(s) = scopes {
        body["scopes"] = json!(s);
    }
    let r = client()
        .post(gw.url("/v1/provider/keys"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let key = v["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("pk-") && key.len() == 67, "{key}");
    key
}

/// `method path` with a bearer `key` and a JSON body → status and JSON.
pub async fn call(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client().request(method, gw.url(path)).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn put(gw: &Gateway, path: &str, key: &str, body: Value) -> (u16, Value) {
    call(gw, reqwest::Method::PUT, path, key, Some(body)).await
}

/// An upstream `id` on `mock` (openai kind) with `api_key`.
pub fn upstream_body(mock: &Mock, api_key: &str) -> Value {
    json!({"kind": "openai", "base_url": format!("http://{}/v1", mock.addr), "api_key": api_key, "priority": 50})
}

/// `model` on upstream `upstream` at `prompt` / `completion` USD per 1M tokens.
pub fn model_body(upstream: &str, upstream_model: &str, prompt: &str, completion: &str) -> Value {
    json!({
        "upstream": upstream,
        "upstream_model": upstream_model,
        "display_name": "Test GPT",
        "context_length": 8192,
        "pricing": {"prompt": prompt, "completion": completion},
    })
}

/// Whether `gw`'s `/v1/models` lists `provider` for `model`.
pub async fn lists(gw: &Gateway, model: &str, provider: &str) -> bool {
    let v: Value = reqwest::get(gw.url("/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"].as_array().unwrap().iter().any(|m| {
        m["id"] == model
            && m["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["provider"] == provider)
    })
}

/// A chat call by the static test key; returns status and JSON.
pub async fn chat(gw: &Gateway, model: &str, extra: Value) -> (u16, Value, String) {
    let mut body =
        json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let resp = gw.post("/v1/chat/completions", &body, &[]).await;
    let status = resp.status().as_u16();
    let id = request_id(&resp);
    (status, resp.json().await.unwrap_or(Value::Null), id)
}

/// The ledger with the buyer `WALLET` funded.
pub async fn funded_db() -> String {
    let db = migrated_db().await;
    let cfg = ledger_config(&db);
    let out = tollgate_cli(
        &cfg.0,
        &[
            "credit", "--wallet", WALLET, "--usd", "10", "--reason", "test",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// A request-log row, once settled.
pub async fn logged(db: &str, request_id: &str) -> tokio_postgres::Row {
    let c = crate::common::pg::client(db).await;
    for _ in 0..200 {
        if let Some(r) = c
            .query_opt(
                "SELECT provider, provider_cost, buyer_cost, price_id, input_tokens, output_tokens FROM request_log WHERE request_id = $1",
                &[&request_id],
            )
            .await
            .unwrap()
        {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("request {request_id} was not settled");
}
