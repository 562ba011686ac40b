//! The marketplace's tables: upstreams (with their sealed API keys), listed
//! models and the append-only price history. Every change that alters what buyers can be
//! routed to notifies `tollgate_catalog` in its own transaction, so every node reloads within
//! a second of the commit.

use super::{Ledger, LedgerError};
use serde::Serialize;

/// Catalog changes are announced here (the payload is informational: nodes reload all).
pub const CATALOG_CHANNEL: &str = "tollgate_catalog";

pub use super::market_reports::{DailyEarnings, LastDay};
pub use super::provider_keys::{
    NewProviderKey, ProviderKeyInfo, ProviderKeyRecord, PROVIDER_SCOPES,
};

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
