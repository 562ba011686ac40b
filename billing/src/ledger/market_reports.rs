//! What the marketplace reads back from `provider_daily` (per provider, model and UTC hour,
//! upserted by each settlement batch): the suspension inputs, earnings per model per day and
//! the public last-24-hours view.

use super::{Ledger, LedgerError};
use serde::Serialize;

/// Per model and UTC day: what a provider's listing did.
#[derive(Debug, Clone, Serialize)]
pub struct DailyEarnings {
    pub provider: String,
    pub model: String,
    pub day: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub cache_read_tokens: i64,
    pub output_tokens: i64,
    pub earned_usdc: i64,
    pub usage_missing: i64,
    pub usage_disproved: i64,
}

/// One provider's last 24 hours, for the public marketplace view.
#[derive(Debug, Clone, Serialize)]
pub struct LastDay {
    pub provider: String,
    pub requests: i64,
    pub succeeded: i64,
    pub mean_latency_ms: Option<i64>,
    pub mean_ttfb_ms: Option<i64>,
    pub tokens: i64,
}

impl Ledger {
    /// Per marketplace upstream over the last `hours`: (requests, usage missing, usage
    /// disproved); `suspended_too`: also those already suspended.
    pub async fn usage_flags(
        &self,
        hours: i32,
        suspended_too: bool,
    ) -> Result<Vec<(String, i64, i64, i64)>, LedgerError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT d.provider, SUM(d.requests)::INT8, SUM(d.usage_missing)::INT8, SUM(d.usage_disproved)::INT8
                 FROM provider_daily d JOIN market_upstreams u ON u.id = d.provider
                 WHERE ($2 OR u.suspended_reason IS NULL) AND d.hour > now() - make_interval(hours => $1)
                 GROUP BY d.provider",
                &[&hours, &suspended_too],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect())
    }

    /// Per model and day for these providers, newest day first (at most `days` days).
    pub async fn daily_earnings(
        &self,
        providers: &[String],
        days: i32,
    ) -> Result<Vec<DailyEarnings>, LedgerError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT provider, model, to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, SUM(requests)::INT8,
                     SUM(input_tokens)::INT8, SUM(cache_write_5m_tokens)::INT8, SUM(cache_write_1h_tokens)::INT8,
                     SUM(cache_read_tokens)::INT8, SUM(output_tokens)::INT8, SUM(earned)::INT8,
                     SUM(usage_missing)::INT8, SUM(usage_disproved)::INT8
                 FROM provider_daily
                 WHERE provider = ANY($1) AND hour > now() - make_interval(days => $2)
                 GROUP BY provider, model, day
                 ORDER BY day DESC, provider, model",
                &[&providers, &days],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DailyEarnings {
                provider: r.get(0),
                model: r.get(1),
                day: r.get(2),
                requests: r.get(3),
                input_tokens: r.get(4),
                cache_write_5m_tokens: r.get(5),
                cache_write_1h_tokens: r.get(6),
                cache_read_tokens: r.get(7),
                output_tokens: r.get(8),
                earned_usdc: r.get(9),
                usage_missing: r.get(10),
                usage_disproved: r.get(11),
            })
            .collect())
    }

    /// The last 24 h per provider (every provider, the file's too): requests, successes, mean
    /// latency and time to first byte of successes, tokens.
    pub async fn last_day(&self) -> Result<Vec<LastDay>, LedgerError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT provider, SUM(requests)::INT8, SUM(succeeded)::INT8, SUM(latency_ms_sum)::INT8,
                     SUM(ttfb_ms_sum)::INT8,
                     SUM(input_tokens + cache_write_5m_tokens + cache_write_1h_tokens + cache_read_tokens + output_tokens)::INT8
                 FROM provider_daily WHERE hour > now() - interval '24 hours'
                 GROUP BY provider ORDER BY provider",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let ok: i64 = r.get(2);
                let mean = |sum: i64| (ok > 0).then(|| sum / ok);
                LastDay {
                    provider: r.get(0),
                    requests: r.get(1),
                    succeeded: ok,
                    mean_latency_ms: mean(r.get(3)),
                    mean_ttfb_ms: mean(r.get(4)),
                    tokens: r.get(5),
                }
            })
            .collect())
    }
}
