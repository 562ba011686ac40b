//! The `billing` section: where outcomes go (the Postgres ledger or memory) and how the
//! ledger is used (leases, settlement batches).

use super::raw::{RawBilling, RawSpool, RawSpoolSettings};
use super::{Secret, Validator};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct BillingConfig {
    pub memory_capacity: usize,
    pub expose_outcomes: bool,
    /// `Some` when billing goes to the Postgres ledger.
    pub ledger: Option<LedgerConfig>,
    /// How long SIGTERM waits for in-flight requests and the settlement queue.
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub database_url: Secret,
    pub pool_size: u32,
    pub node_id: String,
    pub lease_chunk: i64,
    pub lease_ttl: Duration,
    pub lease_idle_return: Duration,
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub batch_interval: Duration,
    /// The local billing spool (`None`: turned off with `spool: false`).
    pub spool: Option<SpoolConfig>,
}

/// `billing.spool`: every outcome on local disk before the response ends, until Postgres has
/// it (docs/design.md "The billing spool").
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: std::path::PathBuf,
    pub fsync_every: Duration,
    pub segment_bytes: u64,
}

impl Validator<'_> {
    pub(super) fn billing(&mut self, b: RawBilling) -> BillingConfig {
        let shutdown_timeout = self.duration("billing.shutdown_timeout", b.shutdown_timeout, "30s");
        // No default: a file that forgets `billing:` must not serve priced models for free.
        let ledger = match b.sink.as_deref().unwrap_or("") {
            "" => {
                self.err(
                    "billing.sink",
                    "is required: postgres (the ledger: balances, reservations, settlement) \
                     or memory (nothing is charged; for tests and free models)",
                );
                None
            }
            "memory" => {
                if b.spool.is_some() {
                    self.err(
                        "billing.spool",
                        "needs sink: postgres (the memory sink bills nothing)",
                    );
                }
                None
            }
            "postgres" => {
                let url = match b.database_url {
                    Some(text) => self.resolve_env("billing.database_url", &text),
                    None => match (self.env)("DATABASE_URL") {
                        Some(u) => Some(u),
                        None => {
                            self.err(
                                "billing.database_url",
                                "is required for sink: postgres (or set DATABASE_URL)",
                            );
                            None
                        }
                    },
                };
                let lease_chunk =
                    self.usd_amount("billing.lease_chunk_usd", b.lease_chunk_usd, 1_000_000);
                let lease_ttl = self.duration("billing.lease_ttl", b.lease_ttl, "30s");
                let lease_idle_return =
                    self.duration("billing.lease_idle_return", b.lease_idle_return, "60s");
                let batch_interval =
                    self.duration("billing.batch_interval", b.batch_interval, "20ms");
                let spool = self.spool(b.spool);
                let queue_capacity = b.queue_capacity.unwrap_or(10_000);
                let batch_size = b.batch_size.unwrap_or(500);
                if queue_capacity == 0 || batch_size == 0 {
                    self.err("billing", "queue_capacity and batch_size must be positive");
                }
                url.map(|u| LedgerConfig {
                    database_url: Secret(u),
                    pool_size: b.pool_size.unwrap_or(8).max(2),
                    node_id: b.node_id.unwrap_or_else(default_node_id),
                    lease_chunk,
                    lease_ttl,
                    lease_idle_return,
                    queue_capacity: queue_capacity.max(1),
                    batch_size: batch_size.max(1),
                    batch_interval,
                    spool,
                })
            }
            other => {
                self.err(
                    "billing.sink",
                    format!("unknown sink {other:?} (expected memory or postgres)"),
                );
                None
            }
        };
        BillingConfig {
            memory_capacity: b.memory_capacity.unwrap_or(100_000).max(1),
            expose_outcomes: b.expose_outcomes.unwrap_or(false),
            ledger,
            shutdown_timeout,
        }
    }
}

impl Validator<'_> {
    /// On by default with the ledger: a crash must not lose what clients were served, and a
    /// `write()` per request is microseconds. `spool: false` turns it off.
    fn spool(&mut self, raw: Option<RawSpool>) -> Option<SpoolConfig> {
        let s = match raw {
            Some(RawSpool::Enabled(false)) => return None,
            Some(RawSpool::Enabled(true)) | None => RawSpoolSettings::default(),
            Some(RawSpool::Settings(s)) => s,
        };
        let fsync_every = self.duration("billing.spool.fsync_every", s.fsync_every, "5ms");
        let segment_mb = s.segment_mb.unwrap_or(64);
        if segment_mb == 0 {
            self.err("billing.spool.segment_mb", "must be positive");
        }
        Some(SpoolConfig {
            dir: s.dir.unwrap_or_else(|| "tollgate-spool".into()).into(),
            fsync_every,
            segment_bytes: segment_mb.max(1) << 20,
        })
    }
}

/// Host name and process id: unique per running gateway, stable for its lifetime.
fn default_node_id() -> String {
    let host =
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "node".into());
    format!("{}-{}", host.trim(), std::process::id())
}
