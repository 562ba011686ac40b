//! `tollgate`: run the gateway, or check a config file.
//!
//! Reads like a Pingora example: load config → `Server` → proxy service + admin service →
//! `run_forever`.

use async_trait::async_trait;
use clap::{Parser, Subcommand};
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tollgate_billing::{BillingSink, MemorySink};
use tollgate_gateway::admin::AdminApp;
use tollgate_gateway::auth::StaticKeys;
use tollgate_gateway::config::Config;
use tollgate_gateway::metrics::Metrics;
use tollgate_gateway::proxy::Gateway;
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
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{}: configuration is invalid:", cli.config.display());
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Validate) => {
            println!(
                "{}: configuration is valid ({} providers)",
                cli.config.display(),
                config.providers.len()
            );
            ExitCode::SUCCESS
        }
        None => {
            run(config);
            ExitCode::SUCCESS
        }
    }
}

/// Keeps provider addresses fresh without blocking request threads on DNS.
struct AddrRefresher(Arc<UpstreamAddrs>);

#[async_trait]
impl BackgroundService for AddrRefresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(Duration::from_secs(30)) => self.0.refresh().await,
            }
        }
    }
}

fn run(config: Config) {
    let config = Arc::new(config);
    let conf = ServerConf {
        threads: config.server.threads,
        // SIGTERM: stop accepting at once, give in-flight streams time to finish.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(30),
        ca_file: config.server.upstream_ca_file.clone(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let addrs = Arc::new(UpstreamAddrs::new(&config.providers));
    // Resolve provider names once before serving, on a throwaway runtime.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(addrs.refresh());

    let metrics = Arc::new(Metrics::new());
    let sink: Arc<dyn BillingSink> = Arc::new(MemorySink::new(config.billing.memory_capacity));
    let auth = Arc::new(StaticKeys::new(&config.static_keys));
    let gateway = Gateway::new(
        config.clone(),
        auth,
        sink.clone(),
        metrics.clone(),
        addrs.clone(),
    );

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

    log::info!(
        "tollgate listening on {:?} ({} providers, metrics on {:?})",
        config.server.listen,
        config.providers.len(),
        config.metrics_listen
    );
    server.run_forever();
}
