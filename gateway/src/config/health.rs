//! The `health` section: active probes, fleet-shared health and how candidates are chosen.

use super::raw::RawHealth;
use super::Validator;
use std::collections::HashMap;
use std::time::Duration;

/// How one request's first candidate is chosen among the healthy ones of the best priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Routing {
    /// Round-robin (the default).
    #[default]
    RoundRobin,
    /// Power of two choices on a peak-sensitive EWMA of time to first byte × in-flight.
    Latency,
}

#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// Probe every (provider, model) (`false`: passive health only).
    pub probes: bool,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    /// How long probe results are kept.
    pub retention: Duration,
    /// Share transitions with the fleet through Postgres (needs `billing.ledger`).
    pub shared: bool,
    pub routing: Routing,
    /// Per public model id, overriding `routing`.
    pub routing_by_model: HashMap<String, Routing>,
    /// The latency average's time constant: a sample this old weighs 1/e.
    pub latency_decay: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            probes: true,
            probe_interval: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(30),
            retention: Duration::from_secs(30 * 86_400),
            shared: true,
            routing: Routing::RoundRobin,
            routing_by_model: HashMap::new(),
            latency_decay: Duration::from_secs(10),
        }
    }
}

impl HealthConfig {
    pub fn routing_for(&self, public_model: &str) -> Routing {
        if self.routing_by_model.is_empty() {
            return self.routing;
        }
        self.routing_by_model
            .get(public_model)
            .copied()
            .unwrap_or(self.routing)
    }
}

impl Validator<'_> {
    pub(super) fn health(&mut self, raw: RawHealth) -> HealthConfig {
        let mut routing_for = |path: String, s: &str| match s {
            "round_robin" => Routing::RoundRobin,
            "latency" => Routing::Latency,
            other => {
                self.err(
                    path,
                    format!("{other:?} is not a routing (expected round_robin or latency)"),
                );
                Routing::RoundRobin
            }
        };
        let routing = raw.routing.as_deref().map_or(Routing::RoundRobin, |s| {
            routing_for("health.routing".into(), s)
        });
        let routing_by_model = raw
            .routing_by_model
            .iter()
            .map(|(m, s)| {
                (
                    m.clone(),
                    routing_for(format!("health.routing_by_model.{m}"), s),
                )
            })
            .collect();
        HealthConfig {
            probes: raw.probes.unwrap_or(true),
            probe_interval: self.duration("health.probe_interval", raw.probe_interval, "60s"),
            probe_timeout: self.duration("health.probe_timeout", raw.probe_timeout, "30s"),
            retention: self.duration("health.retention", raw.retention, "30d"),
            shared: raw.shared.unwrap_or(true),
            routing,
            routing_by_model,
            latency_decay: self.duration("health.latency_decay", raw.latency_decay, "10s"),
        }
    }
}
