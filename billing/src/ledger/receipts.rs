//! Reads of single requests: a buyer's receipt (`GET /v1/requests/:id`) and the provider that
//! produced a Responses object (where a continuation must go).

use super::{normalise_wallet, Ledger, LedgerError};
use crate::{Price, ProviderShare};
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// What one request cost and why: its buckets, the prices applied, the charge.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Receipt {
    pub request_id: String,
    pub model: String,
    pub provider: String,
    pub api: String,
    pub stream: bool,
    pub status: String,
    pub http_status: i16,
    pub tokens: ReceiptTokens,
    /// Buyer prices in USD per 1M tokens (`None` for a request no provider served, or a row
    /// written before prices were recorded).
    pub prices: Option<ReceiptPrices>,
    /// The charge in USD, as a decimal string of the micro-USDC amount.
    pub cost_usd: String,
    pub cost_microusdc: i64,
    pub reserved_microusdc: i64,
    /// No usage arrived from the provider / its stream was cut: billed by the charging rules.
    pub usage_missing: bool,
    pub stream_cut: bool,
    pub created_at_ms: u64,
    pub settled_at_ms: u64,
    pub response_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReceiptTokens {
    pub input: i64,
    pub cache_write_5m: i64,
    pub cache_write_1h: i64,
    pub cache_read: i64,
    pub output: i64,
}

/// Buyer prices (the provider's price grossed up by its share, as `GET /v1/models` shows
/// them), USD per 1M tokens as exact decimal strings.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReceiptPrices {
    pub input: String,
    pub cache_write_5m: String,
    pub cache_write_1h: String,
    pub cache_read: String,
    pub output: String,
    /// The provider's share of the buyer's price, in basis points.
    pub provider_share_bps: i32,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Ledger {
    /// The receipt of `request_id` when it belongs to `wallet` (`None` otherwise, or while it
    /// is not settled yet: the same answer, so ids of other wallets cannot be probed).
    pub async fn receipt(
        &self,
        request_id: &str,
        wallet: &str,
    ) -> Result<Option<Receipt>, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        let Some(r) = c
            .query_opt(
                "SELECT request_id, model, provider, api, stream, status, http_status, input_tokens,
                        cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens,
                        buyer_cost, reserved, usage_missing, stream_cut, created_at, settled_at, response_id,
                        price_input, price_cache_write_5m, price_cache_write_1h, price_cache_read, price_output, share_bps
                 FROM request_log WHERE request_id = $1 AND wallet = $2",
                &[&request_id, &wallet],
            )
            .await?
        else {
            return Ok(None);
        };
        let prices = match (r.get::<_, Option<i32>>(24), r.get::<_, Option<i64>>(19)) {
            (Some(bps), Some(_)) => ProviderShare::from_bps(bps.max(1) as u32).map(|share| {
                let buyer = |i: usize| {
                    let p: i64 = r.get::<_, Option<i64>>(i).unwrap_or(0);
                    Price::from_micros_per_million(p.max(0) as u64)
                        .for_buyer(share)
                        .to_string()
                };
                ReceiptPrices {
                    input: buyer(19),
                    cache_write_5m: buyer(20),
                    cache_write_1h: buyer(21),
                    cache_read: buyer(22),
                    output: buyer(23),
                    provider_share_bps: bps,
                }
            }),
            _ => None,
        };
        let cost: i64 = r.get(12);
        Ok(Some(Receipt {
            request_id: r.get(0),
            model: r.get(1),
            provider: r.get(2),
            api: r.get(3),
            stream: r.get(4),
            status: r.get(5),
            http_status: r.get(6),
            tokens: ReceiptTokens {
                input: r.get(7),
                cache_write_5m: r.get(8),
                cache_write_1h: r.get(9),
                cache_read: r.get(10),
                output: r.get(11),
            },
            prices,
            cost_usd: micro_to_usd(cost),
            cost_microusdc: cost,
            reserved_microusdc: r.get(13),
            usage_missing: r.get(14),
            stream_cut: r.get(15),
            created_at_ms: ms(r.get(16)),
            settled_at_ms: ms(r.get(17)),
            response_id: r.get(18),
        }))
    }

    /// The provider that produced Responses object `response_id` for `wallet`, if any.
    pub async fn response_provider(
        &self,
        response_id: &str,
        wallet: &str,
    ) -> Result<Option<String>, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        Ok(c
            .query_opt(
                "SELECT provider FROM request_log WHERE response_id = $1 AND wallet = $2 LIMIT 1",
                &[&response_id, &wallet],
            )
            .await?
            .map(|r| r.get(0)))
    }
}

/// Micro-USDC as a decimal string of USD (`123` → `0.000123`).
fn micro_to_usd(m: i64) -> String {
    let sign = if m < 0 { "-" } else { "" };
    let p = Price::from_micros_per_million(m.unsigned_abs());
    format!("{sign}{p}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn usd_strings_are_exact() {
        assert_eq!(super::micro_to_usd(123), "0.000123");
        assert_eq!(super::micro_to_usd(2_500_000), "2.5");
        assert_eq!(super::micro_to_usd(0), "0");
    }
}
