//! Read-side queries behind `/v1/balance`, `/v1/usage` and `/v1/requests`.

use super::{normalise_wallet, Ledger, LedgerError};
use crate::MicroUsdc;
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WalletBalance {
    pub balance: MicroUsdc,
    pub locked: MicroUsdc,
}

impl WalletBalance {
    pub fn available(&self) -> MicroUsdc {
        self.balance - self.locked
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyUsage {
    pub api_key_id: String,
    pub label: String,
    pub request_count: i64,
    pub total_prompt_tokens: i64,
    pub total_completion_tokens: i64,
    pub total_charged_usdc: i64,
}

/// One request in a wallet's history (no content, ever).
#[derive(Debug, Clone, Serialize)]
pub struct RequestRow {
    pub request_id: String,
    pub created_at_ms: u64,
    pub key_id: String,
    pub provider: String,
    pub model: String,
    pub stream: bool,
    pub status: String,
    pub http_status: i16,
    pub input_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub cache_read_tokens: i64,
    pub output_tokens: i64,
    pub buyer_cost_usdc: i64,
    pub latency_ms: i32,
    pub ttfb_ms: Option<i32>,
    pub error_code: Option<String>,
}

/// A page of history; `next_cursor` continues it (keyset on created_at, request_id).
#[derive(Debug, Clone, Serialize)]
pub struct RequestPage {
    pub data: Vec<RequestRow>,
    pub next_cursor: Option<String>,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Cursor text: `<created_at µs>_<request_id>`.
fn encode_cursor(t: SystemTime, id: &str) -> String {
    let us = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    format!("{us}_{id}")
}

pub fn decode_cursor(c: &str) -> Option<(SystemTime, String)> {
    let (us, id) = c.split_once('_')?;
    let us: u64 = us.parse().ok()?;
    Some((UNIX_EPOCH + Duration::from_micros(us), id.to_string()))
}

impl Ledger {
    /// Balance and locked amount; an unknown wallet is all zeros.
    pub async fn wallet_balance(&self, wallet: &str) -> Result<WalletBalance, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT a.balance, w.locked FROM wallets w JOIN accounts a ON a.id = w.account_id WHERE w.address = $1",
                &[&wallet],
            )
            .await?;
        Ok(row.map_or_else(WalletBalance::default, |r| WalletBalance {
            balance: r.get(0),
            locked: r.get(1),
        }))
    }

    /// Per-key totals for a wallet (every key, also those without requests yet).
    pub async fn key_usage(&self, wallet: &str) -> Result<Vec<KeyUsage>, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT k.id, k.label, COALESCE(u.request_count, 0), COALESCE(u.prompt_tokens, 0),
                        COALESCE(u.completion_tokens, 0), COALESCE(u.charged, 0)
                 FROM api_keys k LEFT JOIN api_key_usage u ON u.key_id = k.id
                 WHERE k.wallet = $1 ORDER BY k.created_at",
                &[&wallet],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| KeyUsage {
                api_key_id: r.get(0),
                label: r.get(1),
                request_count: r.get(2),
                total_prompt_tokens: r.get(3),
                total_completion_tokens: r.get(4),
                total_charged_usdc: r.get(5),
            })
            .collect())
    }

    /// Newest first, `limit` per page, continuing after `cursor`.
    pub async fn request_history(
        &self,
        wallet: &str,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<RequestPage, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let limit = limit.clamp(1, 200);
        let after = match cursor {
            None => None,
            Some(c) => Some(
                decode_cursor(c).ok_or_else(|| LedgerError::Invalid("invalid cursor".into()))?,
            ),
        };
        let c = self.conn().await?;
        const COLS: &str = "request_id, created_at, key_id, provider, model, stream, status, http_status, input_tokens,
             cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens, buyer_cost, latency_ms, ttfb_ms, error_code";
        let rows = match &after {
            None => {
                c.query(
                    &format!("SELECT {COLS} FROM request_log WHERE wallet = $1 ORDER BY created_at DESC, request_id DESC LIMIT $2"),
                    &[&wallet, &limit],
                )
                .await?
            }
            Some((t, id)) => {
                c.query(
                    &format!(
                        "SELECT {COLS} FROM request_log WHERE wallet = $1 AND (created_at, request_id) < ($2, $3)
                         ORDER BY created_at DESC, request_id DESC LIMIT $4"
                    ),
                    &[&wallet, t, id, &limit],
                )
                .await?
            }
        };
        let mut data = Vec::with_capacity(rows.len());
        let mut last = None;
        for r in &rows {
            let created: SystemTime = r.get(1);
            let id: String = r.get(0);
            last = Some(encode_cursor(created, &id));
            data.push(RequestRow {
                request_id: id,
                created_at_ms: ms(created),
                key_id: r.get(2),
                provider: r.get(3),
                model: r.get(4),
                stream: r.get(5),
                status: r.get(6),
                http_status: r.get(7),
                input_tokens: r.get(8),
                cache_write_5m_tokens: r.get(9),
                cache_write_1h_tokens: r.get(10),
                cache_read_tokens: r.get(11),
                output_tokens: r.get(12),
                buyer_cost_usdc: r.get(13),
                latency_ms: r.get(14),
                ttfb_ms: r.get(15),
                error_code: r.get(16),
            });
        }
        let next_cursor = if data.len() as i64 == limit {
            last
        } else {
            None
        };
        Ok(RequestPage { data, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        let c = encode_cursor(t, "req_abc_def");
        assert_eq!(decode_cursor(&c), Some((t, "req_abc_def".to_string())));
        assert_eq!(decode_cursor("garbage"), None);
    }
}
