//! `tollgate`: run the gateway, check a config file, or operate the ledger.
//!
//! Reads like a Pingora example: load config → `Server` → proxy service + admin service +
//! background services → `run_forever`.

use clap::{Parser, Subcommand};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tollgate_billing::ledger::Ledger;
use tollgate_billing::{BillingSink, MemorySink};
use tollgate_gateway::admin::AdminApp;
use tollgate_gateway::account_api::Accounts;
use tollgate_gateway::credit_reconciler::CreditReconciler;
use tollgate_gateway::deposit_watcher::DepositWatcher;
use tollgate_gateway::auth::{AnyOf, Authenticator, LedgerKeys, StaticKeys};
use tollgate_gateway::nonce_store::{MemoryNonces, NonceStore, RedisNonces};
use tollgate_gateway::onchain::{ChainReader, OnChain};
use tollgate_gateway::siwe::{ContractSignatures, SiweVerifier};
use tollgate_gateway::config::Config;
use tollgate_gateway::lifecycle::{self, AddrRefresher, BillingRunner};
use tollgate_gateway::metrics::Metrics;
use tollgate_gateway::ops;
use tollgate_gateway::proxy::Gateway;
use tollgate_gateway::rate_limit::{LimiterService, RateLimiter};
use tollgate_gateway::redis_client::{RedisHandle, RedisService};
use tollgate_gateway::upstream_addrs::UpstreamAddrs;

// Many short-lived allocations per request (headers, bodies, SSE chunks) across threads:
// mimalloc beats glibc malloc here (measured, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "LLM API gateway that meters every token"
)]
struct Cli {
    /// Configuration file (YAML).
    #[arg(short, long, global = true, default_value = "conf/gateway.yaml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration and exit: 0 when valid, 1 with every error listed otherwise.
    Validate,
    /// Local chain set-up (needs no config file).
    Chain {
        #[command(subcommand)]
        command: tollgate_gateway::chain_cli::ChainOp,
    },
    #[command(flatten)]
    Ops(ops::Op),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,tokio_postgres=warn"),
    )
    .init();
    let cli = Cli::parse();
    let command = match cli.command {
        Some(Command::Chain { command }) => return tollgate_gateway::chain_cli::run(command),
        other => other,
    };
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{}: configuration is invalid:", cli.config.display());
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let op = match command {
        None => return run(config),
        Some(Command::Validate) => {
            println!(
                "{}: configuration is valid ({} providers)",
                cli.config.display(),
                config.providers.len()
            );
            return ExitCode::SUCCESS;
        }
        Some(Command::Ops(op)) => op,
        Some(Command::Chain { .. }) => unreachable!("handled before the config is read"),
    };
    ops::run(&config, op)
}

/// What the billing configuration wires in: the sink, who authenticates, the ledger for the
/// account endpoints, and the Postgres machinery to run in the background.
type Billing = (
    Arc<dyn BillingSink>,
    Arc<dyn Authenticator>,
    Option<Ledger>,
    Option<BillingRunner>,
);

/// The on-chain work beside the proxy (settlement configured): finishing top-ups and deposits,
/// the optional deposit watcher, payouts on their schedule and withdrawal reconciliation.
fn add_chain_services(server: &mut Server, accounts: &Arc<Accounts>) {
    let chain = accounts.chain.clone().expect("settlement configured");
    server.add_service(background_service(
        "chain credit reconciler",
        CreditReconciler {
            ledger: accounts.ledger.clone(),
            chain: chain.clone(),
            every: chain.settings.reconcile_every,
        },
    ));
    if let Some(every) = chain.settings.deposit_watch {
        server.add_service(background_service(
            "deposit watcher",
            DepositWatcher::new(accounts.ledger.clone(), chain.clone(), every),
        ));
    }
    server.add_service(background_service(
        "chain jobs",
        tollgate_gateway::payout_run::ChainJobs {
            accounts: accounts.clone(),
        },
    ));
}

fn run(config: Config) -> ExitCode {
    let config = Arc::new(config);
    let conf = ServerConf {
        threads: config.server.threads,
        // SIGTERM: listeners close at once; the billing runner drains in-flight requests and
        // the settlement queue, then exits the process. The grace period only bounds that.
        grace_period_seconds: Some(config.billing.shutdown_timeout.as_secs().max(1)),
        graceful_shutdown_timeout_seconds: Some(5),
        ca_file: config.server.upstream_ca_file.clone(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let addrs = Arc::new(UpstreamAddrs::new(&config.providers));
    let startup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Resolve provider names once before serving.
    startup.block_on(addrs.refresh());

    let metrics = Arc::new(Metrics::new());
    // Fleet-wide state (rate limits, SIWE nonces): one Redis client per node, shared.
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
    let static_keys: Arc<dyn Authenticator> = Arc::new(StaticKeys::new(&config.static_keys));
    let mut revocation_feed = None;
    let (sink, auth, ledger, billing): Billing = match &config.billing.ledger {
        None => (
            Arc::new(MemorySink::new(config.billing.memory_capacity)),
            static_keys,
            None,
            None,
        ),
        Some(lc) => match startup.block_on(lifecycle::open_ledger(&config, lc)) {
            Ok((ledger, sink, runner)) => {
                let keys = Arc::new(LedgerKeys::new(ledger.clone(), &metrics));
                revocation_feed = Some(lifecycle::KeyRevocationFeed(keys.clone()));
                let auth = Arc::new(AnyOf(vec![static_keys, keys]));
                (sink, auth, Some(ledger), Some(runner))
            }
            Err(e) => {
                eprintln!("tollgate: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    drop(startup);

    let onchain = OnChain::from_config(&config).map(Arc::new);
    // EIP-1271 for contract wallets: through the operator's client, or read-only.
    let contract_signatures: Option<Arc<dyn ContractSignatures>> = match (&onchain, &config.chain) {
        (Some(o), _) => Some(o.clone()),
        (None, Some(c)) => c
            .rpc_url
            .clone()
            .map(|u| Arc::new(ChainReader::new(u, c.chain_id)) as Arc<dyn ContractSignatures>),
        (None, None) => None,
    };
    let accounts = ledger.map(|ledger| {
        Arc::new(Accounts {
            ledger,
            auth: auth.clone(),
            siwe: config.siwe.as_ref().map(|s| {
                // Shared by the fleet when Redis is configured, else this node's own.
                let nonces: Arc<dyn NonceStore> = match &redis {
                    Some(r) => Arc::new(RedisNonces::new(r.clone())),
                    None => Arc::new(MemoryNonces::new(s.memory_nonces)),
                };
                Arc::new(SiweVerifier::new(
                    s.policy.clone(),
                    nonces,
                    contract_signatures.clone(),
                ))
            }),
            chain: onchain.clone(),
            payees: tollgate_gateway::payout_run::payees(&config),
        })
    });
    let settled_accounts = accounts.clone().filter(|a| a.chain.is_some());
    let gateway = Gateway::new(
        config.clone(),
        auth,
        sink.clone(),
        metrics.clone(),
        addrs.clone(),
        accounts,
        limiter.clone(),
    );
    let in_flight = gateway.in_flight.clone();
    let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, gateway);
    for addr in &config.server.listen {
        proxy.add_tcp(&addr.to_string());
    }
    server.add_service(proxy);

    if let Some(addr) = config.metrics_listen {
        let app = AdminApp {
            metrics,
            sink,
            expose_outcomes: config.billing.expose_outcomes,
        };
        let mut admin = Service::new("tollgate admin".to_string(), app);
        admin.add_tcp(&addr.to_string());
        server.add_service(admin);
    }
    server.add_service(background_service("upstream dns", AddrRefresher(addrs)));
    if let Some(h) = &redis {
        server.add_service(background_service("redis", RedisService(h.clone())));
    }
    server.add_service(background_service("rate limits", LimiterService(limiter)));
    if let Some(feed) = revocation_feed {
        server.add_service(background_service("api key revocations", feed));
    }
    if let Some(a) = &settled_accounts {
        add_chain_services(&mut server, a);
    }
    server.add_service(background_service(
        "billing",
        lifecycle::Shutdown {
            in_flight,
            billing,
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
