//! `/ready`'s checks of this node, built once at start (see [`crate::readiness`]).

use crate::config::{Config, RedisFailure};
use crate::money::{ChainSet, OnChain};
use crate::readiness::{Check, Readiness};
use crate::redis::RedisHandle;
use std::sync::Arc;
use tollgate_billing::ledger::Ledger;

/// `/ready`'s checks, one per dependency the node serves with. Postgres is required (no paid
/// call is admitted without the ledger); Redis only with `limits.redis_failure: closed` (else
/// limits fall back to this node's); the chain RPC is reported but not required (only top-ups,
/// deposits and withdrawals need it); the billing spool, when there is one, is required. The
/// reasons are fixed words: `/ready` is public, and an RPC URL may hold a key.
pub(super) fn readiness(
    config: &Config,
    ledger: Option<&Ledger>,
    spool: Option<Arc<tollgate_billing::spool::Spool>>,
    redis: Option<&Arc<RedisHandle>>,
    onchain: Option<&Arc<ChainSet>>,
) -> Readiness {
    let mut checks = Vec::new();
    if let Some(l) = ledger {
        let l = l.clone();
        checks.push(Check::new("postgres", true, move || {
            let l = l.clone();
            async move {
                l.ping().await.map_err(|e| {
                    log::debug!("readiness: postgres: {e}");
                    "unreachable".to_string()
                })
            }
        }));
    }
    if let Some(s) = spool {
        // Required: a node that cannot append records refuses paid work (503) anyway.
        checks.push(Check::new("spool", true, move || {
            let healthy = s.healthy().map_err(|why| {
                log::debug!("readiness: spool: {why}");
                "failing".to_string()
            });
            async move { healthy }
        }));
    }
    if let Some(r) = redis {
        let r = r.clone();
        let required = config.limits.on_redis_failure == RedisFailure::Closed;
        checks.push(Check::new("redis", required, move || {
            let up = r.is_up();
            async move { up.then_some(()).ok_or_else(|| "unreachable".to_string()) }
        }));
    }
    if let Some(set) = onchain {
        // One rail per chain: each chain's RPC must answer (the chain ids are named in the
        // reason, never the RPC URL).
        let mut rails: Vec<Arc<OnChain>> = Vec::new();
        for r in set.all() {
            if !rails.iter().any(|x| x.chain_id == r.chain_id) {
                rails.push(r.clone());
            }
        }
        checks.push(Check::new("chain", false, move || {
            let rails = rails.clone();
            async move {
                for c in rails {
                    let unreachable = |e: &dyn std::fmt::Display| {
                        log::debug!("readiness: chain {}: {e}", c.chain_id);
                        format!("chain {} unreachable", c.chain_id)
                    };
                    let client = c.client().await.map_err(|e| unreachable(&e))?;
                    client.block_number().await.map_err(|e| unreachable(&e))?;
                }
                Ok(())
            }
        }));
    }
    Readiness::new(checks)
}

