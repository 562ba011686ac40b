//! `Config` → a running Pingora [`Server`], narrated in the order things are built:
//!
//! 1. the server and its worker settings;
//! 2. shared per-node state: metrics, the Redis connection, the rate limiter;
//! 3. billing: the memory sink, or the ledger (sink, writer, leases) with ledger-backed keys;
//! 4. the market: the config file's providers resolved, then the marketplace's loaded;
//! 5. identity and money for the control plane: SIWE (with fleet-wide nonces), the chain;
//! 6. readiness: one named check per dependency (`/ready` on both listeners);
//! 7. the proxy service on `server.listen` (with the console's assets, read once), the admin
//!    listener on `metrics.listen`, both after the bootstrap that takes over a running
//!    process's sockets (`--upgrade`);
//! 8. background services: the health feed and probes, the catalog feed (reloads, DNS), Redis, limiter upkeep, key
//!    revocations, chain jobs, the access-log writer, the trace exporter, and the billing
//!    service that drains everything on SIGTERM (and after a `--upgrade` took over, on SIGQUIT);
//! 9. run until SIGTERM, which first turns `/ready` to 503 for `server.drain_delay`.
//!
//! Everything that can fail (Postgres, Redis, the config's files) is done before the sockets
//! are taken over, so a new process that cannot start leaves the old one serving.

use crate::admin::AdminApp;
use crate::config::Config;
use crate::control::console::ConsoleAssets;
use crate::control::Accounts;
use crate::identity::nonces::{MemoryNonces, NonceStore, PostgresNonces, RedisNonces};
use crate::identity::revocation::KeyRevocationFeed;
use crate::identity::{
    AnyOf, Authenticator, ContractSignatures, LedgerKeys, SiweVerifier, StaticKeys,
};
use crate::jobs::chain_jobs::ChainJobs;
use crate::jobs::credit_reconciler::CreditReconciler;
use crate::jobs::deposit_watcher::DepositWatcher;
use crate::jobs::pay_per_call::PayPerCallSettler;
use crate::jobs::settlement::{self, BillingRunner};
use crate::jobs::shutdown::{DrainFirst, Shutdown};
use crate::jobs::solvency_watch::SolvencyWatch;
use crate::market::feed::MarketFeed;
use crate::market::prober::Prober;
use crate::market::shared_health::HealthFeed;
use crate::market::Market;
use crate::metrics::Metrics;
use crate::money::pay_per_call::PayPerCall;
use crate::money::{payouts, ChainReader, ChainSet};
use crate::plugins::Chains;
use crate::proxy::Gateway;
use crate::rate_limit::{LimiterService, RateLimiter};
use crate::redis::{RedisHandle, RedisService};
use crate::telemetry::access_log::AccessLog;
use crate::telemetry::traces::{Traces, TracesService};
use crate::telemetry::Observers;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::process::ExitCode;
use std::sync::Arc;
use tollgate_billing::ledger::Ledger;
use tollgate_billing::{BillingSink, MemorySink};

mod daemon;
mod readiness_checks;

use readiness_checks::readiness;

/// What the billing configuration wires in: the sink, who authenticates, the ledger for the
/// account endpoints, and the Postgres machinery to run in the background.
struct Billing {
    sink: Arc<dyn BillingSink>,
    auth: Arc<dyn Authenticator>,
    ledger: Option<Ledger>,
    runner: Option<BillingRunner>,
    revocations: Option<KeyRevocationFeed>,
}

/// How the process starts (the command line's `--upgrade` and `--daemon`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Start {
    /// Take the listening sockets over from the running process (`server.upgrade_sock`),
    /// which drains and exits once it is sent SIGQUIT.
    pub upgrade: bool,
    /// Fork into the background once ready, writing `server.pid_file` (systemd
    /// `Type=forking`).
    pub daemon: bool,
}

/// Run the gateway until SIGTERM, or SIGQUIT after a new process took over its sockets
/// (both exit the process after draining).
pub fn run(config: Config, chains: Chains, start: Start) -> ExitCode {
    // Before anything spawns a thread or builds a runtime (a fork keeps neither).
    let detached = start
        .daemon
        .then(|| daemon::detach(&config.server.pid_file));
    let config = Arc::new(config);
    let conf = ServerConf {
        threads: config.server.threads,
        // SIGTERM: listeners close at once; the billing service drains in-flight requests and
        // the settlement queue, then exits the process. The grace period only bounds that.
        grace_period_seconds: Some(config.billing.shutdown_timeout.as_secs().max(1)),
        graceful_shutdown_timeout_seconds: Some(5),
        ca_file: config.server.upstream_ca_file.clone(),
        upgrade_sock: config.server.upgrade_sock.clone(),
        ..ServerConf::default()
    };
    // `--daemon` is ours (`daemon.rs`), not Pingora's.
    let opt = Opt {
        upgrade: start.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);

    let startup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let metrics = Arc::new(Metrics::new());
    let access_log = AccessLog::new(&config.log, &metrics);
    if let Some(Err(e)) = access_log.as_ref().map(|(_, w)| w.check()) {
        eprintln!("tollgate: cannot start: {e}");
        return ExitCode::FAILURE;
    }
    let traces = config.tracing.as_ref().map(Traces::new);
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
    let spool = billing
        .runner
        .as_ref()
        .and_then(|r| r.sink.spool().cloned());
    let ready = Arc::new(readiness(
        &config,
        billing.ledger.as_ref(),
        spool.clone(),
        redis.as_ref(),
        onchain.as_ref(),
    ));
    let mut gateway = Gateway::new(
        config.clone(),
        billing.auth.clone(),
        billing.sink.clone(),
        metrics.clone(),
        market.clone(),
        accounts,
        limiter.clone(),
        chains,
    )
    .with_readiness(ready.clone());
    gateway.control.console = match ConsoleAssets::load(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tollgate: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pay_per_call = match (&config.pay_per_call, &billing.ledger, &onchain) {
        (Some(c), Some(ledger), Some(chains)) => {
            Some(PayPerCall::new(ledger.clone(), chains.clone(), c.clone(), spool))
        }
        _ => None,
    };
    gateway.pay_per_call = pay_per_call.clone();
    gateway.observe = Observers {
        access_log: access_log.as_ref().map(|(l, _)| l.clone()),
        traces: traces.clone(),
    };
    let in_flight = gateway.in_flight.clone();
    sample_gauges(&metrics, &in_flight, billing.runner.as_ref());
    // Listeners start once the bootstrap has the sockets (its own, or a running process's)
    // and the trace exporter runs.
    let mut before_listeners = vec![server.bootstrap_as_a_service()];
    if let Some(t) = &traces {
        before_listeners
            .push(server.add_service(background_service("traces", TracesService(t.clone()))));
    }
    let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, gateway);
    for addr in &config.server.listen {
        proxy.add_tcp(&addr.to_string());
    }
    server
        .add_service(proxy)
        .add_dependencies(&before_listeners);

    if let Some(addr) = config.metrics_listen {
        let app = AdminApp {
            metrics: metrics.clone(),
            sink: billing.sink.clone(),
            expose_outcomes: config.billing.expose_outcomes,
            ready: ready.clone(),
            error_shape: config.server.error_shape,
        };
        let mut admin = Service::new("tollgate admin".to_string(), app);
        admin.add_tcp(&addr.to_string());
        server
            .add_service(admin)
            .add_dependencies(&before_listeners);
    }
    let access_log = access_log.map(|(log, writer)| {
        server.add_service(background_service("access log", writer));
        log
    });
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
    if let Some(p) = pay_per_call {
        server.add_service(background_service(
            "pay per call settlement",
            PayPerCallSettler(p),
        ));
    }
    server.add_service(background_service(
        "billing",
        Shutdown {
            in_flight,
            billing: billing.runner,
            timeout: config.billing.shutdown_timeout,
            access_log,
            traces,
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
    // The parent of a daemon returns now (Pingora's bootstrap, which takes over the sockets
    // after a SIGQUIT to the running process, comes next).
    if let Some(d) = detached {
        d.done();
    }
    server.run(RunArgs {
        shutdown_signal: Box::new(DrainFirst {
            ready,
            delay: config.server.drain_delay,
        }),
    });
    // The billing service exits the process once drained; this is the grace period's end.
    std::process::exit(0)
}

/// Gauges read at scrape time: requests in flight; with the ledger, the settlement queue
/// and this node's lease book.
fn sample_gauges(
    metrics: &Metrics,
    in_flight: &Arc<std::sync::atomic::AtomicUsize>,
    billing: Option<&BillingRunner>,
) {
    let n = in_flight.clone();
    metrics.sampled(
        "tollgate_requests_in_flight",
        "Admitted LLM calls not finished yet.",
        move || n.load(std::sync::atomic::Ordering::Relaxed) as i64,
    );
    let Some(b) = billing else {
        return;
    };
    let sink = b.sink.clone();
    metrics.sampled(
        "tollgate_settlement_queue_depth",
        "Finished calls' records waiting for the settlement writer.",
        move || sink.queued() as i64,
    );
    let sink = b.sink.clone();
    metrics.sampled(
        "tollgate_settlement_slots_used",
        "Admitted calls whose records are not committed yet; at billing.queue_capacity paid calls get 503.",
        move || sink.in_flight() as i64,
    );
    metrics.sampled(
        "tollgate_settlement_queue_capacity",
        "billing.queue_capacity.",
        {
            let c = b.sink.capacity() as i64;
            move || c
        },
    );
    for (name, help, pick) in [
        (
            "tollgate_balance_leased_microusdc",
            "Buyer balance this node has leased from Postgres.",
            (|t| t.leased) as fn(tollgate_billing::lease::LeaseTotals) -> i64,
        ),
        (
            "tollgate_balance_reserved_microusdc",
            "Worst-case costs reserved by calls in flight on this node.",
            |t| t.reserved,
        ),
        (
            "tollgate_balance_pending_microusdc",
            "Charges settled in memory on this node, not yet written to Postgres.",
            |t| t.pending,
        ),
    ] {
        let leases = b.leases.clone();
        metrics.sampled(name, help, move || pick(leases.totals()));
    }
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
