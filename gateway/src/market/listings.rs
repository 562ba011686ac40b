//! One snapshot of everything a request is routed by: the providers (the config file's, then
//! the marketplace's), the model catalog over them, their health and their addresses. A
//! request takes the current snapshot once, at admission, and keeps it to the end: a listing
//! changed or removed meanwhile does not move indices under it, and in-flight requests
//! finish on the listing they were admitted under.

use super::catalog::ModelCatalog;
use super::provider_pool::{HealthCell, PoolTiming, ProviderPool};
use super::upstream_addrs::UpstreamAddrs;
use crate::config::{Provider, ProviderModel, RouteAlias};
use std::collections::HashMap;
use std::sync::Arc;

pub struct Listings {
    pub providers: Vec<Provider>,
    pub catalog: ModelCatalog,
    pub pool: ProviderPool,
    pub addrs: UpstreamAddrs,
}

impl Listings {
    /// Build a snapshot; `cells` carries each provider id's health across snapshots (new ids
    /// get a fresh cell). Addresses are unresolved until `addrs.refresh()`.
    pub fn new(
        providers: Vec<Provider>,
        aliases: &[RouteAlias],
        timing: PoolTiming,
        allow_private: bool,
        translation: bool,
        cells: &mut HashMap<String, Arc<HealthCell>>,
    ) -> Listings {
        let pool = ProviderPool::with_cells(
            providers.iter().map(|p| {
                let cell = cells.entry(p.id.clone()).or_default().clone();
                (cell, p.priority)
            }),
            timing,
        );
        cells.retain(|id, _| providers.iter().any(|p| &p.id == id));
        Listings {
            catalog: ModelCatalog::new(&providers, aliases, translation),
            addrs: UpstreamAddrs::new(&providers, allow_private),
            pool,
            providers,
        }
    }

    pub fn model(&self, r: super::catalog::Route) -> &ProviderModel {
        &self.providers[r.provider].models[r.model]
    }

    pub fn provider(&self, r: super::catalog::Route) -> &Provider {
        &self.providers[r.provider]
    }
}
