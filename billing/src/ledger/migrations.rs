//! Schema migrations, embedded in the binary and applied in order, each in one transaction.

use super::{Ledger, LedgerError};

/// (version, name, SQL). Append only: a released migration never changes.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "ledger",
        include_str!("../../migrations/0001_ledger.sql"),
    ),
    (2, "chain", include_str!("../../migrations/0002_chain.sql")),
    (
        3,
        "money_paths",
        include_str!("../../migrations/0003_money_paths.sql"),
    ),
    (
        4,
        "marketplace",
        include_str!("../../migrations/0004_marketplace.sql"),
    ),
    (
        5,
        "health",
        include_str!("../../migrations/0005_health.sql"),
    ),
    (
        6,
        "receipts",
        include_str!("../../migrations/0006_receipts.sql"),
    ),
    (
        7,
        "wallet_daily",
        include_str!("../../migrations/0007_wallet_daily.sql"),
    ),
    (
        8,
        "chains_and_assets",
        include_str!("../../migrations/0008_chains_and_assets.sql"),
    ),
    (
        9,
        "pay_per_call",
        include_str!("../../migrations/0009_pay_per_call.sql"),
    ),
];

pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

impl Ledger {
    /// The schema version the database is at (0 when never migrated).
    pub async fn schema_version(&self) -> Result<i32, LedgerError> {
        let c = self.conn().await?;
        let exists: bool = c
            .query_one(
                "SELECT to_regclass('public.schema_migrations') IS NOT NULL",
                &[],
            )
            .await?
            .get(0);
        if !exists {
            return Ok(0);
        }
        Ok(c.query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0))
    }

    /// Apply every migration not applied yet; returns the names applied. Safe to run from
    /// several processes at once (an advisory lock serialises them).
    pub async fn migrate(&self) -> Result<Vec<&'static str>, LedgerError> {
        let mut c = self.conn().await?;
        c.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock(7707070707)", &[])
            .await?;
        let have: i32 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        let mut applied = Vec::new();
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > have) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await?;
            applied.push(*name);
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// Refuse to run against a database that is behind (or ahead of) this binary.
    pub async fn ensure_migrated(&self) -> Result<(), LedgerError> {
        let have = self.schema_version().await?;
        if have == latest() {
            Ok(())
        } else {
            Err(LedgerError::NotMigrated {
                have,
                want: latest(),
            })
        }
    }
}
