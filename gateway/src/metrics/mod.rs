//! Prometheus metrics, registered on the gateway's own registry and served by the admin
//! listener.

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tollgate_billing::Outcome;

pub mod health;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    ttfb: HistogramVec,
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
        // 5 ms … ~80 s: LLM latencies span cached one-token answers to long generations.
        let latency_buckets = exponential_buckets(0.005, 2.0, 15).expect("static buckets");
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
            .buckets(latency_buckets),
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
        for m in [&duration, &ttfb] {
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
        Metrics {
            health: health::HealthMetrics::register(&registry),
            overhead,
            overruns,
            overrun_micro,
            registry,
            requests,
            duration,
            ttfb,
            tokens,
            charged,
            failovers,
            provider_health,
            rejected,
            rate_limited,
            redis_errors,
            redis_unavailable,
            redis_up,
        }
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
