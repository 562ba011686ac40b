//! Metrics read when Prometheus scrapes rather than counted per request: gauges sampled from
//! the structures that already hold the number (the in-flight counter, the settlement queue,
//! the lease book), the process (CPU, memory, file descriptors) and the build.

use super::Metrics;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGauge, IntGaugeVec, Opts};

/// The commit this binary was built from (`build.rs`; `unknown` outside a git checkout).
pub const COMMIT: &str = env!("TOLLGATE_COMMIT");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A gauge whose value is read by a closure at scrape time.
struct Sampled {
    gauge: IntGauge,
    read: Box<dyn Fn() -> i64 + Send + Sync>,
}

impl Collector for Sampled {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.gauge.set((self.read)());
        self.gauge.collect()
    }
}

impl Metrics {
    /// `tollgate_build_info{version,commit} 1` and, on Linux, the `process_*` metrics
    /// (CPU seconds, resident and virtual memory, open and maximum file descriptors, start
    /// time).
    pub(super) fn register_runtime(&self) {
        let build = IntGaugeVec::new(
            Opts::new(
                "tollgate_build_info",
                "Always 1; the labels name the running build.",
            ),
            &["version", "commit"],
        )
        .expect("metric");
        build.with_label_values(&[VERSION, COMMIT]).set(1);
        self.registry
            .register(Box::new(build))
            .expect("unique metric");
        #[cfg(target_os = "linux")]
        self.registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric");
    }

    /// A gauge read from `read` whenever `/metrics` is scraped: the value lives where it is
    /// kept up to date anyway, and the request path pays nothing for it.
    pub fn sampled(&self, name: &str, help: &str, read: impl Fn() -> i64 + Send + Sync + 'static) {
        let gauge = IntGauge::new(name, help).expect("metric");
        self.registry
            .register(Box::new(Sampled {
                gauge,
                read: Box::new(read),
            }))
            .expect("metric names are unique");
    }
}
