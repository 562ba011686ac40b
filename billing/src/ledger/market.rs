//! The marketplace's tables: provider keys, upstreams (with their sealed API keys), listed
//! models and the append-only price history. Every change that alters what buyers can be
//! routed to notifies `tollgate_catalog` in its own transaction, so every node reloads within
//! a second of the commit.

use super::{hash_api_key, normalise_wallet, random_hex, Ledger, LedgerError};
use serde::Serialize;

/// Catalog changes are announced here (the payload is informational: nodes reload all).
pub const CATALOG_CHANNEL: &str = "tollgate_catalog";

/// What a provider key may do.
pub const PROVIDER_SCOPES: [&str; 3] = ["models:write", "earnings:read", "status:read"];

macro_rules! iso {
    ($col:literal) => {
        concat!(
            "to_char(",
            $col,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        )
    };
}

#[derive(Debug, Clone, Serialize)]
pub struct NewProviderKey {
    pub id: String,
    pub key: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_at: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderKeyInfo {
    pub id: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_at: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A valid (unrevoked, unexpired) provider key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderKeyRecord {
    pub id: String,
    pub wallet: String,
    pub scopes: Vec<String>,
}

/// An upstream as stored. `key_sealed` is nonce || AES-256-GCM ciphertext (see the gateway's
/// `market::sealed`); the ledger never sees a key in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRow {
    pub id: String,
    pub owner: String,
    pub kind: String,
    pub base_url: String,
    pub priority: i32,
    pub key_sealed: Option<Vec<u8>>,
    pub key_master_id: Option<String>,
    pub key_last4: Option<String>,
    pub enabled: bool,
    pub suspended_reason: Option<String>,
}

/// Per-token prices in micro-USD per 1M tokens; `request` in micro-USD per request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PriceRow {
    pub prompt: i64,
    pub completion: i64,
    pub cache_read: i64,
    pub cache_write_5m: i64,
    pub cache_write_1h: i64,
    pub image: Option<i64>,
    pub request: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRow {
    pub upstream_id: String,
    pub id: String,
    pub upstream_model: String,
    pub display_name: String,
    pub context_length: i64,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub enabled: bool,
    pub live: bool,
    pub status: String,
    pub price_id: i64,
    pub prices: PriceRow,
    /// Which version of the listing a probe verdict is for.
    pub revision: i64,
}

/// Why an upstream write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Another wallet owns this id.
    NotOwner,
    /// No such upstream (of this owner).
    Unknown,
}

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

const UPSTREAM_COLS: &str = "id, owner, kind, base_url, priority, key_sealed, key_master_id, key_last4, enabled, suspended_reason";

fn upstream_row(r: &tokio_postgres::Row) -> UpstreamRow {
    UpstreamRow {
        id: r.get(0),
        owner: r.get(1),
        kind: r.get(2),
        base_url: r.get(3),
        priority: r.get(4),
        key_sealed: r.get(5),
        key_master_id: r.get(6),
        key_last4: r.get(7),
        enabled: r.get(8),
        suspended_reason: r.get(9),
    }
}

const MODEL_COLS: &str = "m.upstream_id, m.id, m.upstream_model, m.display_name, m.context_length,
    m.input_modalities, m.output_modalities, m.enabled, m.live, m.status, m.price_id,
    p.prompt, p.completion, p.cache_read, p.cache_write_5m, p.cache_write_1h, p.image, p.request,
    m.revision";

fn model_row(r: &tokio_postgres::Row) -> ModelRow {
    ModelRow {
        upstream_id: r.get(0),
        id: r.get(1),
        upstream_model: r.get(2),
        display_name: r.get(3),
        context_length: r.get(4),
        input_modalities: r.get(5),
        output_modalities: r.get(6),
        enabled: r.get(7),
        live: r.get(8),
        status: r.get(9),
        price_id: r.get(10),
        prices: PriceRow {
            prompt: r.get(11),
            completion: r.get(12),
            cache_read: r.get(13),
            cache_write_5m: r.get(14),
            cache_write_1h: r.get(15),
            image: r.get(16),
            request: r.get(17),
        },
        revision: r.get(18),
    }
}

async fn notify(tx: &tokio_postgres::Transaction<'_>, what: &str) -> Result<(), LedgerError> {
    tx.execute("SELECT pg_notify($1, $2)", &[&CATALOG_CHANNEL, &what])
        .await?;
    Ok(())
}

impl Ledger {
    /// A provider key for `wallet`: `pk-` + 64 hex, shown once, stored as SHA-256.
    pub async fn create_provider_key(
        &self,
        wallet: &str,
        label: &str,
        scopes: &[String],
        valid_for_days: u32,
    ) -> Result<NewProviderKey, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        if label.chars().count() > 100 {
            return Err(LedgerError::Invalid(
                "label is longer than 100 characters".into(),
            ));
        }
        if let Some(bad) = scopes
            .iter()
            .find(|s| !PROVIDER_SCOPES.contains(&s.as_str()))
        {
            return Err(LedgerError::Invalid(format!(
                "scopes: unknown scope {bad:?} (expected {})",
                PROVIDER_SCOPES.join(", ")
            )));
        }
        if !(1..=3650).contains(&valid_for_days) {
            return Err(LedgerError::Invalid(
                "valid_for_days must be between 1 and 3650".into(),
            ));
        }
        let key = format!("pk-{}", random_hex(32)?);
        let id = format!("pkey_{}", random_hex(8)?);
        let hash = hash_api_key(&key);
        let c = self.conn().await?;
        let row = c
            .query_one(
                concat!(
                    "INSERT INTO provider_keys (id, wallet, key_hash, label, scopes, expires_at)
                     VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6)) RETURNING ",
                    iso!("expires_at"),
                    ", ",
                    iso!("created_at")
                ),
                &[
                    &id,
                    &wallet,
                    &&hash[..],
                    &label,
                    &scopes,
                    &(valid_for_days as i32),
                ],
            )
            .await?;
        Ok(NewProviderKey {
            id,
            key,
            label: label.to_string(),
            scopes: scopes.to_vec(),
            expires_at: row.get(0),
            created_at: row.get(1),
        })
    }

    /// The key's owner and scopes, when it is neither revoked nor expired. Not cached: the
    /// provider endpoints are rare, and a revocation is then effective on every node at once.
    pub async fn find_provider_key(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<ProviderKeyRecord>, LedgerError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT id, wallet, scopes FROM provider_keys
                 WHERE key_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
                &[&&hash[..]],
            )
            .await?;
        Ok(row.map(|r| ProviderKeyRecord {
            id: r.get(0),
            wallet: r.get(1),
            scopes: r.get(2),
        }))
    }

    pub async fn list_provider_keys(
        &self,
        wallet: &str,
    ) -> Result<Vec<ProviderKeyInfo>, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        let rows = c
            .query(
                concat!(
                    "SELECT id, label, scopes, ",
                    iso!("expires_at"),
                    ", ",
                    iso!("created_at"),
                    ", ",
                    iso!("revoked_at"),
                    " FROM provider_keys WHERE wallet = $1 ORDER BY created_at, id"
                ),
                &[&wallet],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ProviderKeyInfo {
                id: r.get(0),
                label: r.get(1),
                scopes: r.get(2),
                expires_at: r.get(3),
                created_at: r.get(4),
                revoked_at: r.get(5),
            })
            .collect())
    }

    /// Revoke one of `wallet`'s provider keys; false when it has no such key.
    pub async fn revoke_provider_key(&self, wallet: &str, id: &str) -> Result<bool, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        let n = c
            .execute(
                "UPDATE provider_keys SET revoked_at = COALESCE(revoked_at, now())
                 WHERE id = $1 AND wallet = $2",
                &[&id, &wallet],
            )
            .await?;
        Ok(n == 1)
    }

    /// Register or update an upstream owned by `row.owner`. `key_sealed: None` keeps the
    /// stored key. Refused when another wallet owns the id.
    pub async fn put_upstream(
        &self,
        row: &UpstreamRow,
    ) -> Result<Result<bool, Refused>, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let owner: Option<String> = tx
            .query_opt(
                "SELECT owner FROM market_upstreams WHERE id = $1 FOR UPDATE",
                &[&row.id],
            )
            .await?
            .map(|r| r.get(0));
        let created = match owner {
            Some(o) if o != row.owner => return Ok(Err(Refused::NotOwner)),
            Some(_) => {
                tx.execute(
                    "UPDATE market_upstreams SET kind = $2, base_url = $3, priority = $4,
                         key_sealed = COALESCE($5, key_sealed), key_master_id = COALESCE($6, key_master_id),
                         key_last4 = COALESCE($7, key_last4), enabled = $8, updated_at = now()
                     WHERE id = $1",
                    &[
                        &row.id, &row.kind, &row.base_url, &row.priority, &row.key_sealed,
                        &row.key_master_id, &row.key_last4, &row.enabled,
                    ],
                )
                .await?;
                false
            }
            None => {
                tx.execute(
                    "INSERT INTO market_upstreams (id, owner, kind, base_url, priority, key_sealed, key_master_id, key_last4, enabled)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        &row.id, &row.owner, &row.kind, &row.base_url, &row.priority, &row.key_sealed,
                        &row.key_master_id, &row.key_last4, &row.enabled,
                    ],
                )
                .await?;
                true
            }
        };
        // A changed upstream is probed again before its models route traffic.
        tx.execute(
            "UPDATE market_models SET live = false, status = 'probing', revision = revision + 1
             WHERE upstream_id = $1",
            &[&row.id],
        )
        .await?;
        notify(&tx, &row.id).await?;
        tx.commit().await?;
        Ok(Ok(created))
    }

    pub async fn upstream(&self, id: &str) -> Result<Option<UpstreamRow>, LedgerError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!("SELECT {UPSTREAM_COLS} FROM market_upstreams WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(upstream_row))
    }

    /// Take an upstream offline for good: its models are removed and its key erased, but the
    /// row stays, so the id (with its earnings and payouts) remains its owner's. In-flight
    /// requests finish on the node's snapshot.
    pub async fn delete_upstream(&self, owner: &str, id: &str) -> Result<bool, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE market_upstreams SET enabled = false, key_sealed = NULL, key_master_id = NULL,
                     key_last4 = NULL, updated_at = now()
                 WHERE id = $1 AND owner = $2",
                &[&id, &owner],
            )
            .await?;
        tx.execute(
            "DELETE FROM market_models WHERE upstream_id = $1 AND $2",
            &[&id, &(n == 1)],
        )
        .await?;
        notify(&tx, id).await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Register or update a model of one of `owner`'s upstreams, not live until
    /// [`Self::set_model_live`]. A price differing from the current one is a new
    /// `market_prices` row; requests admitted before the change keep the old row's id.
    pub async fn put_model(
        &self,
        owner: &str,
        m: &ModelRow,
    ) -> Result<Result<(i64, i64), Refused>, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let up_owner: Option<String> = tx
            .query_opt(
                "SELECT owner FROM market_upstreams WHERE id = $1 FOR UPDATE",
                &[&m.upstream_id],
            )
            .await?
            .map(|r| r.get(0));
        match up_owner {
            None => return Ok(Err(Refused::Unknown)),
            Some(o) if o != owner => return Ok(Err(Refused::NotOwner)),
            Some(_) => {}
        }
        let p = &m.prices;
        let current: Option<i64> = tx
            .query_opt(
                "SELECT p.id FROM market_models m JOIN market_prices p ON p.id = m.price_id
                 WHERE m.upstream_id = $1 AND m.id = $2 AND p.prompt = $3 AND p.completion = $4
                   AND p.cache_read = $5 AND p.cache_write_5m = $6 AND p.cache_write_1h = $7
                   AND p.image IS NOT DISTINCT FROM $8 AND p.request = $9",
                &[
                    &m.upstream_id,
                    &m.id,
                    &p.prompt,
                    &p.completion,
                    &p.cache_read,
                    &p.cache_write_5m,
                    &p.cache_write_1h,
                    &p.image,
                    &p.request,
                ],
            )
            .await?
            .map(|r| r.get(0));
        let price_id = match current {
            Some(id) => id,
            None => tx
                .query_one(
                    "INSERT INTO market_prices (upstream_id, model, prompt, completion, cache_read, cache_write_5m,
                         cache_write_1h, image, request)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    &[
                        &m.upstream_id, &m.id, &p.prompt, &p.completion, &p.cache_read,
                        &p.cache_write_5m, &p.cache_write_1h, &p.image, &p.request,
                    ],
                )
                .await?
                .get(0),
        };
        let revision: i64 = tx
            .query_one(
                "INSERT INTO market_models AS mm (upstream_id, id, upstream_model, display_name, context_length,
                     input_modalities, output_modalities, price_id, enabled, live, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false, 'probing')
                 ON CONFLICT (upstream_id, id) DO UPDATE SET upstream_model = $3, display_name = $4,
                     context_length = $5, input_modalities = $6, output_modalities = $7, price_id = $8,
                     enabled = $9, live = false, status = 'probing', revision = mm.revision + 1,
                     updated_at = now()
                 RETURNING revision",
                &[
                    &m.upstream_id, &m.id, &m.upstream_model, &m.display_name, &m.context_length,
                    &m.input_modalities, &m.output_modalities, &price_id, &m.enabled,
                ],
            )
            .await?
            .get(0);
        notify(&tx, &m.upstream_id).await?;
        tx.commit().await?;
        Ok(Ok((price_id, revision)))
    }

    /// Record a probe's verdict on a model, only for the revision that was probed: a change
    /// made meanwhile (to the model or its upstream) is never marked live by an older probe.
    /// False when the listing changed since.
    pub async fn set_model_live(
        &self,
        upstream_id: &str,
        id: &str,
        revision: i64,
        live: bool,
        status: &str,
    ) -> Result<bool, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE market_models SET live = $4, status = $5
                 WHERE upstream_id = $1 AND id = $2 AND revision = $3 AND status = 'probing'",
                &[&upstream_id, &id, &revision, &live, &status],
            )
            .await?;
        notify(&tx, upstream_id).await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    pub async fn delete_model(
        &self,
        owner: &str,
        upstream_id: &str,
        id: &str,
    ) -> Result<bool, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "DELETE FROM market_models m USING market_upstreams u
                 WHERE m.upstream_id = u.id AND u.owner = $1 AND m.upstream_id = $2 AND m.id = $3",
                &[&owner, &upstream_id, &id],
            )
            .await?;
        notify(&tx, upstream_id).await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Every upstream and model (the catalog loader filters what is routable).
    pub async fn market(&self) -> Result<(Vec<UpstreamRow>, Vec<ModelRow>), LedgerError> {
        let c = self.conn().await?;
        let ups = c
            .query(
                &format!("SELECT {UPSTREAM_COLS} FROM market_upstreams ORDER BY id"),
                &[],
            )
            .await?;
        let models = c
            .query(
                &format!(
                    "SELECT {MODEL_COLS} FROM market_models m JOIN market_prices p ON p.id = m.price_id
                     ORDER BY m.upstream_id, m.id"
                ),
                &[],
            )
            .await?;
        Ok((
            ups.iter().map(upstream_row).collect(),
            models.iter().map(model_row).collect(),
        ))
    }

    /// A price row by id (re-deriving a bill).
    pub async fn market_price(&self, id: i64) -> Result<Option<PriceRow>, LedgerError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT prompt, completion, cache_read, cache_write_5m, cache_write_1h, image, request
                 FROM market_prices WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(row.map(|r| PriceRow {
            prompt: r.get(0),
            completion: r.get(1),
            cache_read: r.get(2),
            cache_write_5m: r.get(3),
            cache_write_1h: r.get(4),
            image: r.get(5),
            request: r.get(6),
        }))
    }

    /// Suspend an upstream (its models stop routing on every node).
    pub async fn suspend_upstream(&self, id: &str, reason: &str) -> Result<(), LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "UPDATE market_upstreams SET suspended_reason = $2, updated_at = now()
             WHERE id = $1 AND suspended_reason IS NULL",
            &[&id, &reason],
        )
        .await?;
        notify(&tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

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

    /// Marketplace upstreams and their owners (payouts go to the owner).
    pub async fn market_owners(&self) -> Result<Vec<(String, String)>, LedgerError> {
        let c = self.conn().await?;
        let rows = c
            .query("SELECT id, owner FROM market_upstreams ORDER BY id", &[])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Every sealed key, for `tollgate keys rotate-master`.
    pub async fn sealed_keys(&self) -> Result<Vec<(String, Vec<u8>, String)>, LedgerError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT id, key_sealed, key_master_id FROM market_upstreams WHERE key_sealed IS NOT NULL ORDER BY id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Replace one sealed key, only if it is still the one that was re-sealed (a concurrent
    /// rotation by the provider wins).
    pub async fn reseal_key(
        &self,
        id: &str,
        old: &[u8],
        sealed: &[u8],
        master_id: &str,
    ) -> Result<bool, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE market_upstreams SET key_sealed = $3, key_master_id = $4 WHERE id = $1 AND key_sealed = $2",
                &[&id, &old, &sealed, &master_id],
            )
            .await?;
        notify(&tx, id).await?;
        tx.commit().await?;
        Ok(n == 1)
    }
}
