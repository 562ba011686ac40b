//! Provider health a fleet shares: the probe schedule every node claims from, each probe's
//! result, and the last health transition any node learned (sent with `NOTIFY
//! tollgate_health` in the transaction that stores it, so a node that was not listening
//! reads it here when it listens again).

use super::{Ledger, LedgerError};
use std::time::Duration;

/// Health transitions are announced here: payload `"<healthy|unhealthy>\t<node>\t<provider>"`.
pub const HEALTH_CHANNEL: &str = "tollgate_health";

/// One probe's result, as stored and as the history API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRecord {
    pub provider: String,
    pub model: String,
    /// `ok`, `fail` or `timeout`.
    pub result: &'static str,
    pub latency_ms: i32,
    pub ttfb_ms: Option<i32>,
    pub status: Option<i32>,
    /// A status and a fixed reason; never a key or an upstream body.
    pub error: Option<String>,
    pub usage_seen: bool,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub node: String,
}

/// A stored probe, newest first in [`Ledger::probe_history`].
#[derive(Debug, Clone)]
pub struct ProbeRow {
    pub id: i64,
    pub at: String,
    pub record: ProbeRecord,
}

/// Which rows of the history.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub provider: Option<String>,
    pub model: Option<String>,
    /// RFC 3339; only probes at or after it.
    pub since: Option<String>,
    /// Keyset cursor: only ids below it.
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// One (provider, model)'s record for `GET /v1/health/providers`.
#[derive(Debug, Clone, Default)]
pub struct PairSummary {
    pub provider: String,
    pub model: String,
    pub last: Option<ProbeRow>,
    pub p50_1h: Option<i64>,
    pub p95_1h: Option<i64>,
    pub p50_24h: Option<i64>,
    pub p95_24h: Option<i64>,
    /// Buyers' requests over the last 24 h: (requests, succeeded).
    pub requests_24h: (i64, i64),
    /// Probes over 24 h and 7 d: (probes, ok).
    pub probes_24h: (i64, i64),
    pub probes_7d: (i64, i64),
}

/// The fleet's last known state of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetHealth {
    pub provider: String,
    pub healthy: bool,
    /// How long ago it changed, in ms (the cooldown of an unhealthy one runs from here).
    pub age_ms: i64,
    pub node: String,
}

const RESULT_COLS: &str = concat!(
    "id, ",
    iso!("at"),
    ", provider, model, result, latency_ms, ttfb_ms, status, error, usage_seen, input_tokens, output_tokens, node"
);

fn result_name(s: &str) -> &'static str {
    match s {
        "ok" => "ok",
        "timeout" => "timeout",
        _ => "fail",
    }
}

fn probe_row(r: &tokio_postgres::Row) -> ProbeRow {
    ProbeRow {
        id: r.get(0),
        at: r.get(1),
        record: ProbeRecord {
            provider: r.get(2),
            model: r.get(3),
            result: result_name(r.get(4)),
            latency_ms: r.get(5),
            ttfb_ms: r.get(6),
            status: r.get(7),
            error: r.get(8),
            usage_seen: r.get(9),
            input_tokens: r.get(10),
            output_tokens: r.get(11),
            node: r.get(12),
        },
    }
}

impl Ledger {
    /// Claim the probes due among `pairs` (what this node can probe): each claimed slot's
    /// next turn moves `every` ahead in the same statement, so no other node claims it this
    /// interval. New pairs get a slot due now. At most `limit` are claimed.
    pub async fn claim_probes(
        &self,
        pairs: &[(String, String)],
        node: &str,
        every: Duration,
        limit: i64,
    ) -> Result<Vec<(String, String)>, LedgerError> {
        if pairs.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let (providers, models): (Vec<&str>, Vec<&str>) =
            pairs.iter().map(|(p, m)| (p.as_str(), m.as_str())).unzip();
        let every_ms = every.as_millis().min(i64::MAX as u128) as i64;
        let c = self.conn().await?;
        c.execute(
            "INSERT INTO probe_slots (provider, model)
             SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            &[&providers, &models],
        )
        .await?;
        let rows = c
            .query(
                "WITH mine AS (SELECT * FROM unnest($1::text[], $2::text[]) AS t(provider, model)),
                 due AS (
                    SELECT s.provider, s.model FROM probe_slots s
                    JOIN mine USING (provider, model)
                    WHERE s.next_due <= now()
                    ORDER BY s.next_due LIMIT $5
                    FOR UPDATE OF s SKIP LOCKED)
                 UPDATE probe_slots s
                 SET next_due = now() + make_interval(secs => ($3::int8 / 1000.0)::float8), claimed_by = $4
                 FROM due WHERE s.provider = due.provider AND s.model = due.model
                 RETURNING s.provider, s.model",
                &[&providers, &models, &every_ms, &node, &limit],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Store one probe's result and count it in its hour.
    pub async fn record_probe(&self, p: &ProbeRecord) -> Result<i64, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO probe_results (provider, model, result, latency_ms, ttfb_ms, status,
                    error, usage_seen, input_tokens, output_tokens, node)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                &[
                    &p.provider,
                    &p.model,
                    &p.result,
                    &p.latency_ms,
                    &p.ttfb_ms,
                    &p.status,
                    &p.error,
                    &p.usage_seen,
                    &p.input_tokens,
                    &p.output_tokens,
                    &p.node,
                ],
            )
            .await?
            .get(0);
        tx.execute(
            "INSERT INTO probe_hourly (provider, model, hour, probes, ok)
             VALUES ($1, $2, date_trunc('hour', now()), 1, $3)
             ON CONFLICT (provider, model, hour)
             DO UPDATE SET probes = probe_hourly.probes + 1, ok = probe_hourly.ok + EXCLUDED.ok",
            &[&p.provider, &p.model, &i64::from(p.result == "ok")],
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Store a health transition of `provider` and announce it to every node, in one
    /// transaction (the notification arrives with the row it describes).
    pub async fn publish_health(
        &self,
        provider: &str,
        healthy: bool,
        node: &str,
        reason: &str,
    ) -> Result<(), LedgerError> {
        let state = if healthy { "healthy" } else { "unhealthy" };
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "INSERT INTO provider_health (provider, state, changed_at, node, reason)
             VALUES ($1, $2, now(), $3, $4)
             ON CONFLICT (provider) DO UPDATE
             SET state = EXCLUDED.state, changed_at = now(), node = EXCLUDED.node, reason = EXCLUDED.reason",
            &[&provider, &state, &node, &reason],
        )
        .await?;
        let payload = format!("{state}\t{node}\t{provider}");
        tx.execute("SELECT pg_notify($1, $2)", &[&HEALTH_CHANNEL, &payload])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every provider's last transition (read when a node starts listening again).
    pub async fn fleet_health(&self) -> Result<Vec<FleetHealth>, LedgerError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT provider, state = 'healthy',
                        (EXTRACT(EPOCH FROM (now() - changed_at)) * 1000)::INT8, node
                 FROM provider_health",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| FleetHealth {
                provider: r.get(0),
                healthy: r.get(1),
                age_ms: r.get(2),
                node: r.get(3),
            })
            .collect())
    }

    /// Probes, newest first, by keyset on id. Only the filters given are in the SQL (a
    /// generic plan of `$1 IS NULL OR provider = $1` could not use the pair's index).
    pub async fn probe_history(&self, q: &HistoryQuery) -> Result<Vec<ProbeRow>, LedgerError> {
        let c = self.conn().await?;
        let mut conds: Vec<String> = Vec::new();
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::new();
        if let Some(p) = &q.provider {
            params.push(p);
            conds.push(format!("provider = ${}", params.len()));
        }
        if let Some(m) = &q.model {
            params.push(m);
            conds.push(format!("model = ${}", params.len()));
        }
        if let Some(t) = &q.since {
            params.push(t);
            conds.push(format!("at >= ${}::text::timestamptz", params.len()));
        }
        if let Some(id) = &q.before_id {
            params.push(id);
            conds.push(format!("id < ${}", params.len()));
        }
        params.push(&q.limit);
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT {RESULT_COLS} FROM probe_results {filter} ORDER BY id DESC LIMIT ${}",
            params.len()
        );
        let rows = c
            .query(&sql, &params)
            .await
            .map_err(|e| match e.as_db_error() {
                // 22xxx: data exception, here only the `since` text.
                Some(db) if db.code().code().starts_with("22") => LedgerError::Invalid(format!(
                    "since {:?} is not a time (RFC 3339, e.g. 2026-12-01T00:00:00Z)",
                    q.since.as_deref().unwrap_or("")
                )),
                _ => LedgerError::Db(e),
            })?;
        Ok(rows.iter().map(probe_row).collect())
    }

    /// The last probe, latency percentiles, request success and probe uptime of every
    /// (provider, model) probed in the last 7 days.
    pub async fn health_summary(&self) -> Result<Vec<PairSummary>, LedgerError> {
        let c = self.conn().await?;
        let pairs = c
            .query(
                "SELECT provider, model, SUM(probes)::INT8, SUM(ok)::INT8,
                        COALESCE(SUM(probes) FILTER (WHERE hour > now() - interval '24 hours'), 0)::INT8,
                        COALESCE(SUM(ok) FILTER (WHERE hour > now() - interval '24 hours'), 0)::INT8
                 FROM probe_hourly WHERE hour > now() - interval '7 days'
                 GROUP BY provider, model ORDER BY provider, model",
                &[],
            )
            .await?;
        let mut out = Vec::with_capacity(pairs.len());
        for r in &pairs {
            let (provider, model): (String, String) = (r.get(0), r.get(1));
            let last = c
                .query_opt(
                    &format!(
                        "SELECT {RESULT_COLS} FROM probe_results
                         WHERE provider = $1 AND model = $2 ORDER BY id DESC LIMIT 1"
                    ),
                    &[&provider, &model],
                )
                .await?
                .map(|r| probe_row(&r));
            let pct = c
                .query_one(
                    "SELECT
                       percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE at > now() - interval '1 hour'),
                       percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE at > now() - interval '1 hour'),
                       percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms),
                       percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms)
                     FROM probe_results
                     WHERE provider = $1 AND model = $2 AND result = 'ok'
                       AND at > now() - interval '24 hours'",
                    &[&provider, &model],
                )
                .await?;
            let req = c
                .query_one(
                    "SELECT COALESCE(SUM(requests), 0)::INT8, COALESCE(SUM(succeeded), 0)::INT8
                     FROM provider_daily
                     WHERE provider = $1 AND model = $2 AND hour > now() - interval '24 hours'",
                    &[&provider, &model],
                )
                .await?;
            let ms = |i: usize| pct.get::<_, Option<i32>>(i).map(i64::from);
            out.push(PairSummary {
                last,
                p50_1h: ms(0),
                p95_1h: ms(1),
                p50_24h: ms(2),
                p95_24h: ms(3),
                requests_24h: (req.get(0), req.get(1)),
                probes_24h: (r.get(4), r.get(5)),
                probes_7d: (r.get(2), r.get(3)),
                provider,
                model,
            });
        }
        Ok(out)
    }

    /// Delete probe results older than `keep` (hourly counts: at least 8 days, for the
    /// 7-day uptime), at most `batch` rows per call. Returns the rows deleted.
    pub async fn prune_probes(&self, keep: Duration, batch: i64) -> Result<u64, LedgerError> {
        let keep_s = keep.as_secs().min(i64::MAX as u64) as i64;
        let c = self.conn().await?;
        let n = c
            .execute(
                "DELETE FROM probe_results WHERE id IN (
                    SELECT id FROM probe_results
                    WHERE at < now() - make_interval(secs => $1::int8::float8)
                    ORDER BY at LIMIT $2)",
                &[&keep_s, &batch],
            )
            .await?;
        c.execute(
            "DELETE FROM probe_hourly
             WHERE hour < now() - GREATEST(make_interval(secs => $1::int8::float8), interval '8 days')",
            &[&keep_s],
        )
        .await?;
        c.execute(
            "DELETE FROM probe_slots WHERE next_due < now() - interval '1 day'",
            &[],
        )
        .await?;
        Ok(n)
    }
}
