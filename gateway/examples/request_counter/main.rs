//! A custom Tollgate build with one more plugin: what a crate that adds its own plugins looks
//! like. `request_counter` numbers the responses of the routes it is on (a response header)
//! and counts finished calls (an outcome hook), reported in a second header.
//!
//! ```text
//! cargo run --example request_counter -- -c my-gateway.yaml
//! ```
//! with, in `my-gateway.yaml`:
//! ```yaml
//! routes:
//!   default: [thinking, default_max_tokens, response_headers, request_counter: { header: x-request-count }]
//! ```

use http::HeaderName;
use pingora::http::ResponseHeader;
use serde::Deserialize;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tollgate_billing::Outcome;
use tollgate_gateway::plugins::{
    BuildError, Hooks, OnOutcome, OnResponse, Options, PluginRegistry,
};

fn main() -> ExitCode {
    let mut plugins = PluginRegistry::with_builtins();
    plugins.register("request_counter", build);
    tollgate_gateway::binary::main(plugins)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Response header carrying the response's number (default `x-request-count`).
    header: Option<String>,
}

struct RequestCounter {
    header: HeaderName,
    responses: AtomicU64,
    finished: AtomicU64,
}

fn build(o: &Options<'_>) -> Result<Hooks, BuildError> {
    let c: Config = o.parse()?;
    let name = c.header.as_deref().unwrap_or("x-request-count");
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| o.error("header", format!("{name:?} is not a header name")))?;
    // One instance per list entry: its counters are shared by the phases it implements.
    let counter = Arc::new(RequestCounter {
        header,
        responses: AtomicU64::new(0),
        finished: AtomicU64::new(0),
    });
    Ok(Hooks {
        on_response: Some(counter.clone()),
        on_outcome: Some(counter),
        ..Hooks::default()
    })
}

impl OnResponse for RequestCounter {
    fn on_response(
        &self,
        resp: &mut ResponseHeader,
        _provider: Option<&str>,
    ) -> pingora::Result<()> {
        let n = self.responses.fetch_add(1, Ordering::Relaxed) + 1;
        resp.insert_header(self.header.clone(), n.to_string())?;
        let done = self.finished.load(Ordering::Relaxed);
        resp.insert_header("x-calls-finished", done.to_string())
    }
}

impl OnOutcome for RequestCounter {
    fn on_outcome(&self, _outcome: &Outcome) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}
