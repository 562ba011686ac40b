//! Fitting an operator's tools: the access log, traces to a real OTLP receiver, the metrics a
//! dashboard and alerts query (checked by promtool and scraped by a real Prometheus), a
//! zero-downtime upgrade under load, the command line and the systemd unit.

mod access_log;
mod cli;
mod dashboards;
mod systemd;
mod traces;
mod upgrade;

use crate::common::*;
use serde_json::{json, Value};

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "the secret plan"}]})
}

/// The repository's root (conf/, docs/).
fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A path in the temp directory no other test uses.
fn temp(name: &str) -> std::path::PathBuf {
    temp_path("tollgate", &format!("-{name}"))
}
