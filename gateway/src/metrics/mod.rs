//! Prometheus metrics, registered on the gateway's own registry and served by the admin
//! listener. [`runtime`] holds what is read at scrape time (in-flight requests, the
//! settlement queue, the lease book, the process) and the build's identity.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tollgate_billing::Outcome;

pub mod health;
pub mod runtime;

/// Seconds, from sub-millisecond gateway overhead to generations that run for minutes.
pub const LATENCY_BUCKETS: [f64; 20] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
    30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Seconds per output token: 1 ms (cached or tiny models) to 1 s (a crawling stream).
const PER_TOKEN_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0,
];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    ttfb: HistogramVec,
    ttft: HistogramVec,
    per_token: HistogramVec,
    tokens: IntCounterVec,
    charged: IntCounterVec,
    failovers: IntCounterVec,
    provider_health: IntGaugeVec,
    rejected: IntCounterVec,
    rate_limited: IntCounterVec,
    redis_errors: IntCounterVec,
    redis_unavailable: IntCounterVec,
    redis_up: IntGauge,
    overruns: IntCounter,
    overrun_micro: IntCounter,
    /// `tollgate_overhead_seconds{stream="false"|"true"}`, resolved once.
    overhead: [Histogram; 2],
    pub health: health::HealthMetrics,
}

/// Why an attempt at a provider was abandoned for the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverReason {
    Connect,
    Timeout,
    Status5xx,
}

impl FailoverReason {
    pub fn label(self) -> &'static str {
        match self {
            FailoverReason::Connect => "connect",
            FailoverReason::Timeout => "timeout",
            FailoverReason::Status5xx => "status_5xx",
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let latency_buckets = LATENCY_BUCKETS.to_vec();
        let requests = IntCounterVec::new(
            Opts::new(
                "tollgate_requests_total",
                "Proxied LLM requests by public model, provider and HTTP status.",
            ),
            &["model", "provider", "status"],
        )
        .expect("metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "tollgate_request_duration_seconds",
                "Time from request arrival to the last response byte.",
            )
            .buckets(latency_buckets.clone()),
            &["model", "provider"],
        )
        .expect("metric");
        let ttfb = HistogramVec::new(
            HistogramOpts::new(
                "tollgate_time_to_first_byte_seconds",
                "Time from request arrival to the first response byte from the upstream.",
            )
            .buckets(latency_buckets.clone()),
            &["model", "provider"],
        )
        .expect("metric");
        let ttft = HistogramVec::new(
            HistogramOpts::new(
                "tollgate_time_to_first_token_seconds",
                "Time from request arrival to the first generated content: the first SSE event carrying content, or the whole body of a JSON answer.",
            )
            .buckets(latency_buckets),
            &["model", "provider"],
        )
        .expect("metric");
        let per_token = HistogramVec::new(
            HistogramOpts::new(
                "tollgate_time_per_output_token_seconds",
                "Streamed answers: (last byte - first token) / (output tokens - 1).",
            )
            .buckets(PER_TOKEN_BUCKETS.to_vec()),
            &["model", "provider"],
        )
        .expect("metric");
        let tokens = IntCounterVec::new(
            Opts::new("tollgate_tokens_total", "Metered tokens by bucket (input, cache_write_5m, cache_write_1h, cache_read, output)."),
            &["model", "provider", "bucket"],
        )
        .expect("metric");
        let charged = IntCounterVec::new(
            Opts::new(
                "tollgate_buyer_charged_microusdc_total",
                "Buyer cost of metered requests, in micro-USDC.",
            ),
            &["model", "provider"],
        )
        .expect("metric");
        let failovers = IntCounterVec::new(
            Opts::new("tollgate_upstream_failovers_total", "Upstream attempts abandoned for the next candidate (or for an error, on the last one)."),
            &["provider", "reason"],
        )
        .expect("metric");
        let provider_health = IntGaugeVec::new(
            Opts::new(
                "tollgate_provider_health",
                "Provider health as seen by this node: 1 healthy, 0 unknown, -1 unhealthy.",
            ),
            &["provider"],
        )
        .expect("metric");
        let rejected = IntCounterVec::new(
            Opts::new(
                "tollgate_rejected_requests_total",
                "LLM requests refused before any upstream was contacted, by error code.",
            ),
            &["code"],
        )
        .expect("metric");
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "tollgate_rate_limited_total",
                "Requests refused with 429 by a rate limit, by limit (requests_per_minute, requests_per_day, tokens_per_minute, in_flight).",
            ),
            &["reason"],
        )
        .expect("metric");
        let redis_errors = IntCounterVec::new(
            Opts::new(
                "tollgate_redis_errors_total",
                "Redis commands that failed or timed out, by operation.",
            ),
            &["op"],
        )
        .expect("metric");
        let redis_unavailable = IntCounterVec::new(
            Opts::new(
                "tollgate_rate_limit_redis_unavailable_total",
                "Requests whose rate limits could not be checked in Redis: decided by this node's limiter (action=local) or refused with 503 (action=refused).",
            ),
            &["action"],
        )
        .expect("metric");
        let redis_up = IntGauge::new(
            "tollgate_redis_up",
            "1 while this node uses Redis, 0 during an outage (only with redis: configured).",
        )
        .expect("metric");
        registry
            .register(Box::new(redis_up.clone()))
            .expect("unique metric");
        for m in [
            &requests,
            &tokens,
            &charged,
            &failovers,
            &rejected,
            &rate_limited,
            &redis_errors,
            &redis_unavailable,
        ] {
            registry
                .register(Box::new(m.clone()))
                .expect("unique metric");
        }
        for m in [&duration, &ttfb, &ttft, &per_token] {
            registry
                .register(Box::new(m.clone()))
                .expect("unique metric");
        }
        registry
            .register(Box::new(provider_health.clone()))
            .expect("unique metric");
        let overruns = IntCounter::new(
            "tollgate_reservation_overruns_total",
            "Requests whose metered cost was above their reservation (the bound failed; the excess is unbilled).",
        )
        .expect("metric");
        let overrun_micro = IntCounter::new(
            "tollgate_reservation_overrun_microusdc_total",
            "Micro-USDC metered above reservations and left unbilled.",
        )
        .expect("metric");
        for m in [&overruns, &overrun_micro] {
            registry
                .register(Box::new(m.clone()))
                .expect("unique metric");
        }
        // 10 µs … 1 s: the gateway's own time is microseconds when healthy.
        let overhead_vec = HistogramVec::new(
            HistogramOpts::new(
                "tollgate_overhead_seconds",
                "Time a request spends in the gateway, not waiting on an upstream: admission until \
                 its first attempt's peer is chosen, gaps between attempts, and from the upstream's \
                 last byte to the end of the response (docs/design.md \"Overhead\").",
            )
            .buckets(vec![
                10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3,
                50e-3, 100e-3, 250e-3, 500e-3, 1.0,
            ]),
            &["stream"],
        )
        .expect("metric");
        registry
            .register(Box::new(overhead_vec.clone()))
            .expect("unique metric");
        let overhead = [
            overhead_vec.with_label_values(&["false"]),
            overhead_vec.with_label_values(&["true"]),
        ];
        let metrics = Metrics {
            health: health::HealthMetrics::register(&registry),
            overhead,
            overruns,
            overrun_micro,
            registry,
            requests,
            duration,
            ttfb,
            ttft,
            per_token,
            tokens,
            charged,
            failovers,
            provider_health,
            rejected,
            rate_limited,
            redis_errors,
            redis_unavailable,
            redis_up,
        };
        metrics.register_runtime();
        metrics
    }

    /// The gateway's own time in one LLM call (see `LlmCall::overhead`).
    pub fn overhead(&self, stream: bool, d: std::time::Duration) {
        self.overhead[usize::from(stream)].observe(d.as_secs_f64());
    }

    /// Count one finished request.
    pub fn observe(&self, o: &Outcome) {
        let provider = if o.provider.is_empty() {
            "none"
        } else {
            o.provider.as_str()
        };
        let status_buf = itoa_status(o.http_status);
        let status = std::str::from_utf8(&status_buf).unwrap_or("0");
        self.requests
            .with_label_values(&[o.model.as_str(), provider, status])
            .inc();
        self.duration
            .with_label_values(&[o.model.as_str(), provider])
            .observe(o.latency_ms as f64 / 1000.0);
        if let Some(t) = o.ttfb_ms {
            self.ttfb
                .with_label_values(&[o.model.as_str(), provider])
                .observe(t as f64 / 1000.0);
        }
        if let Some(t) = o.ttft_ms {
            self.ttft
                .with_label_values(&[o.model.as_str(), provider])
                .observe(t as f64 / 1000.0);
            let output = o.tokens.output_tokens;
            if o.stream && output > 1 && o.latency_ms >= t {
                self.per_token
                    .with_label_values(&[o.model.as_str(), provider])
                    .observe((o.latency_ms - t) as f64 / 1000.0 / (output - 1) as f64);
            }
        }
        let t = &o.tokens;
        for (bucket, n) in [
            ("input", t.input_tokens),
            ("cache_write_5m", t.cache_write_5m_tokens),
            ("cache_write_1h", t.cache_write_1h_tokens),
            ("cache_read", t.cache_read_tokens),
            ("output", t.output_tokens),
        ] {
            if n > 0 {
                self.tokens
                    .with_label_values(&[o.model.as_str(), provider, bucket])
                    .inc_by(n);
            }
        }
        if o.buyer_cost_usdc > 0 {
            self.charged
                .with_label_values(&[o.model.as_str(), provider])
                .inc_by(o.buyer_cost_usdc as u64);
        }
        if o.overrun_usdc > 0 {
            self.overruns.inc();
            self.overrun_micro.inc_by(o.overrun_usdc as u64);
        }
    }

    pub fn rejected(&self, code: &str) {
        self.rejected.with_label_values(&[code]).inc();
    }

    pub fn rate_limited(&self, reason: &str) {
        self.rate_limited.with_label_values(&[reason]).inc();
    }

    pub fn redis_error(&self, op: &str) {
        self.redis_errors.with_label_values(&[op]).inc();
    }

    pub fn rate_limit_redis_unavailable(&self, action: &str) {
        self.redis_unavailable.with_label_values(&[action]).inc();
    }

    pub fn set_redis_up(&self, up: bool) {
        self.redis_up.set(i64::from(up));
    }

    pub fn failover(&self, provider: &str, reason: FailoverReason) {
        self.failovers
            .with_label_values(&[provider, reason.label()])
            .inc();
    }

    pub fn set_health(&self, provider: &str, gauge: i64) {
        self.provider_health
            .with_label_values(&[provider])
            .set(gauge);
    }

    /// A counter owned by another module (registered here so it is scraped with the rest).
    pub fn counter(&self, name: &str, help: &str) -> prometheus::IntCounter {
        let c = prometheus::IntCounter::new(name, help).expect("metric");
        self.registry
            .register(Box::new(c.clone()))
            .expect("metric names are unique");
        c
    }

    /// A gauge owned by another module (registered here so it is scraped with the rest).
    pub fn gauge(&self, name: &str, help: &str) -> IntGauge {
        let g = IntGauge::new(name, help).expect("metric");
        self.registry
            .register(Box::new(g.clone()))
            .expect("metric names are unique");
        g
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to a Vec cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Status codes as label text without a heap allocation.
fn itoa_status(code: u16) -> [u8; 3] {
    let c = code.min(999);
    [
        b'0' + (c / 100) as u8,
        b'0' + (c / 10 % 10) as u8,
        b'0' + (c % 10) as u8,
    ]
}
