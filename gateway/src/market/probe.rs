//! The probe: one minimal call (`max_tokens: 1`) in the provider's own API. Before a
//! marketplace model routes buyers' requests it must succeed **and report usage** (a
//! provider whose answers carry no usage could never be billed, so it is never listed);
//! afterwards the health prober ([`super::prober`]) sends it every `health.probe_interval`.
//!
//! The probe connects only to an address the SSRF policy accepted (the name is resolved and
//! checked here, and the client is pinned to that address) and follows no redirect. Its
//! errors name the status and a short reason, never the key.

use super::upstream_addrs;
use crate::config::UpstreamAddr;
use std::time::{Duration, Instant};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    Ok,
    Fail,
    Timeout,
}

impl ProbeResult {
    pub fn name(self) -> &'static str {
        match self {
            ProbeResult::Ok => "ok",
            ProbeResult::Fail => "fail",
            ProbeResult::Timeout => "timeout",
        }
    }
}

/// What one probe found. `error` is a status and a fixed reason: never a key, never the
/// upstream's own words (which could echo one).
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub result: ProbeResult,
    pub latency: Duration,
    /// Time to the response header.
    pub ttfb: Option<Duration>,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub usage_seen: bool,
    /// (input, output) tokens the answer reported.
    pub tokens: (u64, u64),
}

/// The listing probe: `Ok(())` when the upstream answered 2xx **with usage**; else why not,
/// for the provider.
pub async fn probe(t: &ProbeTarget<'_>, timeout: Duration) -> Result<(), String> {
    let r = run(t, timeout).await;
    match (r.result, r.error) {
        (ProbeResult::Ok, _) if !r.usage_seen => {
            Err("probe answer carried no usage (no usage, no payment: not listed)".into())
        }
        (ProbeResult::Ok, _) => Ok(()),
        (_, e) => Err(e.unwrap_or_else(|| "probe failed".into())),
    }
}

/// One minimal call (`max_tokens: 1`) in the provider's own API, timed.
pub async fn run(t: &ProbeTarget<'_>, timeout: Duration) -> ProbeReport {
    let started = Instant::now();
    let mut report = ProbeReport {
        result: ProbeResult::Fail,
        latency: Duration::ZERO,
        ttfb: None,
        status: None,
        error: None,
        usage_seen: false,
        tokens: (0, 0),
    };
    let outcome = tokio::time::timeout(timeout, attempt(t, timeout, started, &mut report)).await;
    report.latency = started.elapsed();
    match outcome {
        Ok(Ok(())) => report.result = ProbeResult::Ok,
        Ok(Err(Failure::Timeout)) | Err(_) => {
            report.result = ProbeResult::Timeout;
            report.error = Some(format!("probe timed out after {} ms", timeout.as_millis()));
        }
        Ok(Err(Failure::Fail(why))) => report.error = Some(why),
    }
    report
}

enum Failure {
    Timeout,
    Fail(String),
}

fn fail(why: impl Into<String>) -> Failure {
    Failure::Fail(why.into())
}

async fn attempt(
    t: &ProbeTarget<'_>,
    timeout: Duration,
    started: Instant,
    report: &mut ProbeReport,
) -> Result<(), Failure> {
    let addr = upstream_addrs::resolve(&t.upstream.host, t.upstream.port, t.checked)
        .await
        .map_err(Failure::Fail)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    // No proxy (a proxy would resolve the name itself, past the check), no redirect.
    let client = reqwest_013::Client::builder()
        .no_proxy()
        .redirect(reqwest_013::redirect::Policy::none())
        .resolve(&t.upstream.host, addr)
        .timeout(timeout)
        .build()
        .map_err(|e| fail(format!("probe client: {e}")))?;
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
    let mut resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            Failure::Timeout
        } else if e.is_connect() {
            fail("probe could not connect to the upstream")
        } else {
            fail("probe request failed")
        }
    })?;
    report.ttfb = Some(started.elapsed());
    let status = resp.status().as_u16();
    report.status = Some(status);
    if resp.status().is_redirection() {
        return Err(fail(format!(
            "probe answered {status} (redirects are not followed)"
        )));
    }
    if !(200..300).contains(&status) {
        return Err(fail(format!("probe answered HTTP {status}")));
    }
    // A one-token answer is small: read at most PROBE_BODY_LIMIT, metered as it arrives.
    let mut meter = UsageMeter::new(t.kind, BodyKind::Json);
    let mut read = 0usize;
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        if e.is_timeout() {
            Failure::Timeout
        } else {
            fail("probe response was cut")
        }
    })? {
        read += chunk.len();
        if read > PROBE_BODY_LIMIT {
            return Err(fail(format!(
                "probe answer is larger than {PROBE_BODY_LIMIT} bytes"
            )));
        }
        meter.feed(&chunk);
    }
    let m = meter.report();
    report.usage_seen = m.usage_seen;
    let u = m.usage;
    report.tokens = (
        u.input
            .saturating_add(u.cache_read)
            .saturating_add(u.cache_write_5m)
            .saturating_add(u.cache_write_1h),
        u.output,
    );
    if m.upstream_error {
        return Err(fail("probe answered with an error body"));
    }
    Ok(())
}
