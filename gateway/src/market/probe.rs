//! The listing probe: before a marketplace model routes buyers' requests, one minimal call
//! (`max_tokens: 1`) in the provider's own API must succeed **and report usage** — a
//! provider whose answers carry no usage could never be billed, so it is never listed.
//!
//! The probe connects only to an address the SSRF policy accepted (the name is resolved and
//! checked here, and the client is pinned to that address) and follows no redirect. Its
//! errors name the status and a short reason, never the key.

use super::upstream_addrs;
use crate::config::UpstreamAddr;
use std::time::Duration;
use tollgate_filters::usage::{ApiFormat, BodyKind, UsageMeter};

/// The most a probe answer may carry (a `max_tokens: 1` answer is a few hundred bytes).
const PROBE_BODY_LIMIT: usize = 256 * 1024;

/// What to probe.
pub struct ProbeTarget<'a> {
    pub kind: ApiFormat,
    pub upstream: &'a UpstreamAddr,
    pub api_key: &'a str,
    pub upstream_model: &'a str,
    /// Held to the SSRF policy.
    pub checked: bool,
}

/// `Ok(())` when the upstream answered 2xx with usage; else why not, for the provider.
pub async fn probe(t: &ProbeTarget<'_>, timeout: Duration) -> Result<(), String> {
    let addr = upstream_addrs::resolve(&t.upstream.host, t.upstream.port, t.checked).await?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    // No proxy (a proxy would resolve the name itself, past the check), no redirect.
    let client = reqwest_013::Client::builder()
        .no_proxy()
        .redirect(reqwest_013::redirect::Policy::none())
        .resolve(&t.upstream.host, addr)
        .timeout(timeout)
        .build()
        .map_err(|e| format!("probe client: {e}"))?;
    let host = if t.upstream.host.contains(':') {
        format!("[{}]", t.upstream.host)
    } else {
        t.upstream.host.clone()
    };
    let url = format!(
        "{}://{host}:{}{}",
        if t.upstream.tls { "https" } else { "http" },
        t.upstream.port,
        t.upstream.path
    );
    let body = serde_json::json!({
        "model": t.upstream_model,
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "Reply with OK."}],
    });
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept-encoding", "identity")
        .body(body.to_string());
    req = match t.kind {
        ApiFormat::OpenAi if !t.api_key.is_empty() => {
            req.header("authorization", format!("Bearer {}", t.api_key))
        }
        ApiFormat::Anthropic => {
            let r = req.header("anthropic-version", "2023-06-01");
            if t.api_key.is_empty() {
                r
            } else {
                r.header("x-api-key", t.api_key)
            }
        }
        ApiFormat::OpenAi => req,
    };
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            format!("probe timed out after {} s", timeout.as_secs())
        } else if e.is_connect() {
            "probe could not connect to the upstream".to_string()
        } else {
            "probe request failed".to_string()
        }
    })?;
    let status = resp.status().as_u16();
    if resp.status().is_redirection() {
        return Err(format!(
            "probe answered {status} (redirects are not followed)"
        ));
    }
    if !(200..300).contains(&status) {
        return Err(format!("probe answered HTTP {status}"));
    }
    // A one-token answer is small: read at most PROBE_BODY_LIMIT, metered as it arrives.
    let mut meter = UsageMeter::new(t.kind, BodyKind::Json);
    let (mut resp, mut read) = (resp, 0usize);
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|_| "probe response was cut".to_string())?
    {
        read += chunk.len();
        if read > PROBE_BODY_LIMIT {
            return Err(format!(
                "probe answer is larger than {PROBE_BODY_LIMIT} bytes"
            ));
        }
        meter.feed(&chunk);
    }
    let report = meter.report();
    if report.upstream_error {
        return Err("probe answered with an error body".into());
    }
    if !report.usage_seen {
        return Err("probe answer carried no usage (no usage, no payment: not listed)".into());
    }
    Ok(())
}
