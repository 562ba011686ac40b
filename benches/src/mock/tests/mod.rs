//! End-to-end tests of the mock over real sockets, one module per topic; the helpers
//! here post a request and take the reply apart (JSON, SSE events).

mod basics;
mod chat_controls;
mod embeddings;
mod messages_controls;
mod responses;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use crate::load::client::Connection;

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
    /// The body ended with an error (connection cut) instead of cleanly.
    aborted: bool,
    first_byte_after: Option<Duration>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("reply body is JSON")
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }

    /// (event name, data) for every SSE event.
    fn events(&self) -> Vec<(Option<String>, String)> {
        self.text()
            .split("\n\n")
            .filter(|block| !block.trim().is_empty())
            .map(|block| {
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event = Some(name.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                (event, data)
            })
            .collect()
    }

    /// The `data:` payloads that parse as JSON.
    fn json_events(&self) -> Vec<Value> {
        self.events()
            .iter()
            .filter_map(|(_, data)| serde_json::from_str(data).ok())
            .collect()
    }
}

async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: Value) -> Reply {
    post_bytes(addr, path, headers, Bytes::from(body.to_string())).await
}

async fn post_bytes(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: Bytes) -> Reply {
    let mut connection = Connection::open(&addr.to_string()).await.expect("connect");
    let mut request = Request::post(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body)).unwrap();
    let started = Instant::now();
    let response = connection.send(request).await.expect("response head");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    let mut aborted = false;
    let mut first_byte_after = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    first_byte_after.get_or_insert_with(|| started.elapsed());
                    bytes.extend_from_slice(data);
                }
            }
            Err(_) => {
                aborted = true;
                break;
            }
        }
    }
    Reply {
        status,
        headers,
        body: bytes,
        aborted,
        first_byte_after,
    }
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn tok(n: usize) -> String {
    "tok ".repeat(n)
}

/// `chat(model)` with `stream: true` (and usage in the stream for OpenAI).
fn streamed(model: &str) -> Value {
    let mut body = chat(model);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body
}

/// The SSE event names, in order.
fn event_names(reply: &Reply) -> Vec<String> {
    reply
        .events()
        .into_iter()
        .filter_map(|(name, _)| name)
        .collect()
}
