//! Who serves which model, at which price, at which address: the catalog of providers from
//! the config file and from the marketplace (`/v1/provider/*`, stored in Postgres), as one
//! snapshot ([`Listings`]) the data plane routes by and swaps without a restart.
//!
//! | module | job |
//! | --- | --- |
//! | [`listings`] | one snapshot: providers, catalog, health, addresses |
//! | [`catalog`] | model id → candidate routes |
//! | [`provider_pool`] | order of the candidates (health, priority, round-robin or latency) |
//! | [`health_cell`] | one provider's breaker, latency average and in-flight count |
//! | [`upstream_addrs`] | provider addresses, resolved off the request path and checked |
//! | [`address_policy`] | which addresses a stranger's `base_url` may reach (SSRF) |
//! | [`sealed`] | upstream API keys at rest (AES-256-GCM) |
//! | [`rows`] | Postgres rows → [`crate::config::Provider`] |
//! | [`probe`] | the minimal call a listing must pass, with usage |
//! | [`feed`] | the background service: reload on `NOTIFY`, DNS refresh, suspensions |
//! | [`shared_health`] | breaker transitions announced to and applied from the fleet |
//! | [`prober`] | the background service: active probes, claimed once per interval fleet-wide |

pub mod address_policy;
pub mod catalog;
pub mod feed;
pub mod health_cell;
pub mod listings;
pub mod probe;
pub mod prober;
pub mod provider_pool;
pub mod rows;
pub mod sealed;
pub mod shared_health;
pub mod upstream_addrs;

use crate::config::{Config, HealthConfig, MarketplaceConfig, Provider, RouteAlias};
use crate::metrics::Metrics;
use arc_swap::ArcSwap;
pub use listings::Listings;
use provider_pool::{HealthCell, PoolTiming};
use sealed::Keyring;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tollgate_billing::ledger::{Ledger, LedgerError};

/// The current [`Listings`] and how to rebuild them.
pub struct Market {
    current: ArcSwap<Listings>,
    yaml: Vec<Provider>,
    aliases: Vec<RouteAlias>,
    timing: PoolTiming,
    /// Chat models answer both chat APIs (`server.translation`).
    translation: bool,
    /// `None`: the config file's providers only.
    pub settings: Option<MarketplaceConfig>,
    pub master: Option<Keyring>,
    ledger: Option<Ledger>,
    /// The ledger for fleet health (probe claims and results, shared transitions), with
    /// or without the marketplace.
    fleet: Option<Ledger>,
    /// Transitions to announce to the fleet ([`shared_health`]).
    pub shared: shared_health::SharedHealth,
    share_health: bool,
    pub health: HealthConfig,
    cells: Mutex<HashMap<String, Arc<HealthCell>>>,
    /// One rebuild at a time (a burst of notifications is one reload, then another).
    rebuilding: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
}

impl Market {
    /// The config file's providers, resolved; the marketplace's come with [`Self::reload`].
    pub async fn new(
        config: &Config,
        ledger: Option<Ledger>,
        metrics: Arc<Metrics>,
    ) -> Result<Market, String> {
        let master = match &config.marketplace {
            Some(m) => Some(Keyring::from_hex(
                m.master_key.expose(),
                &m.previous_master_keys
                    .iter()
                    .map(|k| k.expose().to_string())
                    .collect::<Vec<_>>(),
            )?),
            None => None,
        };
        let timing = PoolTiming {
            cooldown: config.server.unhealthy_cooldown,
            latency_decay: config.health.latency_decay,
        };
        let mut cells = HashMap::new();
        let first = Listings::new(
            config.providers.clone(),
            &config.route_aliases,
            timing,
            true,
            config.server.translation,
            &mut cells,
        );
        first.addrs.refresh().await;
        for p in &config.providers {
            metrics.set_health(&p.id, 0);
        }
        Ok(Market {
            current: ArcSwap::from_pointee(first),
            yaml: config.providers.clone(),
            aliases: config.route_aliases.clone(),
            timing,
            translation: config.server.translation,
            settings: config.marketplace.clone(),
            master,
            share_health: config.health.shared && ledger.is_some(),
            fleet: ledger.clone(),
            ledger: ledger.filter(|_| config.marketplace.is_some()),
            shared: shared_health::SharedHealth::new(),
            health: config.health.clone(),
            cells: Mutex::new(cells),
            rebuilding: tokio::sync::Mutex::new(()),
            metrics,
        })
    }

    /// The snapshot to route one request by.
    pub fn current(&self) -> Arc<Listings> {
        self.current.load_full()
    }

    /// Whether `id` is a provider of the config file (operator-owned, read-only).
    pub fn is_yaml_provider(&self, id: &str) -> bool {
        self.yaml.iter().any(|p| p.id == id)
    }

    pub fn yaml_providers(&self) -> &[Provider] {
        &self.yaml
    }

    /// The ledger, when the marketplace is on.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    /// The ledger, whenever billing is in Postgres (fleet health).
    pub fn fleet(&self) -> Option<&Ledger> {
        self.fleet.as_ref()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Rebuild from the config file and the marketplace tables, resolve, swap. A row that
    /// cannot route (disabled, suspended, no live model, a key that does not open) is left
    /// out and logged.
    pub async fn reload(&self) -> Result<(), LedgerError> {
        let (Some(ledger), Some(master), Some(settings)) =
            (&self.ledger, &self.master, &self.settings)
        else {
            return Ok(());
        };
        let _one = self.rebuilding.lock().await;
        let (ups, models) = ledger.market().await?;
        let mut providers = self.yaml.clone();
        for up in &ups {
            if self.is_yaml_provider(&up.id) {
                log::warn!(
                    "marketplace upstream {:?} shadows a configured provider: ignored",
                    up.id
                );
                continue;
            }
            let mine: Vec<_> = models.iter().filter(|m| m.upstream_id == up.id).collect();
            match rows::provider(up, &mine, master) {
                Ok(p) => providers.push(p),
                Err(why) => log::debug!("marketplace upstream {:?} not routed: {why}", up.id),
            }
        }
        let next = {
            let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            Listings::new(
                providers,
                &self.aliases,
                self.timing,
                settings.allow_private_upstreams,
                self.translation,
                &mut cells,
            )
        };
        next.addrs.refresh().await;
        for (i, p) in next.providers.iter().enumerate() {
            self.metrics.set_health(&p.id, next.pool.health(i).gauge());
        }
        self.current.store(Arc::new(next));
        Ok(())
    }
}
