//! The `tracing` section: OpenTelemetry traces over OTLP/HTTP. Without the section nothing
//! is traced (and a request pays one branch for it).

use super::{parse_duration, Secret, Validator};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTracing {
    /// `false` keeps the section but traces nothing (default true).
    pub enabled: Option<bool>,
    /// The OTLP/HTTP traces URL (default: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else `http://localhost:4318/v1/traces`).
    pub endpoint: Option<String>,
    /// `service.name` of the resource (default `tollgate`).
    pub service_name: Option<String>,
    /// Share of requests without a sampled parent that are traced, 0..=1 (default 1).
    pub sample_ratio: Option<f64>,
    /// Headers of the export requests (e.g. an API key of the backend), values may be `${ENV}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Export request deadline (default 10s).
    pub timeout: Option<String>,
    /// Finished spans waiting for export; beyond, spans are dropped (default 4096).
    pub queue: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct TracingConfig {
    pub endpoint: Option<String>,
    pub service_name: String,
    pub sample_ratio: f64,
    pub headers: Vec<(String, Secret)>,
    pub timeout: Duration,
    pub queue: usize,
}

impl Validator<'_> {
    pub(super) fn tracing(&mut self, raw: Option<RawTracing>) -> Option<TracingConfig> {
        let raw = raw?;
        if raw.enabled == Some(false) {
            return None;
        }
        if let Some(e) = &raw.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                self.err(
                    "tracing.endpoint",
                    format!("{e:?} is not an http(s) URL (OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/traces)"),
                );
            }
        }
        let sample_ratio = raw.sample_ratio.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_ratio) {
            self.err("tracing.sample_ratio", "must be between 0 and 1");
        }
        let timeout = match raw.timeout.as_deref().map(parse_duration) {
            None => Duration::from_secs(10),
            Some(Some(d)) if !d.is_zero() => d,
            Some(_) => {
                self.err("tracing.timeout", "is not a positive duration (e.g. 10s)");
                Duration::from_secs(10)
            }
        };
        let queue = raw.queue.unwrap_or(4096);
        if queue == 0 {
            self.err("tracing.queue", "must be positive");
        }
        let mut headers = Vec::new();
        for (name, value) in raw.headers {
            let path = format!("tracing.headers.{name}");
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.err(&path, "is not a valid header name");
                continue;
            }
            if let Some(v) = self.resolve_env(&path, &value) {
                headers.push((name, Secret::new(v)));
            }
        }
        Some(TracingConfig {
            endpoint: raw.endpoint,
            service_name: raw.service_name.unwrap_or_else(|| "tollgate".into()),
            sample_ratio: sample_ratio.clamp(0.0, 1.0),
            headers,
            timeout,
            queue: queue.max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = "billing: { sink: memory }\nproviders: [{ id: p, kind: openai, base_url: \"http://127.0.0.1:1/v1\", models: [{ id: m, pricing: { prompt: 1, completion: 1 } }] }]\n";

    #[test]
    fn off_unless_configured() {
        assert!(Config::from_yaml(BASE, &|_| None)
            .unwrap()
            .tracing
            .is_none());
        let off = format!("{BASE}tracing: {{ enabled: false, endpoint: http://x:4318/v1/traces }}");
        assert!(Config::from_yaml(&off, &|_| None)
            .unwrap()
            .tracing
            .is_none());
    }

    #[test]
    fn reads_the_exporter_settings() {
        let yaml = format!(
            "{BASE}tracing: {{ endpoint: \"http://otel:4318/v1/traces\", sample_ratio: 0.25, headers: {{ authorization: \"${{TOKEN}}\" }} }}"
        );
        let env = |n: &str| (n == "TOKEN").then(|| "Bearer t".to_string());
        let t = Config::from_yaml(&yaml, &env).unwrap().tracing.unwrap();
        assert_eq!(t.endpoint.as_deref(), Some("http://otel:4318/v1/traces"));
        assert_eq!(
            (t.sample_ratio, t.service_name.as_str(), t.queue),
            (0.25, "tollgate", 4096)
        );
        assert_eq!(t.headers[0].1.expose(), "Bearer t");
        let bad = format!("{BASE}tracing: {{ endpoint: otel:4318, sample_ratio: 2, headers: {{ a: \"${{NOPE}}\" }} }}");
        let e = Config::from_yaml(&bad, &|_| None).unwrap_err().to_string();
        for path in [
            "tracing.endpoint",
            "tracing.sample_ratio",
            "tracing.headers.a",
        ] {
            assert!(e.contains(path), "{path}: {e}");
        }
    }
}
