//! The request header a provider sees: its own path, Host and credentials — nothing of the
//! client's keys.

use crate::config::Provider;
use pingora::http::RequestHeader;
use pingora::{Error, ErrorType, Result};
use tollgate_filters::operation::Operation;
use tollgate_filters::usage::ApiFormat;

/// Client headers that must never reach a provider, or that the gateway sets itself.
const DROPPED: [&str; 9] = [
    "authorization",
    "x-api-key",
    "proxy-authorization",
    "cookie",
    "host",
    "content-length",
    "transfer-encoding",
    "accept-encoding",
    "expect",
];

/// Anthropic requires a version header; clients of the raw HTTP API sometimes omit it.
const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Rewrite the client's request head for `provider`, which receives `op` (a chat call in the
/// provider's own format when it was translated).
pub fn rewrite(
    req: &mut RequestHeader,
    provider: &Provider,
    op: Operation,
    body_len: usize,
) -> Result<()> {
    let sent = if op.is_chat() {
        Operation::chat(provider.kind)
    } else {
        op
    };
    let uri: http::Uri = provider
        .upstream
        .path_for(sent)
        .parse()
        .map_err(|_| Error::explain(ErrorType::InternalError, "invalid upstream path"))?;
    req.set_uri(uri);
    for h in DROPPED {
        req.remove_header(h);
    }
    let u = &provider.upstream;
    let default_port = if u.tls { 443 } else { 80 };
    let host = match (u.port == default_port, u.host.contains(':')) {
        (true, false) => u.host.clone(),
        (true, true) => format!("[{}]", u.host),
        (false, false) => format!("{}:{}", u.host, u.port),
        (false, true) => format!("[{}]:{}", u.host, u.port),
    };
    req.insert_header("host", host)?;
    let key = provider.api_key.expose();
    match provider.kind {
        ApiFormat::OpenAi => {
            if !key.is_empty() {
                req.insert_header("authorization", format!("Bearer {key}"))?;
            }
            // An Anthropic client's version and beta switches mean nothing to this provider.
            if op.format() == ApiFormat::Anthropic {
                req.remove_header("anthropic-version");
                req.remove_header("anthropic-beta");
            }
        }
        ApiFormat::Anthropic => {
            if !key.is_empty() {
                req.insert_header("x-api-key", key)?;
            }
            if req.headers.get("anthropic-version").is_none() {
                req.insert_header("anthropic-version", DEFAULT_ANTHROPIC_VERSION)?;
            }
        }
    }
    req.insert_header("content-length", body_len.to_string())?;
    // The usage meter reads the response as sent: it must not be compressed.
    req.insert_header("accept-encoding", "identity")?;
    Ok(())
}
