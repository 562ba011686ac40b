//! The health metrics: probes (their results, durations and the tokens they cost, which no
//! buyer pays), breaker transitions, and whether this node follows the fleet's health feed.

use prometheus::{
    exponential_buckets, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
};

pub struct HealthMetrics {
    probe_duration: HistogramVec,
    probes: IntCounterVec,
    probe_tokens: IntCounterVec,
    breaker: IntCounterVec,
    pub feed_up: IntGauge,
}

impl HealthMetrics {
    pub fn register(registry: &Registry) -> HealthMetrics {
        let labels = &["provider", "model", "result"];
        let probe_duration = HistogramVec::new(
            HistogramOpts::new(
                "tollgate_probe_duration_seconds",
                "Active health probes by provider, model and result (ok, fail, timeout).",
            )
            .buckets(exponential_buckets(0.005, 2.0, 14).expect("static buckets")),
            labels,
        )
        .expect("metric");
        let probes = IntCounterVec::new(
            Opts::new(
                "tollgate_probe_total",
                "Active health probes sent by this node, by provider, model and result.",
            ),
            labels,
        )
        .expect("metric");
        let probe_tokens = IntCounterVec::new(
            Opts::new(
                "tollgate_probe_tokens_total",
                "Tokens active probes cost (billed to no buyer), by provider, model and kind (input, output).",
            ),
            &["provider", "model", "kind"],
        )
        .expect("metric");
        let breaker = IntCounterVec::new(
            Opts::new(
                "tollgate_breaker_transitions_total",
                "Provider circuit-breaker transitions on this node, by the state entered (open, half_open, closed).",
            ),
            &["provider", "to"],
        )
        .expect("metric");
        let feed_up = IntGauge::new(
            "tollgate_health_feed_up",
            "1 while this node follows the fleet's health feed (Postgres LISTEN tollgate_health).",
        )
        .expect("metric");
        registry
            .register(Box::new(probe_duration.clone()))
            .expect("unique metric");
        for m in [&probes, &probe_tokens, &breaker] {
            registry
                .register(Box::new(m.clone()))
                .expect("unique metric");
        }
        registry
            .register(Box::new(feed_up.clone()))
            .expect("unique metric");
        HealthMetrics {
            probe_duration,
            probes,
            probe_tokens,
            breaker,
            feed_up,
        }
    }

    pub fn probe(&self, provider: &str, model: &str, result: &str, secs: f64, tokens: (u64, u64)) {
        let l = [provider, model, result];
        self.probe_duration.with_label_values(&l).observe(secs);
        self.probes.with_label_values(&l).inc();
        for (kind, n) in [("input", tokens.0), ("output", tokens.1)] {
            if n > 0 {
                self.probe_tokens
                    .with_label_values(&[provider, model, kind])
                    .inc_by(n);
            }
        }
    }

    /// `to`: `open`, `half_open` or `closed`.
    pub fn breaker(&self, provider: &str, to: &str) {
        self.breaker.with_label_values(&[provider, to]).inc();
    }
}
