//! Provider health a fleet shares, against real Postgres, two or three gateway nodes and two
//! mock providers: active probes (claimed once per interval fleet-wide, stored, public),
//! transitions one node learns reaching every node, and the half-open trial.

mod probes;
mod shared;

use crate::common::ledger::*;
use crate::common::*;
use crate::market::funded_db;
use serde_json::{json, Value};
use std::time::Duration;
use tollgate_benches::mock::RecordedRequest;

/// `a` (priority 0, preferred) and `b` (priority 1) both serve `gpt-test`.
pub fn two_providers(a: &Mock, b: &Mock) -> String {
    format!(
        r#"
  - id: a
    kind: openai
    base_url: http://{a}/v1
    api_key: upstream-secret-a
    priority: 0
    models:
      - {{ id: gpt-test, upstream_model: mock-gpt, pricing: {{ prompt: 1, completion: 2 }} }}
  - id: b
    kind: openai
    base_url: http://{b}/v1
    api_key: upstream-secret-b
    priority: 1
    models:
      - {{ id: gpt-test, upstream_model: mock-gpt, pricing: {{ prompt: 1, completion: 2 }} }}
"#,
        a = a.addr,
        b = b.addr
    )
}

/// One node on `db` with `providers`, the `health:` lines given and a cooldown.
pub async fn node(db: &str, providers: String, health: &str, cooldown: &str) -> Gateway {
    let mut opts = GatewayOpts::new(providers);
    opts.billing = billing_yaml(db, "");
    opts.health = health.to_string();
    opts.server = format!("  unhealthy_cooldown: {cooldown}\n");
    Gateway::start(opts).await
}

pub fn is_probe(r: &RecordedRequest) -> bool {
    let v = r.json();
    v["max_tokens"] == 1 && v["messages"][0]["content"] == "Reply with OK."
}

/// Requests a mock received from buyers (not probes).
pub fn buyer_requests(m: &Mock) -> usize {
    m.recorder
        .requests()
        .iter()
        .filter(|r| !is_probe(r))
        .count()
}

pub async fn chat(gw: &Gateway, headers: &[(&str, &str)]) -> u16 {
    let body = json!({"model": "gpt-test", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    gw.post("/v1/chat/completions", &body, headers)
        .await
        .status()
        .as_u16()
}

pub async fn get(gw: &Gateway, path: &str) -> (u16, Value) {
    let r = reqwest::get(gw.url(path)).await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// This node's view of `provider` serving `gpt-test` in `/v1/health/providers`.
pub async fn state_on(gw: &Gateway, provider: &str) -> Value {
    let (s, v) = get(gw, "/v1/health/providers").await;
    assert_eq!(s, 200, "{v}");
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["provider"] == provider && e["model"] == "gpt-test")
        .cloned()
        .unwrap_or_else(|| panic!("{provider} in {v}"))
}

/// A mock whose every answer a test can turn into an error and back.
pub async fn switchable() -> (Mock, tollgate_benches::mock::FailSwitch) {
    let switch = tollgate_benches::mock::FailSwitch::default();
    let mock = Mock::start_with(MockDefaults {
        switch: switch.clone(),
        ..MockDefaults::default()
    })
    .await;
    (mock, switch)
}
