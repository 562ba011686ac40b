//! Public health: `GET /v1/health/providers` (every (provider, model) of the catalog: this
//! node's breaker, the last probe, latency percentiles, request success, probe uptime) and
//! `GET /v1/health/history` (probe results, newest first, keyset cursor).
//!
//! The aggregates come from the ledger at most every 5 s per node (a public endpoint must
//! not be a way to run an aggregate per request); the state is this node's, live.

use super::caller::ledger_error;
use super::public::health_name;
use crate::market::Market;
use crate::wire::ApiError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate_billing::ledger::health::{HistoryQuery, PairSummary, ProbeRow};

const SUMMARY_TTL: Duration = Duration::from_secs(5);
const MAX_LIMIT: i64 = 500;

/// The cached aggregates of `/v1/health/providers`.
#[derive(Default)]
pub struct HealthView {
    cache: Mutex<Option<(Instant, Arc<Vec<PairSummary>>)>>,
}

fn ratio((total, ok): (i64, i64)) -> Value {
    if total > 0 {
        json!(ok as f64 / total as f64)
    } else {
        Value::Null
    }
}

fn probe_json(r: &ProbeRow) -> Value {
    let p = &r.record;
    json!({
        "id": r.id,
        "at": r.at,
        "provider": p.provider,
        "model": p.model,
        "result": p.result,
        "latency_ms": p.latency_ms,
        "ttfb_ms": p.ttfb_ms,
        "status": p.status,
        "error": p.error,
        "usage_seen": p.usage_seen,
    })
}

impl HealthView {
    async fn summary(&self, market: &Market) -> Arc<Vec<PairSummary>> {
        let fresh = |(at, v): &(Instant, Arc<Vec<PairSummary>>)| {
            (at.elapsed() < SUMMARY_TTL).then(|| v.clone())
        };
        if let Some(v) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(fresh)
        {
            return v;
        }
        let v = Arc::new(match market.fleet() {
            Some(l) => l.health_summary().await.unwrap_or_else(|e| {
                log::warn!("health view without its history: {e}");
                Vec::new()
            }),
            None => Vec::new(),
        });
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), v.clone()));
        v
    }

    /// `GET /v1/health/providers`.
    pub async fn providers(&self, market: &Market) -> Value {
        let summary = self.summary(market).await;
        let by_pair: HashMap<(&str, &str), &PairSummary> = summary
            .iter()
            .map(|s| ((s.provider.as_str(), s.model.as_str()), s))
            .collect();
        let l = market.current();
        let mut data = Vec::new();
        for (i, p) in l.providers.iter().enumerate() {
            let cell = l.pool.cell(i);
            for m in &p.models {
                let s = by_pair.get(&(p.id.as_str(), m.id.as_str()));
                let probing = crate::market::prober::is_probed(market, m);
                data.push(json!({
                    "provider": p.id,
                    "model": m.id,
                    "state": health_name(l.pool.health(i)),
                    "breaker": l.pool.breaker(i).name(),
                    "in_flight": cell.in_flight(),
                    "ttfb_ewma_ms": cell.latency_ms(),
                    "probe": if probing { "active" } else { "skipped" },
                    "last_probe": s.and_then(|s| s.last.as_ref()).map(probe_json),
                    "latency_ms": {
                        "p50_1h": s.and_then(|s| s.p50_1h),
                        "p95_1h": s.and_then(|s| s.p95_1h),
                        "p50_24h": s.and_then(|s| s.p50_24h),
                        "p95_24h": s.and_then(|s| s.p95_24h),
                    },
                    "success_rate_24h": s.map_or(Value::Null, |s| ratio(s.requests_24h)),
                    "requests_24h": s.map_or(0, |s| s.requests_24h.0),
                    "uptime_24h": s.map_or(Value::Null, |s| ratio(s.probes_24h)),
                    "uptime_7d": s.map_or(Value::Null, |s| ratio(s.probes_7d)),
                }));
            }
        }
        json!({
            "object": "list",
            "probe_interval_ms": market.health.probe_interval.as_millis() as u64,
            "data": data,
        })
    }
}

/// `since`: any RFC 3339 time, sent to Postgres in UTC (Postgres refuses offsets beyond
/// ±15:59 and the year 0000, which RFC 3339 allows). No probe is older than 1970, so earlier
/// times mean the same as 1970.
fn since_utc(v: &str) -> Result<String, ApiError> {
    use chrono::{DateTime, SecondsFormat, Utc};
    let t = DateTime::parse_from_rfc3339(v).map_err(|_| {
        ApiError::validation(format!(
            "since {v:?} is not a time (RFC 3339, e.g. 2026-12-01T00:00:00Z)"
        ))
    })?;
    let t = t.with_timezone(&Utc).max(DateTime::UNIX_EPOCH);
    Ok(t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// `GET /v1/health/history?provider=&model=&since=&limit=&cursor=`.
pub async fn history(market: &Market, query: Option<&str>) -> Result<Value, ApiError> {
    let Some(ledger) = market.fleet() else {
        return Err(ApiError::not_found(
            "probe history lives in Postgres (billing.sink: postgres)",
        ));
    };
    let mut q = HistoryQuery {
        limit: 100,
        ..Default::default()
    };
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let v = v.into_owned();
        match &*k {
            "provider" => q.provider = Some(v),
            "model" => q.model = Some(v),
            "since" => q.since = Some(since_utc(&v)?),
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        ApiError::validation(format!("limit must be an integer 1..{MAX_LIMIT}"))
                    })?
            }
            // An absent `next_cursor` sent back as `cursor=`: the first page.
            "cursor" if v.is_empty() => {}
            "cursor" => {
                q.before_id = Some(v.parse().ok().filter(|c| *c > 0).ok_or_else(|| {
                    ApiError::validation("cursor must be a next_cursor this endpoint returned")
                })?)
            }
            other => {
                return Err(ApiError::validation(format!(
                    "unknown parameter {other:?} (provider, model, since, limit, cursor)"
                )))
            }
        }
    }
    let rows = ledger.probe_history(&q).await.map_err(ledger_error)?;
    let next = (rows.len() as i64 == q.limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(json!({
        "object": "list",
        "data": rows.iter().map(probe_json).collect::<Vec<_>>(),
        "next_cursor": next,
    }))
}
