//! Turns run statistics into the JSON report, the one-line summary and the
//! percentile curves for the plot.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::config::LoadConfig;
use super::runner::RunStats;

#[derive(Serialize, Clone, Debug)]
pub struct LatencyUs {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl LatencyUs {
    fn from_histogram(h: &Histogram<u64>) -> Self {
        LatencyUs {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct Report {
    pub label: String,
    pub url: String,
    pub mode: &'static str,
    pub rate: Option<f64>,
    pub connections: usize,
    pub duration_s: f64,
    pub requests: u64,
    pub errors: u64,
    pub non_2xx: u64,
    pub rps: f64,
    pub latency_us: LatencyUs,
    pub ttfb_us: LatencyUs,
}

impl Report {
    pub fn new(label: &str, config: &LoadConfig, stats: &RunStats) -> Self {
        let duration_s = config.duration.as_secs_f64();
        Report {
            label: label.to_owned(),
            url: config.url.clone(),
            mode: if config.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            rate: config.rate,
            connections: config.connections,
            duration_s,
            requests: stats.requests,
            errors: stats.errors,
            non_2xx: stats.non_2xx,
            rps: (stats.requests as f64 / duration_s * 10.0).round() / 10.0,
            latency_us: LatencyUs::from_histogram(&stats.latency),
            ttfb_us: LatencyUs::from_histogram(&stats.ttfb),
        }
    }

    pub fn summary_line(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let l = &self.latency_us;
        let rate = self.rate.map_or(String::new(), |r| format!(" @{r}/s"));
        format!(
            "{}: {}{} {:.0} req/s | latency ms p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3} | ttfb p50 {:.3} p99 {:.3} | {} requests, {} errors, {} non-2xx",
            self.label,
            self.mode,
            rate,
            self.rps,
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            ms(self.ttfb_us.p50),
            ms(self.ttfb_us.p99),
            self.requests,
            self.errors,
            self.non_2xx
        )
    }
}

/// (percentile, milliseconds) points from 0 to 99.99, evenly spaced in
/// "nines" so that the tail gets as many points as the body.
pub fn percentile_curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=80)
        .map(|step| {
            let nines = f64::from(step) * 0.05;
            let percentile = 100.0 * (1.0 - 10f64.powf(-nines));
            let ms = h.value_at_quantile(percentile / 100.0) as f64 / 1000.0;
            (percentile, ms)
        })
        .collect()
}
