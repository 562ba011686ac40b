//! How Tollgate fits the tools around it: the API contract (`docs/openapi.yaml` against the
//! route table, the documents served from it), browsers (CORS), SDK error shapes, and
//! readiness for load balancers (a dependency down, draining on SIGTERM).

mod browsers;
mod contract;
mod error_shapes;
mod findings;
mod readiness;

use crate::common::*;
use serde_json::{json, Value};

/// A gateway on the standard mock providers with `server` lines added.
async fn gateway_with(mock: &Mock, server: &str) -> Gateway {
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.server = server.to_string();
    Gateway::start(opts).await
}

fn chat(stream: bool) -> Value {
    json!({"model": "gpt-test", "max_tokens": 8, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}
