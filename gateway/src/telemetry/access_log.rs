//! The access log: one JSON line per request, written from the `logging` phase without ever
//! blocking a Pingora worker. The phase formats the line (a few hundred bytes) and hands it
//! to a bounded channel; the [`AccessLogWriter`] service writes batches of lines to stdout,
//! stderr or a file. When the writer falls `log.access_buffer` lines behind (a full disk, a
//! stdout nobody reads), lines are dropped and counted in `tollgate_access_log_dropped_total`
//! rather than slowing requests down.
//!
//! A line carries counts, ids, timings and money — never prompt or completion content, never
//! a key or a query string.

use crate::config::{AccessLogTarget, LogConfig};
use crate::metrics::Metrics;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde::Serialize;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tollgate_billing::Outcome;

/// The sending side, held by the proxy.
pub struct AccessLog {
    tx: mpsc::Sender<Vec<u8>>,
    /// Lines sent and not yet written (graceful shutdown waits for 0).
    pending: Arc<AtomicUsize>,
    dropped: prometheus::IntCounter,
}

/// The request as the access log needs it beyond the outcome: never its body.
pub struct RequestLine<'a> {
    pub method: &'a str,
    /// The path without its query (a SIWE message or signature may ride in a query).
    pub path: &'a str,
    pub client: Option<std::net::IpAddr>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    request_id: Option<&'a str>,
    method: &'a str,
    path: &'a str,
    client: Option<std::net::IpAddr>,
    status: u16,
    outcome: Option<&'static str>,
    error: Option<&'a str>,
    wallet: Option<&'a str>,
    key_id: Option<&'a str>,
    api: Option<&'a str>,
    model: Option<&'a str>,
    provider: Option<&'a str>,
    upstream_model: Option<&'a str>,
    stream: Option<bool>,
    input_tokens: u64,
    cache_write_5m_tokens: u64,
    cache_write_1h_tokens: u64,
    cache_read_tokens: u64,
    output_tokens: u64,
    /// What the buyer is charged, micro-USDC.
    cost_usdc: i64,
    provider_cost_usdc: i64,
    usage_estimated: bool,
    latency_ms: u64,
    ttfb_ms: Option<u64>,
    ttft_ms: Option<u64>,
    attempts: u32,
}

/// Paths are the gateway's own routes; anything longer is an attacker's and is cut.
const MAX_PATH: usize = 256;

impl AccessLog {
    /// The log and its writer, when `log.access` is not `off`.
    pub fn new(cfg: &LogConfig, metrics: &Metrics) -> Option<(Arc<AccessLog>, AccessLogWriter)> {
        let target = cfg.access.clone()?;
        let (tx, rx) = mpsc::channel(cfg.access_buffer);
        let pending = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(AccessLog {
            tx,
            pending: pending.clone(),
            dropped: metrics.counter(
                "tollgate_access_log_dropped_total",
                "Access-log lines dropped because the writer was log.access_buffer lines behind.",
            ),
        });
        let writer = AccessLogWriter {
            rx: Mutex::new(Some(rx)),
            target,
            pending,
        };
        Some((log, writer))
    }

    /// One LLM call, from its billing record.
    pub fn call(&self, r: &RequestLine<'_>, o: &Outcome) {
        let t = &o.tokens;
        self.send(&Line {
            time: rfc3339_ms(o.started_at_ms),
            request_id: Some(&o.request_id),
            method: r.method,
            path: cut(r.path),
            client: r.client,
            status: o.http_status,
            outcome: Some(o.status.as_str()),
            error: o.error_code,
            wallet: Some(&o.wallet),
            key_id: Some(&o.key_id),
            api: Some(o.api),
            model: Some(&o.model),
            provider: Some(&o.provider)
                .filter(|p| !p.is_empty())
                .map(|p| p.as_str()),
            upstream_model: Some(&o.upstream_model)
                .filter(|m| !m.is_empty())
                .map(|m| m.as_str()),
            stream: Some(o.stream),
            input_tokens: t.input_tokens,
            cache_write_5m_tokens: t.cache_write_5m_tokens,
            cache_write_1h_tokens: t.cache_write_1h_tokens,
            cache_read_tokens: t.cache_read_tokens,
            output_tokens: t.output_tokens,
            cost_usdc: o.buyer_cost_usdc,
            provider_cost_usdc: o.provider_cost_usdc,
            usage_estimated: o.usage_estimated,
            latency_ms: o.latency_ms,
            ttfb_ms: o.ttfb_ms,
            ttft_ms: o.ttft_ms,
            attempts: o.attempts,
        });
    }

    /// Any other request: a control-plane call, or an LLM call refused before it was admitted.
    #[allow(clippy::too_many_arguments)]
    pub fn other(
        &self,
        r: &RequestLine<'_>,
        request_id: Option<&str>,
        status: u16,
        error: Option<&str>,
        started_at_ms: u64,
        latency_ms: u64,
    ) {
        self.send(&Line {
            time: rfc3339_ms(started_at_ms),
            request_id,
            method: r.method,
            path: cut(r.path),
            client: r.client,
            status,
            outcome: None,
            error,
            wallet: None,
            key_id: None,
            api: None,
            model: None,
            provider: None,
            upstream_model: None,
            stream: None,
            input_tokens: 0,
            cache_write_5m_tokens: 0,
            cache_write_1h_tokens: 0,
            cache_read_tokens: 0,
            output_tokens: 0,
            cost_usdc: 0,
            provider_cost_usdc: 0,
            usage_estimated: false,
            latency_ms,
            ttfb_ms: None,
            ttft_ms: None,
            attempts: 0,
        });
    }

    fn send(&self, line: &Line<'_>) {
        let mut buf = Vec::with_capacity(640);
        if serde_json::to_writer(&mut buf, line).is_err() {
            return;
        }
        buf.push(b'\n');
        self.pending.fetch_add(1, Ordering::AcqRel);
        if self.tx.try_send(buf).is_err() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            self.dropped.inc();
        }
    }

    /// Lines handed over and not yet written.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }
}

fn cut(path: &str) -> &str {
    if path.len() <= MAX_PATH {
        return path;
    }
    let mut end = MAX_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// `2025-01-31T12:00:00.123Z`.
fn rfc3339_ms(unix_ms: u64) -> String {
    match jiff::Timestamp::from_millisecond(unix_ms as i64) {
        Ok(t) => format!("{t:.3}"),
        Err(_) => String::new(),
    }
}

/// Writes what [`AccessLog`] queues, a batch at a time, flushing after each batch.
pub struct AccessLogWriter {
    rx: Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
    target: AccessLogTarget,
    pending: Arc<AtomicUsize>,
}

impl AccessLogWriter {
    /// Check at start-up that the file can be opened (a typo must stop the start, not
    /// silently lose every line).
    pub fn check(&self) -> Result<(), String> {
        match &self.target {
            AccessLogTarget::File(path) => open_append(path)
                .map(drop)
                .map_err(|e| format!("log.access: cannot open {}: {e}", path.display())),
            _ => Ok(()),
        }
    }

    async fn run(&self, mut rx: mpsc::Receiver<Vec<u8>>) {
        let file = match &self.target {
            AccessLogTarget::Stdout => dup(std::io::stdout().as_fd()),
            AccessLogTarget::Stderr => dup(std::io::stderr().as_fd()),
            AccessLogTarget::File(path) => open_append(path),
        };
        let mut out = match file {
            Ok(f) => tokio::fs::File::from_std(f),
            Err(e) => {
                log::error!("access log: {e}; no access lines will be written");
                return;
            }
        };
        let mut lines = Vec::with_capacity(256);
        let mut batch = Vec::with_capacity(64 * 1024);
        while rx.recv_many(&mut lines, 256).await > 0 {
            batch.clear();
            let written = lines.len();
            for l in lines.drain(..) {
                batch.extend_from_slice(&l);
            }
            if let Err(e) = async {
                out.write_all(&batch).await?;
                out.flush().await
            }
            .await
            {
                log::warn!("access log: writing {} bytes failed: {e}", batch.len());
            }
            self.pending.fetch_sub(written, Ordering::AcqRel);
        }
    }
}

/// A file of our own on stdout or stderr (written through tokio's file, off the runtime).
fn dup(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<std::fs::File> {
    fd.try_clone_to_owned().map(std::fs::File::from)
}

fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

#[async_trait]
impl BackgroundService for AccessLogWriter {
    async fn start(&self, _shutdown: ShutdownWatch) {
        // Runs until the process exits: lines of requests that finish during a graceful
        // shutdown are still written (the shutdown waits for `pending` to reach 0).
        let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(rx) = rx {
            self.run(rx).await;
        }
    }
}
