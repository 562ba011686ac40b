//! Active health probes: every `health.probe_interval`, one minimal request per (provider,
//! model) of the catalog — for the whole fleet, not per node. Nodes claim due slots from
//! Postgres (`probe_slots`, `FOR UPDATE SKIP LOCKED`, the claim moves the slot one interval
//! ahead), so ten nodes send the probes one node would. Without Postgres a node keeps its
//! own schedule.
//!
//! A result is stored (`probe_results`), counted (`tollgate_probe_*`, tokens included: no
//! buyer pays for a probe) and applied: a failure or timeout opens the provider's breaker,
//! a success closes it once the cooldown is over. A model with `probe: false` is skipped.

use super::probe::{self, ProbeResult, ProbeTarget};
use super::Market;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tollgate_billing::ledger::health::ProbeRecord;

/// Probes in flight per node at most (a slow provider's 30 s timeouts do not stall others).
const MAX_IN_FLIGHT: usize = 16;
/// Retention runs this often.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub struct Prober(pub Arc<Market>);

/// Whether the prober sends `m` probes (the rule `/v1/health/providers` shows, too).
pub fn is_probed(market: &Market, m: &crate::config::ProviderModel) -> bool {
    market.health.probes && m.probe && !m.upstream_model.is_empty()
}

/// What this node can probe now: (provider id, model id), in catalog order.
fn probe_pairs(market: &Market) -> Vec<(String, String)> {
    let l = market.current();
    l.providers
        .iter()
        .flat_map(|p| {
            p.models
                .iter()
                .filter(|m| is_probed(market, m))
                .map(move |m| (p.id.clone(), m.id.clone()))
        })
        .collect()
}

#[async_trait]
impl BackgroundService for Prober {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let market = self.0.clone();
        if !market.health.probes {
            return;
        }
        let every = market.health.probe_interval;
        let tick = (every / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut local_due: HashMap<(String, String), Instant> = HashMap::new();
        let mut running = JoinSet::new();
        let mut pruned = Instant::now();
        let mut ticker = tokio::time::interval(tick);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(_) = running.join_next(), if !running.is_empty() => continue,
                _ = ticker.tick() => {}
            }
            let room = MAX_IN_FLIGHT.saturating_sub(running.len());
            let pairs = probe_pairs(&market);
            let due = match market.fleet() {
                Some(ledger) => ledger
                    .claim_probes(&pairs, &market.shared.node, every, room as i64)
                    .await
                    .unwrap_or_else(|e| {
                        log::warn!("health probes: cannot claim: {e}");
                        Vec::new()
                    }),
                None => {
                    let now = Instant::now();
                    let mut due = Vec::new();
                    for pair in pairs {
                        let next = local_due.entry(pair.clone()).or_insert(now);
                        if *next <= now && due.len() < room {
                            *next = now + every;
                            due.push(pair);
                        }
                    }
                    due
                }
            };
            for (provider, model) in due {
                running.spawn(probe_one(market.clone(), provider, model));
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                if let Some(ledger) = market.fleet() {
                    if let Err(e) = ledger.prune_probes(market.health.retention, 10_000).await {
                        log::warn!("health probes: retention: {e}");
                    }
                }
            }
        }
        running.abort_all();
    }
}

/// Probe one (provider, model) of the current snapshot, store and apply the result.
async fn probe_one(market: Arc<Market>, provider_id: String, model_id: String) {
    let listings = market.current();
    let Some(pi) = listings.providers.iter().position(|p| p.id == provider_id) else {
        return; // unlisted since it was claimed
    };
    let provider = &listings.providers[pi];
    let Some(model) = provider.models.iter().find(|m| m.id == model_id) else {
        return;
    };
    let checked = provider.owner.is_some()
        && !market
            .settings
            .as_ref()
            .is_some_and(|s| s.allow_private_upstreams);
    let target = ProbeTarget {
        kind: provider.kind,
        upstream: &provider.upstream,
        api_key: provider.api_key.expose(),
        upstream_model: &model.upstream_model,
        checked,
    };
    let report = probe::run(&target, market.health.probe_timeout).await;
    let result = report.result.name();
    market.metrics.health.probe(
        &provider_id,
        &model_id,
        result,
        report.latency.as_secs_f64(),
        report.tokens,
    );
    let pool = &listings.pool;
    match report.result {
        ProbeResult::Ok => {
            // Closed or half-open: the answer closes it. Open: the cooldown runs its course.
            if pool.breaker(pi) != super::provider_pool::Breaker::Open && pool.mark_healthy(pi) {
                market.learned(&provider_id, true, "probe");
            }
        }
        ProbeResult::Fail | ProbeResult::Timeout => {
            if pool.mark_unhealthy(pi) {
                market.learned(&provider_id, false, "probe");
            }
        }
    }
    if let Some(ledger) = market.fleet() {
        let ms = |d: Duration| d.as_millis().min(i32::MAX as u128) as i32;
        let record = ProbeRecord {
            provider: provider_id,
            model: model_id,
            result,
            latency_ms: ms(report.latency),
            ttfb_ms: report.ttfb.map(ms),
            status: report.status.map(i32::from),
            error: report.error,
            usage_seen: report.usage_seen,
            input_tokens: report.tokens.0.min(i64::MAX as u64) as i64,
            output_tokens: report.tokens.1.min(i64::MAX as u64) as i64,
            node: market.shared.node.clone(),
        };
        if let Err(e) = ledger.record_probe(&record).await {
            log::warn!("health probes: cannot store a result: {e}");
        }
    }
}
