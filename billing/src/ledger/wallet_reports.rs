//! A wallet's spend and tokens per model and day: `wallet_daily` (per wallet, model and UTC
//! hour), folded in by each settlement batch in the batch's own transaction and read back
//! for the console's charts (`GET /v1/account`).

use super::{normalise_wallet, Ledger, LedgerError};
use crate::Outcome;
use serde::Serialize;
use std::collections::BTreeMap;

/// Per model and UTC day: what a wallet spent and the tokens of each bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalletDay {
    pub day: String,
    pub model: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub cache_read_tokens: i64,
    pub output_tokens: i64,
    pub spent_usdc: i64,
}

/// The most days [`Ledger::wallet_daily`] reads.
pub const MAX_DAYS: i32 = 90;

/// Fold a batch into `wallet_daily` (one row per wallet, model and hour it touches).
pub(crate) async fn add_wallet_daily(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[&Outcome],
) -> Result<(), LedgerError> {
    let mut per_hour: BTreeMap<(&str, i64, &str), [i64; 7]> = BTreeMap::new();
    for o in rows {
        let t = &o.tokens;
        let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        let hour = (o.started_at_ms / 3_600_000) as i64;
        let e = per_hour
            .entry((o.wallet.as_str(), hour, o.model.as_str()))
            .or_default();
        let v = [
            1,
            n(t.input_tokens),
            n(t.cache_write_5m_tokens),
            n(t.cache_write_1h_tokens),
            n(t.cache_read_tokens),
            n(t.output_tokens),
            o.buyer_cost_usdc,
        ];
        for (acc, x) in e.iter_mut().zip(v) {
            *acc = acc.saturating_add(x);
        }
    }
    if per_hour.is_empty() {
        return Ok(());
    }
    let wallets: Vec<&str> = per_hour.keys().map(|k| k.0).collect();
    let hours: Vec<i64> = per_hour.keys().map(|k| k.1).collect();
    let models: Vec<&str> = per_hour.keys().map(|k| k.2).collect();
    let cols: Vec<Vec<i64>> = (0..7)
        .map(|i| per_hour.values().map(|v| v[i]).collect())
        .collect();
    tx.execute(
        "INSERT INTO wallet_daily AS d (wallet, hour, model, requests, input_tokens, cache_write_5m_tokens,
             cache_write_1h_tokens, cache_read_tokens, output_tokens, spent)
         SELECT w, to_timestamp(n * 3600), m, r, i, w5, w1, cr, o, s
         FROM UNNEST($1::TEXT[], $2::INT8[], $3::TEXT[], $4::INT8[], $5::INT8[], $6::INT8[], $7::INT8[],
             $8::INT8[], $9::INT8[], $10::INT8[]) AS x(w, n, m, r, i, w5, w1, cr, o, s)
         ON CONFLICT (wallet, hour, model) DO UPDATE SET
             requests = d.requests + EXCLUDED.requests,
             input_tokens = d.input_tokens + EXCLUDED.input_tokens,
             cache_write_5m_tokens = d.cache_write_5m_tokens + EXCLUDED.cache_write_5m_tokens,
             cache_write_1h_tokens = d.cache_write_1h_tokens + EXCLUDED.cache_write_1h_tokens,
             cache_read_tokens = d.cache_read_tokens + EXCLUDED.cache_read_tokens,
             output_tokens = d.output_tokens + EXCLUDED.output_tokens,
             spent = d.spent + EXCLUDED.spent",
        &[
            &wallets, &hours, &models, &cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5],
            &cols[6],
        ],
    )
    .await?;
    Ok(())
}

impl Ledger {
    /// Per UTC day and model over the last `days` days (1..=[`MAX_DAYS`]), oldest day first.
    pub async fn wallet_daily(
        &self,
        wallet: &str,
        days: i32,
    ) -> Result<Vec<WalletDay>, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let days = days.clamp(1, MAX_DAYS);
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, model, SUM(requests)::INT8,
                     SUM(input_tokens)::INT8, SUM(cache_write_5m_tokens)::INT8, SUM(cache_write_1h_tokens)::INT8,
                     SUM(cache_read_tokens)::INT8, SUM(output_tokens)::INT8, SUM(spent)::INT8
                 FROM wallet_daily
                 WHERE wallet = $1
                   AND hour >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => $2 - 1)
                 GROUP BY day, model
                 ORDER BY day, model",
                &[&wallet, &days],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| WalletDay {
                day: r.get(0),
                model: r.get(1),
                requests: r.get(2),
                input_tokens: r.get(3),
                cache_write_5m_tokens: r.get(4),
                cache_write_1h_tokens: r.get(5),
                cache_read_tokens: r.get(6),
                output_tokens: r.get(7),
                spent_usdc: r.get(8),
            })
            .collect())
    }
}
