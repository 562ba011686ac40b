//! `Config` → a running Pingora [`Server`], narrated in the order things are built:
//!
//! 1. the server and its worker settings;
//! 2. shared per-node state: metrics, the Redis connection, the rate limiter;
//! 3. billing: the memory sink, or the ledger (sink, writer, leases) with ledger-backed keys;
//! 4. the market: the config file's providers resolved, then the marketplace's loaded;
//! 5. identity and money for the control plane: SIWE (with fleet-wide nonces), the chain;
//! 6. the proxy service on `server.listen`, the admin listener on `metrics.listen`;
//! 7. background services: the health feed and probes, the catalog feed (reloads, DNS), Redis, limiter upkeep, key
//!    revocations, chain jobs, and the billing service that drains everything on SIGTERM.

use crate::admin::AdminApp;
use crate::config::Config;
use crate::control::Accounts;
use crate::identity::nonces::{MemoryNonces, NonceStore, PostgresNonces, RedisNonces};
use crate::identity::revocation::KeyRevocationFeed;
use crate::identity::{
    AnyOf, Authenticator, ContractSignatures, LedgerKeys, SiweVerifier, StaticKeys,
};
use crate::jobs::chain_jobs::ChainJobs;
use crate::jobs::credit_reconciler::CreditReconciler;
use crate::jobs::deposit_watcher::DepositWatcher;
use crate::jobs::settlement::{self, BillingRunner};
use crate::jobs::shutdown::Shutdown;
use crate::jobs::solvency_watch::SolvencyWatch;
use crate::market::feed::MarketFeed;
use crate::market::prober::Prober;
use crate::market::shared_health::HealthFeed;
use crate::market::Market;
use crate::metrics::Metrics;
use crate::money::{payouts, ChainReader, ChainSet};
use crate::plugins::Chains;
use crate::proxy::Gateway;
use crate::rate_limit::{LimiterService, RateLimiter};
use crate::redis::{RedisHandle, RedisService};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::process::ExitCode;
use std::sync::Arc;
use tollgate_billing::ledger::Ledger;
use tollgate_billing::{BillingSink, MemorySink};

/// What the billing configuration wires in: the sink, who authenticates, the ledger for the
/// account endpoints, and the Postgres machinery to run in the background.
struct Billing {
    sink: Arc<dyn BillingSink>,
    auth: Arc<dyn Authenticator>,
    ledger: Option<Ledger>,
    runner: Option<BillingRunner>,
    revocations: Option<KeyRevocationFeed>,
}

/// Run the gateway until SIGTERM (which exits the process after draining).
pub fn run(config: Config, chains: Chains) -> ExitCode {
    let config = Arc::new(config);
    let conf = ServerConf {
        threads: config.server.threads,
        // SIGTERM: listeners close at once; the billing service drains in-flight requests and
        // the settlement queue, then exits the process. The grace period only bounds that.
        grace_period_seconds: Some(config.billing.shutdown_timeout.as_secs().max(1)),
        graceful_shutdown_timeout_seconds: Some(5),
        ca_file: config.server.upstream_ca_file.clone(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let startup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let metrics = Arc::new(Metrics::new());
    let redis = match &config.redis {
        None => None,
        Some(rc) => match RedisHandle::new(rc, metrics.clone()) {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("tollgate: cannot start: redis: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let limiter = Arc::new(RateLimiter::new(
        &config.limits,
        redis.clone(),
        metrics.clone(),
    ));
    let billing = match startup.block_on(billing(&config, &metrics)) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("tollgate: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let market = match startup.block_on(market(&config, billing.ledger.clone(), &metrics)) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("tollgate: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    drop(startup);

    let onchain = ChainSet::from_config(&config).map(Arc::new);
    let accounts = billing.ledger.clone().map(|ledger| {
        Arc::new(Accounts {
            ledger,
            auth: billing.auth.clone(),
            siwe: siwe(
                &config,
                redis.as_ref(),
                billing.ledger.as_ref(),
                onchain.as_ref(),
            ),
            chains: onchain.clone(),
            payees: payouts::payees(&config),
            limiter: limiter.clone(),
            market: market.clone(),
        })
    });
    let settled_accounts = accounts.clone().filter(|a| a.chains.is_some());
    let gateway = Gateway::new(
        config.clone(),
        billing.auth.clone(),
        billing.sink.clone(),
        metrics.clone(),
        market.clone(),
        accounts,
        limiter.clone(),
        chains,
    );
    let in_flight = gateway.in_flight.clone();
    let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, gateway);
    for addr in &config.server.listen {
        proxy.add_tcp(&addr.to_string());
    }
    server.add_service(proxy);

    if let Some(addr) = config.metrics_listen {
        let app = AdminApp {
            metrics: metrics.clone(),
            sink: billing.sink.clone(),
            expose_outcomes: config.billing.expose_outcomes,
        };
        let mut admin = Service::new("tollgate admin".to_string(), app);
        admin.add_tcp(&addr.to_string());
        server.add_service(admin);
    }
    server.add_service(background_service(
        "health feed",
        HealthFeed(market.clone()),
    ));
    server.add_service(background_service("health probes", Prober(market.clone())));
    server.add_service(background_service("catalog", MarketFeed(market)));
    if let Some(h) = &redis {
        server.add_service(background_service("redis", RedisService(h.clone())));
    }
    server.add_service(background_service("rate limits", LimiterService(limiter)));
    if let Some(feed) = billing.revocations {
        server.add_service(background_service("api key revocations", feed));
    }
    if let Some(a) = &settled_accounts {
        add_chain_services(&mut server, a, &metrics);
    }
    server.add_service(background_service(
        "billing",
        Shutdown {
            in_flight,
            billing: billing.runner,
            timeout: config.billing.shutdown_timeout,
        },
    ));

    log::info!(
        "tollgate listening on {:?} ({} providers, billing: {}, metrics on {:?})",
        config.server.listen,
        config.providers.len(),
        if config.billing.ledger.is_some() {
            "postgres"
        } else {
            "memory"
        },
        config.metrics_listen
    );
    server.run_forever();
}

/// The config file's providers, resolved, and the marketplace's listings (a ledger that
/// cannot be read at start-up is retried by the catalog feed; the file's providers serve).
async fn market(
    config: &Config,
    ledger: Option<Ledger>,
    metrics: &Arc<Metrics>,
) -> Result<Market, String> {
    let m = Market::new(config, ledger, metrics.clone()).await?;
    if let Err(e) = m.reload().await {
        log::warn!("marketplace listings not loaded yet: {e}");
    }
    Ok(m)
}

/// The memory sink with static keys, or the ledger with static and ledger-backed keys.
async fn billing(config: &Config, metrics: &Metrics) -> Result<Billing, String> {
    let static_keys: Arc<dyn Authenticator> = Arc::new(StaticKeys::new(&config.static_keys));
    let Some(lc) = &config.billing.ledger else {
        return Ok(Billing {
            sink: Arc::new(MemorySink::new(config.billing.memory_capacity)),
            auth: static_keys,
            ledger: None,
            runner: None,
            revocations: None,
        });
    };
    let (ledger, sink, runner) = settlement::open_ledger(config, lc).await?;
    let keys = Arc::new(LedgerKeys::new(ledger.clone(), metrics));
    Ok(Billing {
        sink,
        auth: Arc::new(AnyOf(vec![static_keys, keys.clone()])),
        ledger: Some(ledger),
        runner: Some(runner),
        revocations: Some(KeyRevocationFeed(keys)),
    })
}

/// The SIWE verifier, when `server.public_url` and `chain` are configured: nonces shared by
/// the fleet through Redis, else through the ledger's Postgres (else this node's own),
/// EIP-1271 through the operator's client or a read-only one.
fn siwe(
    config: &Config,
    redis: Option<&Arc<RedisHandle>>,
    ledger: Option<&Ledger>,
    onchain: Option<&Arc<ChainSet>>,
) -> Option<Arc<SiweVerifier>> {
    let s = config.siwe.as_ref()?;
    let contracts: Option<Arc<dyn ContractSignatures>> = match (onchain, &config.chain) {
        (Some(o), _) => Some(o.clone()),
        (None, Some(c)) => c
            .rpc_url
            .clone()
            .map(|u| Arc::new(ChainReader::new(u, c.chain_id)) as Arc<dyn ContractSignatures>),
        (None, None) => None,
    };
    let nonces: Arc<dyn NonceStore> = match (redis, ledger) {
        (Some(r), _) => Arc::new(RedisNonces::new(r.clone())),
        (None, Some(l)) => Arc::new(PostgresNonces::new(l.clone())),
        (None, None) => Arc::new(MemoryNonces::new(s.memory_nonces)),
    };
    Some(Arc::new(SiweVerifier::new(
        s.policy.clone(),
        nonces,
        contracts,
    )))
}

/// The on-chain work beside the proxy (settlement configured): finishing top-ups and deposits,
/// the optional deposit watcher, payouts on their schedule and withdrawal reconciliation.
fn add_chain_services(server: &mut Server, accounts: &Arc<Accounts>, metrics: &Metrics) {
    let chains = accounts.chains.clone().expect("settlement configured");
    let first = chains.default_rail().clone();
    server.add_service(background_service(
        "chain credit reconciler",
        CreditReconciler {
            ledger: accounts.ledger.clone(),
            chains: chains.clone(),
            every: first.settings.reconcile_every,
        },
    ));
    // One watcher per rail whose chain watches deposits (each rail has its own vault).
    for rail in chains.all() {
        if let Some(every) = rail.settings.deposit_watch {
            server.add_service(background_service(
                "deposit watcher",
                DepositWatcher::new(accounts.ledger.clone(), rail.clone(), every),
            ));
        }
    }
    server.add_service(background_service(
        "solvency watch",
        SolvencyWatch::new(accounts.ledger.clone(), chains.clone(), metrics),
    ));
    server.add_service(background_service(
        "chain jobs",
        ChainJobs {
            ledger: accounts.ledger.clone(),
            chains,
            payees: accounts.payees.clone(),
        },
    ));
}
