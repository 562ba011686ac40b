//! The request path end to end: real gateway process, real HTTP on loopback, mock upstream.

mod apis;
mod bodies;
mod endpoints;
mod failover;
mod metering;
mod pipelining;
mod plugins;
mod translation;

use crate::common::*;
use serde_json::{json, Value};

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hi"}]})
}

fn message(model: &str) -> Value {
    json!({"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": "Say hi"}]})
}

async fn standard() -> (Mock, Gateway) {
    let mock = Mock::start().await;
    let gw = Gateway::start(GatewayOpts::new(standard_providers(mock.addr))).await;
    (mock, gw)
}
